// Config resolution: defaults, preset, per-dataset overrides, command-line overrides, validation.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { configHash, resolveConfig } from '../../train/config.ts';
import { trainConfigFromArgs } from '../../cli/train.ts';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

test('the ogbench preset keeps SPEC defaults and applies per-dataset settings', () => {
  const m = resolveConfig({ agent: 'hiql', preset: 'ogbench', env: 'pointmaze-medium-navigate', dataset: 'x' });
  assert.equal(m.agentConfig.batchSize, 1024);
  assert.equal(m.agentConfig.discount, 0.99);
  assert.deepEqual((m.agentConfig as { valueHiddenDims: number[] }).valueHiddenDims, [512, 512, 512]);
  const giant = resolveConfig({ agent: 'hiql', preset: 'ogbench', env: 'pointmaze-giant-navigate', dataset: 'x' });
  assert.equal(giant.agentConfig.discount, 0.995);
  const stitch = resolveConfig({ agent: 'hiql', preset: 'ogbench', env: 'pointmaze-large-stitch', dataset: 'x' });
  assert.equal((stitch.agentConfig as { actorPRandomgoal: number }).actorPRandomgoal, 0.5);
});

test('quick and paper presets change what they say', () => {
  const q = resolveConfig({ agent: 'hiql', preset: 'quick', env: 'pointmaze-medium-navigate', dataset: 'x' });
  assert.equal(q.agentConfig.batchSize, 256);
  assert.equal(q.trainer.steps, 50_000);
  const p = resolveConfig({ agent: 'hiql', preset: 'paper', env: 'pointmaze-medium-navigate', dataset: 'x' });
  assert.deepEqual(p.agentConfig.actorHiddenDims, [256, 256]);
  assert.equal((p.agentConfig as { learnActorStd: boolean }).learnActorStd, true);
  assert.equal((p.agentConfig as { highAlpha: number }).highAlpha, 1);
});

test("crl: OGBench's PointMaze settings (alpha 0.03, discount 0.995 on giant, half random actor goals on stitch); no paper preset", () => {
  const cfg = (env: string, preset = 'ogbench') =>
    resolveConfig({ agent: 'crl', preset, env, dataset: 'x' }).agentConfig as never as Record<string, unknown>;
  const m = cfg('pointmaze-medium-navigate');
  assert.equal(m['alpha'], 0.03);
  assert.equal(m['discount'], 0.99);
  assert.equal(m['latentDim'], 512);
  assert.deepEqual([m['valuePCurgoal'], m['valuePTrajgoal'], m['valueGeomSample']], [0, 1, true]);
  assert.deepEqual([m['actorPTrajgoal'], m['actorPRandomgoal']], [1, 0]);
  assert.equal(cfg('pointmaze-giant-navigate')['discount'], 0.995);
  const stitch = cfg('pointmaze-large-stitch');
  assert.deepEqual([stitch['actorPTrajgoal'], stitch['actorPRandomgoal'], stitch['alpha']], [0.5, 0.5, 0.03]);
  const q = cfg('pointmaze-medium-navigate', 'quick');
  assert.deepEqual([q['batchSize'], q['valueHiddenDims'], q['actorHiddenDims']], [256, [256, 256, 256], [256, 256, 256]]);
  assert.throws(() => cfg('pointmaze-medium-navigate', 'paper'), /preset 'paper' .* train crl with 'ogbench' or 'quick'/);
});

test('command-line overrides are coerced; unknown keys and broken invariants are rejected', () => {
  const { cfg } = trainConfigFromArgs([
    '--env',
    'pointmaze-medium-navigate',
    '--agent',
    'gcivl',
    '--batchSize',
    '128',
    '--value-hidden-dims',
    '64,64',
    '--steps',
    '10',
  ]);
  assert.equal(cfg.agentConfig.batchSize, 128);
  assert.deepEqual((cfg.agentConfig as { valueHiddenDims: number[] }).valueHiddenDims, [64, 64]);
  assert.equal(cfg.trainer.steps, 10);
  assert.ok(Object.isFrozen(cfg) && Object.isFrozen(cfg.agentConfig));
  assert.throws(
    () => trainConfigFromArgs(['--env', 'e', '--lowAlpha', '3', '--agent', 'gcbc']),
    /unknown option --lowAlpha; valid options: .*batchSize/,
  );
  assert.throws(
    () => resolveConfig({ agent: 'hiql', env: 'e', dataset: 'x', overrides: { valuePCurgoal: 0.5 } }),
    /valuePCurgoal \+ valuePTrajgoal \+ valuePRandomgoal must sum to 1, got 1.3/,
  );
  assert.throws(
    () => resolveConfig({ agent: 'hiql', env: 'e', dataset: 'x', overrides: { batchSize: 'many' } }),
    /'batchSize' expects a number, got 'many'/,
  );
  assert.throws(
    () => resolveConfig({ agent: 'dqn', env: 'e', dataset: 'x' }),
    /unknown agent 'dqn'; valid agents: hiql, gcivl, gcbc, gciql, crl, qrl/,
  );
  assert.throws(() => resolveConfig({ agent: 'hiql', preset: 'huge', env: 'e', dataset: 'x' }), /unknown preset 'huge'/);
});

