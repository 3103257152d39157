// The runtime core: a loaded policy (sessions for the policy file and, for HIQL, its companions)
// with input validation, reused input buffers, serialised calls and explicit backend fallback.
// Independent of which onnxruntime package runs it: the entry points (index.ts for Node, web.ts
// for browsers) inject the module for each backend and say how to read a companion beside the
// policy; finding, checking and loading the files happens here, once for both.
import { assertSelfContained } from './external-data.js';
import { readPolicyInfo, type PolicyInfo, type PolicyRole } from './metadata.js';

export type Backend = 'cpu' | 'cuda' | 'webgpu' | 'wasm';
export type FallbackBackend = 'cpu' | 'wasm';
export const BACKENDS: readonly Backend[] = ['cpu', 'cuda', 'webgpu', 'wasm'];

/** The part of an onnxruntime module (onnxruntime-node or onnxruntime-web) the runtime uses. */
export interface OrtTensor {
  readonly data: unknown;
  readonly dims: readonly number[];
}
export interface OrtSession {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  run(feeds: Record<string, OrtTensor>, fetches: readonly string[]): Promise<Record<string, OrtTensor>>;
  release(): Promise<void>;
}
export interface OrtModule {
  InferenceSession: { create(model: Uint8Array, options?: Record<string, unknown>): Promise<OrtSession> };
  Tensor: {
    new (type: 'float32', data: Float32Array, dims: readonly number[]): OrtTensor;
    new (type: 'uint8', data: Uint8Array, dims: readonly number[]): OrtTensor;
  };
  env?: { wasm?: { numThreads?: number } };
}

export interface LoadOptions {
  /** Execution backend (default: 'cpu' in Node, 'wasm' in the browser). */
  backend?: Backend;
  /**
   * Backend to use if `backend` cannot load the policy (onnxruntime throws rather than falling
   * back). The fallback taken is reported in `policy.fallback`. Without it, a failed backend is an Error.
   */
  fallback?: FallbackBackend;
  /**
   * Intra-op threads (default 1: a batch-1 policy call is too small to share). For 'wasm' this sets
   * onnxruntime-web's global `env.wasm.numThreads`, which only takes effect before its first session.
   */
  threads?: number;
  /** Companion models of a HIQL policy, as bytes (the entry points find them beside a file or URL). */
  companions?: { low_policy?: Uint8Array; goal_rep?: Uint8Array };
  /** Extra onnxruntime session options, merged over the runtime's (advanced; for benchmarks). */
  sessionOptions?: Record<string, unknown>;
  /**
   * Expected SHA-256 digests (hex) of the files, e.g. from the model card (models/NAME.json): its
   * `files` array as is, or `{ policy, low_policy, goal_rep }`. Every file loaded must then have
   * its digest and match it, checked before its metadata is read or a session is created.
   */
  sha256?: Sha256Digests;
  /**
   * Batch calls run in chunks of at most this many rows (default: 4096, fewer for large rows such as
   * pixel frames), so that onnxruntime's memory arena, which keeps its largest allocation until
   * release, stays bounded whatever the batch size. Results agree with one run to float32 rounding.
   */
  maxBatchRows?: number;
}

/** Digests by role, or a model card's `files` entries ({ role, sha256 }, other keys ignored). */
export type Sha256Digests = Partial<Record<PolicyRole, string>> | readonly { role: string; sha256: string }[];

/** How an entry point provides onnxruntime for each backend it supports. */
export interface OrtProvider {
  /** Backends this entry point can run. */
  backends: readonly Backend[];
  defaultBackend: Backend;
  /** The onnxruntime module for `backend` (throws if it is not installed). */
  module(backend: Backend, threads: number | undefined): Promise<OrtModule>;
  /** Package name running `backend`, e.g. 'onnxruntime-node'. */
  engine(backend: Backend): string;
  /** SHA-256 of bytes as lowercase hex (for options.sha256; default: crypto.subtle). */
  sha256?(bytes: Uint8Array): Promise<string>;
}

export interface FallbackReport {
  /** The backend that was asked for and could not load the policy. */
  from: Backend;
  /** Why (onnxruntime's message). */
  reason: string;
}

/** A model file's bytes and a name for messages (a path or URL). */
export interface ModelSource {
  bytes: Uint8Array;
  name: string;
}

type Numeric = ArrayLike<number>;

function typeName(x: unknown): string {
  if (x === null) return 'null';
  if (x === undefined) return 'undefined';
  if (Array.isArray(x)) return 'an array';
  if (typeof x === 'object') return (x as object).constructor?.name ?? 'an object';
  return typeof x;
}

function isNumericArray(x: unknown): x is Numeric {
  if (Array.isArray(x)) return true;
  return ArrayBuffer.isView(x) && !(x instanceof DataView) && !(x instanceof BigInt64Array) && !(x instanceof BigUint64Array);
}

const errorMessage = (e: unknown): string => (e instanceof Error ? e.message : String(e)).trim();

/** One model input: its graph name, the name the API uses in messages, its row size and type. */
interface InputSpec {
  name: string;
  label: string;
  dim: number;
  /** Per-row shape (default [dim]); pixel frames are [H, W, C]. */
  shape?: readonly number[];
  /** uint8 frames are copied as bytes (integers 0..255); the default is float32. */
  dtype?: 'float32' | 'uint8';
}

