// The in-memory dataset used by training, and its loaders.
//
// Convention (OGBench, docs/spec.md section 3): rows are stored trajectory after trajectory;
// terminals[t] = 1 marks the LAST stored row of a trajectory. Row t's successor is row t + 1 unless
// t is such a last row, which therefore never serves as a sampled transition (its action is kept
// but unused). `buildTrajectoryIndex` turns terminals into the index tables the samplers use.
//
// Sources:
// - OGBench .npz: observations [N, ...], actions [N, A], terminals [N] (float32 or bool), plus any
//   other keys (qpos, qvel, ...) which are carried along in `extras`. Optional `action_mask` [N]
//   (uint8/bool) marks rows whose action is known (action-free data), see `dropActions`.
// - D4RL .hdf5/.h5: see `d4rlToOgbench` for exactly how trajectories are cut.

import { type NpyArray, npyArray, shapeSize } from './npy.ts';
import { readNpz, writeNpz } from './npz.ts';
import { readHdf5 } from './hdf5.ts';
import { Rng } from '../../rng/rng.ts';

export interface Dataset {
  name?: string;
  /** N stored observations. */
  size: number;
  /** Per-observation shape, e.g. [2] or [64, 64, 3]. */
  obsShape: number[];
  /** [N * prod(obsShape)]: float32 states, or uint8 pixels. */
  observations: Float32Array | Uint8Array;
  actionDim: number;
  /** [N * actionDim] */
  actions: Float32Array;
  /** null = every action known; else 1 where the action at row t is known (action-free data). */
  actionMask: Uint8Array | null;
  /** 1 at the last stored row of each trajectory (OGBench convention). */
  terminals: Uint8Array;
  /** Any other arrays of the source file, unchanged. */
  extras: Record<string, NpyArray>;
}

export interface TrajectoryIndex {
  /** Every row t that has a successor t + 1 in its trajectory (never a trajectory's last row), ascending. */
  validIndices: Int32Array;
  /**
   * [N]: for row t, the last row of its trajectory that has a successor (= trajectory end - 1). For a
   * one-row trajectory, which has no transition at all, it is the row itself.
   */
  finalIndex: Int32Array;
  /** Per trajectory: first and last stored row, inclusive. */
  starts: Int32Array;
  ends: Int32Array;
}

/**
 * Builds the sampler tables from terminals (1 at each trajectory's last row). The final row of the
 * data always ends a trajectory, marked or not.
 */
export function buildTrajectoryIndex(terminals: Uint8Array): TrajectoryIndex {
  const n = terminals.length;
  let numTraj = 0;
  for (let t = 0; t < n; t++) if (terminals[t] || t === n - 1) numTraj++;
  const starts = new Int32Array(numTraj);
  const ends = new Int32Array(numTraj);
  const finalIndex = new Int32Array(n);
  const validIndices = new Int32Array(n - numTraj);
  let k = 0;
  let v = 0;
  let start = 0;
  for (let t = 0; t < n; t++) {
    if (terminals[t] || t === n - 1) {
      starts[k] = start;
      ends[k] = t;
      k++;
      const fin = t > start ? t - 1 : t;
      finalIndex.fill(fin, start, t + 1);
      for (let u = start; u < t; u++) validIndices[v++] = u;
      start = t + 1;
    }
  }
  return { validIndices, finalIndex, starts, ends };
}

export interface LoadOptions {
  /**
   * D4RL files only. 'split' (default): a trajectory ends where `terminals` or `timeouts` is 1.
   * 'ignore': only `timeouts` and observation discontinuities end trajectories; use it for AntMaze,
   * whose `terminals` flag goal arrivals while the data carries on (OGBench's loader ignores them too).
   */
  d4rlTerminals?: 'split' | 'ignore';
}

