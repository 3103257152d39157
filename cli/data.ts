// `hiql data ...`: generate PointMaze datasets, describe dataset files, draw them on their maze.
// Thin: argument handling and printing only; the work is done by envs/ and train/data/.

import { mkdirSync, statSync } from 'node:fs';
import { fsError, writeFileAtomic } from '../onnx/checkpoint.ts';
import { dirname } from 'node:path';
import { type ParsedArgs, checkOutputName, optFlag, optInt, optNumber, parseArgs, rejectUnknown, requireString } from './args.ts';
import { DATASET_NAMES, VISUAL_DATASET_NAMES, VISUAL_FRAME_SIZE, datasetSpec, generateDataset, parseEnvName } from '../envs/datasets.ts';
import { getMaze } from '../envs/maze.ts';
import { encodePng } from '../envs/png.ts';
import { renderMaze, renderPixelObservations } from '../envs/render.ts';
import {
  buildTrajectoryIndex,
  d4rlToOgbench,
  datasetFromArrays,
  datasetFromGenerated,
  labelledRows,
  loadDataset,
  saveDatasetNpz,
} from '../train/data/dataset.ts';
import type { NpyArray } from '../train/data/npy.ts';
import { readNpz } from '../train/data/npz.ts';
import { readHdf5 } from '../train/data/hdf5.ts';
import { checkPositionsInMaze } from '../train/data/fit.ts';

const USAGE = `Usage:
  hiql data generate --env NAME --out FILE [--episodes N] [--seed S] [--val] [--frame-size 64] [--force]
      Collect a dataset with the noisy BFS expert and write it as a compressed .npz (OGBench keys:
      observations, actions, terminals, qpos, qvel). An existing FILE is kept unless --force is given
      (it is then replaced only once the new file is complete). --val writes the validation split
      (episodes / 10 by default, from a seed derived from S). Default seed 0.
      NAME: ${DATASET_NAMES.join(', ')}
      Pixel datasets (observations: uint8 frames [N, S, S, 3], S = --frame-size, default 64; qpos
      keeps the positions; by default a tenth of the episodes, the first ones of the state dataset):
      ${VISUAL_DATASET_NAMES.join(', ')}
  hiql data info FILE
      Keys, shapes and dtypes of an .npz or D4RL .hdf5 file; trajectory count and lengths.
  hiql data render --env NAME --dataset FILE --out maze.png [--trajectories 20] [--steps N] [--scale 8]
      Draw the maze with trajectories from the dataset (evenly spaced through the file; --steps
      limits each to its first N rows; --scale sets pixels per world unit).`;

export async function run(argv: string[]): Promise<number> {
  const args = parseArgs(argv);
  const [sub, ...rest] = args.positionals;
  if (sub === undefined || sub === 'help' || args.options.has('help') || args.options.has('h')) {
    console.log(USAGE);
    return sub === undefined && !args.options.has('help') ? 2 : 0;
  }
  switch (sub) {
    case 'generate':
      return generate(args, rest);
    case 'info':
      return info(args, rest);
    case 'render':
      return render(args, rest);
    default:
      console.error(`hiql data: unknown subcommand '${sub}'\n\n${USAGE}`);
      return 2;
  }
}

function noPositionals(rest: string[], command: string): void {
  if (rest.length > 0) throw new RangeError(`hiql ${command}: unexpected argument '${rest[0]}'`);
}

function ensureDir(path: string): void {
  try {
    mkdirSync(dirname(path), { recursive: true });
  } catch (e) {
    throw fsError('create the folder', dirname(path), e);
  }
}

/**
 * An existing --out file (perhaps a dataset the user downloaded) is not replaced unless --force is
 * given; checked before any work is done.
 */
function refuseExisting(out: string, args: ParsedArgs, command: string): void {
  const force = optFlag(args, 'force', command);
  let st;
  try {
    st = statSync(out);
  } catch {
    return;
  }
  if (st.isDirectory()) throw new Error(`hiql ${command}: --out '${out}' is a folder; expected a file path such as ${out}/data.npz`);
  if (!force)
    throw new Error(
      `hiql ${command}: '${out}' already exists (${fmtBytes(st.size)}); it is kept. Pass --force to replace it, or choose another --out`,
    );
}

