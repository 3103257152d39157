// The trainer core: a training-step graph (forward, gradients, Adam, extra state updates such as the
// target EMA) and a runner that executes one step per session.run with the state kept between steps.
//
// State passing. Every state tensor (parameter, Adam moment, target copy) is a graph input `name` and
// a graph output `name:next`. On the CPU provider the runner double-buffers: step k reads buffer A and
// onnxruntime writes the next state straight into pre-allocated buffer B (passed as fetches), then the
// two swap. No JS allocation or copy per step; only the batch goes in and scalar metrics come out.
// On GPU providers (`deviceResident`), outputs stay on the device ('gpu-buffer') and are fed back as
// they are; they are read back only when a checkpoint asks for them. onnxruntime-node cannot download
// a 'gpu-buffer' tensor itself (its Tensor.getData() aborts the process: "not implemented" in the
// 1.30 binding), so reading back runs a second session on the same provider whose outputs are
// Identity copies of the state, returned to the CPU by onnxruntime.
import { gradients } from './grad.ts';
import { Graph, staticSize, type Tensor } from './graph.ts';
import './ops.ts';
import { adam, ADAM_DEFAULTS, type AdamConfig } from './optim.ts';
import { createSession, ort, type SessionOptions } from './session.ts';

export interface StateEntry {
  /** Graph input name, e.g. `value/0/mlp/0/kernel` or `opt/m/value/0/mlp/0/kernel`. */
  name: string;
  /** Graph output holding the value after the step. */
  next: string;
  dims: number[];
}

export interface StepGraphSpec {
  model: Uint8Array;
  state: StateEntry[];
  /** Names of the batch inputs the step expects. */
  batchInputs: string[];
  /** Names of scalar metric outputs, in order. */
  metrics: string[];
  /** The input carrying Adam's step count (1-based), fed by the runner. */
  stepInput: string;
  /** Gradient outputs, when built with outputGradients. */
  gradientOutputs: string[];
}

export interface BuildStepOptions {
  g: Graph;
  /** Parameters trained by Adam on `loss` (graph inputs of static shape). */
  trainable: readonly Tensor[];
  loss: Tensor;
  /** The loss as reported under `loss` (default `loss`): e.g. one per seed [N] when `loss` is their sum. */
  reportedLoss?: Tensor;
  /** Figures reported each step: scalars, or vectors such as one per seed (the loss is always reported as `loss`). */
  metrics?: Record<string, Tensor>;
  adam?: AdamConfig;
  /**
   * Further state updated by graph code, e.g. target networks: `next` is built from values computed
   * before this step's update (pass the online inputs, not Adam's outputs).
   */
  extraState?: readonly { input: Tensor; next: Tensor }[];
  batchInputs: readonly Tensor[];
  /** Also output each trainable parameter's gradient as `<param>_grad` (tests, debugging). */
  outputGradients?: boolean;
  /** Gradients of `loss` for `trainable`, when the caller builds them (e.g. flatGradient). */
  grads?: readonly Tensor[];
}

