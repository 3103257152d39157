// Policy latency through the runtime (@hiql/runtime): batch-1 act latency (p50, p99) and batch-256
// throughput of an ogbench-sized (3 x 512) and a quick-sized (3 x 256) HIQL policy, on
// onnxruntime-node CPU and onnxruntime-web wasm (in Node), one thread each; in the same run the roof
// (memory bandwidth and MatMul rate measured here, applied to the policy's weights and multiply-adds)
// and a breakdown of where a batch-1 call spends its time.
//
// Weight variants of each policy (export/quantize.ts), measured in the same process and alternated
// (round-robin over the variants, `--rounds` times), and reported as ratios to the float policy:
//   float     the policy as `hiql export` writes it
//   int8      `--quantize int8`: int8 weights, DynamicQuantizeLinear + MatMulInteger, GELU in the fused form
//   int8dq    the other int8 form: DequantizeLinear (axis 1) of the int8 weights feeding the float Gemm
//   fastgelu  the float policy with only the GELU rewrite of int8 (tells the two effects apart)
//   fp16      float16 weights with a Cast to float32 (onnxruntime folds the Cast at load), GELU as int8's
// int8 / fastgelu is the int8 weights' own effect; int8 / float is what `--quantize int8` gives.
//
//   npm run bench -- runtime-latency [--calls N] [--warmup N] [--batch-reps N] [--rounds N] [--variants float,int8,...]
//                                    [--no-web] [--no-breakdown]
//   npm run bench -- runtime-latency --soak [N] [--size ogbench|quick] [--backend cpu|wasm]
//
// Policies are made from seeded initial parameters (latency does not depend on training). Timings are
// wall-clock per awaited call (performance.now()), after warm-up; nothing else should run meanwhile.
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import v8 from 'node:v8';
import vm from 'node:vm';
import * as ort from 'onnxruntime-node';
import { Graph } from '../onnx/index.ts';
import { decodeModel } from '../onnx/proto.ts';
import { exportPolicy } from '../export/export.ts';
import { quantizeModel, quantizePolicyFiles, withFastGelu } from '../export/quantize.ts';
import { buildAgentStep, initAgentState } from '../train/step.ts';
import { configHash, resolveConfig } from '../train/config.ts';
import { VERSION, type RunInfo } from '../train/run-folder.ts';
import { loadPolicy, type Backend, type Policy } from '../runtime/src/index.ts';

const ENV = 'pointmaze-medium-navigate';
const DIMS = { obsDim: 2, actionDim: 2 };
const SIZES = { ogbench: 512, quick: 256 } as const;
type Size = keyof typeof SIZES;
const VARIANTS = ['float', 'int8', 'int8dq', 'fastgelu', 'fp16'] as const;
type Variant = (typeof VARIANTS)[number];

interface Options {
  calls: number;
  warmup: number;
  batchReps: number;
  web: boolean;
  breakdown: boolean;
  soak: number | null;
  size: Size;
  backend: Backend;
  rounds: number;
  variants: Variant[];
}

function parseArgs(argv: readonly string[]): Options {
  const o: Options = {
    calls: 20_000,
    warmup: 2_000,
    batchReps: 200,
    web: true,
    breakdown: true,
    soak: null,
    size: 'ogbench',
    backend: 'cpu',
    rounds: 10,
    variants: [...VARIANTS],
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const int = (name: string) => {
      const v = Number(argv[++i]);
      if (!Number.isInteger(v) || v < 1) throw new RangeError(`runtime-latency: ${name} expects a positive integer, got '${argv[i]}'`);
      return v;
    };
    if (a === '--calls') o.calls = int(a);
    else if (a === '--warmup') o.warmup = int(a);
    else if (a === '--batch-reps') o.batchReps = int(a);
    else if (a === '--rounds') o.rounds = int(a);
    else if (a === '--variants') {
      const v = (argv[++i] ?? '').split(',') as Variant[];
      const bad = v.find((x) => !VARIANTS.includes(x));
      if (bad !== undefined) throw new RangeError(`runtime-latency: --variants takes a list of ${VARIANTS.join(', ')}; got '${bad}'`);
      o.variants = ['float', ...v.filter((x) => x !== 'float')];
    } else if (a === '--no-web') o.web = false;
    else if (a === '--no-breakdown') o.breakdown = false;
    else if (a === '--soak') o.soak = argv[i + 1] && /^\d+$/.test(argv[i + 1]!) ? int(a) : 1_000_000;
    else if (a === '--size') {
      const s = argv[++i] as Size;
      if (!(s in SIZES)) throw new RangeError(`runtime-latency: --size expects ogbench or quick, got '${s}'`);
      o.size = s;
    } else if (a === '--backend') {
      const b = argv[++i] as Backend;
      if (b !== 'cpu' && b !== 'wasm') throw new RangeError(`runtime-latency: --backend expects cpu or wasm, got '${b}'`);
      o.backend = b;
    } else
      throw new RangeError(
        `runtime-latency: unknown option '${a}'; options: --calls N --warmup N --batch-reps N --rounds N ` +
          `--variants ${VARIANTS.join(',')} --no-web --no-breakdown --soak [N] --size ogbench|quick --backend cpu|wasm`,
      );
  }
  return o;
}

