// Issue 15, items 4, 9, 10 and 11: what cannot work is refused before anything runs or is written
// (a dataset of another maze, sizes that do not fit the env, bad flags, a batch larger than the
// data), and every error a user sees names the file and says why in words.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs, { existsSync, mkdirSync, readFileSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { crc32 } from '../../checksum/crc32.ts';
import { encodeCheckpoint, loadCheckpoint } from '../../onnx/checkpoint.ts';
import { npyArray } from '../../train/data/npy.ts';
import { writeNpz } from '../../train/data/npz.ts';
import { writeHdf5 } from '../../train/data/hdf5.ts';
import { ENV, TINY, hiql, tempDir, writeDataset } from './helpers.ts';

const dir = tempDir('validate');
const medium = writeDataset(join(dir, 'medium.npz'));
const large = writeDataset(join(dir, 'large.npz'), 'pointmaze-large-navigate', 2);
const trainArgs = (dataset: string, runDir: string, ...more: string[]) => [
  'train',
  '--env',
  ENV,
  '--dataset',
  dataset,
  ...TINY,
  '--steps',
  '10',
  '--run-dir',
  runDir,
  ...more,
];

/** Asserts `hiql ARGV` exits 1 with a message matching `re`, having created nothing at `nothing`. */
async function refused(argv: string[], re: RegExp, ...nothing: string[]): Promise<void> {
  const r = await hiql(argv);
  assert.equal(r.code, 1, `hiql ${argv.join(' ')} should fail; stderr: ${r.err}`);
  assert.match(r.err, re);
  assert.doesNotMatch(r.err, /steps\/s/, 'refused before training');
  for (const p of nothing) assert.ok(!existsSync(p), `${p} should not exist`);
}

test('a dataset of another maze is refused by train and data render', async () => {
  const run = join(dir, 'wrong-maze');
  const re = new RegExp(
    /dataset 'large' does not fit 'pointmaze-medium-navigate': \d+ of 2002 positions lie in walls or outside the medium maze /.source +
      /.* the first at row \d+: \(.*\); is it a dataset of another maze\?/.source,
  );
  await refused(trainArgs(large, run), re, run);
  const png = join(dir, 'wrong.png');
  await refused(['data', 'render', '--env', ENV, '--dataset', large, '--out', png], /does not fit 'pointmaze-medium-navigate'/, png);
  // The maze it belongs to takes it.
  const ok = await hiql(['data', 'render', '--env', 'pointmaze-large-navigate', '--dataset', large, '--out', png]);
  assert.equal(ok.code, 0, ok.err);
});

