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
      `npx hiql train --env ${c.env} --dataset ${c.dataset} --agent ${c.agent} --preset ${c.preset} --steps ${step} --seed ${c.trainer.seed}${c.trainer.device === 'cpu' ? '' : ` --device ${c.trainer.device}`} --run-dir ${runDir}`,
      `npx hiql export ${runDir} --out ${out} --card --episodes ${r.episodesPerTask}${backend === 'cpu' ? '' : ` --backend ${backend}`}`,
    ],
  };
}

export function cardMarkdown(d: CardData): string {
  const pct = (x: number) => `${(100 * x).toFixed(0)}%`;
  return `# ${d.name}

${d.agent.toUpperCase()} goal-reaching policy for \`${d.env}\`, trained by this project's \`hiql\` command on a
dataset it generated (noisy BFS expert, SPEC.md section 6). Deterministic actions in [-1, 1].

## Files

| file | role | size | SHA-256 |
|---|---|---|---|
${d.files.map((f) => `| \`${f.file}\` | ${f.role} | ${(f.bytes / 1024).toFixed(0)} KiB | \`${f.sha256}\` |`).join('\n')}

## Training

- preset \`${d.preset}\`: batch ${d.batchSize}, value/phi MLP ${d.hiddenDims.value ? d.hiddenDims.value.join('x') : '-'}, actors ${d.hiddenDims.actor.join('x')}
- ${d.trainSteps} updates, seed ${d.seed}; dataset seed ${d.datasetSeed}

## Evaluation of the exported file

${d.evaluation.episodesPerTask} episodes per task, seed ${d.evaluation.seed}, ${d.evaluation.backend}: **${pct(d.evaluation.success)}** success.

| task | success | mean steps |
|---|---|---|
${d.evaluation.tasks.map((t) => `| ${t.task} | ${pct(t.success)} | ${t.meanSteps.toFixed(0)} |`).join('\n')}

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
