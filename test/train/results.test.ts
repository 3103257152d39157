// hiql results: each seed's score is the mean of its last three evaluations as eval.jsonl holds them,
// the row gives mean +- std over seeds beside OGBench's figure, and the command printed trains the
// same configuration again. A damaged eval.jsonl is refused by line.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateDataset } from '../../envs/datasets.ts';
import { datasetFromGenerated } from '../../train/data/dataset.ts';
import { configHash, resolveConfig } from '../../train/config.ts';
import { train } from '../../train/trainer.ts';
import { readRunInfo } from '../../train/run-folder.ts';
import { mergeResults, mergeSeeds, readSavedResults, resultsJson, resultsTable, runResult } from '../../train/results.ts';
import { run as resultsCli } from '../../cli/results.ts';
import { trainConfigFromArgs } from '../../cli/train.ts';
import { resultsSvg } from '../../train/plot.ts';

const ds = datasetFromGenerated(generateDataset('pointmaze-medium-navigate', { seed: 1, episodes: 20 }));

test('a 2-seed run: per seed the mean of its last three evaluations, mean +- std over seeds, the command that retrains it', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'results-'));
  const cfg = resolveConfig({
    agent: 'gcbc',
    preset: 'quick',
    env: 'pointmaze-medium-navigate',
    dataset: 'data/pointmaze-medium-navigate.npz',
    overrides: { batchSize: 32, actorHiddenDims: '16,16', steps: 40, seeds: 2, evalEvery: 10, evalEpisodes: 2, logEvery: 10, threads: 1 },
  });
  await train(cfg, dir, { dataset: ds });
  const rows = readFileSync(join(dir, 'eval.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { step: number; seeds: { success: number }[] });
  assert.deepEqual(
    rows.map((r) => r.step),
    [10, 20, 30, 40],
  );
  const r = runResult(dir);
  assert.deepEqual(r.steps, [20, 30, 40]);
  const want = [0, 1].map((k) => (rows[1]!.seeds[k]!.success + rows[2]!.seeds[k]!.success + rows[3]!.seeds[k]!.success) / 3);
  assert.deepEqual(r.perSeed, want);
  const mean = (want[0]! + want[1]!) / 2;
  assert.equal(r.mean, mean);
  assert.equal(r.std, Math.abs(want[0]! - want[1]!) / 2);
  assert.deepEqual(r.published, [9, 6]);
  const fin = [rows[3]!.seeds[0]!.success, rows[3]!.seeds[1]!.success];
  assert.deepEqual(r.last, { mean: (fin[0]! + fin[1]!) / 2, std: Math.abs(fin[0]! - fin[1]!) / 2 });
  // The command's flags resolve to the very configuration of the run (same hash).
  const argv = r.command.replace(/^npx hiql train /, '').split(' ');
  assert.equal(configHash(trainConfigFromArgs(argv).cfg), readRunInfo(dir).configHash);
  assert.match(r.command, /--agent gcbc .*--seeds 2 .*--batchSize 32 --actorHiddenDims 16,16/);
  const table = resultsTable([r, runResult(dir, 5)]);
  assert.match(table, /\| pointmaze-medium-navigate \| gcbc \| 20, 30, 40 \| 2 \|/);
  assert.match(table, /\| 10, 20, 30, 40 \(4 of 5\) \|/);
  assert.equal(r.target, 40);
  // A run whose last evaluation is short of its configured steps is marked as still training.
  assert.match(resultsTable([{ ...r, target: 60 }]), /\| 20, 30, 40 \(still training: 40 of 60 steps\) \|/);
  assert.doesNotMatch(table, /still training/);
  assert.match(table, new RegExp(`\\| ${(100 * r.last.mean).toFixed(1)} \\+- ${(100 * r.last.std).toFixed(1)} \\| 9 \\+- 6 \\|`));
  // The chart: a panel for the dataset, per agent a bar of ours at its mean with a dot per seed, and OGBench's.
  const svg = resultsSvg([r]);
  assert.match(svg, /pointmaze-medium-navigate<\/text>/);
  assert.match(svg, /2 seed\(s\), mean of the evaluations at 20, 30, 40<\/text>/);
  const bars = [...svg.matchAll(/<rect x="[\d.]+" y="([\d.]+)" width="26" height="([\d.]+)"/g)].map((m) => Number(m[2]));
  assert.equal(bars.length, 2);
  // Heights on one 0-100% axis: ours at the mean, OGBench's at 9%.
  assert.ok(Math.abs(bars[0]! / bars[1]! - (100 * r.mean) / 9) < 1e-9, `bar heights ${bars.join(', ')} for ${100 * r.mean}% and 9%`);
  assert.equal([...svg.matchAll(/<circle /g)].length, 2);
  // A line cut short (a process killed while appending) is refused with its file and line number.
  appendFileSync(join(dir, 'eval.jsonl'), '{"step":50,"succ');
  assert.throws(() => runResult(dir), /eval\.jsonl, line 5: not a JSON evaluation row/);
});