/** Adds gradients, Adam and state outputs to `g` and serialises the training-step graph. */
export function buildTrainStep(o: BuildStepOptions): StepGraphSpec {
  const { g } = o;
  const dt = o.loss.dtype;
  const grads = o.grads ?? gradients(g, o.loss, o.trainable);
  if (grads.length !== o.trainable.length)
    throw new RangeError(`buildTrainStep: ${grads.length} gradients for ${o.trainable.length} trainable tensors`);
  const step = g.input('opt/step', dt, []);
  const slots = o.trainable.map((p) => ({
    m: g.input(`opt/m/${p.name}`, p.dtype, p.shape),
    v: g.input(`opt/v/${p.name}`, p.dtype, p.shape),
  }));
  const upd = adam(g, o.trainable, grads, slots, step, o.adam ?? ADAM_DEFAULTS);
  const state: StateEntry[] = [];
  const addState = (input: Tensor, next: Tensor) => {
    // Renamed in place where it can be (no Identity copy of the state each step).
    const name = `${input.name}:next`;
    const out = g.producer.has(next.name) && !g.outputs.includes(next) ? g.output(g.rename(next, name)) : g.output(next, name);
    state.push({ name: input.name, next: out.name, dims: [...input.shape] as number[] });
    staticSize(input.shape, `state '${input.name}'`);
  };
  o.trainable.forEach((p, i) => addState(p, upd.params[i]!));
  o.trainable.forEach((_, i) => {
    addState(slots[i]!.m, upd.slots[i]!.m);
    addState(slots[i]!.v, upd.slots[i]!.v);
  });
  for (const e of o.extraState ?? []) addState(e.input, e.next);
  const metrics = ['loss'];
  g.output(o.reportedLoss ?? o.loss, 'loss');
  const gradientOutputs: string[] = [];
  if (o.outputGradients)
    for (const [i, gr] of grads.entries())
      gradientOutputs.push(g.output(gr, gr.name === `${o.trainable[i]!.name}_grad` ? undefined : `${o.trainable[i]!.name}_grad`).name);
  for (const [k, t] of Object.entries(o.metrics ?? {})) {
    if (t.shape.length > 1) throw new RangeError(`metric '${k}' must be a scalar or a vector, has shape [${t.shape}]`);
    g.output(t, k);
    metrics.push(k);
  }
  return { model: g.toBytes(), state, batchInputs: o.batchInputs.map((t) => t.name), metrics, stepInput: step.name, gradientOutputs };
}

export interface RunnerOptions extends SessionOptions {
  /** Keep state on the device between steps (GPU providers). Default: false (CPU double-buffering). */
  deviceResident?: boolean;
}

export class StepRunner {
  /** Number of completed steps (Adam's t before the next step). */
  stepCount = 0;
  private cur: Record<string, ort.Tensor>;
  private nxt: Record<string, ort.Tensor> | null;
  private readonly fetches: Record<string, ort.Tensor | null>;

  private constructor(
    readonly session: ort.InferenceSession,
    readonly spec: StepGraphSpec,
    initial: ReadonlyMap<string, Float32Array>,
    readonly deviceResident: boolean,
    private readonly providers: string[],
  ) {
    this.cur = {};
    this.nxt = deviceResident ? null : {};
    for (const s of spec.state) {
      const v = initial.get(s.name);
      const n = s.dims.reduce((a, b) => a * b, 1);
      if (!v) throw new Error(`initial state has no value for '${s.name}'`);
      if (v.length !== n) throw new RangeError(`initial state '${s.name}': expected ${n} values for dims [${s.dims}], got ${v.length}`);
      this.cur[s.name] = new ort.Tensor('float32', Float32Array.from(v), s.dims);
      if (this.nxt) this.nxt[s.next] = new ort.Tensor('float32', new Float32Array(n), s.dims);
    }
    this.fetches = {};
    for (const m of spec.metrics) this.fetches[m] = null;
  }

  static async create(spec: StepGraphSpec, initial: ReadonlyMap<string, Float32Array>, opts: RunnerOptions = {}): Promise<StepRunner> {
    const deviceResident = opts.deviceResident ?? false;
    const sessionOpts: SessionOptions = { ...opts };
    if (deviceResident) {
      const loc: Record<string, 'gpu-buffer' | 'cpu'> = {};
      for (const s of spec.state) loc[s.next] = 'gpu-buffer';
      sessionOpts.preferredOutputLocation = loc;
    }
    const session = await createSession(spec.model, sessionOpts);
    return new StepRunner(session, spec, initial, deviceResident, opts.executionProviders ?? ['cpu']);
  }

  /** Gradients of the last step (only when the graph was built with outputGradients). */
  lastGradients = new Map<string, Float32Array>();

  /** Every element of each metric at the last step (one per seed for a seed-stacked step). */
  lastMetrics: Record<string, number[]> = {};

