// Whether a dataset belongs to an environment, checked before training starts rather than found out
// at the first evaluation (or never): the observation and action sizes the environment produces and
// takes, and the ball's positions, which must lie in the maze's free space. A dataset of another
// maze puts positions inside walls or beyond the map; all rows are checked (a few milliseconds per
// million rows). Also the dataset's fingerprint, which a resumed run compares with the one it
// started on.
import { createHash } from 'node:crypto';
import { parseEnvName } from '../../envs/datasets.ts';
import { cellOf, getMaze, isWall, type MazeSpec } from '../../envs/maze.ts';
import type { Dataset } from './dataset.ts';

/** How far (world units) a position may reach into a wall block: soft contacts, rounding. */
const WALL_TOLERANCE = 0.05;

function inFreeSpace(maze: MazeSpec, x: number, y: number): boolean {
  for (const dx of [0, -WALL_TOLERANCE, WALL_TOLERANCE])
    for (const dy of [0, -WALL_TOLERANCE, WALL_TOLERANCE]) {
      const [i, j] = cellOf(x + dx, y + dy);
      if (!isWall(maze, i, j)) return true;
    }
  return false;
}

const shapeText = (ds: Dataset) =>
  `${ds.observations instanceof Uint8Array ? 'uint8' : 'float'} observations of per-row shape (${ds.obsShape.join(', ')})`;

/**
 * Throws unless `ds` fits environment `env`: state environments observe the ball's position (2
 * floats per row), visual ones square RGB frames (uint8 [N, S, S, 3]); actions are 2 numbers; every
 * position (the observations, or for frames the `qpos` extra where present) lies in the maze's free
 * space. RangeError for sizes, Error for positions (the data is of another maze).
 */
export function checkDatasetFitsEnv(ds: Dataset, env: string): void {
  const p = parseEnvName(env);
  const name = `dataset '${ds.name ?? 'in memory'}'`;
  let positions: ArrayLike<number> | null;
  let stride: number;
  if (p.visual) {
    const [h, w, c] = ds.obsShape;
    if (!(ds.observations instanceof Uint8Array) || ds.obsShape.length !== 3 || c !== 3 || h !== w)
      throw new RangeError(`${name} does not fit '${env}': a visual environment needs uint8 frames [N, S, S, 3], got ${shapeText(ds)}`);
    const qpos = ds.extras['qpos'];
    const ok = qpos && qpos.shape.length === 2 && qpos.shape[0] === ds.size && qpos.shape[1]! >= 2 && typeof qpos.data[0] === 'number';
    positions = ok ? (qpos.data as ArrayLike<number>) : null;
    stride = ok ? qpos.shape[1]! : 0;
  } else {
    if (ds.observations instanceof Uint8Array || ds.obsShape.length !== 1 || ds.obsShape[0] !== 2)
      throw new RangeError(
        `${name} does not fit '${env}': the environment observes the ball's position (x, y), 2 floats per row; got ${shapeText(ds)}` +
          (ds.observations instanceof Uint8Array ? ` (frames belong to visual-${p.name})` : ''),
      );
    positions = ds.observations;
    stride = 2;
  }
  if (ds.actionDim !== 2)
    throw new RangeError(`${name} does not fit '${env}': actions are 2 numbers (x and y), the dataset's have ${ds.actionDim}`);
  if (positions) checkPositionsInMaze(name, env, positions, stride, ds.size);
}

/**
 * Throws unless every position (x, y: the first two of each `stride` numbers, `rows` rows) lies in
 * the free space of `env`'s maze. `name` says whose positions they are.
 */
export function checkPositionsInMaze(name: string, env: string, positions: ArrayLike<number>, stride: number, rows: number): void {
  const maze = getMaze(parseEnvName(env).maze);
  let bad = 0;
  let first = -1;
  for (let t = 0; t < rows; t++) {
    if (inFreeSpace(maze, positions[t * stride]!, positions[t * stride + 1]!)) continue;
    if (bad++ === 0) first = t;
  }
  if (bad > 0) {
    const x = positions[first * stride]!;
    const y = positions[first * stride + 1]!;
    throw new Error(
      `${name} does not fit '${env}': ${bad} of ${rows} positions lie in walls or outside the ${maze.name} maze ` +
        `(x in [${maze.xMin}, ${maze.xMax}], y in [${maze.yMin}, ${maze.yMax}]), the first at row ${first}: ` +
        `(${x.toFixed(2)}, ${y.toFixed(2)}); is it a dataset of another maze?`,
    );
  }
}

/** What a run records of its data: rows and a sha256 over observations, actions, terminals and the action mask. */
export interface DatasetFingerprint {
  rows: number;
  sha256: string;
}

export function datasetFingerprint(ds: Dataset): DatasetFingerprint {
  const h = createHash('sha256');
  const bytes = (a: ArrayBufferView) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  h.update(JSON.stringify({ rows: ds.size, obsShape: ds.obsShape, actionDim: ds.actionDim, mask: ds.actionMask !== null }));
  h.update(bytes(ds.observations));
  h.update(bytes(ds.actions));
  h.update(bytes(ds.terminals));
  if (ds.actionMask) h.update(bytes(ds.actionMask));
  return { rows: ds.size, sha256: h.digest('hex') };
}
