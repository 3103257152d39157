// Offline datasets collected by the noisy expert (docs/spec.md section 6), in OGBench's layout.
//
// Layout: episodes are stored one after another, episodeLength rows each. Row t of an episode holds
// the observation (position) before step t, the action taken at step t, and qpos/qvel before step t.
// terminals is 1 at the last row of each episode. The last row's action is a real action whose
// outcome is not stored; training never uses it (that row has no successor, see docs/spec.md section 3).
//
// navigate: start uniform over free cells, goal uniform over vertex cells, a new goal the moment the
//   ball is within GOAL_TOLERANCE of the current one; 1000 episodes x 1001 rows (giant 500 x 2001).
// stitch: start uniform over free cells, goal uniform over the cells exactly 4 BFS steps from the
//   start cell (the start cell itself if none), never changed; 5000 episodes x 201 rows.
// Collection never stops at a goal. A validation split holds episodes / 10 further episodes drawn
// from a different seed derived from the same base seed.

import {
  type Cell,
  type MazeName,
  type MazeSpec,
  MAZE_NAMES,
  bfsDistances,
  cellCenterX,
  cellCenterY,
  getMaze,
  isMazeName,
} from './maze.ts';
import { ACTION_SCALE, GOAL_TOLERANCE, RESET_NOISE, STEP_DT, applyTeleport, moveBall } from './pointmaze.ts';
import { EXPERT_NOISE, getExpert } from './expert.ts';
import { Rng, deriveSeed } from '../rng/rng.ts';

export const DATASET_TYPES = ['navigate', 'stitch'] as const;
export type DatasetType = (typeof DATASET_TYPES)[number];

/** pointmaze-{medium,large,giant,teleport}-{navigate,stitch} */
export const DATASET_NAMES: readonly string[] = MAZE_NAMES.flatMap((m) => DATASET_TYPES.map((t) => `pointmaze-${m}-${t}`));

/** The pixel variants (docs/spec.md section 8): visual-pointmaze-{medium,large}-navigate, 64 x 64 x 3 uint8 frames. */
export const VISUAL_DATASET_NAMES: readonly string[] = ['medium', 'large'].map((m) => `visual-pointmaze-${m}-navigate`);

/** Frame size of the visual datasets (docs/spec.md section 8); generation may choose another. */
export const VISUAL_FRAME_SIZE = 64;

/**
 * Episodes of a visual dataset by default: a tenth of the state dataset's, because 1M frames of
 * 64 x 64 x 3 bytes are 12 GB (100 episodes x 1001 rows = 1.2 GB in memory).
 */
export const VISUAL_EPISODE_FRACTION = 0.1;

/** BFS distance between a stitch episode's start cell and its goal cell. */
export const STITCH_GOAL_DISTANCE = 4;

export interface ParsedEnvName {
  /** Canonical dataset name without version, e.g. 'pointmaze-medium-navigate' (or 'pointmaze-medium' when no type was given). */
  name: string;
  maze: MazeName;
  /** null for an environment name such as 'pointmaze-medium-v0'. */
  datasetType: DatasetType | null;
  /** 'visual-' prefix: observations are frames of renderPixelObservation, not positions. */
  visual: boolean;
}

/**
 * Parses 'pointmaze-medium-navigate', 'pointmaze-medium-navigate-v0', 'pointmaze-medium-v0' or
 * 'pointmaze-medium' (OGBench spells versions '-v0'; any '-vN' suffix is accepted and dropped),
 * each optionally prefixed 'visual-' (pixel observations).
 */
