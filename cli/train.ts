// `hiql train`: resolve the run's config from the command line, train, print progress.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { AGENTS, AGENT_NAMES, type AgentName } from '../train/agents/index.ts';
import { TRAINER_DEFAULTS, resolveConfig, type RunConfig } from '../train/config.ts';
import { readRunInfo } from '../train/run-folder.ts';
import { train } from '../train/trainer.ts';
import { optString, parseArgs, requireString } from './args.ts';
import { progress } from './progress.ts';

const TRAIN_HELP = `hiql train --env ENV --dataset FILE [--agent hiql|gcivl|gcbc] [--preset quick|ogbench|paper]
           [--steps N] [--run-dir runs/NAME] [--seed S] [--action-fraction F] [--device cpu|webgpu|cuda]
           [--<configKey> VALUE ...]
       hiql train --run-dir runs/NAME --resume [--steps N] [--<trainerKey> VALUE ...]

Trains an agent on an offline dataset. The run folder receives config.json, metrics.jsonl,
eval.jsonl, checkpoint.bin and curves.svg. Any agent or trainer config key can be overridden,
e.g. --batchSize 512 --valueHiddenDims 256,256,256 --evalEvery 5000 (unknown keys are rejected).
With --resume, the run continues exactly from its checkpoint under its saved config; only
trainer keys (--steps, --eval-every, --threads, ...) may be given again.`;

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
};

/**
 * The run configuration from the command line. With --resume and a run folder that holds a run,
 * the saved config is the base (env, dataset, agent, preset and architecture need not be repeated);
 * trainer keys (--steps, --eval-every, --threads, ...) may change, agent keys may not.
 */
export function trainConfigFromArgs(argv: string[]): { cfg: RunConfig; runDir: string; resume: boolean } {
  const args = parseArgs(argv);
  const resume = args.options.has('resume');
  const runDirArg = optString(args, 'run-dir');
  const saved = resume && runDirArg !== undefined && existsSync(join(runDirArg, 'config.json')) ? readRunInfo(runDirArg).config : undefined;
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
    if (saved && !(key in TRAINER_DEFAULTS)) {
      throw new RangeError(
        `--${k} changes the agent of the run being resumed in '${runDirArg}'; only trainer keys (${Object.keys(TRAINER_DEFAULTS).join(', ')}) may change on --resume`,
      );
    }
    const dflt = { ...TRAINER_DEFAULTS, ...AGENTS[agent].defaults }[key as 'steps'];
    if (v === true && typeof dflt !== 'boolean') throw new RangeError(`--${k} needs a value`);
    overrides[key] = v === true ? 'true' : v;
  }
  const env = saved && !args.options.has('env') ? saved.env : requireString(args, 'env', 'train');
  const dataset = optString(args, 'dataset') ?? (saved && env === saved.env ? saved.dataset : `data/${env}.npz`);
  const runDir = runDirArg ?? `runs/${env}-${agent}`;
  const cfg = resolveConfig({ agent, preset: optString(args, 'preset') ?? saved?.preset ?? 'quick', env, dataset, overrides });
  return { cfg, runDir, resume };
}

export async function runTrain(argv: string[]): Promise<number> {
  if (argv.includes('--help')) {
    console.log(TRAIN_HELP);
    return 0;
  }
  const { cfg, runDir, resume } = trainConfigFromArgs(argv);
  const t = cfg.trainer;
  console.error(
    `training ${cfg.agent} (${cfg.preset} preset) on ${cfg.env} from ${cfg.dataset}: ${t.steps} steps, batch ${cfg.agentConfig.batchSize}, seed ${t.seed} -> ${runDir}`,
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
        bar.log(`eval @ ${step}: success ${(100 * r.success).toFixed(1)}%  [${tasks}]`);
      },
    },
  }).finally(() => bar.stop());
  console.error(
    `done: ${result.steps} steps at ${result.stepsPerSec.toFixed(1)} steps/s; run folder ${runDir} (curves.svg, metrics.jsonl, eval.jsonl, checkpoint.bin)`,
  );
  if (result.finalEval)
    console.log(JSON.stringify({ run: runDir, step: result.steps, success: result.finalEval.success, tasks: result.finalEval.tasks }));
  return 0;
}