// ---- models ----------------------------------------------------------------------------------

/** Exports a seeded, untrained HIQL policy with hidden layers 3 x `hidden` to DIR/NAME.onnx. */
async function makeHiql(dir: string, name: string, hidden: number): Promise<string> {
  const h = [hidden, hidden, hidden];
  const cfg = resolveConfig({
    agent: 'hiql',
    preset: 'ogbench',
    env: ENV,
    dataset: '',
    overrides: { batchSize: 16, actorHiddenDims: h, valueHiddenDims: h },
  });
  const step = buildAgentStep('hiql', cfg.agentConfig, DIMS);
  const params = initAgentState(step, 1);
  const info: RunInfo = { config: cfg, configHash: configHash(cfg), dims: DIMS, version: VERSION };
  const path = join(dir, `${name}.onnx`);
  await exportPolicy(info, params, 0, path, { validate: false });
  return path;
}

/** Writes `variant` of the float policy DIR/NAME.onnx (and companions) as DIR/NAME-VARIANT.onnx. */
async function makeVariant(floatPath: string, variant: Variant): Promise<string> {
  if (variant === 'float') return floatPath;
  const out = floatPath.replace(/\.onnx$/, `-${variant}.onnx`);
  if (variant === 'int8' || variant === 'fp16') {
    await quantizePolicyFiles(floatPath, out, variant, { validate: false });
    return out;
  }
  if (variant === 'int8dq') {
    writeFileSync(out, quantizeModel(new Uint8Array(readFileSync(floatPath)), 'int8', { form: 'dequantize' }).bytes);
    return out;
  }
  // fastgelu: the GELU rewrite alone (act runs the policy file only; the companions stay the float ones).
  writeFileSync(out, withFastGelu(new Uint8Array(readFileSync(floatPath))));
  return out;
}

/** Weight bytes of a model's initializers (any element type), from the decoded proto. */
function initializerBytes(bytes: Uint8Array): number {
  let n = 0;
  for (const t of decodeModel(bytes).graph.initializer) n += t.rawData?.length ?? 0;
  return n;
}

/** Parameter bytes and multiply-adds per sample of a model's MatMuls against constant weights. */
function modelCost(bytes: Uint8Array): { weightBytes: number; macs: number; matmuls: [number, number][] } {
  const { graph } = Graph.fromBytes(bytes);
  let weightBytes = 0;
  for (const t of graph.initializers.values()) weightBytes += t.data.byteLength;
  const matmuls: [number, number][] = [];
  for (const n of graph.nodes) {
    if (n.opType !== 'MatMul' && n.opType !== 'Gemm') continue;
    const w = graph.initializers.get(n.inputs[1]!);
    if (w && w.dims.length === 2) matmuls.push([w.dims[0]!, w.dims[1]!]);
  }
  return { weightBytes, macs: matmuls.reduce((s, [k, m]) => s + k * m, 0), matmuls };
}

/** One batch-1 MatMul per weight shape (inputs x0, x1, ... [1, k]; no bias or activation), outputs summed. */
function matmulChain(shapes: [number, number][]): Uint8Array {
  const g = new Graph('matmuls');
  const outs = shapes.map(([k, m], i) => {
    const w = g.initializer(`w${i}`, {
      dtype: 'float32',
      dims: [k, m],
      data: Float32Array.from({ length: k * m }, (_, j) => Math.sin(j + i) * 0.05),
    });
    return g.reduceSum(g.matMul(g.input(`x${i}`, 'float32', [1, k]), w), undefined, false);
  });
  g.output(
    outs.reduce((a, b) => g.add(a, b)),
    'y',
  );
  return g.toBytes({ opset: 17, irVersion: 8 });
}

/**
 * The same policy with each 6-op GELU (x * sigmoid(x (a + b x^2)), as the network builders emit it)
 * replaced by one Sigmoid(x): a timing stand-in for a GELU that onnxruntime runs as one fused kernel
 * (numerically different; for the breakdown only).
 */