/** Loads an OGBench .npz or a D4RL .hdf5/.h5 file. */
export async function loadDataset(path: string, opts: LoadOptions = {}): Promise<Dataset> {
  const lower = path.toLowerCase();
  let ds: Dataset;
  if (lower.endsWith('.npz')) {
    ds = datasetFromArrays(readNpz(path), path);
  } else if (lower.endsWith('.hdf5') || lower.endsWith('.h5')) {
    ds = datasetFromArrays(d4rlToOgbench(await readHdf5(path), path, opts), path);
  } else {
    throw new RangeError(`${path}: unknown dataset format; expected a .npz (OGBench) or .hdf5/.h5 (D4RL) file`);
  }
  const base = path.split(/[\\/]/).pop()!;
  ds.name = base.replace(/\.(npz|hdf5|h5)$/i, '');
  return ds;
}

/**
 * Converts D4RL arrays to the OGBench convention.
 *
 * D4RL row t is a transition (s_t, a_t, r_t, s'_t, done_t); s'_t is `next_observations[t]` where the
 * file has that key, otherwise implicitly `observations[t + 1]`. A trajectory ends at row t when
 *   - terminals[t] = 1 (unless d4rlTerminals is 'ignore'), or
 *   - timeouts[t] = 1, or
 *   - next_observations is present and differs from observations[t + 1] by more than 1e-6 in any
 *     coordinate (D4RL files whose timeouts are missing or wrong still split correctly), or
 *   - t is the last row.
 * That row becomes the trajectory's last stored row: terminals_out[t] = 1. Its own transition
 * (s_t, a_t -> s'_t) is dropped from training, because s'_t (an absorbing terminal state, or a state
 * D4RL never stored as an observation) has no row of its own; every other row's successor is the
 * next row, exactly as in D4RL. One transition per trajectory is lost, which is what OGBench's
 * own D4RL loader does too.
 *
 * The original flags are kept as extras 'd4rl_terminals' and 'timeouts'; rewards, infos/* and
 * next_observations are carried along as they are.
 */
export function d4rlToOgbench(arrays: Record<string, NpyArray>, source: string, opts: LoadOptions = {}): Record<string, NpyArray> {
  const obs = arrays['observations'];
  if (!obs) throw new RangeError(`${source}: no 'observations' dataset; keys present: ${Object.keys(arrays).join(', ') || 'none'}`);
  const n = obs.shape[0] ?? 0;
  const flag = (key: string): Uint8Array | null => {
    const a = arrays[key];
    if (!a) return null;
    if (a.shape[0] !== n) throw new RangeError(`${source}[${key}]: has ${a.shape[0]} rows, observations has ${n}`);
    return toFlags(a, `${source}[${key}]`);
  };
  const mode = opts.d4rlTerminals ?? 'split';
  if (mode !== 'split' && mode !== 'ignore') throw new RangeError(`d4rlTerminals must be 'split' or 'ignore', got '${String(mode)}'`);
  const term = flag('terminals');
  const timeouts = flag('timeouts');
  if (!term && !timeouts && !arrays['next_observations']) {
    throw new RangeError(
      `${source}: a D4RL file needs 'terminals', 'timeouts' or 'next_observations' to find trajectory ends; ` +
        `keys present: ${Object.keys(arrays).join(', ')}`,
    );
  }
  const ends = new Uint8Array(n);
  for (let t = 0; t < n; t++) ends[t] = (mode === 'split' && term?.[t]) || timeouts?.[t] ? 1 : 0;
  const next = arrays['next_observations'];
  if (next) {
    if (next.shape.length !== obs.shape.length || next.shape.some((s, k) => s !== obs.shape[k])) {
      throw new RangeError(
        `${source}[next_observations]: shape (${next.shape.join(', ')}) differs from observations (${obs.shape.join(', ')})`,
      );
    }
    const d = n > 0 ? shapeSize(obs.shape) / n : 0;
    const a = obs.data;
    const b = next.data;
    for (let t = 0; t + 1 < n; t++) {
      if (ends[t]) continue;
      for (let k = 0; k < d; k++) {
        if (Math.abs(Number(b[t * d + k]!) - Number(a[(t + 1) * d + k]!)) > 1e-6) {
          ends[t] = 1;
          break;
        }
      }
    }
  }
  if (n > 0) ends[n - 1] = 1;
  const out: Record<string, NpyArray> = {};
  for (const [k, v] of Object.entries(arrays)) {
    if (k === 'terminals') out['d4rl_terminals'] = v;
    else out[k] = v;
  }
  out['terminals'] = npyArray('|u1', [n], ends, `${source}[terminals]`);
  return out;
}

