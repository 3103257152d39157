// A thin wrapper over onnxruntime-node sessions: options in one place, typed-array <-> ort.Tensor.
import * as ort from 'onnxruntime-node';
import type { DType, TypedArray } from './graph.ts';

export { ort };

export interface SessionOptions {
  /** Intra-op threads; default: onnxruntime's choice (all cores). */
  threads?: number;
  /** Execution providers in order of preference, e.g. ['cpu'] or ['webgpu']. */
  executionProviders?: string[];
  /** Graph optimisation level; 'all' by default. */
  optimization?: 'disabled' | 'basic' | 'extended' | 'all';
  /** Keep named outputs on the device (GPU providers): 'gpu-buffer'. */
  preferredOutputLocation?: ort.InferenceSession.SessionOptions['preferredOutputLocation'];
  /** Write onnxruntime's profile (Chrome trace JSON) to files starting with this path; see onnx/profile.ts. */
  profileFilePrefix?: string;
  /** Run independent branches of the graph concurrently ('parallel', with `interOpThreads`); default 'sequential'. */
  executionMode?: 'sequential' | 'parallel';
  /** Inter-op threads for the 'parallel' execution mode (default 1 when `threads` is set). */
  interOpThreads?: number;
  /** Let onnxruntime's intra-op threads spin while waiting for work (its default: on). */
  spinning?: boolean;
}

export async function createSession(model: Uint8Array, opts: SessionOptions = {}): Promise<ort.InferenceSession> {
  const o: ort.InferenceSession.SessionOptions = {
    executionProviders: opts.executionProviders ?? ['cpu'],
    graphOptimizationLevel: opts.optimization ?? 'all',
    executionMode: opts.executionMode ?? 'sequential',
  };
  if (opts.threads !== undefined) {
    o.intraOpNumThreads = opts.threads;
    o.interOpNumThreads = opts.interOpThreads ?? 1;
  } else if (opts.interOpThreads !== undefined) o.interOpNumThreads = opts.interOpThreads;
  if (opts.spinning !== undefined)
    o.extra = { session: { 'intra_op.allow_spinning': opts.spinning ? '1' : '0', 'inter_op.allow_spinning': opts.spinning ? '1' : '0' } };
  if (opts.profileFilePrefix) {
    o.enableProfiling = true;
    o.profileFilePrefix = opts.profileFilePrefix;
  }
  if (opts.preferredOutputLocation) o.preferredOutputLocation = opts.preferredOutputLocation;
  try {
    return await ort.InferenceSession.create(model, o);
  } catch (e) {
    const eps = (o.executionProviders ?? []).map(String);
    const gpu = eps.find((x) => x !== 'cpu');
    if (!gpu) throw e;
    // onnxruntime throws rather than falling back; say which provider failed, why, and what to do.
    const reason =
      (e as Error).message
        .split('\n')
        .filter((l) => l.trim())
        .pop() ?? String(e);
    const hint = PROVIDER_HINTS[gpu] ?? '';
    throw new Error(`onnxruntime could not start the '${gpu}' execution provider: ${reason.trim()}. ${hint}`.trim(), { cause: e });
  }
}

export const PROVIDER_HINTS: Record<string, string> = {
  cuda:
    'The CUDA provider is not installed by default: reinstall onnxruntime-node with ONNXRUNTIME_NODE_INSTALL=cuda12 ' +
    '(needs CUDA 12 and cuDNN 9), or use cpu.',
  webgpu: 'WebGPU needs a GPU adapter (on Linux: a Vulkan driver and loader), or use cpu.',
};

const ORT_TYPE: Record<DType, ort.Tensor.Type> = {
  float32: 'float32',
  float64: 'float64',
  int64: 'int64',
  int32: 'int32',
  bool: 'bool',
  uint8: 'uint8',
};

export function toOrt(dtype: DType, data: TypedArray, dims: readonly number[]): ort.Tensor {
  return new ort.Tensor(ORT_TYPE[dtype], data as never, dims);
}
