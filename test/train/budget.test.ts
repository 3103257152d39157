// A training budget in minutes (--minutes): the run stops at the first step after the budget, with a
// checkpoint, a metrics row and an evaluation at that step, and can be resumed from there.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateDataset } from '../../envs/datasets.ts';
import { datasetFromGenerated } from '../../train/data/dataset.ts';
import { resolveConfig } from '../../train/config.ts';
import { readRunParams } from '../../train/run-folder.ts';
import { train } from '../../train/trainer.ts';

const ds = datasetFromGenerated(generateDataset('pointmaze-medium-navigate', { seed: 1, episodes: 20 }));
const cfgFor = (o: Record<string, unknown>) =>
  resolveConfig({
    agent: 'gcbc',
    preset: 'quick',
    env: 'pointmaze-medium-navigate',
    dataset: 'generated',
    overrides: { batchSize: 32, actorHiddenDims: '16,16', logEvery: 1000, evalEvery: 0, evalEpisodes: 1, saveEvery: 0, threads: 1, ...o },
  });

test('--minutes stops the run at the budget with a checkpoint, a last metrics row and an evaluation there', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'budget-'));
  const infos: string[] = [];
  // 0.01 min = 0.6 s: far fewer than the 1,000,000 steps asked for.
  const r = await train(cfgFor({ steps: 1_000_000, minutes: 0.01 }), dir, { dataset: ds, cb: { onInfo: (m) => infos.push(m) } });
  assert.equal(r.budgetReached, true);
  assert.ok(r.steps > 0 && r.steps < 1_000_000, `stopped at step ${r.steps}`);
  assert.equal(readRunParams(dir).step, r.steps);
  const last = JSON.parse(readFileSync(join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n').pop()!) as { step: number };
  assert.equal(last.step, r.steps);
  const ev = JSON.parse(readFileSync(join(dir, 'eval.jsonl'), 'utf8').trim()) as { step: number };
  assert.equal(ev.step, r.steps);
  assert.ok(infos.some((m) => m.includes(`time budget of 0.01 min reached at step ${r.steps}`)));
  // Resumed without a budget, it continues from that step.
  const more = await train(cfgFor({ steps: r.steps + 5, minutes: 0 }), dir, { dataset: ds, resume: true, evalAtEnd: false });
  assert.equal(more.startStep, r.steps);
  assert.equal(more.steps, r.steps + 5);
  assert.equal(more.budgetReached, false);
});

test('a negative budget is refused', () => {
  assert.throws(() => cfgFor({ minutes: -1 }), /minutes must be a number >= 0, got -1/);
});