function geluAsOneOp(bytes: Uint8Array): Uint8Array {
  const { graph: src, metadata, opset, irVersion } = Graph.fromBytes(bytes);
  const g = new Graph(src.name);
  for (const [name, c] of src.initializers) g.initializer(name, c);
  for (const t of src.inputs) g.input(t.name, t.dtype, t.shape);
  let replaced = 0;
  for (const n of src.nodes) {
    const m = /^(.*\/gelu)\/(Mul|Mul_1|Add|Mul_2|Sigmoid|Mul_3)$/.exec(n.name);
    if (!m) {
      g.node(
        n.opType,
        n.inputs.map((x) => (x === '' ? null : g.tensor(x))),
        { ...n.attrs },
        { outNames: n.outputs, outputs: n.outputs.length, name: n.name },
      );
      continue;
    }
    if (m[2] !== 'Mul_3') continue;
    // Mul_3 = x * sigmoid(...): its first input is the GELU's input x, its output the GELU's output.
    g.node('Sigmoid', [g.tensor(n.inputs[0]!)], {}, { outNames: n.outputs, outputs: 1, name: `${m[1]}/Fused` });
    replaced++;
  }
  if (replaced === 0) throw new Error('geluAsOneOp: no GELU found (node names changed?)');
  for (const t of src.outputs) g.outputs.push(g.tensor(t.name));
  return g.toBytes({ opset, irVersion, metadata });
}

function trivialModel(): Uint8Array {
  const g = new Graph('trivial');
  const o = g.input('observation', 'float32', ['batch', 2]);
  const goal = g.input('goal', 'float32', ['batch', 2]);
  g.output(g.add(o, goal), 'action');
  return g.toBytes({ opset: 17, irVersion: 8 });
}

// ---- timing ----------------------------------------------------------------------------------

interface Latency {
  p50: number;
  p99: number;
  mean: number;
  min: number;
  calls: number;
}

/** Per-call latency in microseconds of `calls` awaited calls after `warmup` untimed ones. */
async function latency(fn: (i: number) => Promise<unknown>, calls: number, warmup: number): Promise<Latency> {
  for (let i = 0; i < warmup; i++) await fn(i);
  const t = new Float64Array(calls);
  for (let i = 0; i < calls; i++) {
    const t0 = performance.now();
    await fn(i);
    t[i] = performance.now() - t0;
  }
  t.sort();
  const q = (p: number) => t[Math.min(calls - 1, Math.floor(p * calls))]! * 1000;
  let s = 0;
  for (const x of t) s += x;
  return { p50: q(0.5), p99: q(0.99), mean: (s / calls) * 1000, min: t[0]! * 1000, calls };
}

function medianMs(reps: number, fn: () => void): number {
  const t: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    fn();
    t.push(performance.now() - t0);
  }
  t.sort((a, b) => a - b);
  return t[t.length >> 1]!;
}

async function medianMsAsync(reps: number, fn: () => Promise<unknown>): Promise<number> {
  await fn();
  const t: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    await fn();
    t.push(performance.now() - t0);
  }
  t.sort((a, b) => a - b);
  return t[t.length >> 1]!;
}

const inputs = (n: number, seed: number) => Float32Array.from({ length: n * 2 }, (_, i) => 12 * Math.sin(i * 1.7 + seed));

type Measured = { act: Latency; batch256: { msPerCall: number; samplesPerSec: number } };

/**
 * Batch-1 act latency (inputs changing every call) and batch-256 throughput of several policies,
 * alternated: `o.rounds` rounds, each giving every policy warm-up plus calls / rounds timed act calls,
 * then batchReps / rounds timed batch-256 calls, so that load changes fall on all of them alike.
 */
async function measurePolicies(ps: Policy[], o: Options): Promise<Measured[]> {
  const obs = new Float32Array(2);
  const goal = new Float32Array([20.5, 12]);
  const B = 256;
  const ob = inputs(B, 1);
  const gb = inputs(B, 2);
  const perRound = Math.max(1, Math.round(o.calls / o.rounds));
  const warm = Math.max(1, Math.round(o.warmup / o.rounds));
  const batchPerRound = Math.max(1, Math.round(o.batchReps / o.rounds));
  const act = ps.map(() => [] as number[]);
  const b256 = ps.map(() => [] as number[]);
  for (const p of ps) await p.actBatch(ob, gb, B);
  for (let r = 0; r < o.rounds; r++) {
    for (let k = 0; k < ps.length; k++) {
      const p = ps[k]!;
      const call = (i: number) => {
        obs[0] = (i % 97) * 0.25;
        obs[1] = (i % 89) * 0.25;
        return p.act(obs, goal);
      };
      for (let i = 0; i < warm; i++) await call(i);
      for (let i = 0; i < perRound; i++) {
        const t0 = performance.now();
        await call(i);
        act[k]!.push(performance.now() - t0);
      }
      for (let i = 0; i < batchPerRound; i++) {
        const t0 = performance.now();
        await p.actBatch(ob, gb, B);
        b256[k]!.push(performance.now() - t0);
      }
    }
  }
  return ps.map((_, k) => {
    const t = Float64Array.from(act[k]!).sort();
    const q = (p: number) => t[Math.min(t.length - 1, Math.floor(p * t.length))]! * 1000;
    const mean = (t.reduce((a, b) => a + b, 0) / t.length) * 1000;
    const bt = [...b256[k]!].sort((a, b) => a - b);
    const ms = bt[bt.length >> 1]!;
    return {
      act: { p50: q(0.5), p99: q(0.99), mean, min: t[0]! * 1000, calls: t.length },
      batch256: { msPerCall: ms, samplesPerSec: (B * 1000) / ms },
    };
  });
}

