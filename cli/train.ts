// `hiql train`: resolve the run's config from the command line, train, print progress.
import { existsSync } from 'node:fs';
import { join, normalize } from 'node:path';
import { AGENTS, AGENT_NAMES, type AgentName } from '../train/agents/index.ts';
import { TRAINER_DEFAULTS, resolveConfig, type RunConfig } from '../train/config.ts';
import { parseEnvName } from '../envs/datasets.ts';
import { readRunInfo } from '../train/run-folder.ts';
import { train } from '../train/trainer.ts';
import { formatSuccess } from '../train/seeds.ts';
import { optFlag, optString, parseArgs, requireString, wantsHelp } from './args.ts';
import { progress } from './progress.ts';

const TRAIN_HELP = `hiql train --env ENV --dataset FILE [--agent hiql|gcivl|gcbc|gciql|crl|qrl] [--preset quick|ogbench|paper]
           [--steps N] [--run-dir runs/NAME] [--seed S] [--seeds N] [--action-fraction F] [--device cpu|webgpu|cuda]
           [--<configKey> VALUE ...]
       hiql train --run-dir runs/NAME --resume [--steps N] [--<trainerKey> VALUE ...]

Trains an agent on an offline dataset. The run folder receives config.json, metrics.jsonl,
eval.jsonl, checkpoint.bin and curves.svg. Any agent or trainer config key can be overridden,
e.g. --batchSize 512 --valueHiddenDims 256,256,256 --evalEvery 5000 (unknown keys are rejected).
The dataset is checked against the environment (sizes, positions in the maze) before training.
With --resume, the run continues exactly from its checkpoint under its saved config, on the same
env and dataset; only trainer keys (--steps, --eval-every, --threads, ...) may change, and --steps
must be above the checkpoint's step. --resume on a folder with no run yet starts it (give --env).
--seeds N trains N independent agents (seeds S to S + N - 1, each with its own initialisation and
batches, as N one-seed runs would) in one step graph; evaluations report each seed and their mean
+- std, curves.svg draws a line per seed and the mean; hiql export --seed K exports one.`;

const kebabToCamel = (s: string) => s.replace(/-(\w)/g, (_, c: string) => c.toUpperCase());

/** The metrics shown on the progress line, per agent. */
const SHOWN: Record<AgentName, [string, string][]> = {
  hiql: [
    ['loss', 'loss'],
    ['value/value_loss', 'V'],
    ['low_actor/actor_loss', 'lo'],
    ['high_actor/actor_loss', 'hi'],
    ['value/v_mean', 'v'],
  ],
  gcivl: [
    ['loss', 'loss'],
    ['value/value_loss', 'V'],
    ['actor/actor_loss', 'pi'],
    ['value/v_mean', 'v'],
  ],
  gcbc: [
    ['loss', 'loss'],
    ['actor/mse', 'mse'],
  ],
  gciql: [
    ['loss', 'loss'],
    ['value/value_loss', 'V'],
    ['critic/critic_loss', 'Q'],
    ['actor/actor_loss', 'pi'],
    ['value/v_mean', 'v'],
  ],
  crl: [
    ['loss', 'loss'],
    ['critic/contrastive_loss', 'nce'],
    ['critic/categorical_accuracy', 'acc'],
    ['actor/actor_loss', 'pi'],
    ['actor/q_mean', 'q'],
  ],
  qrl: [
    ['loss', 'loss'],
    ['value/d_neg_mean', 'dneg'],
    ['value/d_pos_mean', 'dpos'],
    ['value/lam', 'lam'],
    ['dynamics/dynamics_loss', 'dyn'],
    ['actor/actor_loss', 'pi'],
  ],
};

/**
 * The run configuration from the command line. With --resume and a run folder that holds a run,
 * the saved config is the base (env, dataset, agent, preset and architecture need not be repeated);
 * trainer keys (--steps, --eval-every, --threads, ...) may change; agent keys, env, dataset and
 * preset may be repeated but not changed. Everything is validated here, before data is loaded.
 */