type Buffer = Float32Array | Uint8Array;
const bufferFor = (s: InputSpec, n: number): Buffer => (s.dtype === 'uint8' ? new Uint8Array(n) : new Float32Array(n));
const tensorFor = (ort: OrtModule, s: InputSpec, data: Buffer, n: number): OrtTensor =>
  data instanceof Uint8Array
    ? new ort.Tensor('uint8', data, [n, ...(s.shape ?? [s.dim])])
    : new ort.Tensor('float32', data, [n, ...(s.shape ?? [s.dim])]);

/** Rows per session run by default: at most 4096, and at most 2^18 input numbers per run. */
const defaultMaxRows = (inputs: readonly InputSpec[]): number =>
  Math.max(1, Math.min(4096, Math.floor(2 ** 18 / inputs.reduce((a, s) => a + s.dim, 0))));

/**
 * One onnxruntime session with validated, reused input buffers. Batch-1 buffers and tensors are
 * made once; the tensors of the last batch size used are kept (batches of at most maxRows rows).
 */
class Runner {
  private readonly one: Buffer[];
  private readonly oneFeeds: Record<string, OrtTensor>;
  private bufs: Buffer[] = [];
  private batchN = 0;
  private batchFeeds: Record<string, OrtTensor> = {};
  /** The inputs as batch methods name them in messages (observations, goals, subgoals). */
  private readonly batchInputs: readonly InputSpec[];
  /** Rows per session run: larger batches run in chunks (see LoadOptions.maxBatchRows). */
  readonly maxRows: number;

  constructor(
    private readonly ort: OrtModule,
    readonly session: OrtSession,
    readonly inputs: readonly InputSpec[],
    maxRows: number | undefined,
  ) {
    this.batchInputs = inputs.map((s) => ({ ...s, label: `${s.label}s` }));
    this.one = inputs.map((s) => bufferFor(s, s.dim));
    this.oneFeeds = {};
    inputs.forEach((s, i) => (this.oneFeeds[s.name] = tensorFor(ort, s, this.one[i]!, 1)));
    this.maxRows = maxRows ?? defaultMaxRows(inputs);
  }

  /**
   * Validates and copies the inputs into this runner's buffers; returns the feeds for batch n
   * (n <= maxRows). Only for a call that holds the session now: the buffers are shared.
   */
  feeds(method: string, args: readonly unknown[], n: number, batch: boolean): Record<string, OrtTensor> {
    const specs = batch ? this.batchInputs : this.inputs;
    if (n === 1) {
      for (let i = 0; i < specs.length; i++) copyChecked(this.one[i]!, args[i], specs[i]!, 1, method, batch);
      return this.oneFeeds;
    }
    if (n !== this.batchN) {
      // Grow-only storage; tensors are views of exactly n rows.
      this.inputs.forEach((s, i) => {
        if (!this.bufs[i] || this.bufs[i]!.length < n * s.dim) this.bufs[i] = bufferFor(s, n * s.dim);
      });
      const f: Record<string, OrtTensor> = {};
      this.inputs.forEach((s, i) => (f[s.name] = tensorFor(this.ort, s, this.bufs[i]!.subarray(0, n * s.dim), n)));
      this.batchFeeds = f;
      this.batchN = n;
    }
    for (let i = 0; i < specs.length; i++) copyChecked(this.bufs[i]!, args[i], specs[i]!, n, method, batch);
    return this.batchFeeds;
  }

  /** Validates and copies the inputs into arrays of their own (for a call that waits, or runs in chunks). */
  snapshot(method: string, args: readonly unknown[], n: number, batch: boolean): Buffer[] {
    const specs = batch ? this.batchInputs : this.inputs;
    return specs.map((s, i) => {
      const b = bufferFor(s, n * s.dim);
      copyChecked(b, args[i], s, n, method, batch);
      return b;
    });
  }

  /** Runs n rows of snapshot inputs, maxRows rows per session run; the fetched outputs are concatenated. */
  async runSnapshot(method: string, data: readonly Buffer[], n: number, fetches: readonly string[]): Promise<Record<string, OrtTensor>> {
    const feedsAt = (start: number, m: number): Record<string, OrtTensor> => {
      const f: Record<string, OrtTensor> = {};
      this.inputs.forEach((s, i) => (f[s.name] = tensorFor(this.ort, s, data[i]!.subarray(start * s.dim, (start + m) * s.dim), m)));
      return f;
    };
    if (n <= this.maxRows) return this.session.run(feedsAt(0, n), fetches);
    // Chunks of near-equal size (no 1-row remainder, which onnxruntime may run with other kernels).
    const chunks = Math.ceil(n / this.maxRows);
    const out: Record<string, { data: Float32Array; dims: number[] }> = {};
    for (let c = 0, start = 0; c < chunks; c++) {
      const m = Math.floor(n / chunks) + (c < n % chunks ? 1 : 0);
      const r = await this.session.run(feedsAt(start, m), fetches);
      for (const name of fetches) {
        const t = r[name];
        const d = t?.data;
        const width = d instanceof Float32Array ? d.length / m : NaN;
        if (!(d instanceof Float32Array) || !Number.isInteger(width) || (out[name] && out[name].data.length !== n * width))
          throw new Error(
            `${method}: output '${name}' of rows ${start}..${start + m - 1} is not ${m} rows of float32 values, got ${describeData(d)}`,
          );
        out[name] ??= { data: new Float32Array(n * width), dims: [n, ...t!.dims.slice(1)] };
        out[name].data.set(d, start * width);
      }
      start += m;
    }
    return out;
  }
}