// ---- roof ------------------------------------------------------------------------------------

interface Roof {
  /** Read bandwidth from DRAM, GB/s (1e9 bytes): one-thread ORT ReduceSum over 256 MiB. */
  dramReadGBs: number;
  /** Bytes read + written per second by a JS typed-array copy of 256 MiB (memcpy), GB/s. */
  dramCopyGBs: number;
  /** The same two on an array the size of the ogbench policy's weights, repeated (cache-resident). */
  cacheReadGBs: number;
  cacheCopyGBs: number;
  cacheBytes: number;
  /** GFLOP/s of the fastest of the large MatMuls (n^3 for n in matmulSizes) in onnxruntime-node, one thread. */
  matmulGflops: number;
  matmulBySize: Record<string, number>;
}

const ONE_THREAD: ort.InferenceSession.SessionOptions = {
  intraOpNumThreads: 1,
  interOpNumThreads: 1,
  graphOptimizationLevel: 'all',
  executionMode: 'sequential',
};

/** Read bandwidth of a one-thread ORT ReduceSum over n floats (median of reps), GB/s. */
async function reduceSumGBs(n: number, reps: number): Promise<number> {
  const g = new Graph('stream');
  g.output(g.reduceSum(g.input('x', 'float32', [n]), undefined, false), 'y');
  const s = await ort.InferenceSession.create(g.toBytes({ opset: 17, irVersion: 8 }), ONE_THREAD);
  const feeds = { x: new ort.Tensor('float32', new Float32Array(n).fill(1), [n]) };
  const ms = await medianMsAsync(reps, () => s.run(feeds));
  await s.release();
  return (n * 4) / (ms * 1e6);
}

/** Bytes read + written per second by dst.set(src) over n floats, repeated `inner` times per sample, GB/s. */
function copyGBs(n: number, reps: number, inner: number): number {
  const src = new Float32Array(n).fill(1.5);
  const dst = new Float32Array(n);
  dst.set(src);
  const ms = medianMs(reps, () => {
    for (let r = 0; r < inner; r++) dst.set(src);
  });
  return (2 * n * 4 * inner) / (ms * 1e6);
}

async function measureRoof(cacheBytes: number): Promise<Roof> {
  const big = 64 * 2 ** 20; // floats: 256 MiB
  const small = Math.max(1024, Math.round(cacheBytes / 4));
  const dramReadGBs = await reduceSumGBs(big, 5);
  const dramCopyGBs = copyGBs(big, 5, 1);
  const cacheReadGBs = await reduceSumGBs(small, 200);
  const cacheCopyGBs = copyGBs(small, 7, 200);
  const matmulBySize: Record<string, number> = {};
  for (const n of [512, 1024, 2048]) {
    const gm = new Graph('matmul');
    gm.output(gm.matMul(gm.input('a', 'float32', [n, n]), gm.input('b', 'float32', [n, n])), 'c');
    const s = await ort.InferenceSession.create(gm.toBytes({ opset: 17, irVersion: 8 }), ONE_THREAD);
    const fill = (seed: number) => Float32Array.from({ length: n * n }, (_, i) => Math.sin(i * 0.37 + seed));
    const feeds = { a: new ort.Tensor('float32', fill(1), [n, n]), b: new ort.Tensor('float32', fill(2), [n, n]) };
    const out = { c: new ort.Tensor('float32', new Float32Array(n * n), [n, n]) };
    const ms = await medianMsAsync(n >= 2048 ? 3 : 9, () => s.run(feeds, out));
    await s.release();
    matmulBySize[String(n)] = (2 * n ** 3) / (ms * 1e6);
  }
  return {
    dramReadGBs,
    dramCopyGBs,
    cacheReadGBs,
    cacheCopyGBs,
    cacheBytes: small * 4,
    matmulGflops: Math.max(...Object.values(matmulBySize)),
    matmulBySize,
  };
}

/**
 * Bandwidth used for the roof: the larger of the ReduceSum read stream and all the bytes a copy
 * moves (read + written). Optimistic on purpose: a roof is a lower bound on time, so it must not
 * assume less bandwidth than the machine has (a pure read stream lies between half a copy and a copy).
 */
const roofGBs = (read: number, copy: number) => Math.max(read, copy);

// ---- breakdown -------------------------------------------------------------------------------

const ORT_OPTS = (extra: Record<string, unknown> = {}): ort.InferenceSession.SessionOptions => ({
  executionProviders: ['cpu'],
  intraOpNumThreads: 1,
  interOpNumThreads: 1,
  graphOptimizationLevel: 'all',
  executionMode: 'sequential',
  enableCpuMemArena: true,
  enableMemPattern: true,
  ...extra,
});

