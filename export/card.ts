// Model cards: what a shipped policy is, how to reproduce it, and how well the exported file does,
// measured through the deployable runtime (export/evaluate.ts: the file a user downloads, not the
// training graph).
import { basename } from 'node:path';
import { writeFileAtomic } from '../onnx/index.ts';
import type { EvalResult } from '../train/evaluate.ts';
import type { RunInfo } from '../train/run-folder.ts';
import type { ExportedFile } from './export.ts';

export interface CardData {
  name: string;
  env: string;
  agent: string;
  preset: string;
  trainSteps: number;
  seed: number;
  datasetSeed: number;
  batchSize: number;
  hiddenDims: { value?: number[]; actor: number[] };
  files: { file: string; role: string; bytes: number; sha256: string }[];
  evaluation: { episodesPerTask: number; seed: number; backend: string; success: number; tasks: EvalResult['tasks'] };
  commands: string[];
  /** For a policy with quantized weights: how, from which float files, and the float policy's success. */
  quantization?: CardQuantization;
}

export interface CardQuantization {
  /** 'int8'. */
  weights: string;
  /** What is quantized and how (one line each). */
  scheme: string[];
  /** The float policy files it was made from. */
  source: { name: string; files: CardData['files'] };
  /** The float policy evaluated in the same session with the same protocol. */
  float: { success: number; tasks: EvalResult['tasks'] };
  /** Validation against the float training graph (one line each). */
  validation: string[];
}

export function cardData(
  info: RunInfo,
  runDir: string,
  step: number,
  files: ExportedFile[],
  r: EvalResult,
  datasetSeed: number,
  backend = 'cpu',
): CardData {
  const c = info.config;
  const ac = c.agentConfig as { batchSize: number; valueHiddenDims?: number[]; actorHiddenDims: number[] };
  const name = basename(files[0]!.path).replace(/\.onnx$/, '');
  const out = files[0]!.path;
  return {
    name,
    env: c.env,
    agent: c.agent,
    preset: c.preset,
    trainSteps: step,
    seed: c.trainer.seed,
    datasetSeed,
    batchSize: ac.batchSize,
    hiddenDims: { value: ac.valueHiddenDims, actor: ac.actorHiddenDims },
    files: files.map((f) => ({ file: basename(f.path), role: f.role, bytes: f.bytes.length, sha256: f.sha256 })),
    evaluation: {
      episodesPerTask: r.episodesPerTask,
      seed: c.trainer.seed,
      backend: `onnxruntime-node ${backend} (@hiql/runtime)`,
      success: r.success,
      tasks: r.tasks,
    },
    commands: [
      `npx hiql data generate --env ${c.env} --out ${c.dataset} --seed ${datasetSeed}`,
      `npx hiql train --env ${c.env} --dataset ${c.dataset} --agent ${c.agent} --preset ${c.preset} --steps ${step} ` +
        `--seed ${c.trainer.seed}${c.trainer.device === 'cpu' ? '' : ` --device ${c.trainer.device}`} --run-dir ${runDir}`,
      `npx hiql export ${runDir} --out ${out} --card --episodes ${r.episodesPerTask}${backend === 'cpu' ? '' : ` --backend ${backend}`}`,
    ],
  };
}

const kib = (b: number) => `${(b / 1024).toFixed(0)} KiB`;
/** A number the card may not know (NaN, or null once read back from JSON). */
const known = (x: number | null) => (x !== null && Number.isFinite(x) ? String(x) : 'unknown');