const describeData = (d: unknown): string =>
  ArrayBuffer.isView(d) ? `${(d as unknown as ArrayLike<number>).length} values of ${typeName(d)}` : typeName(d);

/** Copies `src` (n rows of spec.dim numbers) into `dst`, checking type, length and finiteness (or bytes). */
function copyChecked(dst: Buffer, src: unknown, spec: InputSpec, n: number, method: string, batch: boolean): void {
  const what = spec.label;
  if (!isNumericArray(src)) throw new TypeError(`${method}: ${what} must be an array or typed array of numbers, got ${typeName(src)}`);
  const expected = n * spec.dim;
  if (src.length !== expected) {
    const shape = batch ? `${n} x ${spec.dim} = ${expected}` : `${spec.dim}`;
    throw new RangeError(`${method}: ${what} must have ${shape} numbers, got ${src.length}`);
  }
  const where = (i: number) => (!batch ? `${what}[${i}]` : `${what}[${i}] (row ${Math.floor(i / spec.dim)}, column ${i % spec.dim})`);
  if (dst instanceof Uint8Array) {
    // Frames: a Uint8Array is copied as is; anything else must hold integers 0..255.
    if (src instanceof Uint8Array) {
      dst.set(src);
      return;
    }
    for (let i = 0; i < expected; i++) {
      const v = src[i];
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 255)
        throw new RangeError(
          `${method}: ${where(i)} is ${String(v)}; pixel frames must be integers 0..255 ` +
            `(a Uint8Array of ${spec.shape?.join(' x ') ?? spec.dim} per row)`,
        );
      dst[i] = v;
    }
    return;
  }
  if (src instanceof Float32Array) {
    dst.set(src);
  } else {
    for (let i = 0; i < expected; i++) {
      const v = src[i];
      if (typeof v !== 'number') throw new TypeError(`${method}: ${where(i)} must be a number, got ${typeName(v)}`);
      dst[i] = v;
    }
  }
  for (let i = 0; i < expected; i++) {
    const v = dst[i]!;
    // v - v is NaN exactly for NaN and +-Infinity: one subtraction per element on the hot path.
    if (v - v !== 0) {
      const orig = src[i]!;
      const note = Number.isFinite(orig) ? ` (${orig} overflows float32)` : '';
      throw new RangeError(`${method}: ${where(i)} is ${Number.isFinite(orig) ? v : orig}${note}; inputs must be finite numbers`);
    }
  }
}

const EXPECTED_IO: Record<PolicyRole, { inputs: (info: PolicyInfo) => InputSpec[]; outputs: (info: PolicyInfo) => string[] }> = {
  policy: {
    inputs: (i) => [
      { name: 'observation', label: 'observation', dim: i.obsDim, shape: i.obsShape, dtype: i.obsDtype },
      { name: 'goal', label: 'goal', dim: i.goalDim, shape: i.obsShape, dtype: i.obsDtype },
    ],
    outputs: (i) => (i.hierarchical ? ['action', 'subgoal'] : ['action']),
  },
  low_policy: {
    inputs: (i) => [
      { name: 'observation', label: 'observation', dim: i.obsDim, shape: i.obsShape, dtype: i.obsDtype },
      { name: 'subgoal', label: 'subgoal', dim: i.repDim ?? 0 },
    ],
    outputs: () => ['action'],
  },
  goal_rep: {
    inputs: (i) => [
      { name: 'observation', label: 'observation', dim: i.obsDim, shape: i.obsShape, dtype: i.obsDtype },
      { name: 'goal', label: 'goal', dim: i.goalDim, shape: i.obsShape, dtype: i.obsDtype },
    ],
    outputs: () => ['representation'],
  },
};

type CompanionRole = 'low_policy' | 'goal_rep';
const COMPANION_ROLES: readonly CompanionRole[] = ['low_policy', 'goal_rep'];
const ROLES: readonly PolicyRole[] = ['policy', ...COMPANION_ROLES];