test('the config hash depends on what shapes the agent, not on trainer settings', () => {
  const a = resolveConfig({ agent: 'hiql', env: 'e', dataset: 'x' });
  const b = resolveConfig({ agent: 'hiql', env: 'e', dataset: 'y', overrides: { steps: 5 } });
  const c = resolveConfig({ agent: 'hiql', env: 'e', dataset: 'x', overrides: { repDim: 8 } });
  assert.equal(configHash(a), configHash(b));
  assert.notEqual(configHash(a), configHash(c));
});

test('--resume with a run folder takes the saved config; only trainer keys may change', () => {
  const dir = mkdtempSync(join(tmpdir(), 'resume-cfg-'));
  try {
    const saved = resolveConfig({
      agent: 'gcivl',
      preset: 'quick',
      env: 'pointmaze-large-navigate',
      dataset: 'data/mine.npz',
      overrides: { batchSize: 64, steps: 100 },
    });
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ config: saved, configHash: configHash(saved) }));
    const { cfg, resume } = trainConfigFromArgs(['--run-dir', dir, '--resume', '--steps', '300', '--eval-every', '50']);
    assert.ok(resume);
    assert.equal(cfg.agent, 'gcivl');
    assert.equal(cfg.env, 'pointmaze-large-navigate');
    assert.equal(cfg.dataset, 'data/mine.npz');
    assert.equal(cfg.agentConfig.batchSize, 64);
    assert.equal(cfg.trainer.steps, 300);
    assert.equal(cfg.trainer.evalEvery, 50);
    assert.equal(configHash(cfg), configHash(saved));
    assert.throws(
      () => trainConfigFromArgs(['--run-dir', dir, '--resume', '--batch-size', '128']),
      /--batch-size changes the agent of the run being resumed .* only trainer keys/,
    );
    // Without a saved run, --env is still required.
    assert.throws(() => trainConfigFromArgs(['--run-dir', join(dir, 'none'), '--resume']), /--env is required/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('gciql: the PointMaze settings of OGBench hyperparameters.sh (alpha 0.003, 0.995 on giant, half random actor goals on stitch)', () => {
  type G = { alpha: number; actorPRandomgoal: number; actorPTrajgoal: number; valueHiddenDims: number[]; learnActorStd: boolean };
  const m = resolveConfig({ agent: 'gciql', preset: 'ogbench', env: 'pointmaze-medium-navigate', dataset: 'x' });
  const mc = m.agentConfig as unknown as G;
  assert.equal(mc.alpha, 0.003);
  assert.equal(m.agentConfig.discount, 0.99);
  assert.equal(mc.actorPRandomgoal, 0);
  const gs = resolveConfig({ agent: 'gciql', preset: 'quick', env: 'pointmaze-giant-stitch', dataset: 'x' });
  const gc = gs.agentConfig as unknown as G;
  assert.equal(gs.agentConfig.discount, 0.995);
  assert.equal(gc.alpha, 0.003);
  assert.equal(gc.actorPRandomgoal, 0.5);
  assert.equal(gc.actorPTrajgoal, 0.5);
  assert.equal(gs.agentConfig.batchSize, 256);
  assert.deepEqual(gc.valueHiddenDims, [256, 256, 256]);
  // The paper preset keeps DDPG+BC's constant std; a learned std with DDPG+BC, or another actor loss, is refused.
  const paper = resolveConfig({ agent: 'gciql', preset: 'paper', env: 'pointmaze-medium-navigate', dataset: 'x' });
  assert.equal((paper.agentConfig as unknown as G).learnActorStd, false);
  assert.throws(
    () => resolveConfig({ agent: 'gciql', env: 'e', dataset: 'x', overrides: { learnActorStd: 'true' } }),
    /actorLoss 'ddpgbc' needs learnActorStd false/,
  );
  resolveConfig({ agent: 'gciql', env: 'e', dataset: 'x', overrides: { learnActorStd: 'true', actorLoss: 'awr' } });
  assert.throws(
    () => resolveConfig({ agent: 'gciql', env: 'e', dataset: 'x', overrides: { actorLoss: 'sac' } }),
    /actorLoss must be 'ddpgbc' or 'awr', got 'sac'/,
  );
});