test('observation and action sizes that do not fit the env, and an unknown env, are refused before training', async () => {
  const n = 100;
  const terminals = npyArray('<f4', [n], new Float32Array(n));
  const wide = join(dir, 'obs3.npz');
  writeNpz(wide, {
    observations: npyArray('<f4', [n, 3], new Float32Array(3 * n)),
    actions: npyArray('<f4', [n, 2], new Float32Array(2 * n)),
    terminals,
  });
  const oneAction = join(dir, 'act1.npz');
  writeNpz(oneAction, {
    observations: npyArray('<f4', [n, 2], new Float32Array(2 * n)),
    actions: npyArray('<f4', [n, 1], new Float32Array(n)),
    terminals,
  });
  const frames = join(dir, 'frames.npz');
  writeNpz(frames, {
    observations: npyArray('|u1', [n, 8, 8, 3], new Uint8Array(n * 192)),
    actions: npyArray('<f4', [n, 2], new Float32Array(2 * n)),
    terminals,
  });
  const run = join(dir, 'sizes');
  await refused(
    trainArgs(wide, run),
    /the environment observes the ball's position \(x, y\), 2 floats per row; got float observations of per-row shape \(3\)/,
    run,
  );
  await refused(trainArgs(oneAction, run), /actions are 2 numbers \(x and y\), the dataset's have 1/, run);
  await refused(
    trainArgs(frames, run),
    /got uint8 observations of per-row shape \(8, 8, 3\) \(frames belong to visual-pointmaze-medium-navigate\)/,
    run,
  );
  await refused(
    ['train', '--env', 'visual-pointmaze-medium-navigate', '--dataset', medium, ...TINY, '--run-dir', run],
    /a visual environment needs uint8 frames \[N, S, S, 3\], got float observations/,
    run,
  );
  await refused(
    ['train', '--env', 'pointmaze-small-navigate', '--dataset', medium, ...TINY, '--run-dir', run],
    /unknown environment 'pointmaze-small-navigate'/,
    run,
  );
});

test('bad trainer flags and a batch larger than the data are refused before anything is written', async () => {
  const run = join(dir, 'flags');
  for (const [flag, value, re] of [
    ['--evalEpisodes', '0', /evalEpisodes must be a positive integer, got 0/],
    ['--evalEpisodes', '-3', /evalEpisodes must be a positive integer, got -3/],
    ['--threads', '-1', /threads must be an integer >= 0, got -1/],
    ['--threads', '2.5', /threads must be an integer >= 0, got 2\.5/],
    ['--evalEvery', '-1', /evalEvery must be an integer >= 0, got -1/],
    ['--logEvery', '-5', /logEvery must be a positive integer, got -5/],
    ['--logEvery', '0', /logEvery must be a positive integer, got 0/],
    ['--saveEvery', '-1', /saveEvery must be an integer >= 0, got -1/],
    ['--batchSize', '100000', /batchSize 100000 is larger than the 2000 transitions of medium; give --batchSize 2000 or less/],
  ] as const)
    await refused(trainArgs(medium, run, flag, value), re, run);
});

test('help, and quickstart and export options, are handled before any work', async () => {
  for (const cmd of ['train', 'eval', 'export', 'quickstart']) {
    const r = await hiql([cmd, '-h']);
    assert.equal(r.code, 0, `${cmd} -h: ${r.err}`);
    assert.match(r.out, new RegExp(`^hiql ${cmd} `), `${cmd} -h prints its help`);
  }
  const cwd = process.cwd();
  const qs = join(dir, 'qs');
  mkdirSync(qs);
  process.chdir(qs);
  try {
    await refused(['quickstart', '--steps', '-5'], /steps must be a positive integer, got -5/, join(qs, 'data'));
    await refused(['quickstart', '--episodes', '0'], /--episodes must be a positive integer, got 0/, join(qs, 'data'));
    // A damaged dataset where quickstart would have made one: refused before training, with the way out.
    mkdirSync(join(qs, 'data'));
    writeFileSync(join(qs, 'data', 'pointmaze-medium-navigate.npz'), readFileSync(medium).subarray(0, 3000));
    await refused(
      ['quickstart', '--steps', '5'],
      /truncated \.npz file.*\(quickstart generates data\/pointmaze-medium-navigate\.npz when it is missing: remove the file to have it/,
      join(qs, 'runs'),
    );
  } finally {
    process.chdir(cwd);
  }
  const run = join(dir, 'to-export');
  const t = await hiql(trainArgs(medium, run));
  assert.equal(t.code, 0, t.err);
  const models = join(dir, 'models');
  const out = join(models, 'p.onnx');
  await refused(['export', run, '--out', out, '--card', '--episodes', '0'], /--episodes must be a positive integer, got 0/, models);
  await refused(['export', run, '--out', out, '--card', '--backend', 'tpu'], /--backend must be cpu, webgpu or cuda, got 'tpu'/, models);
  await refused(['eval', run, '--episodes', '0'], /--episodes must be a positive integer, got 0/);
});

test('errors name the file and say why: broken checkpoint, folders, a full disk, a truncated HDF5 file', async () => {
  const run = join(dir, 'broken');
  assert.equal((await hiql(trainArgs(medium, run))).code, 0);
  // A checkpoint whose header is not JSON (with a valid checksum, so that only the header is wrong).
  const ckPath = join(run, 'checkpoint.bin');
  const ck = loadCheckpoint(ckPath);
  const bytes = Buffer.concat(encodeCheckpoint(ck));
  const at = bytes.indexOf('"tensors":[{') + 11;
  bytes[at] = 0x5d; // ']' where '{' was: '[]"name"...'
  bytes.writeUInt32LE(crc32(bytes.subarray(0, bytes.length - 4)), bytes.length - 4);
  writeFileSync(ckPath, bytes);
  const e = await hiql(['eval', run, '--episodes', '1']);
  assert.equal(e.code, 1);
  assert.match(e.err, new RegExp(`${ckPath.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: not a valid checkpoint: .*JSON`));
  // A folder where a file is expected, a file where a folder is expected.
  const folder = join(dir, 'folder.npz');
  mkdirSync(folder);
  await refused(trainArgs(folder, join(dir, 'r-eisdir')), /cannot read '.*folder\.npz': it is a folder, not a file \(EISDIR\)/);
  const file = join(dir, 'a-file');
  writeFileSync(file, '');
  await refused(trainArgs(medium, file), /cannot create the run folder '.*a-file': a file of that name is in the way \(EEXIST\)/);
  // A full disk: metrics.jsonl goes to /dev/full.
  const full = join(dir, 'full');
  mkdirSync(full);
  symlinkSync('/dev/full', join(full, 'metrics.jsonl'));
  const r = await hiql(trainArgs(medium, full));
  assert.equal(r.code, 1);
  assert.match(r.err, /cannot write '.*full\/metrics\.jsonl': no space left on the device \(ENOSPC\)/);
  // A truncated HDF5 file: one line, no HDF5-DIAG page from the C library (written to fd 2).
  const h5 = join(dir, 'd.h5');
  const m = 500;
  await writeHdf5(h5, {
    observations: npyArray('<f4', [m, 2], new Float32Array(2 * m)),
    actions: npyArray('<f4', [m, 2], new Float32Array(2 * m)),
    terminals: npyArray('<f4', [m], new Float32Array(m)),
  });
  const whole = readFileSync(h5);
  writeFileSync(h5, whole.subarray(0, whole.length >> 1));
  const fd2: string[] = [];
  const writeSync = fs.writeSync;
  fs.writeSync = ((fd: number, ...rest: unknown[]) => {
    if (fd === 2) {
      fd2.push(String(rest[0]));
      return 0;
    }
    return (writeSync as (...a: unknown[]) => number)(fd, ...rest);
  }) as typeof fs.writeSync;
  let info;
  try {
    info = await hiql(['data', 'info', h5]);
  } finally {
    fs.writeSync = writeSync;
  }
  assert.equal(info.code, 1);
  assert.match(info.err, /d\.h5: truncated HDF5 file: its superblock says the file is \d+ bytes, it has \d+/);
  assert.deepEqual(fd2, [], 'nothing printed by the HDF5 library');
  assert.deepEqual(
    readdirSync(dir).filter((f) => f.endsWith('.tmp')),
    [],
  );
});
