// A batch spec names the keys of one training batch and what each holds; every agent file declares
// its own (e.g. train/agents/hiql.ts HIQL_BATCH). The sampler fills exactly those keys, and the
// step's graph inputs, their shapes and dtypes and the onnxruntime feeds all follow from the spec.
import { ort, type Graph, type Tensor } from '../onnx/index.ts';
import { obsInput, type Dims } from './dims.ts';

/**
 * The keys a sampler knows how to fill (train/sampler.ts, OGBench's GCDataset and HGCDataset):
 * observation-like keys are rows of the dataset's observations ([B, obsDim], or uint8 frames
 * [B, H, W, C]); `actions` is [B, actionDim]; `rewards` and `masks` are [B].
 */
export const BATCH_KEY_KINDS = {
  observations: 'obs', // s_t, t uniform over the indices that have a successor
  nextObservations: 'obs', // s_{t+1}
  actions: 'action', // a_t
  rewards: 'scalar', // r = success - 1 (gcNegative) or success, success = (value goal == t)
  masks: 'scalar', // 1 - success: whether the value target bootstraps
  valueGoals: 'obs', // the value's goal: current, future (geometric or uniform) or random state
  actorGoals: 'obs', // a flat actor's goal: current, future or random state
  lowActorGoals: 'obs', // HIQL's low-level subgoal s_{min(t + k, final)}
  highActorGoals: 'obs', // HIQL's high-level goal: a future state of the trajectory, or a random one
  highActorTargets: 'obs', // HIQL's high-level target s_{min(t + k, high goal)} (or t + k for random goals)
} as const;

export type BatchKey = keyof typeof BATCH_KEY_KINDS;

/** An agent's batch: each key it needs, with a sentence on what it holds (for the reader). */
export type BatchSpec = { readonly [K in BatchKey]?: string };

/** The graph tensors of a batch of `spec`; `actionMask` [B] is present for action-free data (1 = labelled row). */
export type Batch<S extends BatchSpec> = { readonly [K in keyof S]-?: Tensor } & { readonly actionMask?: Tensor };

/** The keys of a spec, in its order, plus `actionMask` when actions are partly missing. */
export function batchKeys(spec: BatchSpec, actionMask: boolean): (BatchKey | 'actionMask')[] {
  return [...(Object.keys(spec) as BatchKey[]), ...(actionMask ? (['actionMask'] as const) : [])];
}

/**
 * [B, ...obs] for observation-like keys, [B, actionDim] for actions, [B] for rewards, masks and the
 * action mask; with `seeds` above 1, a leading seed axis: [seeds, B, ...] (each seed its own batch).
 */
export function batchShape(key: BatchKey | 'actionMask', dims: Dims, batchSize: number, seeds = 1): number[] {
  const lead = seeds > 1 ? [seeds, batchSize] : [batchSize];
  if (key === 'actionMask') return lead;
  const kind = BATCH_KEY_KINDS[key];
  if (kind === 'scalar') return lead;
  if (kind === 'action') return [...lead, dims.actionDim];
  return [...lead, ...obsInput(dims).shape];
}

/** uint8 for observation-like keys of pixel data, else float32. */
export function batchDtype(key: BatchKey | 'actionMask', dims: Dims): 'float32' | 'uint8' {
  return key !== 'actionMask' && BATCH_KEY_KINDS[key] === 'obs' ? obsInput(dims).dtype : 'float32';
}

/** The graph inputs of a batch. */
export function batchInputs(
  g: Graph,
  keys: readonly (BatchKey | 'actionMask')[],
  dims: Dims,
  batchSize: number,
  seeds = 1,
): Record<string, Tensor> {
  const batch: Record<string, Tensor> = {};
  for (const k of keys) batch[k] = g.input(k, batchDtype(k, dims), batchShape(k, dims, batchSize, seeds));
  return batch;
}

/** Typed arrays of a sampled batch (seeds' batches one after another) as onnxruntime tensors of the step's shapes. */
export function batchFeeds(
  keys: readonly (BatchKey | 'actionMask')[],
  arrays: Readonly<Record<string, Float32Array | Uint8Array>>,
  dims: Dims,
  batchSize: number,
  seeds = 1,
): Record<string, ort.Tensor> {
  const feeds: Record<string, ort.Tensor> = {};
  for (const k of keys) {
    const a = arrays[k];
    if (!a) throw new Error(`batch has no '${k}'`);
    const dtype = batchDtype(k, dims);
    const shape = batchShape(k, dims, batchSize, seeds);
    if (dtype === 'uint8') {
      if (!(a instanceof Uint8Array)) throw new TypeError(`batch '${k}' must be uint8, got ${a.constructor.name}`);
      feeds[k] = new ort.Tensor('uint8', a, shape);
    } else {
      if (!(a instanceof Float32Array)) throw new TypeError(`batch '${k}' must be float32, got ${a.constructor.name}`);
      feeds[k] = new ort.Tensor('float32', a, shape);
    }
  }
  return feeds;
}

/**
 * The seeds' batches as one (for batchFeeds with seeds): `draw(k)` gives seed k's batch, which is
 * copied into its place in each key's joined array before the next is drawn (a sampler reuses its
 * buffers). One seed's batch is returned as it is.
 */
export function drawSeedBatches(
  seeds: number,
  draw: (seed: number) => Readonly<Record<string, Float32Array | Uint8Array>>,
): Record<string, Float32Array | Uint8Array> {
  if (seeds === 1) return { ...draw(0) };
  const out: Record<string, Float32Array | Uint8Array> = {};
  for (let k = 0; k < seeds; k++)
    for (const [key, part] of Object.entries(draw(k))) {
      const joined = (out[key] ??=
        part instanceof Uint8Array ? new Uint8Array(seeds * part.length) : new Float32Array(seeds * part.length));
      joined.set(part, k * part.length);
    }
  return out;
}
