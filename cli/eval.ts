// `hiql eval`: evaluate a run's latest checkpoint under the evaluation protocol.
import { evaluateParams } from '../train/eval-session.ts';
import type { RunConfig } from '../train/config.ts';
import { parseEnvName } from '../envs/datasets.ts';
import { readRunInfo, readRunSeedParams, runSeeds } from '../train/run-folder.ts';
import { formatSuccess, seedsEval } from '../train/seeds.ts';
import { evalPathsPicture, type EvalResult } from '../train/evaluate.ts';
import { encodePng } from '../envs/png.ts';
import { writeFileAtomic } from '../onnx/index.ts';
import { checkOutputName, optInt, optString, parseArgs, rejectUnknown, wantsHelp } from './args.ts';

const EVAL_HELP = `hiql eval RUN_DIR [--episodes 50] [--seed S] [--env ENV] [--threads N] [--picture FILE.png]

Evaluates a run's latest checkpoint with the SPEC protocol (5 tasks, deterministic actions). The
last line printed is a JSON object with per-task and overall success. A run of several seeds
(hiql train --seeds N) has each seed evaluated (seed k on episode seed S + k) and reports their
mean and standard deviation, with each seed's result. --picture draws the first 4 episodes of each
task (of the first seed) on the maze: a colour per task, solid where the goal was reached.`;

export async function runEval(argv: string[]): Promise<number> {
  if (wantsHelp(argv)) {
    console.log(EVAL_HELP);
    return 0;
  }
  const args = parseArgs(argv);
  rejectUnknown(args, ['episodes', 'seed', 'env', 'threads', 'picture'], 'eval');
  const runDir = args.positionals[0];
  if (!runDir) throw new RangeError('hiql eval: give the run folder, e.g. hiql eval runs/NAME');
  if (args.positionals.length > 1) throw new RangeError(`unexpected argument '${args.positionals[1]}'`);
  const episodes = optInt(args, 'episodes', 1) ?? 50;
  const seedArg = optInt(args, 'seed', 0);
  const threads = optInt(args, 'threads', 1);
  const envArg = optString(args, 'env');
  const picture = optString(args, 'picture');
  if (picture !== undefined) checkOutputName(picture, 'picture', '.png', 'a PNG', 'eval');
  const envParsed = envArg !== undefined ? parseEnvName(envArg) : undefined;
  const info = readRunInfo(runDir);
  const seed = seedArg ?? info.config.trainer.seed;
  const cfg: RunConfig = { ...info.config, env: envArg ?? info.config.env };
  if (envParsed && envParsed.visual !== parseEnvName(info.config.env).visual)
    throw new RangeError(`--env ${envArg} and the run's env ${info.config.env} observe different things (frames vs positions)`);
  const t0 = performance.now();
  // The checkpoint is read once; seed k is evaluated on episode seed S + k.
  const { seeds: params, step } = readRunSeedParams(runDir);
  const agentSeeds = runSeeds(info);
  const each: EvalResult[] = [];
  for (const [k, p] of params.entries()) {
    const r = await evaluateParams(cfg, info.dims, p, episodes, seed + k, threads, picture !== undefined && k === 0 ? 4 : 0);
    if (r.paths) {
      const img = evalPathsPicture(cfg.env, r.paths);
      writeFileAtomic(picture!, encodePng(img.width, img.height, img.data, 4));
      console.error(`wrote ${picture} (${r.paths.length} episodes${params.length > 1 ? `, seed ${agentSeeds[0]}` : ''})`);
    }
    if (params.length > 1) console.error(`  seed ${agentSeeds[k]}: ${(100 * r.success).toFixed(1)}%`);
    each.push(r);
  }
  const r = seedsEval(each);
  const secs = ((performance.now() - t0) / 1000).toFixed(1);
  console.error(
    `${cfg.agent} @ step ${step} on ${cfg.env}: ${formatSuccess(r)} success ` +
      `over ${episodes} episodes x ${r.tasks.length} tasks (${secs} s)`,
  );
  for (const x of r.tasks) console.error(`  task ${x.task}: ${(100 * x.success).toFixed(0)}%  (mean ${x.meanSteps.toFixed(0)} steps)`);
  const extra = r.seeds ? { successStd: r.successStd, seeds: r.seeds.map((x) => ({ success: x.success, tasks: x.tasks })) } : {};
  console.log(
    JSON.stringify({ run: runDir, step, env: cfg.env, episodesPerTask: episodes, seed, success: r.success, tasks: r.tasks, ...extra }),
  );
  return 0;
}
