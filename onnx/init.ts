// Parameter initialisers from a seed, drawn from the project's one generator (rng/rng.ts) in the
// counter-seeded stream that every parameter initialisation has used, so shipped models stay
// reproducible from their cards.
import { Rng } from '../rng/rng.ts';

/** The generator of one named parameter's initial values. */
export function paramRng(seed: number): Rng {
  return Rng.counterSeeded(seed);
}

/**
 * Variance-scaling uniform initialiser with fan_avg (Glorot-uniform when scale = 1), as flax's
 * `variance_scaling(scale, 'fan_avg', 'uniform')`: limit = sqrt(3 * scale / ((fanIn + fanOut) / 2)).
 */
export function glorotUniform(rng: Rng, fanIn: number, fanOut: number, scale = 1, count = fanIn * fanOut): Float32Array {
  const limit = Math.sqrt((3 * scale) / ((fanIn + fanOut) / 2));
  const out = new Float32Array(count);
  for (let i = 0; i < out.length; i++) out[i] = (2 * rng.uniform() - 1) * limit;
  return out;
}

/** A deterministic seed for a named parameter, so that adding a parameter does not reshuffle others. */
export function seedFor(seed: number, name: string): number {
  let h = (seed ^ 0x811c9dc5) >>> 0;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}