function fmtBytes(n: number): string {
  return n >= 1 << 20 ? `${(n / (1 << 20)).toFixed(1)} MiB` : n >= 1024 ? `${(n / 1024).toFixed(1)} KiB` : `${n} B`;
}

async function generate(args: ParsedArgs, rest: string[]): Promise<number> {
  rejectUnknown(args, ['env', 'out', 'episodes', 'seed', 'val', 'frame-size', 'force'], 'data generate');
  noPositionals(rest, 'data generate');
  const env = requireString(args, 'env', 'data generate');
  const out = requireString(args, 'out', 'data generate');
  refuseExisting(out, args, 'data generate');
  const seed = optInt(args, 'seed') ?? 0;
  const episodes = optInt(args, 'episodes');
  const split = optFlag(args, 'val', 'data generate') ? 'val' : 'train';
  if (seed < 0) throw new RangeError(`--seed must be >= 0, got ${seed}`);
  if (episodes !== undefined && episodes < 1) throw new RangeError(`--episodes must be >= 1, got ${episodes}`);
  const spec = datasetSpec(env, split);
  const frameSize = optInt(args, 'frame-size');
  if (frameSize !== undefined && !spec.visual)
    throw new RangeError(`hiql data generate: --frame-size is for pixel datasets (${VISUAL_DATASET_NAMES.join(', ')}), not '${spec.name}'`);
  if (frameSize !== undefined && !(frameSize >= 8 && frameSize <= 256))
    throw new RangeError(`--frame-size must be in [8, 256], got ${frameSize}`);
  const nEp = episodes ?? spec.episodes;
  const total = nEp * spec.episodeLength;
  const tty = process.stderr.isTTY === true;
  const t0 = performance.now();
  let lastReport = t0;
  const report = (done: number, final = false) => {
    const s = (performance.now() - t0) / 1000;
    const rate = s > 0 ? done / s : 0;
    const pct = ((100 * done) / total).toFixed(0);
    const line = `${spec.name} (${split}): ${done}/${total} transitions (${pct}%), ${(rate / 1e6).toFixed(2)}M transitions/s`;
    if (tty) process.stderr.write(`\r${line}${final ? '\n' : ''}`);
    else process.stderr.write(`${line}\n`);
  };
  const g = generateDataset(spec.name, {
    seed,
    split,
    ...(episodes !== undefined ? { episodes } : {}),
    onProgress: (done) => {
      const now = performance.now();
      if (now - lastReport > (tty ? 200 : 2000)) {
        lastReport = now;
        report(done);
      }
    },
  });
  report(total, true);
  const genS = (performance.now() - t0) / 1000;
  ensureDir(out);
  let frames: { data: Uint8Array; size: number } | undefined;
  if (spec.visual) {
    const size = frameSize ?? VISUAL_FRAME_SIZE;
    const n = g.terminals.length;
    process.stderr.write(`rendering ${n} frames of ${size} x ${size} x 3 (${fmtBytes(n * size * size * 3)})\n`);
    frames = { data: renderPixelObservations(getMaze(spec.maze), g.observations, n, size), size };
  }
  saveDatasetNpz(out, datasetFromGenerated(g, frames));
  const totalS = (performance.now() - t0) / 1000;
  console.log(
    `wrote ${out}: ${spec.name} ${split} split, seed ${seed}, ${g.episodes} episodes x ${g.episodeLength} steps = ${total} transitions, ` +
      `${fmtBytes(statSync(out).size)} (generated in ${genS.toFixed(2)} s, ${totalS.toFixed(2)} s with compression)`,
  );
  return 0;
}

function describe(a: NpyArray): string {
  const names: Record<string, string> = {
    '<f4': 'float32',
    '<f8': 'float64',
    '|b1': 'bool',
    '|u1': 'uint8',
    '|i1': 'int8',
    '<i2': 'int16',
    '<u2': 'uint16',
    '<i4': 'int32',
    '<u4': 'uint32',
    '<i8': 'int64',
    '<u8': 'uint64',
  };
  return `(${a.shape.join(', ')}${a.shape.length === 1 ? ',' : ''}) ${names[a.dtype] ?? a.dtype}`;
}