function toFlags(a: NpyArray, where: string): Uint8Array {
  if (a.shape.length !== 1 && !(a.shape.length === 2 && a.shape[1] === 1)) {
    throw new RangeError(`${where}: expected shape (N,), got (${a.shape.join(', ')})`);
  }
  const out = new Uint8Array(a.data.length);
  for (let t = 0; t < a.data.length; t++) {
    const x = Number(a.data[t]!);
    if (x !== 0 && x !== 1) throw new RangeError(`${where}: expected 0/1 flags, got ${x} at row ${t}`);
    out[t] = x;
  }
  return out;
}

function isFloat(dtype: string): boolean {
  return dtype === '<f4' || dtype === '<f8';
}

/** Float32 copy (or the array itself when already float32), rejecting NaN and +-Inf. */
function finiteFloat32(a: NpyArray, where: string, rowLen: number): Float32Array {
  if (!isFloat(a.dtype)) {
    throw new RangeError(`${where}: expected a float32 or float64 array, got dtype ${a.dtype}`);
  }
  const src = a.data as Float32Array | Float64Array;
  const out = a.data instanceof Float32Array ? a.data : Float32Array.from(src);
  for (let i = 0; i < out.length; i++) {
    const x = out[i]!;
    if (x - x !== 0) {
      // NaN - NaN and Inf - Inf are NaN; finite - finite is 0. A float64 value beyond float32's range
      // becomes Inf in the conversion and is caught here too.
      const row = Math.floor(i / rowLen);
      const orig = Number(src[i]!);
      throw new RangeError(`${where}: non-finite value ${orig} at row ${row}, column ${i - row * rowLen}; datasets must be finite`);
    }
  }
  return out;
}

/**
 * Builds and validates a Dataset from named arrays (an .npz's contents, or d4rlToOgbench's output).
 * Requires observations [N, ...], actions [N] or [N, A] and terminals [N]; checks that row counts
 * agree, that floats are finite and flags are 0/1. Everything else goes to `extras`.
 */
