// `hiql export RUN_DIR --out models/NAME.onnx [--quantize int8]`, `hiql export --from-model FILE --quantize int8`
import { basename, dirname } from 'node:path';
import { cardData, writeCard } from '../export/card.ts';
import { evaluateExported } from '../export/evaluate.ts';
import { exportPolicy } from '../export/export.ts';
import { claimPolicyPath, removeReplacedLeftovers } from '../export/file-set.ts';
import { removeStaleTempFiles } from '../onnx/checkpoint.ts';
import { runCardQuantized, runFromModel } from './quantize.ts';
import type { Backend } from '../runtime/src/index.ts';
import { readRunInfo, readRunParams, runOfSeed } from '../train/run-folder.ts';
import { optFlag, optInt, optString, parseArgs, rejectUnknown, wantsHelp } from './args.ts';

const HELP = `hiql export RUN_DIR --out models/NAME.onnx [--seed K] [--quantize int8] [--no-validate] [--force]
           [--card [--episodes 50] [--dataset-seed 0]]
hiql export --from-model models/NAME.onnx --quantize int8 [--out models/NAME-int8.onnx] [--card [--episodes 50]]

Writes the run's deterministic policy as ONNX (IR 8, opset 17): NAME.onnx maps observation and goal
to action (and, for HIQL, the subgoal latent); HIQL also gets NAME.low.onnx (observation, subgoal ->
action) and NAME.phi.onnx (observation, goal -> phi). Each file is checked against the training
graph in onnxruntime-node and onnxruntime-web before it is written. With --card, the exported file
is evaluated through the runtime (5 tasks x --episodes) and a model card NAME.md / NAME.json is
written beside it. --backend picks the runtime backend of that evaluation (cpu, webgpu, cuda).
A run of several seeds (hiql train --seeds N) exports one of them: --seed K (default the run's first).
An existing policy at --out (NAME.onnx, its companions or its card) is kept unless --force; with
--force the whole set is replaced, and an old file the new export does not write (an old card) is removed.

--quantize int8 stores the weight matrices as int8 (export/quantize.ts; same inputs, outputs and
metadata, plus hiql.weights), validated with an int8 tolerance; its card compares it with the float
policy evaluated in the same session. --from-model quantizes an exported float policy and its
companions (no run folder needed; the training graph is rebuilt from the file's metadata).`;

const BACKENDS: readonly Backend[] = ['cpu', 'webgpu', 'cuda'];

export async function run(argv: string[]): Promise<number> {
  if (wantsHelp(argv)) {
    console.log(HELP);
    return 0;
  }
  const args = parseArgs(argv);
  rejectUnknown(
    args,
    ['out', 'no-validate', 'card', 'episodes', 'dataset-seed', 'backend', 'quantize', 'from-model', 'seed', 'force'],
    'export',
  );
  const force = optFlag(args, 'force', 'export'); // first: `--force RUN_DIR` reads the folder as its value
  if (args.options.has('from-model')) return runFromModel(args);
  const quantize = optString(args, 'quantize');
  if (quantize !== undefined && quantize !== 'int8') throw new RangeError(`hiql export: --quantize must be int8, got '${quantize}'`);
  const runDir = args.positionals[0];
  if (!runDir) throw new RangeError('hiql export: give the run folder, e.g. hiql export runs/NAME --out models/NAME.onnx');
  if (args.positionals.length > 1) throw new RangeError(`unexpected argument '${args.positionals[1]}'`);
  // Every option is checked before anything is written.
  const withCard = args.options.has('card');
  for (const k of ['episodes', 'dataset-seed', 'backend'])
    if (!withCard && args.options.has(k)) throw new RangeError(`--${k} is for the model card; add --card`);
  const episodes = optInt(args, 'episodes', 1) ?? 50;
  const datasetSeed = optInt(args, 'dataset-seed', 0) ?? 0;
  const backend = (optString(args, 'backend') ?? 'cpu') as Backend;
  if (!BACKENDS.includes(backend)) throw new RangeError(`--backend must be cpu, webgpu or cuda, got '${backend}'`);
  const outArg = optString(args, 'out');
  const { info, seedIndex } = runOfSeed(readRunInfo(runDir), optInt(args, 'seed', 0));
  const { params, step } = readRunParams(runDir, seedIndex);
  const out = outArg ?? `models/${info.config.env}-${info.config.agent}.onnx`;
  const previous = claimPolicyPath(out, { force, command: 'hiql export' });
  const r = await exportPolicy(info, params, step, out, { validate: !args.options.has('no-validate'), quantize });
  for (const v of r.validation)
    console.error(
      `validated ${v.role} on ${v.backend}: max |diff| ${v.maxAbsDiff.toExponential(2)}, mean ${v.meanAbsDiff.toExponential(2)}`,
    );
  for (const f of r.files) console.error(`wrote ${f.path} (${(f.bytes.length / 1024).toFixed(1)} KiB, sha256 ${f.sha256.slice(0, 16)}...)`);
  for (const p of removeReplacedLeftovers(
    previous,
    r.files.map((f) => f.path),
  ))
    console.error(`removed ${p} (it described the replaced policy)`);
  let card: { success: number; files: string[] } | undefined;
  if (withCard) {
    console.error(`evaluating ${out} through the runtime: ${episodes} episodes x 5 tasks ...`);
    const stem = basename(out).replace(/\.onnx$/, '');
    removeStaleTempFiles(dirname(out), (target) => target === `${stem}.md` || target === `${stem}.json`);
    let [ev, files] = quantize
      ? await runCardQuantized({ info, params, step, runDir, out, result: r, episodes, backend, datasetSeed })
      : [];
    if (!ev || !files) {
      ev = await evaluateExported(out, info.config.env, episodes, info.config.trainer.seed, backend);
      files = writeCard(cardData(info, runDir, step, r.files, ev, datasetSeed, backend), out);
    }
    const tasks = ev.tasks.map((t) => `${(100 * t.success).toFixed(0)}%`).join(', ');
    console.error(`success ${(100 * ev.success).toFixed(1)}% [${tasks}]; wrote ${files.join(', ')}`);
    card = { success: ev.success, files };
  }
  console.log(
    JSON.stringify({
      run: runDir,
      step,
      files: r.files.map((f) => ({ role: f.role, path: f.path, bytes: f.bytes.length, sha256: f.sha256 })),
      card,
    }),
  );
  return 0;
}
