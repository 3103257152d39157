// `hiql quickstart`: the main job in one command. Generates the default maze's dataset (if missing),
// trains HIQL with the quick preset, exports the policy, evaluates the exported file through the
// runtime, and prints where everything is.
import { existsSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { datasetSpec, generateDataset } from '../envs/datasets.ts';
import { fsError } from '../onnx/checkpoint.ts';
import { evaluateExported } from '../export/evaluate.ts';
import { exportPolicy } from '../export/export.ts';
import { resolveConfig } from '../train/config.ts';
import { datasetFromGenerated, loadDataset, saveDatasetNpz, type Dataset } from '../train/data/dataset.ts';
import { readRunInfo, readRunParams } from '../train/run-folder.ts';
import { train } from '../train/trainer.ts';
import { optInt, optNumber, optString, parseArgs, rejectUnknown, wantsHelp } from './args.ts';
import { progress } from './progress.ts';

/** The default training budget: with data, export and evaluation, the job fits in ten minutes. */
export const QUICKSTART_MINUTES = 9;

/**
 * The quick preset with batch 128: in a fixed time, half-size batches give about 1.7 times the
 * updates, and on pointmaze-medium-navigate the policy reaches 70% in fewer minutes (measured: 69.6%
 * at 15k, 77.6% at 25k steps of batch 128; 62.0% at 15k of batch 256; docs/results.md).
 */
export const QUICKSTART_BATCH = 128;

const HELP = `hiql quickstart [--env pointmaze-medium-navigate] [--agent hiql] [--minutes ${QUICKSTART_MINUTES}] [--steps 50000]
                [--seed 0] [--run-dir runs/quickstart] [--episodes 50] [--resume]

Generates the dataset (data/ENV.npz) if it is not there, trains with the quick preset (batch
${QUICKSTART_BATCH}; --batch-size to change it), exports to
RUN_DIR/ENV-AGENT.onnx, evaluates the exported policy through the runtime (5 tasks x --episodes)
and prints the success. Training stops at --steps or after --minutes of training, whichever comes
first (the default budget keeps the whole job within ten minutes on a 2-core machine; --minutes 0
trains all the steps); the summary says how many steps fit. The last line is a JSON summary.`;

export async function run(argv: string[]): Promise<number> {
  if (wantsHelp(argv)) {
    console.log(HELP);
    return 0;
  }
  const args = parseArgs(argv);
  rejectUnknown(args, ['env', 'agent', 'steps', 'minutes', 'batch-size', 'seed', 'run-dir', 'episodes', 'resume'], 'quickstart');
  const minutes = optNumber(args, 'minutes') ?? QUICKSTART_MINUTES;
  if (args.positionals.length > 0) throw new RangeError(`unexpected argument '${args.positionals[0]}'`);
  // Everything is checked before the dataset is generated (a million transitions for most mazes).
  const env = optString(args, 'env') ?? 'pointmaze-medium-navigate';
  const spec = datasetSpec(env);
  if (spec.visual)
    throw new RangeError(
      `'${env}' is a pixel dataset; quickstart trains on positions. ` +
        `Use hiql data generate --env ${env} --frame-size 16 and hiql train for pixels`,
    );
  const agent = optString(args, 'agent') ?? 'hiql';
  const seed = optInt(args, 'seed', 0) ?? 0;
  const episodes = optInt(args, 'episodes', 1) ?? 50;
  const runDir = optString(args, 'run-dir') ?? `runs/quickstart-${env}-${agent}`;
  const dataset = `data/${env}.npz`;
  const overrides: Record<string, unknown> = { seed, minutes, batchSize: optInt(args, 'batch-size', 1) ?? QUICKSTART_BATCH };
  const steps = optInt(args, 'steps');
  if (steps !== undefined) overrides['steps'] = steps;
  const cfg = resolveConfig({ agent, preset: 'quick', env, dataset, overrides });

  let ds: Dataset;
  if (!existsSync(dataset)) {
    console.error(`[1/4] generating ${dataset} ...`);
    try {
      mkdirSync(dirname(dataset), { recursive: true });
    } catch (e) {
      throw fsError('create the folder', dirname(dataset), e);
    }
    const g = generateDataset(env, { seed: 0, onProgress: (done, total) => done === total && console.error(`      ${total} transitions`) });
    ds = datasetFromGenerated(g);
    saveDatasetNpz(dataset, ds);
  } else {
    console.error(`[1/4] using ${dataset}`);
    try {
      ds = await loadDataset(dataset);
    } catch (e) {
      throw new Error(
        `${(e as Error).message} (quickstart generates ${dataset} when it is missing: remove the file to have it generated again)`,
        { cause: e },
      );
    }
  }

  const resume = args.options.has('resume');
  const budget = minutes > 0 ? ` or ${minutes} min, whichever comes first` : '';
  console.error(
    `[2/4] training ${agent} (quick preset: batch ${cfg.agentConfig.batchSize}, ${cfg.trainer.steps} steps${budget}) -> ${runDir}`,
  );
  const t0 = performance.now();
  const bar = progress({ label: '      step', total: cfg.trainer.steps });
  const res = await train(cfg, runDir, {
    resume,
    dataset: ds,
    evalAtEnd: false,
    cb: {
      onInfo: (m) => bar.log(`      ${m}`),
      onLog: (e) => {
        // In a log (not a TTY), a line every 1000 steps is enough.
        if (bar.interactive || e.step % 1000 === 0 || e.step === e.steps)
          bar.update({ step: e.step, stepsPerSec: e.stepsPerSec, etaSec: e.etaSec, text: `loss ${e.metrics['loss']?.toFixed(3) ?? '?'}` });
      },
      onEval: (s, r) => bar.log(`      eval @ ${s}: ${(100 * r.success).toFixed(0)}% success`),
    },
  }).finally(() => bar.stop());
  const trainMin = (performance.now() - t0) / 60000;

  const out = `${runDir}/${env}-${agent}.onnx`;
  console.error(`[3/4] exporting -> ${out}`);
  const info = readRunInfo(runDir);
  const { params, step } = readRunParams(runDir);
  const exp = await exportPolicy(info, params, step, out);

  console.error(`[4/4] evaluating the exported policy through the runtime (${episodes} episodes x 5 tasks)`);
  const r = await evaluateExported(out, env, episodes, seed);

  console.error('');
  console.error(
    `success: ${(100 * r.success).toFixed(1)}%  (${r.tasks.map((t) => `task ${t.task}: ${(100 * t.success).toFixed(0)}%`).join(', ')})`,
  );
  console.error(
    `trained ${res.steps} steps${res.budgetReached ? ` (what fit in the ${minutes}-minute budget)` : ''} ` +
      `in ${trainMin.toFixed(1)} min (${res.stepsPerSec.toFixed(1)} steps/s); ` +
      `learning curves: ${runDir}/curves.svg`,
  );
  console.error(`model: ${exp.files.map((f) => f.path).join(', ')}`);
  console.error(`show it in the browser demo, next to the pretrained policies: npm run demo -- --models ${runDir}`);
  console.log(JSON.stringify({ env, agent, steps: res.steps, runDir, model: out, success: r.success, tasks: r.tasks }));
  return 0;
}