/** Metadata keys that say what one model is, and how a difference is told (the rest are compared as is). */
const NAMED_KEYS: [keys: string[], say: (c: PolicyInfo, m: PolicyInfo) => string][] = [
  [['hiql.agent'], (c, m) => `it is a ${c.agent} model, the policy is ${m.agent}`],
  [['hiql.env'], (c, m) => `it was trained on ${c.env}, the policy on ${m.env}`],
  [
    ['hiql.config_hash', 'hiql.config', 'hiql.preset'],
    (c, m) =>
      `it was exported from another config (${
        c.configHash !== m.configHash
          ? `hash ${c.configHash.slice(0, 12)} vs ${m.configHash.slice(0, 12)}`
          : c.preset !== m.preset
            ? `preset '${c.preset}' vs '${m.preset}'`
            : 'its hiql.config differs'
      })`,
  ],
  [['hiql.train_steps'], (c, m) => `it is from training step ${c.trainSteps}, the policy from step ${m.trainSteps}`],
  [
    ['hiql.obs_dim', 'hiql.goal_dim', 'hiql.rep_dim', 'hiql.action_dim', 'hiql.obs_dtype', 'hiql.obs_shape', 'hiql.observation_type'],
    (c, m) => {
      const d = (
        [
          ['obs', c.obsShape.join('x'), m.obsShape.join('x')],
          ['obs dtype', c.obsDtype, m.obsDtype],
          ['observation type', c.observationType, m.observationType],
          ['goal', c.goalDim, m.goalDim],
          ['rep', c.repDim, m.repDim],
          ['action', c.actionDim, m.actionDim],
        ] as const
      ).filter(([, a, b]) => a !== b);
      return `its dimensions differ (${d.map(([k, a, b]) => `${k} ${a} vs ${b}`).join(', ')})`;
    },
  ],
];
/**
 * Keys that may differ between the files of one export: the role, the companion list, and for a
 * quantized export the per-file report of what was quantized and the SHA-256 of each file's float
 * source (export/quantize.ts). Everything that makes the files one model (agent, env, config and its
 * hash, step, dims, weight format) must agree.
 */
const PER_FILE_KEYS = new Set(['hiql.role', 'hiql.companions', 'hiql.quantization', 'hiql.quantized_from_sha256']);

const quote = (v: string | undefined): string => (v === undefined ? 'missing' : `'${v.length > 40 ? `${v.slice(0, 40)}...` : v}'`);

/**
 * Checks a companion against the policy it belongs to: the files of one export carry the same
 * metadata except the role (and the companion list), so every other entry must be equal.
 */
function checkCompanion(main: PolicyInfo, c: PolicyInfo, role: CompanionRole, name: string): void {
  const bad = (what: string) => {
    throw new Error(`'${name}' is not the ${role} companion of this policy: ${what}`);
  };
  if (c.role !== role) bad(`its role is '${c.role}'`);
  const a = main.metadata;
  const b = c.metadata;
  const differs = (k: string) => a[k] !== b[k];
  const problems: string[] = [];
  const named = new Set<string>();
  for (const [keys, say] of NAMED_KEYS) {
    keys.forEach((k) => named.add(k));
    if (keys.some(differs)) problems.push(say(c, main));
  }
  for (const k of [...new Set([...Object.keys(a), ...Object.keys(b)])].sort())
    if (!named.has(k) && !PER_FILE_KEYS.has(k) && differs(k)) problems.push(`its '${k}' is ${quote(b[k])}, the policy's ${quote(a[k])}`);
  if (problems.length > 0) bad(`${problems.join('; ')} (the files of one export carry the same metadata; keep them together)`);
}

interface LoadedSessions {
  ort: OrtModule;
  policy: Runner;
  low: Runner | null;
  phi: Runner | null;
}

interface CheckedModel {
  role: PolicyRole;
  source: ModelSource;
  info: PolicyInfo;
}

async function createSessions(backend: Backend, provider: OrtProvider, o: LoadOptions, models: CheckedModel[]): Promise<LoadedSessions> {
  const ort = await provider.module(backend, o.threads);
  const options: Record<string, unknown> = {
    executionProviders: [backend],
    graphOptimizationLevel: 'all',
    executionMode: 'sequential',
    intraOpNumThreads: o.threads ?? 1,
    interOpNumThreads: 1,
    enableCpuMemArena: true,
    enableMemPattern: true,
    ...o.sessionOptions,
  };
  const created: OrtSession[] = [];
  const runners: Partial<Record<PolicyRole, Runner>> = {};
  try {
    for (const m of models) {
      const session = await ort.InferenceSession.create(m.source.bytes, options);
      created.push(session);
      const io = EXPECTED_IO[m.role];
      const inputs = io.inputs(m.info);
      for (const s of inputs)
        if (!session.inputNames.includes(s.name))
          throw new Error(`'${m.source.name}' (${m.role}) has no input '${s.name}'; its inputs: ${session.inputNames.join(', ')}`);
      for (const out of io.outputs(m.info))
        if (!session.outputNames.includes(out))
          throw new Error(`'${m.source.name}' (${m.role}) has no output '${out}'; its outputs: ${session.outputNames.join(', ')}`);
      runners[m.role] = new Runner(ort, session, inputs, o.maxBatchRows);
    }
  } catch (e) {
    await Promise.allSettled(created.map((s) => s.release()));
    throw e;
  }
  return { ort, policy: runners.policy!, low: runners.low_policy ?? null, phi: runners.goal_rep ?? null };
}

