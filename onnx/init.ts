// Parameter initialisers from a seed. The generator is SplitMix32-seeded xoshiro128**: fast,
// deterministic on every platform, and independent of Math.random.
//
// envs/rng.ts holds the same algorithm (with a different seeding): DESIGN.md lets neither onnx/ nor
// envs/ import the other. Merging them changes every parameter initialisation, so the shipped
// models would no longer be reproducible from their cards; do it together with retraining them.

export class Rng {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;
  private spare: number | null = null;

  constructor(seed: number) {
    let x = seed >>> 0;
    const next = () => {
      x = (x + 0x9e3779b9) >>> 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.s0 = next();
    this.s1 = next();
    this.s2 = next();
    this.s3 = next();
  }

  /** Next 32-bit unsigned integer. */
  u32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5) >>> 0, 7), 9) >>> 0;
    const t = (this.s1 << 9) >>> 0;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return result;
  }

  /** Uniform in [0, 1). */
  uniform(): number {
    return this.u32() / 4294967296;
  }

  /** Standard normal (Box-Muller). */
  normal(): number {
    if (this.spare !== null) {
      const s = this.spare;
      this.spare = null;
      return s;
    }
    let u = 0;
    while (u === 0) u = this.uniform();
    const v = this.uniform();
    const r = Math.sqrt(-2 * Math.log(u));
    this.spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.uniform() * n);
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
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