export function datasetFromArrays(arrays: Record<string, NpyArray>, source: string): Dataset {
  const need = (key: string): NpyArray => {
    const a = arrays[key];
    if (!a) throw new RangeError(`${source}: missing required array '${key}'; keys present: ${Object.keys(arrays).join(', ') || 'none'}`);
    return a;
  };
  const obs = need('observations');
  const act = need('actions');
  const term = need('terminals');
  if (obs.shape.length < 1) throw new RangeError(`${source}[observations]: expected shape (N, ...), got a scalar`);
  const n = obs.shape[0]!;
  if (n < 1) throw new RangeError(`${source}[observations]: the dataset has no rows`);
  const obsShape = obs.shape.length === 1 ? [1] : obs.shape.slice(1);
  const obsLen = shapeSize(obsShape);
  for (const [key, a] of [
    ['actions', act],
    ['terminals', term],
  ] as const) {
    if (a.shape[0] !== n) {
      throw new RangeError(
        `${source}[${key}]: length mismatch: ${key} has ${a.shape.length ? a.shape[0] : 'no'} rows but observations has ${n}`,
      );
    }
  }
  let observations: Float32Array | Uint8Array;
  if (obs.dtype === '|u1') {
    observations = obs.data as Uint8Array; // pixels stay uint8; the network scales them by 1/255
  } else if (isFloat(obs.dtype)) {
    observations = finiteFloat32(obs, `${source}[observations]`, obsLen);
  } else {
    throw new RangeError(`${source}[observations]: expected float32/float64 states or uint8 pixels, got dtype ${obs.dtype}`);
  }
  if (act.shape.length > 2) throw new RangeError(`${source}[actions]: expected shape (N,) or (N, A), got (${act.shape.join(', ')})`);
  const actionDim = act.shape.length === 1 ? 1 : act.shape[1]!;
  if (actionDim < 1) throw new RangeError(`${source}[actions]: actions have dimension 0`);
  if (!isFloat(act.dtype)) throw new RangeError(`${source}[actions]: expected float32 or float64 actions, got dtype ${act.dtype}`);
  const actions = finiteFloat32(act, `${source}[actions]`, actionDim);
  const terminals = toFlags(term, `${source}[terminals]`);
  // The data's last row ends a trajectory whether or not the file marks it; mark it so that every
  // consumer sees the same trajectory boundaries.
  terminals[n - 1] = 1;
  let actionMask: Uint8Array | null = null;
  const mask = arrays['action_mask'];
  if (mask) {
    if (mask.shape[0] !== n)
      throw new RangeError(`${source}[action_mask]: length mismatch: ${mask.shape[0]} rows but observations has ${n}`);
    actionMask = toFlags(mask, `${source}[action_mask]`);
  }
  const extras: Record<string, NpyArray> = {};
  for (const [k, v] of Object.entries(arrays)) {
    if (!['observations', 'actions', 'terminals', 'action_mask'].includes(k)) extras[k] = v;
  }
  return { size: n, obsShape, observations, actionDim, actions, actionMask, terminals, extras };
}

/** The arrays an .npz of this dataset holds (OGBench layout: terminals as float32). */
export function datasetToArrays(ds: Dataset): Record<string, NpyArray> {
  const n = ds.size;
  const out: Record<string, NpyArray> = {
    observations: npyArray(ds.observations instanceof Uint8Array ? '|u1' : '<f4', [n, ...ds.obsShape], ds.observations, 'observations'),
    actions: npyArray('<f4', [n, ds.actionDim], ds.actions, 'actions'),
    terminals: npyArray('<f4', [n], Float32Array.from(ds.terminals), 'terminals'),
  };
  if (ds.actionMask) out['action_mask'] = npyArray('|u1', [n], ds.actionMask, 'action_mask');
  for (const [k, v] of Object.entries(ds.extras)) if (!(k in out)) out[k] = v;
  return out;
}

/** Saves as a compressed OGBench-style .npz, atomically (temporary file, then rename). */
export function saveDatasetNpz(path: string, ds: Dataset): void {
  writeNpz(path, datasetToArrays(ds), { compress: true });
}

/**
 * Action-free variant: keeps actions on a random `fraction` of trajectories (round(fraction x
 * trajectories) of them, chosen with `seed`) and marks those rows in `actionMask`; the other rows'
 * actions are zeroed so nothing can use them by accident. Rows already unlabelled in `ds` stay
 * unlabelled. Observations, terminals and extras are shared with `ds`, not copied.
 */
