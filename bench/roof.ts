// The roof: the GFLOP/s onnxruntime-node reaches on one large float32 MatMul with a given thread
// count. Other benchmarks report their throughput as a fraction of it.
import { Graph, createSession, ort } from '../onnx/index.ts';

export interface Roof {
  n: number;
  threads: number;
  /** FLOPs of one MatMul: 2 n^3. */
  flop: number;
  /** Median ms of `reps` MatMuls (after a warm-up run). */
  time(reps: number): Promise<number>;
  release(): Promise<void>;
}

/** An n x n x n float32 MatMul session, inputs and output pre-allocated. */
export async function createRoof(opts: { threads: number; n?: number }): Promise<Roof> {
  const n = opts.n ?? 2048;
  const g = new Graph('roof');
  const a = g.input('a', 'float32', [n, n]);
  const b = g.input('b', 'float32', [n, n]);
  g.output(g.matMul(a, b), 'c');
  const session = await createSession(g.toBytes(), { threads: opts.threads });
  const fill = (seed: number) => Float32Array.from({ length: n * n }, (_, i) => Math.sin(i * 0.37 + seed));
  const feeds = { a: new ort.Tensor('float32', fill(1), [n, n]), b: new ort.Tensor('float32', fill(2), [n, n]) };
  const fetches = { c: new ort.Tensor('float32', new Float32Array(n * n), [n, n]) };
  await session.run(feeds, fetches);
  return {
    n,
    threads: opts.threads,
    flop: 2 * n ** 3,
    time: (reps) => timeMedian(reps, 1, () => session.run(feeds, fetches)),
    release: () => session.release(),
  };
}

/** GFLOP/s of the roof MatMul, median of `reps` runs. */
export async function matmulRoof(opts: { threads: number; n?: number; reps?: number }): Promise<{ ms: number; gflops: number }> {
  const roof = await createRoof(opts);
  const ms = await roof.time(opts.reps ?? 10);
  await roof.release();
  return { ms, gflops: roof.flop / (ms * 1e6) };
}

/** Median wall time in ms of `n` calls of `fn` after `warm` untimed calls. */
export async function timeMedian(n: number, warm: number, fn: () => Promise<unknown> | void): Promise<number> {
  for (let i = 0; i < warm; i++) await fn();
  const t: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await fn();
    t.push(performance.now() - t0);
  }
  return median(t);
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((p, q) => p - q);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/**
 * The roof on a GPU execution provider: an n x n x n float32 MatMul whose operands are graph
 * constants (uploaded once, at session creation), summed to one scalar on the device so that only
 * 4 bytes come back. Reading that scalar waits for the GPU, so the time is the kernels' (MatMul plus
 * a sum over n^2 elements, about 1% of the work at n = 4096), not the bus's.
 */
export async function deviceMatmulRoof(opts: { provider: string; n?: number; reps?: number }): Promise<{ ms: number; gflops: number }> {
  const n = opts.n ?? 4096;
  const g = new Graph('roof');
  const fill = (seed: number) => Float32Array.from({ length: n * n }, (_, i) => Math.sin(i * 0.37 + seed));
  const a = g.initializer('a', { dtype: 'float32', dims: [n, n], data: fill(1) });
  const b = g.initializer('b', { dtype: 'float32', dims: [n, n], data: fill(2) });
  const x = g.input('x', 'float32', [1]);
  // sum((a * x) @ b): the scalar input gives each run something to feed.
  g.output(g.reduceSum(g.matMul(g.mul(a, x), b), undefined, false), 'c');
  const session = await createSession(g.toBytes(), { executionProviders: [opts.provider] });
  const feeds = { x: new ort.Tensor('float32', new Float32Array([1]), [1]) };
  const ms = await timeMedian(opts.reps ?? 10, 2, () => session.run(feeds));
  await session.release();
  return { ms, gflops: (2 * n ** 3) / (ms * 1e6) };
}
