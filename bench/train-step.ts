// Training-step throughput of a 3 x 512 GELU+LayerNorm MLP regression (input 40, output 2), the whole
// step (forward, backward, Adam) in one onnxruntime graph via buildTrainStep/StepRunner, against the
// roof of a single large MatMul at the same thread count. Two parameter layouts: 'tensors' (one graph
// input and one Adam per parameter tensor) and 'flat' (one parameter vector with views, onnx/flat.ts,
// as train/ uses it). Also measured: a step whose state outputs onnxruntime allocates afresh (instead
// of the StepRunner's pre-allocated double buffers), and a plain JS copy of the whole state.
//
//   npm run bench -- train-step [--threads N] [--batches 256,1024] [--steps N] [--rounds N] [--layouts tensors,flat]
//                               [--profile DIR] [--optimization disabled|basic|extended|all]
//
// FLOP counting: only the matmuls are counted. A Dense layer of fan-in `in` and fan-out `out` at
// batch B costs 2*B*in*out forward and twice that backward (dX = dY W^T and dW = X^T dY), so one step
// counts 3 * 2*B*sum(in*out) over the 4 Dense layers. (The first layer's dX is not needed and the
// engine does not compute it, so the true matmul work is 1% lower than counted; elementwise ops,
// LayerNorm, reductions and Adam are not counted at all.)
import { availableParallelism } from 'node:os';
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  FlatLayout,
  Graph,
  StepRunner,
  buildTrainStep,
  flatGradient,
  flatViews,
  gelu,
  glorotUniform,
  mean,
  ort,
  zeroOptimizerState,
  type StepGraphSpec,
  type Tensor,
} from '../onnx/index.ts';
import { Rng } from '../rng/rng.ts';
import { createRoof, timeMedian } from './roof.ts';

const IN = 40;
const HIDDEN = [512, 512, 512];
const OUT = 2;

export interface Options {
  threads: number;
  batches: number[];
  /** Timed steps per batch size and round (after warm-up). */
  steps: number;
  /** Rounds of (roof, every batch size and layout); the best round is reported. */
  rounds: number;
  /** Parameter layouts to time; the first is reported at the top level of the JSON line. */
  layouts: Layout[];
  /** Write onnxruntime profiles (one JSON per batch size) to this folder. */
  profile?: string;
  optimization?: 'disabled' | 'basic' | 'extended' | 'all';
}

function parseArgs(argv: readonly string[]): Options {
  const o: Options = { threads: availableParallelism(), batches: [256, 1024], steps: 20, rounds: 3, layouts: ['tensors', 'flat'] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const val = () => {
      const v = argv[++i];
      if (v === undefined) throw new RangeError(`${a} needs a value`);
      return v;
    };
    if (a === '--threads') o.threads = Number(val());
    else if (a === '--batches') o.batches = val().split(',').map(Number);
    else if (a === '--steps') o.steps = Number(val());
    else if (a === '--rounds') o.rounds = Number(val());
    else if (a === '--layouts') o.layouts = val().split(',') as Layout[];
    else if (a === '--profile') o.profile = resolve(val());
    else if (a === '--optimization') o.optimization = val() as Options['optimization'];
    else
      throw new RangeError(
        `unknown option '${a}' (valid: --threads N, --batches 256,1024, --steps N, --rounds N, ` +
          `--layouts tensors,flat, --profile DIR, --optimization LEVEL)`,
      );
  }
  for (const l of o.layouts)
    if (l !== 'tensors' && l !== 'flat') throw new RangeError(`--layouts: unknown layout '${l}' (valid: tensors, flat)`);
  if (!(o.threads >= 1)) throw new RangeError(`--threads must be a positive integer, got ${o.threads}`);
  return o;
}

export type Layout = 'tensors' | 'flat';

/**
 * Dense -> GELU -> LayerNorm per hidden layer, then Dense; MSE loss; Adam on every parameter.
 * Layout 'tensors': each parameter is its own graph input (and Adam runs per tensor); 'flat': all
 * parameters in one vector with named views (onnx/flat.ts, as the agents in train/ use it).
 */
