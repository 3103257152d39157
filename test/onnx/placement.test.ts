// Node placement: onnxruntime's own verbose log tells which provider runs each node. Parsed from a
// real log of the WebGPU provider (captured on an H200 by bench/gpu-check.sh) and, here, from a live
// CPU session; GPU-provider training refuses a step with float or boolean work left on the CPU.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Graph, assertPlacedOn, nodePlacement, parsePlacementLog } from '../../onnx/index.ts';
import { buildAgentStep } from '../../train/step.ts';
import { resolveConfig } from '../../train/config.ts';

const webgpuLog = readFileSync(fileURLToPath(new URL('../fixtures/ort-1.30-webgpu-placement.log', import.meta.url)), 'utf8');

test('the placement log of a WebGPU session is parsed: counts, CPU nodes, missing kernels', () => {
  const p = parsePlacementLog(webgpuLog);
  assert.equal(p.counts.get('CPUExecutionProvider'), 93);
  assert.equal(p.counts.get('WebGpuExecutionProvider'), 3467);
  const cpu = p.nodes.get('CPUExecutionProvider')!;
  assert.equal(cpu.length, 93);
  assert.deepEqual([...new Set(cpu.map((n) => n.opType))].sort(), ['Concat', 'Or']);
  assert.ok(cpu.some((n) => n.name === 'value_loss/value/encoder/value/encoder/stack2/MaxPool_Grad/Or_6'));
  assert.deepEqual([...new Set(p.missingKernels.map((n) => n.opType))].sort(), ['Concat', 'Or']);
  const all = parsePlacementLog(
    '[V:onnxruntime:, session_state.cc:1380 VerifyEachNodeIsAssignedToAnEp]  ' +
      'All nodes placed on [WebGpuExecutionProvider]. Number of nodes: 1026',
  );
  assert.deepEqual([...all.counts], [['WebGpuExecutionProvider', 1026]]);
  assert.throws(() => parsePlacementLog('nothing here'), /no node placement/);
});

test('CPU nodes on device tensors are refused by name; integer nodes and work on the host-fed batch are allowed', () => {
  const p = parsePlacementLog(webgpuLog);
  const cfg = resolveConfig({ agent: 'hiql', preset: 'quick', env: 'visual-pointmaze-medium-navigate', dataset: '' });
  const step = buildAgentStep('hiql', cfg.agentConfig, { obsDim: 16 * 16 * 3, actionDim: 2, obsShape: [16, 16, 3] });
  const graph = Graph.fromBytes(step.spec.model).graph;
  const batch = [...step.spec.batchInputs, step.spec.stepInput];
  assert.throws(
    () => assertPlacedOn(p, graph, 'webgpu', batch),
    (e: Error) => {
      assert.match(e.message, /the 'webgpu' execution provider would run 84 node\(s\) of .* on the CPU/);
      assert.match(e.message, /Or x84 \(/);
      assert.doesNotMatch(e.message, /Concat/);
      return true;
    },
  );
  // Without the Or nodes (what the step builds now) only the Concats of uint8 frame batches (no
  // WebGPU kernel for uint8) stay on the CPU; they read the host-fed batch: accepted.
  const cpuNodes = p.nodes.get('CPUExecutionProvider')!.filter((n) => n.opType !== 'Or');
  const ok = {
    ...p,
    counts: new Map([
      ['CPUExecutionProvider', cpuNodes.length],
      ['WebGpuExecutionProvider', 3467],
    ]),
    nodes: new Map([['CPUExecutionProvider', cpuNodes]]),
  };
  assert.doesNotThrow(() => assertPlacedOn(ok, graph, 'webgpu', batch));
  // The same Concats fed from device tensors would not be.
  assert.throws(() => assertPlacedOn(ok, graph, 'webgpu', []), /Concat x9/);
  // The pixel step as built now has no boolean Or left to place.
  assert.ok(!graph.nodes.some((n) => n.opType === 'Or' || n.opType === 'And' || n.opType === 'Not'));
});

test('a live CPU session reports every node on the CPU provider; a provider that cannot start is a clear error', async () => {
  const g = new Graph('tiny');
  const x = g.input('x', 'float32', ['batch', 3]);
  g.output(g.tanh(g.add(x, 1)), 'y');
  const p = await nodePlacement(g.toBytes(), 'cpu');
  assert.deepEqual([...p.counts.keys()], ['CPUExecutionProvider']);
  assert.doesNotThrow(() => assertPlacedOn(p, g, 'cpu'));
  try {
    const q = await nodePlacement(g.toBytes(), 'webgpu');
    assert.ok(q.counts.has('WebGpuExecutionProvider'), 'a machine with a GPU places the nodes on WebGPU');
  } catch (e) {
    assert.match((e as Error).message, /onnxruntime could not start the 'webgpu' execution provider: .+WebGPU needs a GPU adapter/);
  }
});