/** Companion models given as bytes in `options.companions`, checked for type. */
export function companionsFromOptions(options: LoadOptions): { low_policy?: ModelSource; goal_rep?: ModelSource } {
  const given = options.companions ?? {};
  const companions: { low_policy?: ModelSource; goal_rep?: ModelSource } = {};
  for (const role of COMPANION_ROLES) {
    const b = given[role];
    if (b !== undefined) {
      if (!(b instanceof Uint8Array)) throw new TypeError(`loadPolicy: options.companions.${role} must be a Uint8Array, got ${typeof b}`);
      companions[role] = { bytes: b, name: `(${role} bytes)` };
    }
  }
  return companions;
}

const HEX64 = /^[0-9a-f]{64}$/i;

/** options.sha256 as digests by role (lowercase hex), checked for form. */
function digestsFromOptions(d: unknown): Partial<Record<PolicyRole, string>> | null {
  if (d === undefined) return null;
  const out: Partial<Record<PolicyRole, string>> = {};
  const put = (role: unknown, hex: unknown, where: string) => {
    if (!ROLES.includes(role as PolicyRole))
      throw new RangeError(`loadPolicy: ${where} names role '${String(role)}'; expected one of ${ROLES.join(', ')}`);
    if (typeof hex !== 'string' || !HEX64.test(hex))
      throw new RangeError(
        `loadPolicy: ${where} must be a SHA-256 digest (64 hex digits), got ${typeof hex === 'string' ? `'${hex}'` : typeName(hex)}`,
      );
    out[role as PolicyRole] = hex.toLowerCase();
  };
  if (Array.isArray(d)) d.forEach((e: { role?: unknown; sha256?: unknown }, i) => put(e?.role, e?.sha256, `options.sha256[${i}]`));
  else if (d !== null && typeof d === 'object') for (const [k, v] of Object.entries(d)) put(k, v, `options.sha256.${k}`);
  else
    throw new TypeError(
      `loadPolicy: options.sha256 must be { policy, low_policy, goal_rep } or a model card's files array, got ${typeName(d)}`,
    );
  return out;
}

async function sha256Hex(provider: OrtProvider, bytes: Uint8Array): Promise<string> {
  if (provider.sha256) return provider.sha256(bytes);
  const subtle = (globalThis as { crypto?: { subtle?: { digest(alg: string, data: Uint8Array): Promise<ArrayBuffer> } } }).crypto?.subtle;
  if (!subtle)
    throw new Error(
      'loadPolicy: options.sha256 needs crypto.subtle, which this environment lacks (browsers offer it on https or localhost)',
    );
  return [...new Uint8Array(await subtle.digest('SHA-256', bytes))].map((x) => x.toString(16).padStart(2, '0')).join('');
}

/** Checks a file's digest (when options.sha256 is given) and that it refers to no external data. */
async function checkFile(
  provider: OrtProvider,
  digests: Partial<Record<PolicyRole, string>> | null,
  role: PolicyRole,
  src: ModelSource,
): Promise<void> {
  if (digests !== null) {
    const what = role === 'policy' ? 'policy' : `${role} companion`;
    const expected = digests[role];
    if (expected === undefined)
      throw new Error(
        `loadPolicy: options.sha256 has no digest for the ${what} '${src.name}'; give every file's (a model card lists them) or none`,
      );
    const got = await sha256Hex(provider, src.bytes);
    if (got !== expected)
      throw new Error(
        `the ${what} '${src.name}' is not the file expected: its SHA-256 is ${got}, expected ${expected} (options.sha256); ` +
          'the file was changed, damaged or mixed up with another model',
      );
  }
  assertSelfContained(src.bytes, src.name);
}

/** Reads a companion file named in the policy's metadata (beside the policy's file or URL). */
export type CompanionReader = (file: string, role: CompanionRole) => Promise<ModelSource>;

function checkOptions(o: LoadOptions, provider: OrtProvider): Backend {
  if (o === null || typeof o !== 'object') throw new TypeError(`loadPolicy: options must be an object, got ${typeName(o)}`);
  const backend = o.backend ?? provider.defaultBackend;
  if (!BACKENDS.includes(backend))
    throw new RangeError(`loadPolicy: unknown backend '${String(backend)}'; valid backends here: ${provider.backends.join(', ')}`);
  if (!provider.backends.includes(backend))
    throw new RangeError(
      `loadPolicy: backend '${backend}' is not available in this entry point; valid backends here: ${provider.backends.join(', ')}`,
    );
  if (o.fallback !== undefined && !(['cpu', 'wasm'] as const).includes(o.fallback))
    throw new RangeError(`loadPolicy: fallback must be 'cpu' or 'wasm', got '${String(o.fallback)}'`);
  if (o.fallback !== undefined && !provider.backends.includes(o.fallback))
    throw new RangeError(
      `loadPolicy: fallback '${o.fallback}' is not available in this entry point; valid backends here: ${provider.backends.join(', ')}`,
    );
  if (o.threads !== undefined && !(Number.isInteger(o.threads) && o.threads >= 1))
    throw new RangeError(`loadPolicy: threads must be a positive integer, got ${String(o.threads)}`);
  if (o.maxBatchRows !== undefined && !(Number.isInteger(o.maxBatchRows) && o.maxBatchRows >= 1))
    throw new RangeError(`loadPolicy: maxBatchRows must be a positive integer, got ${String(o.maxBatchRows)}`);
  return backend;
}

