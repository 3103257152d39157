// The one seeded pseudo-random generator of the project (onnx/ initialises parameters with it, envs/
// draws dynamics noise and datasets, train/ samples batches): its stream is bit-identical on every
// JavaScript engine. A leaf: it imports nothing.
//
// Generator: xoshiro128** (Blackman & Vigna), 128-bit state, 32-bit outputs, period 2^128 - 1.
// It needs only 32-bit integer arithmetic (Math.imul, shifts), which JavaScript defines exactly.
//
// Normal variates use Marsaglia's polar method. Its one transcendental, log, is computed here
// from +, -, *, / only (IEEE 754 fixes each of those to the correctly rounded result), instead of
// Math.log: the ECMAScript spec lets engines differ in the last bit of Math.log/cos/sin, so a
// Box-Muller built on them could give a dataset generated in Firefox other bytes than one made by
// Node. Math.sqrt is correctly rounded by the spec, so it is safe to use.

/** splitmix32 step: a good 32-bit mixer, used to expand seeds into generator state. */
function mix32(x: number): number {
  return mix32Raw((x + 0x9e3779b9) | 0);
}

/** splitmix32 finaliser alone (no increment). */
function mix32Raw(z: number): number {
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

/**
 * Derives a 32-bit seed from a base seed and any number of integer or string labels, e.g.
 * `deriveSeed(seed, 'val')` for a validation split. Different labels give unrelated streams.
 */
export function deriveSeed(seed: number, ...labels: (number | string)[]): number {
  checkSeed(seed);
  let h = mix32((seed >>> 0) ^ mix32(Math.floor(seed / 4294967296) >>> 0));
  for (const label of labels) {
    if (typeof label === 'number') {
      h = mix32(h ^ mix32(label >>> 0) ^ Math.imul(Math.floor(label / 4294967296) | 0, 0x27d4eb2d));
    } else {
      for (let i = 0; i < label.length; i++) h = mix32(h ^ Math.imul(label.charCodeAt(i), 0x01000193));
      h = mix32(h ^ label.length);
    }
  }
  return h >>> 0;
}

function checkSeed(seed: number): void {
  if (!Number.isSafeInteger(seed) || seed < 0) {
    throw new RangeError(`seed must be a non-negative safe integer, got ${seed}`);
  }
}

const LN2 = 0.6931471805599453;
const SQRT_HALF = 0.7071067811865476;

/**
 * Natural log of x in (0, 1] using only correctly rounded IEEE operations, so the result is the
 * same on every engine. Accuracy about 1 ulp, which is all a noise source needs.
 */
export function portableLog(x: number): number {
  if (!(x > 0)) throw new RangeError(`portableLog expects x > 0, got ${x}`);
  let e = 0;
  // Range reduction by exact powers of two: x = m * 2^e with m in [sqrt(1/2), sqrt(2)).
  while (x < 2.3283064365386963e-10) {
    x *= 4294967296; // 2^32
    e -= 32;
  }
  while (x < SQRT_HALF) {
    x *= 2;
    e -= 1;
  }
  while (x >= 1.4142135623730951) {
    x *= 0.5;
    e += 1;
  }
  // ln(m) = 2 atanh(t), t = (m - 1)/(m + 1), |t| <= 0.1716, so t^2 <= 0.0295 and 13 terms of the
  // odd series reach below 1e-19 relative.
  const t = (x - 1) / (x + 1);
  const t2 = t * t;
  let p = 1 / 27;
  for (let k = 25; k >= 1; k -= 2) p = p * t2 + 1 / k;
  return 2 * t * p + e * LN2;
}

/** A deterministic random stream. */
export class Rng {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;
  private spare = 0;
  private hasSpare = false;

  constructor(seed: number) {
    checkSeed(seed);
    // Seed the four state words with splitmix32 over both halves of the (up to 53-bit) seed.
    let x = (seed >>> 0) ^ Math.imul(Math.floor(seed / 4294967296) | 0, 0x632be5ab);
    this.s0 = x = mix32(x);
    this.s1 = x = mix32(x);
    this.s2 = x = mix32(x);
    this.s3 = mix32(x);
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s3 = 1; // all-zero state is forbidden
  }

  /**
   * The stream onnx/ has always used for parameter initialisation: the four state words are
   * successive outputs of one splitmix32 counter started at the seed (the constructor chains
   * splitmix32 on its own outputs instead). Kept so that every parameter initialisation, and so
   * every shipped model card, stays reproducible.
   */
  static counterSeeded(seed: number): Rng {
    let x = seed >>> 0;
    const next = () => {
      x = (x + 0x9e3779b9) >>> 0;
      return mix32Raw(x);
    };
    const s0 = next();
    const s1 = next();
    const s2 = next();
    const s3 = next();
    return Rng.fromState(s0, s1, s2, s3);
  }

  /** A generator with the given raw state (four 32-bit words, not all zero); for tests against published vectors. */
  static fromState(s0: number, s1: number, s2: number, s3: number): Rng {
    if ((s0 | s1 | s2 | s3) >>> 0 === 0) throw new RangeError('Rng.fromState: the all-zero state is not allowed');
    const r = new Rng(0);
    r.s0 = s0 | 0;
    r.s1 = s1 | 0;
    r.s2 = s2 | 0;
    r.s3 = s3 | 0;
    return r;
  }

  /** Next raw output: an unsigned 32-bit integer. */
  nextU32(): number {
    const s1 = this.s1;
    const result = Math.imul(rotl(Math.imul(s1, 5), 7), 9) >>> 0;
    const t = s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return result;
  }

  /** Uniform in [0, 1) with 32 bits of resolution. */
  uniform(): number {
    return this.nextU32() * 2.3283064365386963e-10;
  }

  /** Uniform in [lo, hi). */
  range(lo: number, hi: number): number {
    return lo + (hi - lo) * this.uniform();
  }

  /** Uniform integer in [0, n), unbiased (rejection of the short last block). n <= 2^32. */
  int(n: number): number {
    if (!Number.isInteger(n) || n <= 0 || n > 4294967296) {
      throw new RangeError(`Rng.int(n) expects an integer 1 <= n <= 2^32, got ${n}`);
    }
    // Reject outputs in the top partial block so every residue is equally likely.
    const limit = 4294967296 - (4294967296 % n);
    for (;;) {
      const u = this.nextU32();
      if (u < limit) return u % n;
    }
  }

  /** Standard normal variate (polar method; the second variate of each pair is kept for the next call). */
  normal(): number {
    if (this.hasSpare) {
      this.hasSpare = false;
      return this.spare;
    }
    for (;;) {
      const u = 2 * this.uniform() - 1;
      const v = 2 * this.uniform() - 1;
      const s = u * u + v * v;
      if (s >= 1 || s === 0) continue;
      const f = Math.sqrt((-2 * portableLog(s)) / s);
      this.spare = v * f;
      this.hasSpare = true;
      return u * f;
    }
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}