export function parseEnvName(name: string): ParsedEnvName {
  const bad = () =>
    new RangeError(
      `unknown environment '${name}'; expected [visual-]pointmaze-MAZE[-TYPE][-v0] ` +
        `with MAZE one of ${MAZE_NAMES.join(', ')} and TYPE one of ${DATASET_TYPES.join(', ')}, ` +
        `e.g. pointmaze-medium-navigate`,
    );
  const parts = name.trim().split('-');
  const visual = parts[0] === 'visual';
  if (visual) parts.shift();
  if (parts.length > 1 && /^v\d+$/.test(parts[parts.length - 1]!)) parts.pop();
  if (parts[0] !== 'pointmaze' || parts.length < 2 || parts.length > 3) throw bad();
  const maze = parts[1]!;
  if (!isMazeName(maze)) throw bad();
  let datasetType: DatasetType | null = null;
  if (parts.length === 3) {
    const t = parts[2]!;
    if (!(DATASET_TYPES as readonly string[]).includes(t)) throw bad();
    datasetType = t as DatasetType;
  }
  const base = datasetType ? `pointmaze-${maze}-${datasetType}` : `pointmaze-${maze}`;
  return { name: visual ? `visual-${base}` : base, maze, datasetType, visual };
}

export type Split = 'train' | 'val';

export interface DatasetSpec {
  name: string;
  maze: MazeName;
  datasetType: DatasetType;
  visual: boolean;
  split: Split;
  episodes: number;
  episodeLength: number;
  /** episodes * episodeLength stored rows. */
  size: number;
}

/** Episode count and length of a dataset per docs/spec.md section 6 (validation: episodes / 10). */
export function datasetSpec(name: string, split: Split = 'train'): DatasetSpec {
  const p = parseEnvName(name);
  if (!p.datasetType) throw new RangeError(`'${name}' names an environment, not a dataset; add -navigate or -stitch`);
  let episodes: number;
  let episodeLength: number;
  if (p.datasetType === 'navigate') {
    episodes = p.maze === 'giant' ? 500 : 1000;
    episodeLength = p.maze === 'giant' ? 2001 : 1001;
  } else {
    episodes = 5000;
    episodeLength = 201;
  }
  if (p.visual) episodes = Math.round(episodes * VISUAL_EPISODE_FRACTION);
  if (split === 'val') episodes = Math.max(1, Math.floor(episodes / 10));
  else if (split !== 'train') throw new RangeError(`split must be 'train' or 'val', got '${String(split)}'`);
  return {
    name: p.name,
    maze: p.maze,
    datasetType: p.datasetType,
    visual: p.visual,
    split,
    episodes,
    episodeLength,
    size: episodes * episodeLength,
  };
}

export interface GenerateOptions {
  /** Base seed; the stream is derived from (seed, dataset name, split). */
  seed: number;
  /** Override the number of episodes (default from datasetSpec for the split). */
  episodes?: number;
  split?: Split;
  /** Expert noise (default 0.5). */
  noise?: number;
  /** Called after each episode with rows done and rows total. */
  onProgress?: (rowsDone: number, rowsTotal: number) => void;
}

export interface GeneratedDataset {
  name: string;
  split: Split;
  seed: number;
  /** [N * 2] position before each step. */
  observations: Float32Array;
  /** [N * 2] the action taken from that position (clipped to [-1, 1]). */
  actions: Float32Array;
  /** [N] 1 at the last row of each episode. */
  terminals: Float32Array;
  /** [N * 2] the point mass's generalised position (= observation, as in OGBench's PointMaze). */
  qpos: Float32Array;
  /**
   * [N * 2] velocity before each step. The reference zeroes the velocity before every physics step,
   * so what it records is what wall contact left over; here: the previous step's wall push-out
   * displacement divided by STEP_DT (0 at an episode's first row and after contact-free steps).
   */
  qvel: Float32Array;
  episodes: number;
  episodeLength: number;
}

/**
 * Generates a dataset with the noisy expert. Same (name, seed, split, episodes, noise) => same bytes
 * on every platform. About a second per million rows.
 */