/**
 * Loads a policy from its bytes (and, for HIQL, its companions' bytes) on `provider`. Entry points
 * call this after reading files or URLs.
 */
export function createPolicy(
  main: ModelSource,
  companions: { low_policy?: ModelSource; goal_rep?: ModelSource },
  options: LoadOptions,
  provider: OrtProvider,
): Promise<Policy> {
  return loadFrom(main, options ?? {}, provider, companions, null);
}

/**
 * The loader behind every entry point: checks the options, reads the policy's metadata (once), finds
 * its companions (`given`, options.companions, or read by `readCompanion` as the metadata names them), checks each file
 * (digest, no external data, metadata against the policy's) and creates the sessions.
 */
export async function loadFrom(
  main: ModelSource,
  o: LoadOptions,
  provider: OrtProvider,
  given: { low_policy?: ModelSource; goal_rep?: ModelSource },
  readCompanion: CompanionReader | null,
): Promise<Policy> {
  const backend = checkOptions(o, provider);
  const companions = { ...companionsFromOptions(o), ...given };
  const digests = digestsFromOptions(o.sha256);
  await checkFile(provider, digests, 'policy', main);
  const info = readPolicyInfo(main.bytes, main.name);
  if (info.role !== 'policy') {
    throw new Error(
      `'${main.name}' is the ${info.role} companion of a policy, not a policy; ` +
        'load the policy file itself (NAME.onnx), which finds its companions',
    );
  }
  const models: CheckedModel[] = [{ role: 'policy', source: main, info }];
  if (info.hierarchical) {
    for (const role of COMPANION_ROLES) {
      const file = info.companions[role];
      const src = companions[role] ?? (file !== undefined && readCompanion ? await readCompanion(file, role) : undefined);
      if (!src) continue;
      await checkFile(provider, digests, role, src);
      const ci = readPolicyInfo(src.bytes, src.name);
      checkCompanion(info, ci, role, src.name);
      models.push({ role, source: src, info: ci });
    }
  } else if (companions.low_policy || companions.goal_rep) {
    throw new Error(`'${main.name}' is a flat ${info.agent} policy; it has no companions, but some were given`);
  }

  let sessions: LoadedSessions;
  let used = backend;
  let fallback: FallbackReport | null = null;
  try {
    // Measured on an H200 (onnxruntime 1.30): WebGPU's Conv over 6 input channels is wrong. Models
    // exported since pad that convolution to 8 channels, but none has been re-checked on a GPU yet.
    if (backend === 'webgpu' && info.obsDtype === 'uint8')
      throw new Error(
        "pixel policies are not validated on WebGPU (onnxruntime 1.30's WebGPU Conv over 6 input channels differs from the CPU); " +
          'use cpu or wasm',
      );
    sessions = await createSessions(backend, provider, o, models);
  } catch (e) {
    const reason = errorMessage(e);
    if (o.fallback === undefined || o.fallback === backend) {
      const to = provider.backends.includes('cpu') ? 'cpu' : 'wasm';
      const hint =
        o.fallback === undefined && (backend === 'cuda' || backend === 'webgpu')
          ? `; ${BACKEND_HINT[backend]}, or pass { fallback: '${to}' } to fall back explicitly`
          : '';
      throw new Error(`backend '${backend}' (${provider.engine(backend)}) could not load '${main.name}': ${reason}${hint}`, { cause: e });
    }
    try {
      sessions = await createSessions(o.fallback, provider, o, models);
    } catch (e2) {
      throw new Error(
        `backend '${backend}' could not load '${main.name}' (${reason}), ` +
          `and neither could the fallback '${o.fallback}': ${errorMessage(e2)}`,
        { cause: e2 },
      );
    }
    used = o.fallback;
    fallback = { from: backend, reason };
  }
  return new Policy(info, used, provider.engine(used), fallback, sessions, main.name);
}

const BACKEND_HINT = {
  cuda: "the CUDA backend needs onnxruntime-node's CUDA provider libraries and CUDA 12 with cuDNN 9 on this machine",
  webgpu: 'the WebGPU backend needs a WebGPU adapter (a GPU with a Vulkan, Metal or D3D12 driver; in browsers, navigator.gpu)',
};

/**
 * Output `name` of a run of n rows: width float32 values per row, all finite. A non-finite output for
 * finite inputs means the model is broken (e.g. weights that are not what they should be): an Error,
 * never a value handed to a controller.
 */
function checkedOutput(method: string, r: Record<string, OrtTensor>, name: string, width: number, n: number, batch: boolean): Float32Array {
  const d = r[name]?.data;
  const size = n * width;
  if (!(d instanceof Float32Array) || d.length !== size)
    throw new Error(`${method}: output '${name}' should be ${size} float32 values, got ${describeData(d)}`);
  for (let i = 0; i < size; i++) {
    const v = d[i]!;
    if (v - v !== 0) {
      const where = batch ? `${name}[${i}] (row ${Math.floor(i / width)}, column ${i % width})` : `${name}[${i}]`;
      throw new Error(
        `${method}: the model returned ${where} = ${v}; expected finite numbers (the inputs were finite), ` +
          'so the model file is broken (weights not what they should be?) and its output is not returned',
      );
    }
  }
  return d;
}

