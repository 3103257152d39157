// Refactors must not change the numbers: short training runs from fixed seeds (each agent, the
// action-free mask, the pixel encoder) against the metrics and final parameters recorded in
// test/fixtures/training-numbers.json: first before the layout change of issue 13 (commit f7ecfdf),
// recorded again after the training-step rewrite of issue 14, whose FastGelu (onnxruntime's CPU
// kernel approximates tanh) moved them by up to 1.3e-5 relative.
//
// The batches come from the sampler, pure JavaScript, the same on any machine. The
// onnxruntime numbers match bit for bit on the kind of CPU that recorded them (same MLAS kernels,
// one thread); on another CPU model the kernels may round differently, so there they must agree to
// 1e-5 relative. Record again (HIQL_RECORD=1) only for a change that is meant to move the numbers,
// and say so in the commit.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateDataset } from '../../envs/datasets.ts';
import { getMaze } from '../../envs/maze.ts';
import { renderPixelObservations } from '../../envs/render.ts';
import { datasetFromGenerated, type Dataset } from '../../train/data/dataset.ts';
import { resolveConfig } from '../../train/config.ts';
import { readRunParams } from '../../train/run-folder.ts';
import { train } from '../../train/trainer.ts';

const FIXTURE = new URL('../fixtures/training-numbers.json', import.meta.url);
const RECORD = process.env['HIQL_RECORD'] === '1';

interface Case {
  name: string;
  agent: 'hiql' | 'gcivl' | 'gcbc';
  env: string;
  overrides: Record<string, unknown>;
  dataset: () => Dataset;
}

const base = { batchSize: 32, actorHiddenDims: '16,16', steps: 12, logEvery: 1, evalEvery: 0, evalEpisodes: 1, saveEvery: 0, threads: 1 };
const states = () => datasetFromGenerated(generateDataset('pointmaze-medium-navigate', { seed: 3, episodes: 6 }));
const SIZE = 8;
const pixels = () => {
  const gen = generateDataset('visual-pointmaze-medium-navigate', { seed: 3, episodes: 3 });
  return datasetFromGenerated(gen, {
    data: renderPixelObservations(getMaze('medium'), gen.observations, gen.terminals.length, SIZE),
    size: SIZE,
  });
};
const CASES: Case[] = [
  { name: 'hiql', agent: 'hiql', env: 'pointmaze-medium-navigate', overrides: { ...base, valueHiddenDims: '16,16' }, dataset: states },
  { name: 'gcivl', agent: 'gcivl', env: 'pointmaze-medium-navigate', overrides: { ...base, valueHiddenDims: '16,16' }, dataset: states },
  { name: 'gcbc', agent: 'gcbc', env: 'pointmaze-medium-navigate', overrides: base, dataset: states },
  {
    name: 'hiql-action-free',
    agent: 'hiql',
    env: 'pointmaze-medium-navigate',
    overrides: { ...base, valueHiddenDims: '16,16', actionFraction: 0.5 },
    dataset: states,
  },
  { name: 'hiql-stitch', agent: 'hiql', env: 'pointmaze-medium-stitch', overrides: { ...base, valueHiddenDims: '16,16' }, dataset: states },
  {
    name: 'hiql-pixels',
    agent: 'hiql',
    env: 'visual-pointmaze-medium-navigate',
    overrides: {
      ...base,
      batchSize: 8,
      steps: 4,
      valueHiddenDims: '8,8',
      actorHiddenDims: '8,8',
      repDim: 4,
      encoderChannels: '2,4,4',
      encoderDense: 8,
    },
    dataset: pixels,
  },
];

interface Recorded {
  cpu: string;
  cases: Record<string, { metrics: Record<string, number>[]; paramsSha256: string }>;
}

async function run(c: Case): Promise<Recorded['cases'][string]> {
  const dir = mkdtempSync(join(tmpdir(), `same-${c.name}-`));
  try {
    const cfg = resolveConfig({ agent: c.agent, preset: 'quick', env: c.env, dataset: 'generated', overrides: c.overrides });
    await train(cfg, dir, { dataset: c.dataset(), evalAtEnd: false });
    const metrics = readFileSync(join(dir, 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => {
        const { time: _t, stepsPerSec: _s, ...m } = JSON.parse(l) as Record<string, number>;
        return m;
      });
    const { params } = readRunParams(dir);
    const h = createHash('sha256');
    for (const name of [...params.keys()].sort()) {
      const v = params.get(name);
      h.update(name);
      if (v) h.update(new Uint8Array(v.buffer, v.byteOffset, v.byteLength));
    }
    return { metrics, paramsSha256: h.digest('hex') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// The CPU model and the vector extensions MLAS picks its kernels by (os.cpus names only the vendor line).
const cpuFlags = (() => {
  try {
    const flags = /^flags\s*:(.*)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1]?.split(' ') ?? [];
    return ['avx2', 'avx512f', 'avx512_vnni', 'amx_tile'].filter((f) => flags.includes(f));
  } catch {
    return [];
  }
})();
const cpu = [cpus()[0]?.model ?? 'unknown', ...cpuFlags].join(' ');

if (RECORD) {
  test('record the training numbers (HIQL_RECORD=1)', async () => {
    const out: Recorded = { cpu, cases: {} };
    for (const c of CASES) out.cases[c.name] = await run(c);
    writeFileSync(FIXTURE, JSON.stringify(out, null, 1) + '\n');
  });
} else {
  const rec = JSON.parse(readFileSync(FIXTURE, 'utf8')) as Recorded;
  const sameCpu = rec.cpu === cpu;
  for (const c of CASES) {
    const name =
      `${c.name}: a short run from a fixed seed gives the recorded numbers` +
      `${sameCpu ? ' (bit for bit)' : ' (to 1e-5: another CPU model)'}`;
    test(name, async () => {
      const want = rec.cases[c.name];
      assert.ok(want, `fixture has case '${c.name}'`);
      const got = await run(c);
      assert.equal(got.metrics.length, want.metrics.length);
      got.metrics.forEach((row, i) => {
        const ref = want.metrics[i];
        assert.ok(ref);
        assert.deepEqual(Object.keys(row).sort(), Object.keys(ref).sort(), `metric names at row ${i}`);
        for (const [k, v] of Object.entries(row)) {
          const r: number | undefined = ref[k];
          assert.ok(r !== undefined);
          if (sameCpu) assert.equal(v, r, `${c.name} row ${i} '${k}': ${v} vs recorded ${r}`);
          else assert.ok(Math.abs(v - r) <= 1e-5 * Math.max(1, Math.abs(r)), `${c.name} row ${i} '${k}': ${v} vs recorded ${r}`);
        }
      });
      if (sameCpu) assert.equal(got.paramsSha256, want.paramsSha256, 'final parameters, bit for bit');
    });
  }
}