export function generateDataset(name: string, opts: GenerateOptions): GeneratedDataset {
  const split = opts.split ?? 'train';
  const spec = datasetSpec(name, split);
  const episodes = opts.episodes ?? spec.episodes;
  if (!Number.isInteger(episodes) || episodes < 1) throw new RangeError(`episodes must be a positive integer, got ${episodes}`);
  const L = spec.episodeLength;
  const N = episodes * L;
  const maze = getMaze(spec.maze);
  const noise = opts.noise ?? EXPERT_NOISE;
  const expert = getExpert(maze, { noise });
  // A visual dataset draws from the state dataset's stream: its episodes are the state dataset's first ones.
  const rng = new Rng(deriveSeed(opts.seed, spec.name.replace(/^visual-/, ''), split));

  const observations = new Float32Array(N * 2);
  const actions = new Float32Array(N * 2);
  const terminals = new Float32Array(N);
  const qpos = new Float32Array(N * 2);
  const qvel = new Float32Array(N * 2);

  const free = maze.freeCells;
  const vertex = maze.vertexCells;
  const stitchGoals = spec.datasetType === 'stitch' ? cellsAtDistance(maze, STITCH_GOAL_DISTANCE) : null;
  const pos = new Float64Array(2);
  const act = new Float64Array(2);
  const tol2 = GOAL_TOLERANCE * GOAL_TOLERANCE;

  for (let e = 0; e < episodes; e++) {
    // Same draw order as OGBench: start cell, goal cell, start noise (x, y), goal noise (x, y).
    const startIdx = rng.int(free.length);
    const start = free[startIdx]!;
    let goalCell: Cell;
    if (stitchGoals) {
      const options = stitchGoals[startIdx]!;
      goalCell = options.length > 0 ? options[rng.int(options.length)]! : start;
    } else {
      goalCell = vertex[rng.int(vertex.length)]!;
    }
    pos[0] = cellCenterX(start[1]) + rng.range(-RESET_NOISE, RESET_NOISE);
    pos[1] = cellCenterY(start[0]) + rng.range(-RESET_NOISE, RESET_NOISE);
    let gx = cellCenterX(goalCell[1]) + rng.range(-RESET_NOISE, RESET_NOISE);
    let gy = cellCenterY(goalCell[0]) + rng.range(-RESET_NOISE, RESET_NOISE);
    let vx = 0;
    let vy = 0;
    const base = e * L;
    for (let t = 0; t < L; t++) {
      const r = base + t;
      const x = pos[0]!;
      const y = pos[1]!;
      observations[2 * r] = x;
      observations[2 * r + 1] = y;
      qpos[2 * r] = x;
      qpos[2 * r + 1] = y;
      qvel[2 * r] = vx;
      qvel[2 * r + 1] = vy;
      expert.act(x, y, gx, gy, rng, act);
      // Store the action and apply exactly the stored (float32) value, so that a dataset row's
      // (observation, action) reproduces its successor.
      const ax = Math.fround(act[0]!);
      const ay = Math.fround(act[1]!);
      actions[2 * r] = ax;
      actions[2 * r + 1] = ay;
      moveBall(maze, pos, 0, ax, ay);
      vx = (pos[0]! - (x + ACTION_SCALE * ax)) / STEP_DT;
      vy = (pos[1]! - (y + ACTION_SCALE * ay)) / STEP_DT;
      applyTeleport(maze, pos, 0, rng);
      if (stitchGoals === null) {
        const dx = pos[0]! - gx;
        const dy = pos[1]! - gy;
        if (dx * dx + dy * dy <= tol2) {
          goalCell = vertex[rng.int(vertex.length)]!;
          gx = cellCenterX(goalCell[1]) + rng.range(-RESET_NOISE, RESET_NOISE);
          gy = cellCenterY(goalCell[0]) + rng.range(-RESET_NOISE, RESET_NOISE);
        }
      }
    }
    terminals[base + L - 1] = 1;
    opts.onProgress?.(base + L, N);
  }
  return { name: spec.name, split, seed: opts.seed, observations, actions, terminals, qpos, qvel, episodes, episodeLength: L };
}

/** For each free cell (in maze.freeCells order), the free cells exactly `d` BFS steps away. */
export function cellsAtDistance(maze: MazeSpec, d: number): Cell[][] {
  return maze.freeCells.map((c) => {
    const dist = bfsDistances(maze, c);
    const out: Cell[] = [];
    // BFS discovery order in OGBench; any fixed order works for uniform sampling, we use row-major.
    for (const f of maze.freeCells) if (dist[f[0] * maze.cols + f[1]] === d) out.push(f);
    return out;
  });
}