const FETCH_ACTION = ['action'] as const;
const FETCH_SUBGOAL = ['subgoal'] as const;
const FETCH_BOTH = ['action', 'subgoal'] as const;
const FETCH_REP = ['representation'] as const;

/** A loaded policy. Calls are serialised (one session run at a time); every method validates its inputs first. */
export class Policy {
  private busy = false;
  private readonly waiting: (() => void)[] = [];
  private released = false;
  private readonly policyRunner: Runner;
  private readonly low: Runner | null;
  private readonly phi: Runner | null;

  /** @internal Use loadPolicy. */
  constructor(
    /** The policy's metadata. */
    readonly info: PolicyInfo,
    /** The backend actually running the policy. */
    readonly backend: Backend,
    /** The onnxruntime package running it ('onnxruntime-node' or 'onnxruntime-web'). */
    readonly engine: string,
    /** null, or the backend that was asked for and why it could not be used. */
    readonly fallback: FallbackReport | null,
    sessions: LoadedSessions,
    /** The policy's file name or URL. */
    readonly source: string,
  ) {
    this.policyRunner = sessions.policy;
    this.low = sessions.low;
    this.phi = sessions.phi;
  }

  /** Which HIQL companions are loaded. */
  get hasCompanion(): { low_policy: boolean; goal_rep: boolean } {
    return { low_policy: this.low !== null, goal_rep: this.phi !== null };
  }

  /** Takes the lock: undefined if it was free (taken now, synchronously), else a promise of the handover. */
  private lock(): Promise<void> | undefined {
    if (!this.busy) {
      this.busy = true;
      return undefined;
    }
    return new Promise<void>((r) => this.waiting.push(r));
  }

  /** Hands the lock to the next waiting call, or frees it. */
  private unlock(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.busy = false;
  }

  private check(method: string): void {
    if (this.released) throw new Error(`policy.${method}: the policy was released`);
  }

  private checkN(method: string, n: unknown): number {
    if (typeof n !== 'number' || !Number.isInteger(n) || n < 1)
      throw new RangeError(`policy.${method}: n must be a positive integer (the batch size), got ${String(n)}`);
    return n;
  }

  private hier(method: string): void {
    if (!this.info.hierarchical)
      throw new Error(
        `policy.${method}: '${this.source}' is a flat ${this.info.agent} policy; only hierarchical (hiql) policies have subgoals`,
      );
  }

  private companion(method: string, role: 'low_policy' | 'goal_rep'): Runner {
    this.hier(method);
    const r = role === 'low_policy' ? this.low : this.phi;
    if (!r) {
      const file = this.info.companions[role];
      throw new Error(
        `policy.${method}: the ${role} companion${file ? ` '${file}'` : ''} was not loaded; ` +
          `load the policy from its file or URL with the companion beside it, or pass it in options.companions.${role}`,
      );
    }
    return r;
  }

  /**
   * One call: its inputs are validated and copied when it is made (a later change to the caller's
   * arrays does not reach it), then it runs when it has the session. A call that finds the session
   * free copies into the runner's reused buffers; one that must wait, or a batch larger than one
   * run, copies into arrays of its own. The outputs are checked: finite, of the expected size.
   */
  private async run(
    method: string,
    runner: Runner,
    args: readonly unknown[],
    n: number,
    fetches: readonly string[],
    widths: readonly number[],
    batch = false,
  ): Promise<Float32Array[]> {
    this.check(method);
    const m = `policy.${method}`;
    const data = this.busy || n > runner.maxRows ? runner.snapshot(m, args, n, batch) : null;
    const wait = this.lock();
    let r: Record<string, OrtTensor>;
    try {
      if (wait) {
        await wait;
        this.check(method);
      }
      r = await (data === null ? runner.session.run(runner.feeds(m, args, n, batch), fetches) : runner.runSnapshot(m, data, n, fetches));
    } finally {
      this.unlock();
    }
    return fetches.map((name, i) => checkedOutput(m, r, name, widths[i]!, n, batch));
  }

  /** The action for one observation and goal (deterministic, within the action bounds). */
  async act(observation: Numeric, goal: Numeric): Promise<Float32Array> {
    const [a] = await this.run('act', this.policyRunner, [observation, goal], 1, FETCH_ACTION, [this.info.actionDim]);
    return a!;
  }

  /** Actions [n * actionDim] for n observations and goals, row-major [n * obsDim], [n * goalDim]. */
  async actBatch(observations: Numeric, goals: Numeric, n: number): Promise<Float32Array> {
    this.checkN('actBatch', n);
    const [a] = await this.run('actBatch', this.policyRunner, [observations, goals], n, FETCH_ACTION, [this.info.actionDim], true);
    return a!;
  }

  /** HIQL: the subgoal latent [repDim] the high level proposes for this observation and goal. */
  async subgoal(observation: Numeric, goal: Numeric): Promise<Float32Array> {
    this.hier('subgoal');
    const [z] = await this.run('subgoal', this.policyRunner, [observation, goal], 1, FETCH_SUBGOAL, [this.info.repDim!]);
    return z!;
  }