test('a run folder with no evaluations, or none at all, is refused by name', () => {
  const dir = mkdtempSync(join(tmpdir(), 'results-none-'));
  assert.throws(() => runResult(dir), /is not a run folder: it has no config\.json/);
  assert.throws(() => runResult(dir, 0), /last must be a positive integer, got 0/);
});

test('saved results: --save writes the rows, a .json in place of a run folder reads them back, a damaged file is refused', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'results-saved-'));
  const run = join(dir, 'run');
  const cfg = resolveConfig({
    agent: 'gcbc',
    preset: 'quick',
    env: 'pointmaze-medium-navigate',
    dataset: 'data/pointmaze-medium-navigate.npz',
    overrides: { batchSize: 32, actorHiddenDims: '16,16', steps: 20, evalEvery: 10, evalEpisodes: 2, logEvery: 10, threads: 1 },
  });
  await train(cfg, run, { dataset: ds });
  const saved = join(dir, 'results.json');
  const logged: string[] = [];
  const log = console.log;
  console.log = (s: string) => logged.push(s);
  try {
    assert.equal(await resultsCli([run, '--save', saved]), 0);
    assert.equal(await resultsCli([saved]), 0);
  } finally {
    console.log = log;
  }
  // The table from the saved file is the table from the run folder, and so are the rows.
  assert.equal(logged[1], logged[0]);
  const fresh = runResult(run);
  assert.deepEqual(readSavedResults(saved), [fresh]);
  // A saved file is not replaced by inputs that leave its rows out; given as an input, or with --force, it is.
  const other = { ...fresh, runDir: 'runs/gone', agent: 'hiql' as const, published: [79, 5] as const };
  writeFileSync(saved, resultsJson([other]));
  await assert.rejects(
    resultsCli([run, '--save', saved]),
    /--save '.*results\.json' already holds 1 saved row, which these inputs do not include; it is kept\. Give it as an input/,
  );
  assert.deepEqual(readSavedResults(saved), [other]);
  await assert.rejects(resultsCli([saved, '--svg', saved]), /--svg writes an SVG picture: give a FILE\.svg, got '.*results\.json'/);
  await assert.rejects(resultsCli([saved, '--save', join(dir, 'results.svg')]), /--save writes JSON rows: give a FILE\.json/);
  console.log = () => {};
  try {
    assert.equal(await resultsCli([saved, run, '--save', saved]), 0);
    assert.deepEqual(readSavedResults(saved), [other, fresh]);
    assert.equal(await resultsCli([run, '--save', saved, '--force']), 0);
    assert.deepEqual(readSavedResults(saved), [fresh]);
  } finally {
    console.log = log;
  }
  // A run folder given after a saved row of the same folder replaces it in place; others are kept in order.
  const merged = mergeResults([[other, { ...fresh, perSeed: [0.5], mean: 0.5 }], [fresh]]);
  assert.deepEqual(
    merged.map((r) => [r.runDir, r.mean]),
    [
      ['runs/gone', fresh.mean],
      [run, fresh.mean],
    ],
  );
  // Damaged or edited files are refused with what was expected and what came.
  const bad = (body: string, want: RegExp) => {
    const f = join(dir, 'bad.json');
    writeFileSync(f, body);
    assert.throws(() => readSavedResults(f), want);
  };
  const text = resultsJson([fresh]);
  bad(text.slice(0, text.length / 2), /bad\.json: not a saved results file \(hiql results --save\)/);
  bad('{"kind":"hiql-run","version":1,"rows":[]}', /expected a saved results file with kind 'hiql-results', got kind "hiql-run"/);
  bad('{"kind":"hiql-results","version":2,"rows":[]}', /saved results version 2; this hiql reads version 1/);
  const edit = (patch: Record<string, unknown>) => JSON.stringify({ kind: 'hiql-results', version: 1, rows: [{ ...fresh, ...patch }] });
  bad(edit({ mean: fresh.mean + 0.1 }), /row 1: 'mean' is [\d.]+, but its seeds' scores \[[\d.,]+\] give [\d.]+/);
  bad(edit({ agent: 'ppo' }), /row 1: expected 'agent' to be one of hiql, gcivl, gcbc, gciql, crl, qrl, got "ppo"/);
  bad(edit({ steps: [20, 10] }), /row 1: expected 'steps' to be 1 to 3 increasing positive integers/);
  bad(edit({ perSeed: [1.5], mean: 1.5 }), /row 1: expected 'perSeed' to be a non-empty array of success rates in \[0, 1\], got \[1\.5\]/);
  bad(edit({ last: { mean: 0.2 } }), /row 1: expected 'last' to be an object \{ mean, std \}/);
  // A saved row is over its own window; another --last cannot be applied to it.
  await assert.rejects(resultsCli([saved, '--last', '2']), /was saved over the last 3 evaluations; --last 2 cannot be applied to it/);
});

