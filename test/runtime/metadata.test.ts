// The runtime's metadata reader (protobuf wire format, no graph decoding) against protobufjs
// (Graph.fromBytes) as the oracle, and the refusal of files that are not policies of this project.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Graph } from '../../onnx/index.ts';
import { metadataFor } from '../../export/export.ts';
import { buildPolicyGraph } from '../../train/graphs.ts';
import { SUPPORTED_FORMAT_VERSION, loadPolicy, parsePolicyInfo, readOnnxMetadata, readPolicyInfo } from '../../runtime/src/index.ts';
import { makePolicy, randomFloats, tempDir, DIMS } from './helpers.ts';

const tmp = tempDir();
after(tmp.cleanup);
const hiql = await makePolicy(tmp.dir, 'm', 'hiql');
const gcbc = await makePolicy(tmp.dir, 'flat', 'gcbc');
const bytesOf = (p: string) => new Uint8Array(readFileSync(p));

/** A small valid ONNX model (y = x + x) with the given metadata. */
function plainModel(metadata: Record<string, string> = {}): Uint8Array {
  const g = new Graph('plain');
  const x = g.input('x', 'float32', ['batch', 2]);
  g.output(g.add(x, x), 'y');
  return g.toBytes({ opset: 17, irVersion: 8, metadata });
}

test('readOnnxMetadata equals protobufjs decoding for each exported file', () => {
  for (const f of ['m.onnx', 'm.low.onnx', 'm.phi.onnx', 'flat.onnx']) {
    const b = bytesOf(`${tmp.dir}/${f}`);
    assert.deepEqual(readOnnxMetadata(b, f), Graph.fromBytes(b).metadata, f);
  }
  // Unicode and empty values survive.
  const meta = { a: 'ü € 𝄞', b: '', 'hiql.env': 'x'.repeat(300) };
  assert.deepEqual(readOnnxMetadata(plainModel(meta)), meta);
});

test('PolicyInfo of an exported HIQL policy and its companions', () => {
  const info = readPolicyInfo(bytesOf(hiql.path), hiql.path);
  assert.equal(info.formatVersion, 1);
  assert.equal(info.role, 'policy');
  assert.equal(info.agent, 'hiql');
  assert.equal(info.hierarchical, true);
  assert.equal(info.env, 'pointmaze-medium-navigate');
  assert.deepEqual([info.obsDim, info.goalDim, info.actionDim, info.repDim, info.subgoalSteps], [2, 2, 2, 10, 25]);
  assert.deepEqual([info.actionLow, info.actionHigh], [-1, 1]);
  assert.deepEqual(info.companions, { low_policy: 'm.low.onnx', goal_rep: 'm.phi.onnx' });
  assert.equal(info.configHash, hiql.info.configHash);
  assert.deepEqual(info.config, JSON.parse(JSON.stringify(hiql.info.config.agentConfig)));
  assert.equal(readPolicyInfo(bytesOf(`${tmp.dir}/m.low.onnx`)).role, 'low_policy');
  assert.equal(readPolicyInfo(bytesOf(`${tmp.dir}/m.phi.onnx`)).role, 'goal_rep');
  const flat = readPolicyInfo(bytesOf(gcbc.path));
  assert.equal(flat.hierarchical, false);
  assert.equal(flat.repDim, null);
  assert.deepEqual(flat.companions, {});
});

test('a model that is not a policy of this project is refused', async () => {
  const plain = plainModel();
  assert.throws(
    () => readPolicyInfo(plain, 'plain.onnx'),
    (e: Error) =>
      e.constructor === Error &&
      /'plain.onnx' is not a HIQL policy of this project: its ONNX metadata has no 'hiql.format_version'/.test(e.message),
  );
  await assert.rejects(loadPolicy(plain), (e: Error) => e.constructor === Error && /is not a HIQL policy of this project/.test(e.message));
  // Other metadata but not ours.
  assert.throws(() => readPolicyInfo(plainModel({ author: 'someone', hiql_format_version: '1' })), /not a HIQL policy of this project/);
});

