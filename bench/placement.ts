// Where onnxruntime places every node of the training-step graphs (HIQL, GCIVL, GCBC at the quick
// and ogbench presets, HIQL on 16 x 16 pixels) and of the shipped policy files on an execution
// provider, read from onnxruntime's own verbose log. Float nodes left on the CPU are listed by op:
// those are the ops the provider lacks, which `hiql train --device` refuses to run.
//
//   npm run bench -- placement --device webgpu [--log-dir DIR]
//
// --log-dir saves each graph's raw onnxruntime log (for the parser's test fixtures).
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Graph, assertPlacedOn, nodePlacement } from '../onnx/index.ts';
import { buildAgentStep } from '../train/step.ts';
import { type AgentName } from '../train/agents/index.ts';
import { resolveConfig } from '../train/config.ts';

export async function main(argv: readonly string[]): Promise<void> {
  let device = 'webgpu';
  let logDir: string | null = null;
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--device') device = argv[++i]!;
    else if (argv[i] === '--log-dir') logDir = argv[++i]!;
    else throw new RangeError(`unknown option ${argv[i]}; options: --device cpu|webgpu|cuda, --log-dir DIR`);
  }
  const graphs: { name: string; model: Uint8Array }[] = [];
  const state = { obsDim: 2, actionDim: 2 };
  for (const [agent, preset] of [
    ['hiql', 'quick'],
    ['hiql', 'ogbench'],
    ['gcivl', 'quick'],
    ['gcbc', 'quick'],
  ] as const) {
    const cfg = resolveConfig({ agent, preset, env: 'pointmaze-medium-navigate', dataset: '' });
    graphs.push({ name: `${agent}-${preset} step`, model: buildAgentStep(agent as AgentName, cfg.agentConfig, state).spec.model });
  }
  const vcfg = resolveConfig({ agent: 'hiql', preset: 'quick', env: 'visual-pointmaze-medium-navigate', dataset: '' });
  graphs.push({
    name: 'hiql-visual-quick step',
    model: buildAgentStep('hiql', vcfg.agentConfig, { obsDim: 16 * 16 * 3, actionDim: 2, obsShape: [16, 16, 3] }).spec.model,
  });
  const models = new URL('../models/', import.meta.url);
  for (const f of readdirSync(models)
    .filter((x) => x.endsWith('.onnx'))
    .sort()) {
    graphs.push({ name: f, model: readFileSync(new URL(f, models)) });
  }
  const results: Record<string, unknown>[] = [];
  for (const { name, model } of graphs) {
    const t0 = performance.now();
    const p = await nodePlacement(model, device);
    const ms = performance.now() - t0;
    const graph = Graph.fromBytes(model).graph;
    let problem: string | null = null;
    try {
      assertPlacedOn(p, graph, device);
    } catch (e) {
      problem = (e as Error).message;
    }
    if (logDir) writeFileSync(join(logDir, `placement-${name.replace(/[^\w.-]+/g, '_')}.log`), p.log ?? '');
    const counts = Object.fromEntries(p.counts);
    console.log(
      `${name.padEnd(44)} ${graph.nodes.length} nodes built; placed: ${Object.entries(counts)
        .map(([k, v]) => `${v} ${k}`)
        .join(', ')}; session ${ms.toFixed(0)} ms`,
    );
    if (p.missingKernels.length) console.log(`  no ${device} kernel: ${[...new Set(p.missingKernels.map((n) => n.opType))].join(', ')}`);
    if (problem) console.log(`  ${problem}`);
    results.push({
      graph: name,
      built: graph.nodes.length,
      counts,
      missing: [...new Set(p.missingKernels.map((n) => n.opType))],
      ok: problem === null,
    });
  }
  console.log(JSON.stringify({ bench: 'placement', device, results }));
}