export function cardMarkdown(d: CardData): string {
  const pct = (x: number) => `${(100 * x).toFixed(0)}%`;
  const pct1 = (x: number) => `${(100 * x).toFixed(1)}%`;
  const q = d.quantization;
  const e = d.evaluation;
  const what = q
    ? `${d.agent.toUpperCase()} goal-reaching policy for \`${d.env}\` with ${q.weights} weights: \`${q.source.name}\` (trained by this
project's \`hiql\` command on a dataset it generated: noisy BFS expert, docs/spec.md section 6) quantized by
\`hiql export --quantize ${q.weights}\`. Same inputs, outputs and metadata as the float files, plus \`hiql.weights\`.
Deterministic actions in [-1, 1].`
    : `${d.agent.toUpperCase()} goal-reaching policy for \`${d.env}\`, trained by this project's \`hiql\` command on a
dataset it generated (noisy BFS expert, docs/spec.md section 6). Deterministic actions in [-1, 1].`;
  const files = q
    ? `| file | role | size | float file | float size | SHA-256 |
|---|---|---|---|---|---|
${d.files
  .map((f) => {
    const src = q.source.files.find((x) => x.role === f.role);
    return `| \`${f.file}\` | ${f.role} | ${kib(f.bytes)} | \`${src?.file ?? '-'}\` | ${src ? kib(src.bytes) : '-'} | \`${f.sha256}\` |`;
  })
  .join('\n')}
| total | | ${kib(d.files.reduce((a, f) => a + f.bytes, 0))} | | ${kib(q.source.files.reduce((a, f) => a + f.bytes, 0))} | |`
    : `| file | role | size | SHA-256 |
|---|---|---|---|
${d.files.map((f) => `| \`${f.file}\` | ${f.role} | ${kib(f.bytes)} | \`${f.sha256}\` |`).join('\n')}`;
  const value = d.hiddenDims.value ? d.hiddenDims.value.join('x') : '-';
  const evaluation = q
    ? `${e.episodesPerTask} episodes per task, seed ${e.seed}, ${e.backend}, the ${q.weights} and the float files evaluated in
the same session: **${pct1(e.success)}** success with ${q.weights} weights, **${pct1(q.float.success)}** with float weights
(${((e.success - q.float.success) * 100).toFixed(1)} points).

| task | ${q.weights} success | float success | ${q.weights} mean steps | float mean steps |
|---|---|---|---|---|
${e.tasks
  .map((t, i) => {
    const f = q.float.tasks[i]!;
    return `| ${t.task} | ${pct(t.success)} | ${pct(f.success)} | ${t.meanSteps.toFixed(0)} | ${f.meanSteps.toFixed(0)} |`;
  })
  .join('\n')}
| all | ${pct1(e.success)} | ${pct1(q.float.success)} | | |

## Quantization

${q.scheme.map((l) => `- ${l}`).join('\n')}

Validation against the float training graph (rebuilt from the float files' metadata and parameters):

${q.validation.map((l) => `- ${l}`).join('\n')}`
    : `${e.episodesPerTask} episodes per task, seed ${e.seed}, ${e.backend}: **${pct(e.success)}** success.

| task | success | mean steps |
|---|---|---|
${e.tasks.map((t) => `| ${t.task} | ${pct(t.success)} | ${t.meanSteps.toFixed(0)} |`).join('\n')}`;
  return `# ${d.name}

${what}

## Files

${files}

## Training

- preset \`${d.preset}\`: batch ${known(d.batchSize)}, value/phi MLP ${value}, actors ${d.hiddenDims.actor.join('x')}
- ${d.trainSteps} updates, seed ${known(d.seed)}; dataset seed ${known(d.datasetSeed)}

## Evaluation of the exported file

${evaluation}

## Reproduce

\`\`\`
${d.commands.join('\n')}
\`\`\`
`;
}

/** Writes NAME.md and NAME.json beside the exported policy. */
export function writeCard(d: CardData, policyPath: string): string[] {
  const stem = policyPath.replace(/\.onnx$/, '');
  writeFileAtomic(`${stem}.md`, new TextEncoder().encode(cardMarkdown(d)));
  writeFileAtomic(`${stem}.json`, new TextEncoder().encode(JSON.stringify(d, null, 2) + '\n'));
  return [`${stem}.md`, `${stem}.json`];
}
