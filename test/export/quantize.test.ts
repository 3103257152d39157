// Int8 export (export/quantize.ts): the quantized files keep the float files' interface and metadata,
// pass the int8 validation (end to end and layer by layer), run in the runtime, and the layer check
// catches a wrong layer that the end-to-end tolerance lets through. CI-sized: a tiny seeded policy
// and the shipped medium policy (quantized into a temporary folder).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';
import { decodeModel, encodeModel } from '../../onnx/proto.ts';
import { exportPolicy } from '../../export/export.ts';
import { checkQuantizedLayers, quantizeModel, quantizePolicyFiles, trainingFormOf, withFastGelu } from '../../export/quantize.ts';
import { buildAgentStep, initAgentState } from '../../train/step.ts';
import { configHash, resolveConfig } from '../../train/config.ts';
import { VERSION, type RunInfo } from '../../train/run-folder.ts';
import { loadPolicy } from '../../runtime/src/index.ts';
import { readPolicyInfo } from '../../runtime/src/metadata.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const MEDIUM = join(ROOT, 'models', 'pointmaze-medium-navigate-hiql.onnx');
const meta = (bytes: Uint8Array) => Object.fromEntries(decodeModel(bytes).metadataProps.map((p) => [p.key, p.value]));

function tinyRun(): { info: RunInfo; params: Map<string, Float32Array> } {
  const h = [32, 32];
  const cfg = resolveConfig({
    agent: 'hiql',
    preset: 'quick',
    env: 'pointmaze-medium-navigate',
    dataset: '',
    overrides: { batchSize: 16, actorHiddenDims: h, valueHiddenDims: h },
  });
  const dims = { obsDim: 2, actionDim: 2 };
  const params = initAgentState(buildAgentStep('hiql', cfg.agentConfig, dims), 3) as Map<string, Float32Array>;
  return { info: { config: cfg, configHash: configHash(cfg), dims, version: VERSION }, params };
}