export function buildStep(layout: Layout = 'tensors'): {
  spec: StepGraphSpec;
  params: Map<string, Float32Array>;
  denseDims: [number, number][];
  layout: Layout;
} {
  const g = new Graph(`train_step_bench_${layout}`);
  const x = g.input('x', 'float32', ['batch', IN]);
  const y = g.input('y', 'float32', ['batch', OUT]);
  const rng = new Rng(0);
  const dims = [IN, ...HIDDEN, OUT];
  const denseDims: [number, number][] = [];
  const specs: { name: string; shape: number[]; data: Float32Array }[] = [];
  for (let i = 0; i < dims.length - 1; i++) {
    const [fi, fo] = [dims[i]!, dims[i + 1]!];
    denseDims.push([fi, fo]);
    specs.push({ name: `mlp/${i}/kernel`, shape: [fi, fo], data: glorotUniform(rng, fi, fo) });
    specs.push({ name: `mlp/${i}/bias`, shape: [fo], data: new Float32Array(fo) });
    if (i < dims.length - 2) {
      specs.push({ name: `mlp/${i}/ln/scale`, shape: [fo], data: new Float32Array(fo).fill(1) });
      specs.push({ name: `mlp/${i}/ln/bias`, shape: [fo], data: new Float32Array(fo) });
    }
  }
  const values = new Map(specs.map((p) => [p.name, p.data]));
  let views: Map<string, Tensor>;
  let flat: Tensor | null = null;
  let flatLayout: FlatLayout | null = null;
  if (layout === 'flat') {
    flatLayout = new FlatLayout(specs);
    flat = g.input('params', 'float32', [flatLayout.size]);
    views = flatViews(g, flat, flatLayout);
  } else {
    views = new Map(specs.map((p) => [p.name, g.input(p.name, 'float32', p.shape)]));
  }
  const v = (name: string) => views.get(name)!;
  let h = x;
  g.scope('mlp', () => {
    for (let i = 0; i < dims.length - 1; i++) {
      h = g.scope(`${i}`, () => g.gemm(h, v(`mlp/${i}/kernel`), v(`mlp/${i}/bias`)));
      if (i < dims.length - 2)
        h = g.scope(`${i}`, () => g.layerNormalization(gelu(g, h), v(`mlp/${i}/ln/scale`), v(`mlp/${i}/ln/bias`), { epsilon: 1e-6 }).y);
    }
  });
  const err = g.sub(h, y);
  const loss = mean(g, g.mul(err, err));
  const adam = { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8 };
  if (flat && flatLayout) {
    const grads = [flatGradient(g, loss, views, flatLayout)];
    const spec = buildTrainStep({ g, trainable: [flat], grads, loss, batchInputs: [x, y], adam });
    return { spec, params: new Map([['params', flatLayout.flatten(values)]]), denseDims, layout };
  }
  const spec = buildTrainStep({ g, trainable: [...views.values()], loss, batchInputs: [x, y], adam });
  return { spec, params: values, denseDims, layout };
}

function makeBatch(rng: Rng, n: number): Record<string, ort.Tensor> {
  const x = new Float32Array(n * IN);
  const y = new Float32Array(n * OUT);
  for (let i = 0; i < x.length; i++) x[i] = 2 * rng.uniform() - 1;
  for (let i = 0; i < n; i++) {
    y[i * OUT] = Math.sin(x[i * IN]! + x[i * IN + 1]!);
    y[i * OUT + 1] = x[i * IN + 2]! * x[i * IN + 3]!;
  }
  return { x: new ort.Tensor('float32', x, [n, IN]), y: new ort.Tensor('float32', y, [n, OUT]) };
}

export interface BatchResult {
  batch: number;
  layout: Layout;
  /** ms per step, StepRunner (double-buffered state, no per-step allocation). */
  ms: number;
  gflop: number;
  gflops: number;
  ratio: number;
  /** ms per step when onnxruntime allocates fresh state outputs each step (fed back next step). */
  msFreshOutputs: number;
  /** ms to copy the whole state once in JS (Float32Array.set), for scale. */
  msCopyState: number;
  loss: number;
}

/** The sessions for one batch size, timed in rounds interleaved with the roof. */
async function prepareBatch(o: Options, built: ReturnType<typeof buildStep>, batch: number) {
  const { spec, params } = built;
  const init = zeroOptimizerState(spec, params);
  const runner = await StepRunner.create(spec, init, { threads: o.threads, optimization: o.optimization ?? 'all' });
  const rng = new Rng(batch);
  const batches = Array.from({ length: 4 }, () => makeBatch(rng, batch));
  let k = 0;
  let loss = NaN;
  const timeRunner = () =>
    timeMedian(o.steps, 3, async () => {
      loss = (await runner.step(batches[k++ % batches.length]!))['loss']!;
    });
  // Variant: the same session, state outputs allocated by onnxruntime each step and fed back.
  let state: Record<string, ort.Tensor> = {};
  for (const s of spec.state) state[s.name] = new ort.Tensor('float32', Float32Array.from(init.get(s.name)!), s.dims);
  let step = 0;
  const timeFresh = () =>
    timeMedian(Math.ceil(o.steps / 2), 2, async () => {
      const feeds: Record<string, ort.Tensor> = {
        ...batches[k++ % batches.length]!,
        ...state,
        [spec.stepInput]: new ort.Tensor('float32', new Float32Array([++step]), []),
      };
      const out = await runner.session.run(feeds);
      const next: Record<string, ort.Tensor> = {};
      for (const s of spec.state) next[s.name] = out[s.next]!;
      state = next;
    });
  // Copying the whole state once in JS: what a runner that copied state in and out would pay at least.
  const src = spec.state.map((s) => init.get(s.name)!);
  const dst = src.map((a) => new Float32Array(a.length));
  const timeCopy = () =>
    timeMedian(20, 3, () => {
      for (let i = 0; i < src.length; i++) dst[i]!.set(src[i]!);
    });
  return { batch, layout: built.layout, spec, init, batches, runner, timeRunner, timeFresh, timeCopy, loss: () => loss };
}