test('a newer format version is refused with what to do', async () => {
  const meta = {
    ...metadataFor(hiql.info, 'policy', 0, { low_policy: 'm.low.onnx', goal_rep: 'm.phi.onnx' }),
    'hiql.format_version': String(SUPPORTED_FORMAT_VERSION + 1),
  };
  const bytes = buildPolicyGraph('hiql', hiql.info.config.agentConfig, DIMS, hiql.params).toBytes({
    opset: 17,
    irVersion: 8,
    metadata: meta,
  });
  const expected = new RegExp(
    `has policy format version ${SUPPORTED_FORMAT_VERSION + 1}, newer than this runtime supports \\(${SUPPORTED_FORMAT_VERSION}\\); ` +
      'upgrade @hiql/runtime .* or re-export the policy',
  );
  assert.throws(
    () => readPolicyInfo(bytes, 'future.onnx'),
    (e: Error) => e.constructor === Error && expected.test(e.message) && e.message.includes("'future.onnx'"),
  );
  await assert.rejects(loadPolicy(bytes), (e: Error) => e.constructor === Error && expected.test(e.message));
  // Not a number at all.
  assert.throws(
    () => readPolicyInfo(plainModel({ ...meta, 'hiql.format_version': 'v1' })),
    /'hiql.format_version' must be a positive integer, got 'v1'/,
  );
});

test('truncated files give a clear Error', async () => {
  const b = bytesOf(hiql.path);
  for (const n of [1, 2, 10, b.length >> 1, b.length - 100, b.length - 1]) {
    const cut = b.subarray(0, n);
    assert.throws(
      () => readOnnxMetadata(cut, 'cut.onnx'),
      (e: Error) =>
        e.constructor === Error &&
        /^'cut.onnx' is not (a readable ONNX model \(truncated or corrupt\?\): .* at byte \d+|an ONNX model: it has no graph)/.test(
          e.message,
        ),
      `cut at ${n} of ${b.length}`,
    );
    await assert.rejects(loadPolicy(cut), /not (a readable|an) ONNX model/);
  }
  assert.throws(() => readOnnxMetadata(new Uint8Array(0), 'empty.onnx'), {
    constructor: Error,
    message: "'empty.onnx' is not an ONNX model: it is empty",
  });
});

test('garbage and non-ONNX files give a clear Error', () => {
  const rnd = Uint8Array.from(randomFloats(4096, 7, 128), (x) => (x + 128) & 255);
  const samples: [string, Uint8Array][] = [
    ['random', rnd],
    ['text', new TextEncoder().encode('hello, this is not a model\n')],
    ['json', new TextEncoder().encode(JSON.stringify({ 'hiql.format_version': '1' }))],
    ['zeros', new Uint8Array(64)],
    ['0xff', new Uint8Array(64).fill(255)],
  ];
  for (const [name, b] of samples) {
    assert.throws(
      () => readPolicyInfo(b, name),
      (e: Error) => e.constructor === Error && new RegExp(`^'${name}' is not (a readable ONNX model|an ONNX model)`).test(e.message),
      name,
    );
  }
  assert.throws(() => readOnnxMetadata('model.onnx' as unknown as Uint8Array), TypeError);
});

test('invalid metadata values are named with what was expected', () => {
  const base = readOnnxMetadata(bytesOf(hiql.path));
  const cases: [Record<string, string>, RegExp][] = [
    [{ 'hiql.role': 'critic' }, /metadata 'hiql.role' is 'critic'; expected policy \| low_policy \| goal_rep/],
    [{ 'hiql.agent': 'sac' }, /metadata 'hiql.agent' is 'sac'; expected hiql \| gcivl \| gcbc \| gciql \| crl \| qrl/],
    [{ 'hiql.obs_dim': '0' }, /metadata 'hiql.obs_dim' is '0'; expected an integer >= 1/],
    [{ 'hiql.action_dim': '2.5' }, /metadata 'hiql.action_dim' is '2.5'; expected an integer >= 1/],
    [{ 'hiql.action_low': 'abc' }, /metadata 'hiql.action_low' is 'abc'; expected a finite number/],
    [{ 'hiql.action_low': '1', 'hiql.action_high': '-1' }, /action bounds \[1, -1\] are empty/],
    [{ 'hiql.companions': 'nope' }, /metadata 'hiql.companions' is 'nope'; expected a JSON object/],
    [{ 'hiql.companions': '{"low_policy":"../../etc/x.onnx"}' }, /expected file names without a path/],
  ];
  for (const [patch, re] of cases)
    assert.throws(
      () => parsePolicyInfo({ ...base, ...patch }, 'bad.onnx'),
      (e: Error) => e.constructor === Error && re.test(e.message),
      JSON.stringify(patch),
    );
  const missing = { ...base };
  delete (missing as Record<string, string>)['hiql.rep_dim'];
  assert.throws(() => parsePolicyInfo(missing), /metadata 'hiql.rep_dim' is missing; expected an integer >= 1/);
});