export function dropActions(ds: Dataset, fraction: number, seed: number): Dataset {
  if (!(fraction >= 0 && fraction <= 1)) throw new RangeError(`dropActions: fraction must be in [0, 1], got ${fraction}`);
  const { starts, ends } = buildTrajectoryIndex(ds.terminals);
  const numTraj = starts.length;
  const keep = Math.round(fraction * numTraj);
  // Partial Fisher-Yates: the first `keep` entries of a random permutation.
  const order = Int32Array.from({ length: numTraj }, (_, k) => k);
  const rng = new Rng(seed);
  for (let k = 0; k < keep; k++) {
    const j = k + rng.int(numTraj - k);
    const tmp = order[k]!;
    order[k] = order[j]!;
    order[j] = tmp;
  }
  const mask = new Uint8Array(ds.size);
  for (let k = 0; k < keep; k++) {
    const tr = order[k]!;
    mask.fill(1, starts[tr]!, ends[tr]! + 1);
  }
  if (ds.actionMask) for (let t = 0; t < ds.size; t++) mask[t]! &= ds.actionMask[t]!;
  const actions = new Float32Array(ds.actions.length);
  const d = ds.actionDim;
  for (let t = 0; t < ds.size; t++) {
    if (mask[t]) for (let k = 0; k < d; k++) actions[t * d + k] = ds.actions[t * d + k]!;
  }
  return { ...ds, actions, actionMask: mask };
}

/**
 * Only the trajectories whose every row has a known action, with no action mask: what a method that
 * cannot use action-free data trains on (the paper's flat baselines on the labelled part).
 */
export function labelledTrajectories(ds: Dataset): Dataset {
  if (!ds.actionMask) return ds;
  const { starts, ends } = buildTrajectoryIndex(ds.terminals);
  const keep: number[] = [];
  for (let k = 0; k < starts.length; k++) {
    let all = true;
    for (let t = starts[k]!; t <= ends[k]! && all; t++) all = ds.actionMask[t] === 1;
    if (all) keep.push(k);
  }
  const n = keep.reduce((a, k) => a + ends[k]! - starts[k]! + 1, 0);
  const per = ds.obsShape.reduce((a, b) => a * b, 1);
  const d = ds.actionDim;
  const observations = ds.observations instanceof Uint8Array ? new Uint8Array(n * per) : new Float32Array(n * per);
  const actions = new Float32Array(n * d);
  const terminals = new Uint8Array(n);
  let row = 0;
  for (const k of keep) {
    const a = starts[k]!;
    const len = ends[k]! - a + 1;
    observations.set(ds.observations.subarray(a * per, (a + len) * per), row * per);
    actions.set(ds.actions.subarray(a * d, (a + len) * d), row * d);
    terminals[row + len - 1] = 1;
    row += len;
  }
  return { ...ds, size: n, observations, actions, terminals, actionMask: null, extras: {} };
}

/** Number of labelled rows (all rows when actionMask is null). */
export function labelledRows(ds: Dataset): number {
  if (!ds.actionMask) return ds.size;
  let s = 0;
  for (let t = 0; t < ds.size; t++) s += ds.actionMask[t]!;
  return s;
}

/**
 * Wraps generator output (envs/datasets.ts) as a Dataset; qpos and qvel go to extras. With
 * `frames` (uint8 [n, size, size, 3], see envs/render.ts renderPixelObservations) the observations
 * are the frames (a visual dataset) and the positions stay available as qpos.
 */
export function datasetFromGenerated(
  g: {
    name: string;
    observations: Float32Array;
    actions: Float32Array;
    terminals: Float32Array;
    qpos: Float32Array;
    qvel: Float32Array;
  },
  frames?: { data: Uint8Array; size: number },
): Dataset {
  const n = g.terminals.length;
  if (frames && frames.data.length !== n * frames.size * frames.size * 3)
    throw new RangeError(
      `datasetFromGenerated: ${n} frames of ${frames.size} x ${frames.size} x 3 need ${n * frames.size * frames.size * 3} bytes, ` +
        `got ${frames.data.length}`,
    );
  return {
    name: g.name,
    size: n,
    obsShape: frames ? [frames.size, frames.size, 3] : [2],
    observations: frames ? frames.data : g.observations,
    actionDim: 2,
    actions: g.actions,
    actionMask: null,
    terminals: Uint8Array.from(g.terminals),
    extras: {
      qpos: npyArray('<f4', [n, 2], g.qpos, 'qpos'),
      qvel: npyArray('<f4', [n, 2], g.qvel, 'qvel'),
    },
  };
}
