import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from '../../cli/data.ts';
import { readNpz } from '../../train/data/npz.ts';
import { captureOutput } from '../capture.ts';
import { decodePng } from '../../envs/png.ts';

const dir = mkdtempSync(join(tmpdir(), 'hiql-cli-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

/** Runs the command with console output captured. */
const capture = (argv: string[]) => captureOutput(() => run(argv));

test('hiql data generate writes an OGBench .npz atomically, with progress on stderr', async () => {
  const out = join(dir, 'sub', 'ms.npz');
  const r = await capture(['generate', '--env', 'pointmaze-medium-stitch', '--out', out, '--episodes', '30', '--seed', '4']);
  assert.equal(r.code, 0);
  assert.match(r.out, /wrote .*ms\.npz: pointmaze-medium-stitch train split, seed 4, 30 episodes x 201 steps = 6030 transitions/);
  assert.match(r.err, /6030\/6030 transitions \(100%\), [\d.]+M transitions\/s/);
  const a = readNpz(out);
  assert.deepEqual(a['observations']!.shape, [6030, 2]);
  assert.deepEqual(a['terminals']!.shape, [6030]);
  assert.deepEqual(readdirSync(join(dir, 'sub')), ['ms.npz'], 'no temporary file left behind');
  // Same seed, same bytes; the validation split differs.
  const again = join(dir, 'ms2.npz');
  await capture(['generate', '--env', 'pointmaze-medium-stitch', '--out', again, '--episodes', '30', '--seed', '4']);
  assert.deepEqual(readFileSync(again), readFileSync(out));
  const val = join(dir, 'val.npz');
  const rv = await capture(['generate', '--env', 'pointmaze-medium-stitch-v0', '--out', val, '--val']);
  assert.equal(rv.code, 0);
  assert.deepEqual(readNpz(val)['observations']!.shape, [500 * 201, 2]);
});

test('hiql data generate keeps an existing file unless --force, and says so before any work', async () => {
  const mine = join(dir, 'mine.npz');
  writeFileSync(mine, 'the dataset I downloaded');
  await assert.rejects(
    capture(['generate', '--env', 'pointmaze-medium-navigate', '--out', mine, '--episodes', '2']),
    /hiql data generate: '.*mine\.npz' already exists \(24 B\); it is kept\. Pass --force to replace it, or choose another --out/,
  );
  assert.equal(readFileSync(mine, 'utf8'), 'the dataset I downloaded');
  await assert.rejects(
    capture(['generate', '--env', 'pointmaze-medium-navigate', '--out', dir, '--episodes', '2']),
    /--out '.*' is a folder; expected a file path/,
  );
  const r = await capture(['generate', '--env', 'pointmaze-medium-navigate', '--out', mine, '--episodes', '2', '--force']);
  assert.equal(r.code, 0);
  assert.deepEqual(readNpz(mine)['observations']!.shape, [2002, 2]);
});

test('hiql data info and render', async () => {
  const file = join(dir, 'tn.npz');
  await capture(['generate', '--env', 'pointmaze-teleport-navigate', '--out', file, '--episodes', '6']);
  const info = await capture(['info', file]);
  assert.equal(info.code, 0);
  assert.match(info.out, /observations +\(6006, 2\) float32/);
  assert.match(info.out, /terminals +\(6006,\) float32/);
  assert.match(info.out, /trajectories: 6; length min 1001, mean 1001\.0, max 1001 rows/);
  const png = join(dir, 'maze.png');
  // A dataset path given as --out by mistake is refused before anything is drawn.
  await assert.rejects(
    capture(['render', '--env', 'pointmaze-teleport-navigate', '--dataset', file, '--out', file]),
    /hiql data render: --out writes a PNG: give a FILE\.png, got '.*tn\.npz'/,
  );
  assert.equal(readNpz(file)['observations']!.shape[0], 6006);
  const r = await capture(['render', '--env', 'pointmaze-teleport-navigate', '--dataset', file, '--out', png, '--trajectories', '3']);
  assert.equal(r.code, 0);
  const img = decodePng(new Uint8Array(readFileSync(png)));
  assert.deepEqual([img.width, img.height], [12 * 32, 9 * 32]);
});

test('hiql data rejects unknown options and missing arguments with the valid choices', async () => {
  await assert.rejects(
    run(['generate', '--env', 'pointmaze-medium-navigate', '--out', 'x.npz', '--epsiodes', '3']),
    /hiql data generate: unknown option --epsiodes; valid options: --env, --out, --episodes, --seed, --val/,
  );
  await assert.rejects(run(['generate', '--out', 'x.npz']), /hiql data generate: --env is required/);
  await assert.rejects(
    run(['generate', '--env', 'pointmaze-tiny-navigate', '--out', 'x.npz']),
    /unknown environment 'pointmaze-tiny-navigate'/,
  );
  await assert.rejects(run(['info']), /give a FILE/);
  assert.equal((await capture(['frobnicate'])).code, 2);
  assert.equal((await capture(['--help'])).code, 0);
});