test('seed by seed: run folders of one configuration with --seed 0 and --seed 1 make the row a --seeds 2 run makes', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'results-seeds-'));
  const overrides = { batchSize: 32, actorHiddenDims: '16,16', steps: 30, evalEvery: 10, evalEpisodes: 2, logEvery: 10, threads: 1 };
  const base = { agent: 'gcbc' as const, preset: 'quick', env: 'pointmaze-medium-navigate', dataset: 'data/pointmaze-medium-navigate.npz' };
  await train(resolveConfig({ ...base, overrides: { ...overrides, seeds: 2 } }), join(dir, 'both'), { dataset: ds });
  for (const seed of [1, 0])
    await train(resolveConfig({ ...base, overrides: { ...overrides, seed } }), join(dir, `s${seed}`), { dataset: ds });
  const both = runResult(join(dir, 'both'));
  const [s1, s0] = [runResult(join(dir, 's1')), runResult(join(dir, 's0'))];
  const notes: string[] = [];
  const merged = mergeSeeds([s1, s0], notes);
  assert.deepEqual(notes, []);
  assert.equal(merged.length, 1);
  const m = merged[0]!;
  // Seeds in ascending order whatever the folders' order; the figures are those of the 2-seed graph.
  assert.deepEqual(m.seedIds, [0, 1]);
  assert.deepEqual(both.seedIds, [0, 1]);
  for (const [a, b, what] of [
    [m.perSeed, both.perSeed, 'per seed'],
    [m.lastPerSeed!, both.lastPerSeed!, 'last evaluation per seed'],
    [[m.mean, m.std, m.last.mean, m.last.std], [both.mean, both.std, both.last.mean, both.last.std], 'mean, std, last'],
  ] as const)
    a.forEach((v, i) => assert.ok(Math.abs(v - b[i]!) < 1e-9, `${what}[${i}]: ${v} vs ${b[i]}`));
  assert.equal(m.runDir, `${s1.runDir} + ${s0.runDir}`);
  assert.equal(m.command, `${s1.command}\n${s0.command}`);
  // One row over 2 seeds, and below it each folder's command.
  const table = resultsTable([m]);
  assert.match(table, /\| gcbc \| 10, 20, 30 \| 2 \|[^\n]*\n\n- pointmaze-medium-navigate gcbc: `/);
  assert.match(table, /: `npx hiql train [^`]*--seed 1 [^`]*`; `npx hiql train [^`]+`$/);
  // A merged row (as docs/results.json keeps it) takes a later session's seed as well.
  await train(resolveConfig({ ...base, overrides: { ...overrides, seed: 2 } }), join(dir, 's2'), { dataset: ds });
  const three = mergeSeeds([m, runResult(join(dir, 's2'))]);
  assert.equal(three.length, 1);
  assert.deepEqual(three[0]!.seedIds, [0, 1, 2]);
  assert.equal(three[0]!.command.split('\n').length, 3);
  // Another configuration is another row; the same seed twice is left unmerged, with a note.
  const other = runResult(join(dir, 'both'), 2);
  assert.equal(mergeSeeds([s0, other]).length, 2);
  const twice = mergeSeeds([s0, { ...s0, runDir: 'runs/copy' }], notes);
  assert.equal(twice.length, 2);
  assert.match(notes[0]!, /runs\/copy: the same experiment, not merged: their seeds overlap \(0, 0\)/);
  assert.equal(notes.length, 1);
  // Saved and read back, a merged row keeps its seeds; an edited last evaluation is refused.
  const saved = join(dir, 'merged.json');
  writeFileSync(saved, resultsJson([m]));
  assert.deepEqual(readSavedResults(saved), [m]);
  writeFileSync(saved, resultsJson([{ ...m, lastPerSeed: [1, 1] }]));
  assert.throws(() => readSavedResults(saved), /row 1: 'last' is .*, but 'lastPerSeed' \[1,1\] gives/);
});

test('the results chart gives an agent one colour in every panel, whatever its position there', () => {
  const bar = (env: string, agent: string) => ({ env, agent, steps: [20, 30], perSeed: [0.5], mean: 0.5, std: 0 });
  const svg = resultsSvg([
    bar('pointmaze-medium-navigate', 'gcbc'),
    bar('pointmaze-medium-navigate', 'qrl'),
    bar('pointmaze-large-navigate', 'qrl'),
  ]);
  const fills = [...svg.matchAll(/<rect x="[\d.]+" y="[\d.]+" width="26" height="[\d.]+" fill="(#[0-9a-f]{6})"\/>/g)].map((m) => m[1]);
  assert.equal(fills.length, 3);
  assert.notEqual(fills[0], fills[1]);
  // qrl is second in the first panel and first in the second: the same colour in both.
  assert.equal(fills[2], fills[1]);
});
