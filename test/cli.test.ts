// The `hiql` command as a user runs it: the README's main job end to end (tiny budget), and clear
// errors for bad usage.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { decodePng } from '../envs/png.ts';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const bin = fileURLToPath(new URL('../bin/hiql.js', import.meta.url));
const hiql = (args: string[], cwd: string) => spawnSync(process.execPath, [bin, ...args], { cwd, encoding: 'utf8', timeout: 240_000 });

test('hiql quickstart generates the dataset, trains, exports and evaluates the exported policy', () => {
  const cwd = mkdtempSync(join(tmpdir(), 'quickstart-'));
  const r = hiql(['quickstart', '--steps', '30', '--episodes', '1', '--run-dir', 'runs/qs'], cwd);
  assert.equal(r.status, 0, r.stderr);
  const summary = JSON.parse(r.stdout.trim().split('\n').pop()!) as { success: number; model: string; tasks: unknown[] };
  assert.equal(summary.tasks.length, 5);
  assert.ok(summary.success >= 0 && summary.success <= 1);
  for (const f of [
    'data/pointmaze-medium-navigate.npz',
    'runs/qs/checkpoint.bin',
    'runs/qs/curves.svg',
    summary.model,
    summary.model.replace('.onnx', '.low.onnx'),
  ])
    assert.ok(existsSync(join(cwd, f)), `${f} exists`);
  assert.match(r.stderr, /success: \d+\.\d%/);
  assert.match(r.stderr, /npm run demo -- --models runs\/qs\n/, 'the command that shows the policy in the demo');
  // The run's episodes as a picture: 4 per task on the maze.
  const e = hiql(['eval', 'runs/qs', '--episodes', '4', '--picture', 'qs.png'], cwd);
  assert.equal(e.status, 0, e.stderr);
  assert.match(e.stderr, /wrote qs\.png \(20 episodes\)/);
  const png = decodePng(readFileSync(join(cwd, 'qs.png')));
  assert.deepEqual([png.width, png.height], [384, 384]);
  const bad = hiql(['eval', 'runs/qs', '--picture', 'qs.jpg'], cwd);
  assert.match(bad.stderr, /--picture writes a PNG: give a FILE\.png, got 'qs\.jpg'/);
});

test('hiql rejects unknown commands and options with the valid ones', () => {
  const cwd = mkdtempSync(join(tmpdir(), 'cli-'));
  const a = hiql(['fly'], cwd);
  assert.equal(a.status, 2);
  assert.match(a.stderr, /unknown command 'fly'. Commands: quickstart, data, train, eval, results, export/);
  const b = hiql(['train', '--env', 'pointmaze-medium-navigate', '--learning-rate', '1'], cwd);
  assert.equal(b.status, 1);
  assert.match(b.stderr, /unknown option --learning-rate; valid options: .*lr/);
  const c = hiql(['eval', 'no/such/run'], cwd);
  assert.match(c.stderr, /'no\/such\/run' is not a run folder: it has no config.json/);
});

test('hiql train --device webgpu trains on the GPU where there is one and says why not where there is none', () => {
  const cwd = mkdtempSync(join(tmpdir(), 'cli-gpu-'));
  assert.equal(hiql(['data', 'generate', '--env', 'pointmaze-medium-navigate', '--episodes', '20', '--out', 'd.npz'], cwd).status, 0);
  const r = hiql(
    [
      'train',
      '--env',
      'pointmaze-medium-navigate',
      '--dataset',
      'd.npz',
      '--preset',
      'quick',
      '--steps',
      '20',
      '--batchSize',
      '32',
      '--evalEvery',
      '0',
      '--evalEpisodes',
      '1',
      '--device',
      'webgpu',
      '--run-dir',
      'runs/g',
    ],
    cwd,
  );
  if (r.status === 0) {
    assert.match(r.stderr, /training step on webgpu: \d+ nodes on WebGpuExecutionProvider/);
    assert.ok(existsSync(join(cwd, 'runs/g/checkpoint.bin')));
  } else {
    assert.equal(r.status, 1);
    assert.match(
      r.stderr,
      new RegExp(
        /hiql train: onnxruntime could not start the 'webgpu' execution provider: /.source +
          /.+WebGPU needs a GPU adapter \(on Linux: a Vulkan driver and loader\), or use cpu/.source,
      ),
    );
    assert.ok(!existsSync(join(cwd, 'runs/g/checkpoint.bin')), 'no checkpoint from a run that never started');
  }
});