  /** Runs one training step on `batch` and returns the metrics (a vector metric as the mean of its elements). */
  async step(batch: Record<string, ort.Tensor>): Promise<Record<string, number>> {
    const feeds: Record<string, ort.Tensor> = { ...batch, ...this.cur };
    feeds[this.spec.stepInput] = new ort.Tensor('float32', new Float32Array([this.stepCount + 1]), []);
    for (const name of this.spec.batchInputs) if (!batch[name]) throw new Error(`batch is missing '${name}'`);
    const fetches: Record<string, ort.Tensor | null> = { ...this.fetches };
    for (const name of this.spec.gradientOutputs) fetches[name] = null;
    if (this.nxt) Object.assign(fetches, this.nxt);
    else for (const s of this.spec.state) fetches[s.next] = null;
    const out = await this.session.run(feeds, fetches as never);
    const metrics: Record<string, number> = {};
    for (const m of this.spec.metrics) {
      const all = Array.from(out[m]!.data as Float32Array, Number);
      this.lastMetrics[m] = all;
      metrics[m] = all.length === 1 ? all[0]! : all.reduce((a, b) => a + b, 0) / all.length;
    }
    for (const name of this.spec.gradientOutputs) this.lastGradients.set(name, out[name]!.data as Float32Array);
    if (this.nxt) {
      // Swap buffers: the outputs just written become the next inputs.
      const prev = this.cur;
      const nextCur: Record<string, ort.Tensor> = {};
      const nextNxt: Record<string, ort.Tensor> = {};
      for (const s of this.spec.state) {
        nextCur[s.name] = this.nxt[s.next]!;
        nextNxt[s.next] = prev[s.name]!;
      }
      this.cur = nextCur;
      this.nxt = nextNxt;
    } else {
      const nextCur: Record<string, ort.Tensor> = {};
      for (const s of this.spec.state) nextCur[s.name] = out[s.next]!;
      for (const t of Object.values(this.cur)) if (t.location === 'gpu-buffer') t.dispose();
      this.cur = nextCur;
    }
    this.stepCount++;
    return metrics;
  }

  /** The current value of a state tensor (a copy, read back from the device if needed). */
  async read(name: string): Promise<Float32Array> {
    const t = this.cur[name];
    if (!t) throw new Error(`no state named '${name}'`);
    return this.deviceResident ? (await this.snapshot()).get(name)! : Float32Array.from(t.data as Float32Array);
  }

  private readback: ort.InferenceSession | null = null;

  /** All state as copies, for checkpoints: one run of the read-back session when state is on the device. */
  async snapshot(): Promise<Map<string, Float32Array>> {
    const m = new Map<string, Float32Array>();
    if (!this.deviceResident) {
      for (const s of this.spec.state) m.set(s.name, Float32Array.from(this.cur[s.name]!.data as Float32Array));
      return m;
    }
    if (!this.readback) {
      const g = new Graph('readback');
      for (const s of this.spec.state) g.output(g.identity(g.input(s.name, 'float32', s.dims)), `${s.name}:copy`);
      this.readback = await createSession(g.toBytes(), { executionProviders: this.providers, optimization: 'disabled' });
    }
    const feeds: Record<string, ort.Tensor> = {};
    for (const s of this.spec.state) feeds[s.name] = this.cur[s.name]!;
    const out = await this.readback.run(feeds);
    for (const s of this.spec.state) m.set(s.name, Float32Array.from(out[`${s.name}:copy`]!.data as Float32Array));
    return m;
  }

  /** Replaces the state (e.g. from a checkpoint). */
  load(values: ReadonlyMap<string, Float32Array>, stepCount: number): void {
    for (const s of this.spec.state) {
      const v = values.get(s.name);
      if (!v) throw new Error(`state is missing '${s.name}'`);
      const t = this.cur[s.name]!;
      if (t.location === 'cpu') (t.data as Float32Array).set(v);
      else this.cur[s.name] = new ort.Tensor('float32', Float32Array.from(v), s.dims);
    }
    this.stepCount = stepCount;
  }

  async release(): Promise<void> {
    await this.readback?.release();
    await this.session.release();
  }
}

/** Zero-initialised Adam slots for every trainable parameter in a step spec. */
export function zeroOptimizerState(spec: StepGraphSpec, params: ReadonlyMap<string, Float32Array>): Map<string, Float32Array> {
  const out = new Map(params);
  for (const s of spec.state) {
    if (!out.has(s.name)) {
      if (s.name.startsWith('opt/')) out.set(s.name, new Float32Array(s.dims.reduce((a, b) => a * b, 1)));
    }
  }
  return out;
}