async function info(args: ParsedArgs, rest: string[]): Promise<number> {
  rejectUnknown(args, [], 'data info');
  const file = rest[0];
  if (file === undefined) throw new RangeError('hiql data info: give a FILE (.npz or .hdf5)');
  noPositionals(rest.slice(1), 'data info');
  const lower = file.toLowerCase();
  const isH5 = lower.endsWith('.hdf5') || lower.endsWith('.h5');
  if (!isH5 && !lower.endsWith('.npz')) throw new RangeError(`hiql data info: ${file}: expected a .npz or .hdf5/.h5 file`);
  const arrays = isH5 ? await readHdf5(file) : readNpz(file);
  console.log(`${file} (${fmtBytes(statSync(file).size)}, ${isH5 ? 'D4RL HDF5' : 'npz'})`);
  const width = Math.max(...Object.keys(arrays).map((k) => k.length));
  for (const [k, a] of Object.entries(arrays)) console.log(`  ${k.padEnd(width)}  ${describe(a)}`);
  const ds = datasetFromArrays(isH5 ? d4rlToOgbench(arrays, file) : arrays, file);
  const idx = buildTrajectoryIndex(ds.terminals);
  const lens = Array.from(idx.ends, (e, k) => e - idx.starts[k]! + 1);
  const mean = lens.reduce((s, x) => s + x, 0) / lens.length;
  console.log(`rows: ${ds.size}; observation shape (${ds.obsShape.join(', ')}), action dim ${ds.actionDim}`);
  console.log(`trajectories: ${lens.length}; length min ${Math.min(...lens)}, mean ${mean.toFixed(1)}, max ${Math.max(...lens)} rows`);
  console.log(`transitions with a successor: ${idx.validIndices.length}`);
  if (ds.actionMask) console.log(`actions known on ${labelledRows(ds)} of ${ds.size} rows (action_mask)`);
  return 0;
}

async function render(args: ParsedArgs, rest: string[]): Promise<number> {
  rejectUnknown(args, ['env', 'dataset', 'out', 'trajectories', 'steps', 'scale'], 'data render');
  noPositionals(rest, 'data render');
  const env = requireString(args, 'env', 'data render');
  const file = requireString(args, 'dataset', 'data render');
  const out = requireString(args, 'out', 'data render');
  checkOutputName(out, 'out', '.png', 'a PNG', 'data render');
  const count = optInt(args, 'trajectories') ?? 20;
  const steps = optInt(args, 'steps');
  const scale = optNumber(args, 'scale') ?? 8;
  if (count < 0) throw new RangeError(`--trajectories must be >= 0, got ${count}`);
  if (steps !== undefined && steps < 2) throw new RangeError(`--steps must be >= 2, got ${steps}`);
  if (!(scale > 0 && scale <= 64)) throw new RangeError(`--scale must be in (0, 64], got ${scale}`);
  const maze = getMaze(parseEnvName(env).maze);
  const ds = await loadDataset(file);
  if (ds.observations instanceof Uint8Array || ds.obsShape.length !== 1 || ds.obsShape[0]! < 2) {
    throw new RangeError(
      `hiql data render: ${file}: needs state observations whose first two coordinates are x, y; ` +
        `got observation shape (${ds.obsShape.join(', ')})`,
    );
  }
  const d = ds.obsShape[0]!;
  checkPositionsInMaze(`dataset '${file}'`, env, ds.observations, d, ds.size);
  const idx = buildTrajectoryIndex(ds.terminals);
  const nTraj = idx.starts.length;
  const take = Math.min(count, nTraj);
  const trajectories: Float32Array[] = [];
  for (let k = 0; k < take; k++) {
    // Evenly spaced through the file, so both early and late episodes appear.
    const tr = Math.floor((k * nTraj) / take);
    const s = idx.starts[tr]!;
    const e = Math.min(idx.ends[tr]!, steps !== undefined ? s + steps - 1 : Infinity);
    const pts = new Float32Array((e - s + 1) * 2);
    for (let t = s; t <= e; t++) {
      pts[2 * (t - s)] = ds.observations[t * d]!;
      pts[2 * (t - s) + 1] = ds.observations[t * d + 1]!;
    }
    trajectories.push(pts);
  }
  const img = renderMaze(maze, { trajectories, pixelsPerUnit: scale });
  ensureDir(out);
  writeFileAtomic(out, encodePng(img.width, img.height, img.data, 4));
  console.log(`wrote ${out}: ${maze.name} maze, ${img.width} x ${img.height} px, ${take} of ${nTraj} trajectories from ${file}`);
  return 0;
}