/** p50 of raw session.run on a model with inputs observation/goal (batch 1), reusing or remaking tensors. */
async function rawRun(model: Uint8Array | string, o: Options, reuse: boolean, extra: Record<string, unknown> = {}): Promise<Latency> {
  const s = await ort.InferenceSession.create(model as Uint8Array, ORT_OPTS(extra));
  const obs = new Float32Array([1, 2]);
  const goal = new Float32Array([20.5, 12]);
  const feeds: Record<string, ort.Tensor> = {};
  for (const name of s.inputNames)
    feeds[name] = new ort.Tensor('float32', name === 'observation' ? obs : name === 'goal' ? goal : new Float32Array(0), [1, 2]);
  const fetch = [s.outputNames[0]!];
  const r = await latency(
    (i) => {
      obs[0] = (i % 97) * 0.25;
      if (reuse) return s.run(feeds, fetch);
      return s.run(
        {
          observation: new ort.Tensor('float32', Float32Array.from(obs), [1, 2]),
          goal: new ort.Tensor('float32', Float32Array.from(goal), [1, 2]),
        },
        fetch,
      );
    },
    Math.min(o.calls, 10_000),
    o.warmup,
  );
  await s.release();
  return r;
}

/** p50 of a MatMul chain with the policy's weight shapes at batch 1 (raw session.run). */
async function matmulOnly(shapes: [number, number][], o: Options): Promise<Latency> {
  const bytes = matmulChain(shapes);
  const s = await ort.InferenceSession.create(bytes, ORT_OPTS());
  const feeds: Record<string, ort.Tensor> = {};
  shapes.forEach(
    ([k], i) =>
      (feeds[`x${i}`] = new ort.Tensor(
        'float32',
        Float32Array.from({ length: k }, (_, j) => Math.cos(j)),
        [1, k],
      )),
  );
  const r = await latency(() => s.run(feeds, ['y']), Math.min(o.calls, 10_000), o.warmup);
  await s.release();
  return r;
}

/** onnxruntime's own profile of `runs` policy calls: microseconds per call by op type, and per run. */
async function profile(path: string, dir: string, runs: number): Promise<{ perRunUs: number; byOp: Record<string, number> }> {
  const prefix = join(dir, 'ort-profile');
  const s = await ort.InferenceSession.create(path, ORT_OPTS({ enableProfiling: true, profileFilePrefix: prefix }));
  const feeds = {
    observation: new ort.Tensor('float32', new Float32Array([1, 2]), [1, 2]),
    goal: new ort.Tensor('float32', new Float32Array([20.5, 12]), [1, 2]),
  };
  for (let i = 0; i < runs; i++) await s.run(feeds, ['action']);
  s.endProfiling();
  await s.release();
  const file = readdirSync(dir).find((f) => f.startsWith('ort-profile') && f.endsWith('.json'));
  if (!file) throw new Error('no onnxruntime profile written');
  const events = JSON.parse(readFileSync(join(dir, file), 'utf8')) as {
    cat: string;
    name: string;
    dur: number;
    args?: { op_name?: string };
  }[];
  const byOp: Record<string, number> = {};
  let runTotal = 0;
  let runCount = 0;
  for (const e of events) {
    if (e.cat === 'Session' && e.name === 'model_run') {
      runTotal += e.dur;
      runCount++;
    }
    if (e.cat === 'Node' && e.name.endsWith('_kernel_time') && e.args?.op_name) byOp[e.args.op_name] = (byOp[e.args.op_name] ?? 0) + e.dur;
  }
  for (const k of Object.keys(byOp)) byOp[k] = byOp[k]! / runCount;
  return { perRunUs: runTotal / runCount, byOp };
}

// ---- soak ------------------------------------------------------------------------------------