/** Runs a few steps with onnxruntime profiling on and prints the time per op type. */
async function profileBatch(
  o: Options,
  spec: StepGraphSpec,
  init: Map<string, Float32Array>,
  batches: Record<string, ort.Tensor>[],
  layout: Layout,
): Promise<void> {
  mkdirSync(o.profile!, { recursive: true });
  const batch = batches[0]!['x']!.dims[0]!;
  const session = await ort.InferenceSession.create(spec.model, {
    executionProviders: ['cpu'],
    graphOptimizationLevel: o.optimization ?? 'all',
    executionMode: 'sequential',
    intraOpNumThreads: o.threads,
    interOpNumThreads: 1,
    enableProfiling: true,
    profileFilePrefix: join(o.profile!, `train-step-${layout}-b${batch}`),
  });
  const state: Record<string, ort.Tensor> = {};
  for (const s of spec.state) state[s.name] = new ort.Tensor('float32', Float32Array.from(init.get(s.name)!), s.dims);
  const steps = 10;
  for (let i = 0; i < steps; i++)
    await session.run({
      ...batches[i % batches.length]!,
      ...state,
      [spec.stepInput]: new ort.Tensor('float32', new Float32Array([i + 1]), []),
    });
  session.endProfiling();
  await session.release();
  const { readdirSync, readFileSync } = await import('node:fs');
  const file = readdirSync(o.profile!)
    .filter((f) => f.startsWith(`train-step-${layout}-b${batch}`) && f.endsWith('.json'))
    .map((f) => join(o.profile!, f))
    .sort()
    .pop()!;
  const events = JSON.parse(readFileSync(file, 'utf8')) as { cat: string; name: string; dur: number; args?: { op_name?: string } }[];
  // Kernel time per op type, and per part of the step: backward nodes sit under '<node>_Grad/',
  // Adam under 'adam/'; the kind (dense, gelu, layernorm) comes from the forward node's name.
  const byOp = new Map<string, { us: number; n: number }>();
  const byPart = new Map<string, { us: number; n: number }>();
  let total = 0;
  const add = (m: Map<string, { us: number; n: number }>, k: string, us: number) => {
    const r = m.get(k) ?? { us: 0, n: 0 };
    r.us += us;
    r.n++;
    m.set(k, r);
  };
  for (const e of events) {
    if (e.cat !== 'Node' || !e.name.endsWith('_kernel_time')) continue;
    const op = e.args?.op_name ?? '?';
    const name = e.name.slice(0, -'_kernel_time'.length);
    const kind = /gelu/.test(name) ? 'gelu' : /LayerNorm/.test(name) ? 'layernorm' : /Gemm/.test(name) ? 'dense' : 'loss, state';
    const part = name.startsWith('adam/')
      ? 'adam'
      : name.startsWith('views/')
        ? 'flat: parameter views'
        : name.startsWith('flat_grad/')
          ? 'flat: gradient concat'
          : `${name.includes('_Grad/') ? 'backward' : 'forward'} ${kind}`;
    add(byOp, op, e.dur);
    add(byPart, part, e.dur);
    total += e.dur;
  }
  const show = (title: string, m: Map<string, { us: number; n: number }>) => {
    console.log(`\nprofile, batch ${batch}, layout ${layout}: kernel time per step by ${title}`);
    for (const [k, r] of [...m].sort((p, q) => q[1].us - p[1].us)) {
      console.log(
        `  ${k.padEnd(24)} ${(r.us / steps / 1e3).toFixed(2).padStart(8)} ms  ` +
          `${((100 * r.us) / total).toFixed(1).padStart(5)}%  (${r.n / steps} nodes)`,
      );
    }
    console.log(`  ${'total'.padEnd(24)} ${(total / steps / 1e3).toFixed(2).padStart(8)} ms`);
  };
  console.log(`\nonnxruntime profile: ${file}`);
  show('op type', byOp);
  show('part of the step', byPart);
}