test('hiql export --quantize int8 path: same inputs, outputs and metadata plus hiql.weights, validated, runs in the runtime', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'q-run-'));
  try {
    const { info, params } = tinyRun();
    const float = await exportPolicy(info, params, 7, join(dir, 'f.onnx'));
    const q = await exportPolicy(info, params, 7, join(dir, 'q.onnx'), { quantize: 'int8' });
    assert.deepEqual(
      q.files.map((f) => f.path.replace(dir, '')),
      ['/q.onnx', '/q.low.onnx', '/q.phi.onnx'],
    );
    assert.ok(q.quantization && q.quantization.layerChecks.length === 6, 'every file layer-checked on node and web');
    for (const c of q.quantization.layerChecks) assert.ok(c.worstRatio < 1 && c.layers > 0, `${c.role} ${c.backend}: ${c.worstRatio}`);
    for (const [i, f] of q.files.entries()) {
      const m = decodeModel(f.bytes);
      const fm = decodeModel(float.files[i]!.bytes);
      assert.equal(m.irVersion, 8);
      assert.deepEqual(m.opsetImport, [{ domain: '', version: 17 }]);
      assert.deepEqual(
        m.graph.input.map((x) => x.name),
        fm.graph.input.map((x) => x.name),
      );
      assert.deepEqual(
        m.graph.output.map((x) => x.name),
        fm.graph.output.map((x) => x.name),
      );
      const [qm, ff] = [meta(f.bytes), meta(float.files[i]!.bytes)];
      assert.equal(qm['hiql.weights'], 'int8');
      assert.ok(JSON.parse(qm['hiql.quantization']!).matrices >= 1);
      for (const [k, v] of Object.entries(ff)) if (k !== 'hiql.companions') assert.equal(qm[k], v, k);
      assert.ok(m.graph.node.some((n) => n.opType === 'MatMulInteger'));
      assert.ok(
        m.graph.initializer.some((t) => t.dataType === 3),
        'int8 initializers',
      );
    }
    assert.deepEqual(JSON.parse(meta(q.files[0]!.bytes)['hiql.companions']!), { low_policy: 'q.low.onnx', goal_rep: 'q.phi.onnx' });
    assert.equal(readPolicyInfo(q.files[0]!.bytes).role, 'policy');
    const [pf, pq] = [await loadPolicy(join(dir, 'f.onnx')), await loadPolicy(join(dir, 'q.onnx'))];
    const obs = [3, 4];
    const goal = [10, 12];
    const [af, aq] = [await pf.act(obs, goal), await pq.act(obs, goal)];
    for (let i = 0; i < 2; i++) assert.ok(Math.abs(af[i]! - aq[i]!) < 0.1, `action ${i}: ${af[i]} float vs ${aq[i]} int8`);
    await pf.release();
    await pq.release();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('quantizePolicyFiles: the shipped medium policy into int8 files a third of the size, validated on both engines', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'q-medium-'));
  try {
    const r = await quantizePolicyFiles(MEDIUM, join(dir, 'm-int8.onnx'));
    assert.equal(r.files.length, 3);
    for (const f of r.files) {
      const s = r.source.find((x) => x.role === f.role)!;
      assert.ok(f.bytes.length < 0.32 * s.bytes.length, `${f.role}: ${f.bytes.length} vs float ${s.bytes.length}`);
      assert.equal(meta(f.bytes)['hiql.quantized_from_sha256'], s.sha256);
      assert.ok(existsSync(f.path));
    }
    assert.equal(r.validation.length, 6);
    for (const v of r.validation)
      for (const o of v.outputs) if (o.gated) assert.ok(o.mean <= 0.1 * o.scale, `${v.role}/${o.output} on ${v.backend}: ${o.mean}`);
    // Through the runtime at batch 1, on positions in the maze: close to the float policy.
    const [pf, pq] = [await loadPolicy(MEDIUM), await loadPolicy(join(dir, 'm-int8.onnx'))];
    let sum = 0;
    for (let i = 0; i < 50; i++) {
      const obs = [1 + (i % 7) * 2.5, 1 + (i % 5) * 3.5];
      const goal = [20 - (i % 3) * 4, 20 - (i % 4) * 3];
      const [af, aq] = [await pf.act(obs, goal), await pq.act(obs, goal)];
      sum += Math.abs(af[0]! - aq[0]!) + Math.abs(af[1]! - aq[1]!);
    }
    assert.ok(sum / 100 < 0.05, `mean |action diff| ${sum / 100}`);
    await pf.release();
    await pq.release();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the int8 layer check catches a wrong layer (dropped bias, scale off by 10%) that the end-to-end tolerance lets through', async () => {
  const bytes = new Uint8Array(readFileSync(MEDIUM));
  const { params } = trainingFormOf(bytes, MEDIUM);
  const q = quantizeModel(bytes, 'int8');
  await checkQuantizedLayers(q.bytes, q.report, params); // the correct one passes
  const broken = (f: (m: ReturnType<typeof decodeModel>) => void) => {
    const m = decodeModel(q.bytes);
    f(m);
    return encodeModel(m);
  };
  const layer = q.report.quantized[0]!;
  const noBias = broken((m) => {
    const i = m.graph.node.findIndex((n) => n.opType === 'Add' && n.output[0] === layer.output);
    const n = m.graph.node[i]!;
    m.graph.node[i] = { ...n, opType: 'Identity', input: [n.input[0]!] };
  });
  const scaled = broken((m) => {
    const t = m.graph.initializer.find((x) => x.name === layer.scale)!;
    const s = new Float32Array(Uint8Array.from(t.rawData!).buffer).map((x) => x * 1.1);
    t.rawData = new Uint8Array(s.buffer);
  });
  for (const [what, b] of [
    ['dropped bias', noBias],
    ['scale x 1.1', scaled],
  ] as const)
    await assert.rejects(checkQuantizedLayers(b, q.report, params), /int8 layer check/, what);
});