  async subgoalBatch(observations: Numeric, goals: Numeric, n: number): Promise<Float32Array> {
    this.hier('subgoalBatch');
    this.checkN('subgoalBatch', n);
    const [z] = await this.run('subgoalBatch', this.policyRunner, [observations, goals], n, FETCH_SUBGOAL, [this.info.repDim!], true);
    return z!;
  }

  /** HIQL: action and subgoal latent from one run of the policy (action = actTowards(observation, subgoal)). */
  async actWithSubgoal(observation: Numeric, goal: Numeric): Promise<{ action: Float32Array; subgoal: Float32Array }> {
    this.hier('actWithSubgoal');
    const widths = [this.info.actionDim, this.info.repDim!];
    const [action, subgoal] = await this.run('actWithSubgoal', this.policyRunner, [observation, goal], 1, FETCH_BOTH, widths);
    return { action: action!, subgoal: subgoal! };
  }

  /** HIQL: the low level's action towards a given subgoal latent (the low_policy companion). */
  async actTowards(observation: Numeric, subgoal: Numeric): Promise<Float32Array> {
    const low = this.companion('actTowards', 'low_policy');
    const [a] = await this.run('actTowards', low, [observation, subgoal], 1, FETCH_ACTION, [this.info.actionDim]);
    return a!;
  }

  async actTowardsBatch(observations: Numeric, subgoals: Numeric, n: number): Promise<Float32Array> {
    const low = this.companion('actTowardsBatch', 'low_policy');
    this.checkN('actTowardsBatch', n);
    const [a] = await this.run('actTowardsBatch', low, [observations, subgoals], n, FETCH_ACTION, [this.info.actionDim], true);
    return a!;
  }

  /** HIQL: the goal representation phi([observation; goal]) (the goal_rep companion), [repDim]. */
  async goalRep(observation: Numeric, goal: Numeric): Promise<Float32Array> {
    const phi = this.companion('goalRep', 'goal_rep');
    const [r] = await this.run('goalRep', phi, [observation, goal], 1, FETCH_REP, [this.info.repDim!]);
    return r!;
  }

  async goalRepBatch(observations: Numeric, goals: Numeric, n: number): Promise<Float32Array> {
    const phi = this.companion('goalRepBatch', 'goal_rep');
    this.checkN('goalRepBatch', n);
    const [r] = await this.run('goalRepBatch', phi, [observations, goals], n, FETCH_REP, [this.info.repDim!], true);
    return r!;
  }

  /**
   * A stateful controller: with subgoalEvery k, the high level is asked every k steps (and whenever
   * the goal changes) and its subgoal is held in between; k = 1 is plain `act`.
   */
  controller(o: { subgoalEvery?: number } = {}): PolicyController {
    const k = o.subgoalEvery ?? 1;
    if (!Number.isInteger(k) || k < 1) throw new RangeError(`policy.controller: subgoalEvery must be a positive integer, got ${String(k)}`);
    if (k > 1) this.companion('controller', 'low_policy');
    return new PolicyController(this, k);
  }

  /** Releases every session; later calls throw. */
  async release(): Promise<void> {
    if (this.released) return;
    const wait = this.lock();
    try {
      if (wait) await wait;
      if (this.released) return;
      this.released = true;
      const all = [this.policyRunner, this.low, this.phi].filter((r): r is Runner => r !== null);
      await Promise.all(all.map((r) => r.session.release()));
    } finally {
      this.unlock();
    }
  }
}

/** See Policy.controller. */
export class PolicyController {
  private held: Float32Array | null = null;
  private readonly heldGoal: Float32Array;
  private count = 0;
  private sinceRefresh = 0;

  constructor(
    readonly policy: Policy,
    readonly subgoalEvery: number,
  ) {
    this.heldGoal = new Float32Array(policy.info.goalDim);
  }

  /** The subgoal latent currently held (null before the first step, and always for k = 1). */
  get subgoal(): Float32Array | null {
    return this.held;
  }

  /** Steps taken since the last reset. */
  get steps(): number {
    return this.count;
  }

  /** Forgets the held subgoal; the next act asks the high level again. */
  reset(): void {
    this.held = null;
    this.count = 0;
    this.sinceRefresh = 0;
  }

  private goalChanged(goal: Numeric): boolean {
    if (!isNumericArray(goal) || goal.length !== this.heldGoal.length) return true;
    for (let i = 0; i < goal.length; i++) if (Math.fround(goal[i]!) !== this.heldGoal[i]) return true;
    return false;
  }

  async act(observation: Numeric, goal: Numeric): Promise<Float32Array> {
    if (this.subgoalEvery === 1) {
      const a = await this.policy.act(observation, goal);
      this.count++;
      return a;
    }
    if (this.held === null || this.sinceRefresh >= this.subgoalEvery || this.goalChanged(goal)) {
      const r = await this.policy.actWithSubgoal(observation, goal);
      this.held = r.subgoal;
      for (let i = 0; i < this.heldGoal.length; i++) this.heldGoal[i] = goal[i]!;
      this.sinceRefresh = 1;
      this.count++;
      return r.action;
    }
    const a = await this.policy.actTowards(observation, this.held);
    this.sinceRefresh++;
    this.count++;
    return a;
  }
}