export function trainConfigFromArgs(argv: string[]): { cfg: RunConfig; runDir: string; resume: boolean } {
  const args = parseArgs(argv);
  if (args.positionals.length > 0) throw new RangeError(`unexpected argument '${args.positionals[0]}'; options are given as --key value`);
  const resume = optFlag(args, 'resume', 'train');
  const envArg = optString(args, 'env');
  const runDirArg =
    optString(args, 'run-dir') ?? (envArg !== undefined ? `runs/${envArg}-${optString(args, 'agent') ?? 'hiql'}` : undefined);
  if (resume && runDirArg === undefined) throw new RangeError('--resume needs --run-dir, the folder of the run to continue');
  const saved = resume && existsSync(join(runDirArg!, 'config.json')) ? readRunInfo(runDirArg!).config : undefined;
  if (resume && !saved && !args.options.has('env'))
    throw new Error(
      `cannot resume '${runDirArg}': it holds no run (no config.json); ` + `to start one there, --env is required (with --dataset FILE)`,
    );
  if (saved) {
    // A resumed run trains on what it started on: repeating a setting is fine, changing it is not.
    for (const [key, was] of [
      ['env', saved.env],
      ['dataset', saved.dataset],
      ['agent', saved.agent],
      ['preset', saved.preset],
    ] as const) {
      const given = optString(args, key);
      const same = given === undefined || given === was || (key === 'dataset' && normalize(given) === normalize(was));
      if (!same)
        throw new Error(
          `cannot resume '${runDirArg}' with --${key} ${given}: the run was started with --${key} ${was}, ` +
            `and a resumed run trains on what it started on; start a new run (another --run-dir) instead`,
        );
    }
  }
  const agent = (optString(args, 'agent') ?? saved?.agent ?? 'hiql') as AgentName;
  if (!AGENT_NAMES.includes(agent)) throw new RangeError(`--agent must be one of ${AGENT_NAMES.join(', ')}, got '${agent}'`);
  const fixed = ['env', 'dataset', 'agent', 'preset', 'run-dir', 'resume', 'help'];
  const configKeys = [...Object.keys(TRAINER_DEFAULTS), ...Object.keys(AGENTS[agent].defaults)];
  const overrides: Record<string, unknown> = saved ? { ...saved.trainer, ...saved.agentConfig } : {};
  for (const [k, v] of args.options) {
    if (fixed.includes(k)) continue;
    const key = kebabToCamel(k);
    if (!configKeys.includes(key)) {
      throw new RangeError(
        `unknown option --${k}; valid options: ${fixed.map((f) => '--' + f).join(', ')}, and config keys ${configKeys.join(', ')}`,
      );
    }
    const dflt = { ...TRAINER_DEFAULTS, ...AGENTS[agent].defaults }[key as 'steps'];
    if (v === true && typeof dflt !== 'boolean') throw new RangeError(`--${k} needs a value`);
    if (saved && !(key in TRAINER_DEFAULTS) && String(v) !== String(overrides[key])) {
      throw new RangeError(
        `--${k} changes the agent of the run being resumed in '${runDirArg}'; ` +
          `only trainer keys (${Object.keys(TRAINER_DEFAULTS).join(', ')}) may change on --resume`,
      );
    }
    overrides[key] = v === true ? 'true' : v;
  }
  const env = saved?.env ?? requireString(args, 'env', 'train');
  parseEnvName(env);
  const dataset = saved?.dataset ?? optString(args, 'dataset') ?? `data/${env}.npz`;
  const runDir = runDirArg ?? `runs/${env}-${agent}`;
  const cfg = resolveConfig({ agent, preset: optString(args, 'preset') ?? saved?.preset ?? 'quick', env, dataset, overrides });
  return { cfg, runDir, resume };
}

export async function runTrain(argv: string[]): Promise<number> {
  if (wantsHelp(argv)) {
    console.log(TRAIN_HELP);
    return 0;
  }
  const { cfg, runDir, resume } = trainConfigFromArgs(argv);
  const t = cfg.trainer;
  console.error(
    `training ${cfg.agent} (${cfg.preset} preset) on ${cfg.env} from ${cfg.dataset}: ${t.steps} steps, ` +
      `batch ${cfg.agentConfig.batchSize}, ${t.seeds > 1 ? `seeds ${t.seed} to ${t.seed + t.seeds - 1}` : `seed ${t.seed}`} -> ${runDir}`,
  );
  const shown = SHOWN[cfg.agent];
  const bar = progress({ label: 'step', total: t.steps });
  const result = await train(cfg, runDir, {
    resume,
    cb: {
      onInfo: (m) => bar.log(m),
      onLog: (e) => {
        const text = shown.map(([k, label]) => `${label} ${e.metrics[k]?.toFixed(3) ?? '?'}`).join('  ');
        bar.update({ step: e.step, stepsPerSec: e.stepsPerSec, etaSec: e.etaSec, text });
      },
      onEval: (step, r) => {
        const tasks = r.tasks.map((x) => `task${x.task} ${(100 * x.success).toFixed(0)}%`).join(', ');
        const each = r.seeds ? `  seeds: ${r.seeds.map((x) => `${(100 * x.success).toFixed(0)}%`).join(', ')}` : '';
        bar.log(`eval @ ${step}: success ${formatSuccess(r)}  [${tasks}]${each}`);
      },
    },
  }).finally(() => bar.stop());
  if (result.startStep === result.steps) {
    console.error(`done: nothing to train, '${runDir}' is at step ${result.steps}`);
    return 0;
  }
  const from = result.startStep > 0 ? ` (from step ${result.startStep})` : '';
  console.error(
    `done: ${result.steps} steps${from} at ${result.stepsPerSec.toFixed(1)} steps/s; ` +
      `run folder ${runDir} (curves.svg, metrics.jsonl, eval.jsonl, checkpoint.bin)`,
  );
  if (result.finalEval)
    console.log(
      JSON.stringify({
        run: runDir,
        step: result.steps,
        success: result.finalEval.success,
        tasks: result.finalEval.tasks,
        ...(result.finalEval.seeds ? { successStd: result.finalEval.successStd, seeds: result.finalEval.seeds.map((x) => x.success) } : {}),
      }),
    );
  return 0;
}