test('the GELU rewrite equals the sigmoid form and onnxruntime fuses it into FastGelu', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'q-gelu-'));
  try {
    const bytes = new Uint8Array(readFileSync(MEDIUM));
    const g = withFastGelu(bytes);
    const opts = { graphOptimizationLevel: 'all', intraOpNumThreads: 1 } as const;
    const n = 32;
    const x = (s: number) =>
      new ort.Tensor(
        'float32',
        Float32Array.from({ length: n * 2 }, (_, i) => 10 + 9 * Math.sin(i * s)),
        [n, 2],
      );
    const feeds = { observation: x(1.3), goal: x(0.7) };
    const [a, b] = [
      await (await ort.InferenceSession.create(bytes, opts)).run(feeds),
      await (await ort.InferenceSession.create(g, opts)).run(feeds),
    ];
    for (const k of ['action', 'subgoal']) {
      const [u, v] = [a[k]!.data as Float32Array, b[k]!.data as Float32Array];
      for (let i = 0; i < u.length; i++) assert.ok(Math.abs(u[i]! - v[i]!) < 1e-4, `${k}[${i}]: ${u[i]} vs ${v[i]}`);
    }
    const path = join(dir, 'opt.onnx');
    await (await ort.InferenceSession.create(g, { ...opts, optimizedModelFilePath: path, logSeverityLevel: 3 })).release();
    const fused = decodeModel(new Uint8Array(readFileSync(path))).graph.node.filter((x) => x.opType === 'FastGelu').length;
    assert.equal(fused, 6, 'each of the 6 GELUs becomes one FastGelu kernel');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('hiql export --from-model --quantize int8 --card writes the files and a card with both evaluations; bad usage is explained', () => {
  const dir = mkdtempSync(join(tmpdir(), 'q-cli-'));
  const bin = join(ROOT, 'bin', 'hiql.js');
  const hiql = (args: string[]) => spawnSync(process.execPath, [bin, ...args], { cwd: ROOT, encoding: 'utf8', timeout: 240_000 });
  try {
    const out = join(dir, 'm-int8.onnx');
    const r = hiql(['export', '--from-model', MEDIUM, '--quantize', 'int8', '--out', out, '--card', '--episodes', '1']);
    assert.equal(r.status, 0, r.stderr);
    const summary = JSON.parse(r.stdout.trim().split('\n').pop()!) as { files: { path: string }[]; card: { floatSuccess: number } };
    assert.equal(summary.files.length, 3);
    assert.ok(summary.card.floatSuccess >= 0);
    assert.deepEqual(readdirSync(dir).sort(), ['m-int8.json', 'm-int8.low.onnx', 'm-int8.md', 'm-int8.onnx', 'm-int8.phi.onnx']);
    const card = JSON.parse(readFileSync(join(dir, 'm-int8.json'), 'utf8')) as {
      files: unknown[];
      evaluation: { tasks: unknown[] };
      quantization: { weights: string; float: { tasks: unknown[] }; source: { name: string } };
    };
    assert.equal(card.quantization.weights, 'int8');
    assert.equal(card.quantization.source.name, 'pointmaze-medium-navigate-hiql');
    assert.equal(card.quantization.float.tasks.length, 5);
    assert.equal(card.evaluation.tasks.length, 5);
    const md = readFileSync(join(dir, 'm-int8.md'), 'utf8');
    assert.match(md, /## Quantization/);
    assert.match(md, /\| task \| int8 success \| float success \|/);
    const bad = hiql(['export', '--from-model', MEDIUM, '--out', join(dir, 'x.onnx')]);
    assert.notEqual(bad.status, 0);
    assert.match(bad.stderr, /give --quantize int8/);
    const bad2 = hiql(['export', 'runs/x', '--quantize', 'int4']);
    assert.match(bad2.stderr, /--quantize must be int8/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