export async function main(argv: readonly string[]): Promise<void> {
  const o = parseArgs(argv);
  const builds = o.layouts.map((l) => buildStep(l));
  const nParams = [...builds[0]!.params.values()].reduce((s, a) => s + a.length, 0);
  console.log(
    `train-step: MLP ${IN} -> ${HIDDEN.join(' -> ')} -> ${OUT} (Dense, GELU tanh approximation, LayerNorm), ` +
      `${nParams} parameters, MSE loss, Adam`,
  );
  for (const b of builds)
    console.log(
      `  layout '${b.layout}': one graph of ${Graph.fromBytes(b.spec.model).graph.nodes.length} nodes, ` +
        `${b.spec.state.length} state tensors`,
    );
  console.log(
    `onnxruntime-node ${ort.env.versions.common}, CPU provider, ${o.threads} intra-op thread(s), ` +
      `optimisation level '${o.optimization ?? 'all'}'`,
  );
  console.log(
    `timing: ${o.rounds} rounds, each the roof (5 runs) then every batch size and layout (${o.steps} steps); ` +
      `per round the median; reported: the best round ` +
      `(other processes on the machine only add time)`,
  );
  const roof = await createRoof({ threads: o.threads });
  const prepared = [];
  for (const b of o.batches) for (const built of builds) prepared.push({ built, ...(await prepareBatch(o, built, b)) });
  const roofMs: number[] = [];
  const per = prepared.map(() => ({ ms: [] as number[], fresh: [] as number[], copy: [] as number[] }));
  for (let r = 0; r < o.rounds; r++) {
    roofMs.push(await roof.time(5));
    for (const [i, p] of prepared.entries()) {
      per[i]!.ms.push(await p.timeRunner());
      per[i]!.fresh.push(await p.timeFresh());
      per[i]!.copy.push(await p.timeCopy());
    }
  }
  await roof.release();
  const best = (xs: number[]) => Math.min(...xs);
  const spread = (xs: number[]) => `${best(xs).toFixed(1)}..${Math.max(...xs).toFixed(1)}`;
  const roofGflops = roof.flop / (best(roofMs) * 1e6);
  console.log(
    `roof: ${roof.n}x${roof.n}x${roof.n} float32 MatMul: ${best(roofMs).toFixed(1)} ms = ` +
      `${roofGflops.toFixed(1)} GFLOP/s (rounds: ${spread(roofMs)} ms)`,
  );
  const results: BatchResult[] = [];
  for (const [i, p] of prepared.entries()) {
    const m = per[i]!;
    const ms = best(m.ms);
    const gflop = (3 * 2 * p.batch * p.built.denseDims.reduce((s, [fi, fo]) => s + fi * fo, 0)) / 1e9;
    const gflops = gflop / (ms / 1e3);
    results.push({
      batch: p.batch,
      layout: p.layout,
      ms,
      gflop,
      gflops,
      ratio: gflops / roofGflops,
      msFreshOutputs: best(m.fresh),
      msCopyState: best(m.copy),
      loss: p.loss(),
    });
    console.log(
      `batch ${p.batch}, ${p.layout}: step rounds ${spread(m.ms)} ms, fresh-output rounds ${spread(m.fresh)} ms, ` +
        `loss after ${p.runner.stepCount} steps ${p.loss().toFixed(4)}`,
    );
    await p.runner.release();
  }
  if (o.profile) for (const p of prepared) await profileBatch(o, p.spec, p.init, p.batches, p.layout);
  console.log('');
  const head = ['batch', 'layout', 'ms/step', 'GFLOP/step', 'GFLOP/s', 'of roof', 'ms/step fresh outputs', 'ms state copy (JS)'];
  const rows = results.map((r) => [
    String(r.batch),
    r.layout,
    r.ms.toFixed(2),
    r.gflop.toFixed(3),
    r.gflops.toFixed(1),
    r.ratio.toFixed(2),
    r.msFreshOutputs.toFixed(2),
    r.msCopyState.toFixed(2),
  ]);
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  console.log(head.map((h, i) => h.padStart(w[i]!)).join('  '));
  for (const r of rows) console.log(r.map((c, i) => c.padStart(w[i]!)).join('  '));
  // Per batch size: the first layout's figures, and each other layout's under its name.
  const fig = (r: BatchResult) => ({
    msPerStep: round(r.ms),
    gflops: round(r.gflops),
    ratioToRoof: round(r.ratio, 3),
    msPerStepFreshOutputs: round(r.msFreshOutputs),
    msStateCopy: round(r.msCopyState, 3),
  });
  const batches: Record<string, Record<string, unknown>> = {};
  for (const r of results) {
    const entry = (batches[r.batch] ??= {});
    if (r.layout === o.layouts[0]) Object.assign(entry, { layout: r.layout, ...fig(r) });
    else entry[r.layout] = fig(r);
  }
  console.log(
    JSON.stringify({
      bench: 'train-step',
      threads: o.threads,
      roofGflops: round(roofGflops),
      flopCount: '3 * 2 * batch * sum(in*out) over the Dense layers',
      batches,
    }),
  );
}

function round(x: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await main(process.argv.slice(2));
