// One trainer per run folder: a second trainer started on a folder in use is refused before it reads
// or writes anything (it would interleave the logs and overwrite the checkpoint), the first run's
// files stay whole, a lock left by a killed trainer is taken over, and one from another host is
// refused with the path to remove.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateDataset } from '../../envs/datasets.ts';
import { datasetFromGenerated } from '../../train/data/dataset.ts';
import { resolveConfig } from '../../train/config.ts';
import { train } from '../../train/trainer.ts';
import { LOCK_FILE } from '../../train/run-folder.ts';

const ds = datasetFromGenerated(generateDataset('pointmaze-medium-navigate', { seed: 1, episodes: 20 }));
const cfg = (steps: number) =>
  resolveConfig({
    agent: 'gcbc',
    preset: 'quick',
    env: 'pointmaze-medium-navigate',
    dataset: 'generated',
    overrides: { batchSize: 32, actorHiddenDims: '16,16', steps, logEvery: 10, evalEvery: 0, evalEpisodes: 1, saveEvery: 20, threads: 1 },
  });
const metricSteps = (dir: string) =>
  readFileSync(join(dir, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => (JSON.parse(l) as { step: number }).step);

test('a second trainer on a folder in use is refused, naming the holder; the first run finishes whole', async () => {
  const dir = join(mkdtempSync(join(tmpdir(), 'lock-')), 'run');
  const first = train(cfg(60), dir, { dataset: ds, evalAtEnd: false });
  assert.ok(existsSync(join(dir, LOCK_FILE)));
  await assert.rejects(
    train(cfg(60), dir, { dataset: ds, resume: true, evalAtEnd: false }),
    new RegExp(`is in use by another trainer \\(pid ${process.pid}, since .*\\); a run folder takes one trainer at a time`),
  );
  await first;
  assert.deepEqual(metricSteps(dir), [10, 20, 30, 40, 50, 60]);
  assert.ok(!existsSync(join(dir, LOCK_FILE)), 'the lock is released when the run ends');
  // Released, the folder takes the next trainer.
  await train(cfg(80), dir, { dataset: ds, resume: true, evalAtEnd: false });
  assert.deepEqual(metricSteps(dir), [10, 20, 30, 40, 50, 60, 70, 80]);
});

test("a killed trainer's lock is taken over; another host's is refused with the path; a refused start leaves no folder", async () => {
  const dir = join(mkdtempSync(join(tmpdir(), 'lock-stale-')), 'run');
  mkdirSync(dir);
  // The id of a process that has exited.
  const dead = spawnSync(process.execPath, ['-e', '0']).pid!;
  writeFileSync(join(dir, LOCK_FILE), JSON.stringify({ pid: dead, host: (await import('node:os')).hostname(), started: 'then' }));
  const info: string[] = [];
  await train(cfg(20), dir, { dataset: ds, evalAtEnd: false, cb: { onInfo: (m) => info.push(m) } });
  assert.ok(
    info.some((m) => m.includes(`its trainer (pid ${dead}, since then) no longer runs`)),
    info.join('\n'),
  );
  assert.ok(!existsSync(join(dir, LOCK_FILE)));

  writeFileSync(join(dir, LOCK_FILE), JSON.stringify({ pid: 1, host: 'elsewhere', started: 'now' }));
  await assert.rejects(
    train(cfg(40), dir, { dataset: ds, resume: true }),
    new RegExp(`in use by a trainer on host elsewhere \\(pid 1, since now\\).*If none runs there, remove ${join(dir, LOCK_FILE)}`),
  );
  assert.deepEqual(metricSteps(dir), [10, 20], 'the refused trainer wrote nothing');

  const fresh = join(mkdtempSync(join(tmpdir(), 'lock-none-')), 'run');
  await assert.rejects(train({ ...cfg(20), env: 'pointmaze-nowhere-navigate' }, fresh, { dataset: ds }));
  assert.ok(!existsSync(fresh), 'a start refused by its checks leaves no empty run folder behind');
});