async function soak(o: Options): Promise<void> {
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc') as () => void;
  const mem = () => {
    gc();
    gc();
    const m = process.memoryUsage();
    return { rssMiB: m.rss / 2 ** 20, heapUsedMiB: m.heapUsed / 2 ** 20, externalMiB: m.external / 2 ** 20 };
  };
  const dir = mkdtempSync(join(tmpdir(), 'hiql-bench-'));
  try {
    const path = await makeHiql(dir, o.size, SIZES[o.size]);
    const p = await loadPolicy(path, { backend: o.backend, threads: 1 });
    const obs = new Float32Array(2);
    const goal = new Float32Array([20.5, 12]);
    const step = async (i: number) => {
      obs[0] = (i % 97) * 0.25;
      obs[1] = (i % 89) * 0.25;
      return p.act(obs, goal);
    };
    for (let i = 0; i < 10_000; i++) await step(i);
    const before = mem();
    const t0 = performance.now();
    const report = Math.max(1, Math.floor(o.soak! / 10));
    for (let i = 0; i < o.soak!; i++) {
      await step(i);
      if ((i + 1) % report === 0) console.error(`  ${i + 1} calls, rss ${(process.memoryUsage().rss / 2 ** 20).toFixed(1)} MiB`);
    }
    const seconds = (performance.now() - t0) / 1000;
    const after = mem();
    await p.release();
    console.log(
      `\nsoak: ${o.soak} act calls, ${o.size}-sized HIQL, ${p.engine} ${o.backend}, 1 thread, ${seconds.toFixed(1)} s ` +
        `(${((seconds * 1e6) / o.soak!).toFixed(1)} us/call)`,
    );
    console.log(`                 before      after      change`);
    for (const k of ['rssMiB', 'heapUsedMiB', 'externalMiB'] as const)
      console.log(
        `  ${k.padEnd(12)} ${before[k].toFixed(2).padStart(9)} ${after[k].toFixed(2).padStart(10)} ` +
          `${(after[k] - before[k]).toFixed(2).padStart(10)}`,
      );
    console.log(
      JSON.stringify({ bench: 'runtime-latency', mode: 'soak', calls: o.soak, size: o.size, backend: o.backend, seconds, before, after }),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// ---- main ------------------------------------------------------------------------------------

interface Row {
  size: Size;
  hidden: number;
  variant: Variant;
  /** Total bytes of the policy file (what `act` loads). */
  fileBytes: number;
  /** act p50 and batch-256 ms per call divided by the float policy's, measured alternated in this run. */
  p50VsFloat: number;
  batch256VsFloat: number;
  engine: string;
  threads: number;
  p50Us: number;
  p99Us: number;
  meanUs: number;
  minUs: number;
  batch256MsPerCall: number;
  batch256SamplesPerSec: number;
  weightBytes: number;
  macsPerSample: number;
  /** Lower bounds for one batch-1 call: weights / DRAM read bandwidth, weights / cache read bandwidth, 2 MACs / MatMul rate. */
  roofDramUs: number;
  roofCacheUs: number;
  roofComputeUs: number;
  /** Lower bound for one batch-256 call: 2 MACs x 256 / MatMul rate. */
  roofBatch256Ms: number;
}

const f1 = (x: number) => x.toFixed(1);

export async function main(argv: readonly string[]): Promise<void> {
  const o = parseArgs(argv);
  if (o.soak !== null) return soak(o);
  const dir = mkdtempSync(join(tmpdir(), 'hiql-bench-'));
  const loadBefore = loadavg()[0]!;
  try {
    const rows: Row[] = [];
    const costs = {} as Record<Size, ReturnType<typeof modelCost>>;
    const paths = {} as Record<Size, string>;
    const variantPaths = {} as Record<Size, Record<Variant, string>>;
    for (const size of Object.keys(SIZES) as Size[]) {
      paths[size] = await makeHiql(dir, size, SIZES[size]);
      costs[size] = modelCost(new Uint8Array(readFileSync(paths[size])));
      variantPaths[size] = {} as Record<Variant, string>;
      for (const v of o.variants) variantPaths[size][v] = await makeVariant(paths[size], v);
    }
    console.error('measuring the roof ...');
    const roof = await measureRoof(costs.ogbench.weightBytes);
    const dram = roofGBs(roof.dramReadGBs, roof.dramCopyGBs);
    const cache = roofGBs(roof.cacheReadGBs, roof.cacheCopyGBs);

    for (const size of Object.keys(SIZES) as Size[]) {
      for (const backend of (o.web ? ['cpu', 'wasm'] : ['cpu']) as Backend[]) {
        console.error(`measuring ${size} on ${backend}: ${o.variants.join(', ')}, alternated ...`);
        const ps: Policy[] = [];
        for (const v of o.variants) ps.push(await loadPolicy(variantPaths[size][v], { backend, threads: 1 }));
        const ms = await measurePolicies(ps, o);
        for (const p of ps) await p.release();
        const c = costs[size];
        o.variants.forEach((variant, k) => {
          const m = ms[k]!;
          const bytes = new Uint8Array(readFileSync(variantPaths[size][variant]));
          const weightBytes = initializerBytes(bytes);
          rows.push({
            size,
            hidden: SIZES[size],
            variant,
            fileBytes: bytes.length,
            p50VsFloat: m.act.p50 / ms[0]!.act.p50,
            batch256VsFloat: m.batch256.msPerCall / ms[0]!.batch256.msPerCall,
            engine: backend === 'cpu' ? 'onnxruntime-node cpu' : 'onnxruntime-web wasm',
            threads: 1,
            p50Us: m.act.p50,
            p99Us: m.act.p99,
            meanUs: m.act.mean,
            minUs: m.act.min,
            batch256MsPerCall: m.batch256.msPerCall,
            batch256SamplesPerSec: m.batch256.samplesPerSec,
            weightBytes,
            macsPerSample: c.macs,
            roofDramUs: (weightBytes / (dram * 1e9)) * 1e6,
            roofCacheUs: (weightBytes / (cache * 1e9)) * 1e6,
            roofComputeUs: ((2 * c.macs) / (roof.matmulGflops * 1e9)) * 1e6,
            roofBatch256Ms: ((2 * c.macs * 256) / (roof.matmulGflops * 1e9)) * 1e3,
          });
        });
      }
    }

    let breakdown: { p50Us: Record<string, number>; ortProfile: { perRunUs: number; byOp: Record<string, number> } } | null = null;
    if (o.breakdown) {
      console.error('breaking down the ogbench-sized call on onnxruntime-node ...');
      const path = paths.ogbench;
      const model = new Uint8Array(readFileSync(path));
      const calls = Math.min(o.calls, 10_000);
      const viaRuntime = async (file: string, extra: Record<string, unknown>) => {
        const p = await loadPolicy(file, { threads: 1, sessionOptions: extra });
        const obs = new Float32Array(2);
        const goal = new Float32Array([20.5, 12]);
        const r = await latency(
          (i) => {
            obs[0] = (i % 97) * 0.25;
            return p.act(obs, goal);
          },
          calls,
          o.warmup,
        );
        await p.release();
        return r.p50;
      };
      // A model with a policy's metadata whose graph is one Add: the fixed cost of a call.
      const trivialPath = join(dir, 'trivial.onnx');
      const meta: Record<string, string> = { ...Graph.fromBytes(model).metadata, 'hiql.agent': 'gcbc' };
      delete meta['hiql.companions'];
      writeFileSync(trivialPath, Graph.fromBytes(trivialModel()).graph.toBytes({ opset: 17, irVersion: 8, metadata: meta }));
      const v: Record<string, number> = {};
      v['runtime act (defaults: optimization all, 1 intra / 1 inter thread, sequential, arena on, inputs reused)'] = await viaRuntime(
        path,
        {},
      );
      v['raw session.run, input tensors reused'] = (await rawRun(model, o, true)).p50;
      v['raw session.run, new input tensors every call'] = (await rawRun(model, o, false)).p50;
      v["runtime act, graphOptimizationLevel 'disabled'"] = await viaRuntime(path, { graphOptimizationLevel: 'disabled' });
      v["runtime act, graphOptimizationLevel 'basic'"] = await viaRuntime(path, { graphOptimizationLevel: 'basic' });
      v['runtime act, enableCpuMemArena and enableMemPattern off'] = await viaRuntime(path, {
        enableCpuMemArena: false,
        enableMemPattern: false,
      });
      v['runtime act, intraOpNumThreads 2'] = await viaRuntime(path, { intraOpNumThreads: 2 });
      v["runtime act, executionMode 'parallel', interOpNumThreads 2"] = await viaRuntime(path, {
        executionMode: 'parallel',
        interOpNumThreads: 2,
      });
      v['one-Add model through runtime act (fixed cost of a call)'] = await viaRuntime(trivialPath, {});
      v['one-Add model, raw session.run'] = (await rawRun(trivialModel(), o, true)).p50;
      v["only the policy's MatMuls (same weight shapes, batch 1), raw session.run"] = (await matmulOnly(costs.ogbench.matmuls, o)).p50;
      const fusedPath = join(dir, 'gelu-one-op.onnx');
      writeFileSync(fusedPath, geluAsOneOp(model));
      v['runtime act, each 6-op GELU replaced by one op (stand-in for a fused GELU kernel)'] = await viaRuntime(fusedPath, {});
      breakdown = { p50Us: v, ortProfile: await profile(path, dir, 5000) };
    }
    const loadAfter = loadavg()[0]!;

    // ---- report ----
    console.log(
      `\nHIQL policy latency through @hiql/runtime, one thread (act: batch 1, p50/p99 of ${o.calls} calls after ${o.warmup} warm-up; ` +
        `batch 256: median of ${o.batchReps}); variants alternated over ${o.rounds} rounds`,
    );
    console.log(
      `machine: ${cpus()[0]?.model ?? '?'} x ${cpus().length}, node ${process.version}, onnxruntime-node ${ort.env.versions.common}; ` +
        `load average ${loadBefore.toFixed(2)} before, ${loadAfter.toFixed(2)} after`,
    );
    console.log('');
    console.log(
      'size     engine                 weights  act p50  act p99  act mean  vs float | b256 ms/call  samples/s  vs float |' +
        ' file KiB  weights  MACs/sample | roof us/act: DRAM  cache  MatMul | roof b256 ms',
    );
    for (const r of rows) {
      const float = r.variant === 'float';
      console.log(
        `${r.size.padEnd(8)} ${r.engine.padEnd(22)} ${r.variant.padEnd(8)} ${f1(r.p50Us).padStart(7)} ${f1(r.p99Us).padStart(8)}` +
          ` ${f1(r.meanUs).padStart(9)} ${r.p50VsFloat.toFixed(3).padStart(9)} |` +
          ` ${r.batch256MsPerCall.toFixed(3).padStart(12)} ${Math.round(r.batch256SamplesPerSec).toString().padStart(10)}` +
          ` ${r.batch256VsFloat.toFixed(3).padStart(9)} |` +
          ` ${(r.fileBytes / 1024).toFixed(0).padStart(8)} ${(r.weightBytes / 2 ** 20).toFixed(2)} MiB` +
          ` ${r.macsPerSample.toString().padStart(11)} |` +
          ` ${f1(r.roofDramUs).padStart(16)} ${f1(r.roofCacheUs).padStart(6)} ${(float ? f1(r.roofComputeUs) : '-').padStart(7)} |` +
          ` ${(float ? r.roofBatch256Ms.toFixed(3) : '-').padStart(12)}`,
      );
    }
    console.log(
      "(latencies in microseconds; 'vs float': this row's figure / the float policy's, same size and engine, measured alternated " +
        'in this run; the MatMul roof is float32 arithmetic, shown for float rows)',
    );
    const ratio = (size: Size, engine: string, v: Variant) => rows.find((r) => r.size === size && r.engine === engine && r.variant === v);
    for (const v of o.variants.filter((x) => x !== 'float')) {
      const parts: string[] = [];
      for (const size of Object.keys(SIZES) as Size[])
        for (const engine of ['onnxruntime-node cpu', 'onnxruntime-web wasm']) {
          const r = ratio(size, engine, v);
          if (r)
            parts.push(
              `${size} ${engine.replace('onnxruntime-', '')}: act p50 ${r.p50VsFloat.toFixed(2)}x, b256 ${r.batch256VsFloat.toFixed(2)}x`,
            );
        }
      console.log(`${v} / float: ${parts.join('; ')}`);
    }
    if (o.variants.includes('int8') && o.variants.includes('fastgelu'))
      for (const size of Object.keys(SIZES) as Size[]) {
        const parts: string[] = [];
        for (const engine of ['onnxruntime-node cpu', 'onnxruntime-web wasm']) {
          const [q, g] = [ratio(size, engine, 'int8'), ratio(size, engine, 'fastgelu')];
          if (q && g)
            parts.push(
              `${engine.replace('onnxruntime-', '')}: act p50 ${(q.p50Us / g.p50Us).toFixed(2)}x, ` +
                `b256 ${(q.batch256MsPerCall / g.batch256MsPerCall).toFixed(2)}x`,
            );
        }
        console.log(`int8 / fastgelu (the int8 weights alone), ${size}: ${parts.join('; ')}`);
      }
    console.log(
      `\nroof, measured in this run (one thread): DRAM read ${f1(roof.dramReadGBs)} GB/s (ORT ReduceSum, 256 MiB), ` +
        `copy ${f1(roof.dramCopyGBs)} GB/s read+written (JS, 256 MiB);` +
        ` cache-resident (${(roof.cacheBytes / 2 ** 20).toFixed(2)} MiB, repeated) read ${f1(roof.cacheReadGBs)} GB/s, ` +
        `copy ${f1(roof.cacheCopyGBs)} GB/s;` +
        ` MatMul ${Object.entries(roof.matmulBySize)
          .map(([n, g]) => `${n}^3 ${f1(g)}`)
          .join(', ')} GFLOP/s (onnxruntime-node).`,
    );
    console.log(
      `roof per call: weights / bandwidth (DRAM ${f1(dram)} GB/s, cache ${f1(cache)} GB/s: the larger of the read stream and ` +
        `a copy's bytes moved) and 2 x MACs / ${f1(roof.matmulGflops)} GFLOP/s; a batch-1 call reads every weight once.`,
    );
    if (breakdown) {
      console.log('\nwhere a batch-1 call of the ogbench-sized policy goes (onnxruntime-node cpu, p50 us):');
      for (const [k, x] of Object.entries(breakdown.p50Us)) console.log(`  ${f1(x).padStart(8)}  ${k}`);
      const fixed = breakdown.p50Us['one-Add model, raw session.run']!;
      const mm = breakdown.p50Us["only the policy's MatMuls (same weight shapes, batch 1), raw session.run"]!;
      const streamed = costs.ogbench.weightBytes / ((mm - fixed) * 1e3);
      console.log(
        `  => the batch-1 MatMuls take about ${f1(mm - fixed)} us beyond the fixed cost, streaming the weights at ` +
          `${f1(streamed)} GB/s (cache roof ${f1(cache)} GB/s)`,
      );
      const prof = breakdown.ortProfile;
      console.log(
        `  onnxruntime profile of 5000 runs (profiling on, which adds per-node cost): model_run ${f1(prof.perRunUs)} us; ` +
          'kernel us per run by op type:',
      );
      console.log(
        '  ' +
          Object.entries(prof.byOp)
            .sort((a, b) => b[1] - a[1])
            .map(([k, x]) => `${k} ${f1(x)}`)
            .join(', '),
      );
    }
    console.log(
      JSON.stringify({
        bench: 'runtime-latency',
        calls: o.calls,
        warmup: o.warmup,
        batchReps: o.batchReps,
        loadAverage: [loadBefore, loadAfter],
        roof,
        results: rows,
        breakdown,
      }),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// Run directly (`node --import tsx bench/runtime-latency.ts`) as well as through bench/index.ts.
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await main(process.argv.slice(2));
