// A run's result under OGBench's protocol (docs/spec.md section 7): each seed's score is the mean
// success of its last three evaluations, and the run reports the mean +- standard deviation of those
// scores over its seeds (`hiql train --seeds N`), next to OGBench's published figure. `hiql results`
// prints these as the rows of docs/results.md's tables, each with the command that trains it.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { AGENT_NAMES, type AgentName } from './agents/index.ts';
import { resolveConfig } from './config.ts';
import { EVAL_FILE, readRunInfo, runSeeds, type RunInfo } from './run-folder.ts';
import { meanStd } from './seeds.ts';

/**
 * OGBench's published success (%, mean and std over 8 seeds, 1M steps at 3 x 512 / batch 1024),
 * docs/spec.md section 7, for the PointMaze datasets.
 */
export const PUBLISHED: Readonly<Record<string, Readonly<Record<AgentName, readonly [number, number]>>>> = {
  'pointmaze-medium-navigate': { gcbc: [9, 6], gcivl: [63, 6], gciql: [53, 8], qrl: [82, 5], crl: [29, 7], hiql: [79, 5] },
  'pointmaze-large-navigate': { gcbc: [29, 6], gcivl: [45, 5], gciql: [34, 3], qrl: [86, 9], crl: [39, 7], hiql: [58, 5] },
  'pointmaze-giant-navigate': { gcbc: [1, 2], gcivl: [0, 0], gciql: [0, 0], qrl: [68, 7], crl: [27, 10], hiql: [46, 9] },
  'pointmaze-medium-stitch': { gcbc: [23, 18], gcivl: [70, 14], gciql: [21, 9], qrl: [80, 12], crl: [0, 1], hiql: [74, 6] },
  'pointmaze-large-stitch': { gcbc: [7, 5], gcivl: [12, 6], gciql: [31, 2], qrl: [84, 15], crl: [0, 0], hiql: [13, 6] },
  'pointmaze-giant-stitch': { gcbc: [0, 0], gcivl: [0, 0], gciql: [0, 0], qrl: [50, 8], crl: [0, 0], hiql: [0, 0] },
};

export interface RunResult {
  runDir: string;
  env: string;
  agent: AgentName;
  preset: string;
  /** The steps of the evaluations averaged, oldest first. */
  steps: number[];
  /** The steps the run is configured to train (more than the last evaluation's while it runs). */
  target: number;
  /** How many evaluations the protocol asks for; `steps.length` is smaller while a run is young. */
  wanted: number;
  /** Each seed's score (mean success of its last evaluations, 0-1), the run's first seed first. */
  perSeed: number[];
  /** Each seed's number (`--seed` + k), as perSeed; absent in rows saved without it. */
  seedIds?: number[];
  /** Each seed's last evaluation alone, as perSeed; absent in rows saved without it. */
  lastPerSeed?: number[];
  mean: number;
  /** Standard deviation over seeds (population, as OGBench's np.std; 0 for one seed). */
  std: number;
  /** The last evaluation alone: mean and std over seeds (0-1), to read beside the window's mean. */
  last: { mean: number; std: number };
  /** Episodes per task at each evaluation. */
  episodesPerTask: number;
  published?: readonly [number, number];
  /**
   * The command that trains the run again from scratch; a row merged from one run folder per seed
   * (mergeSeeds) has one line per folder, and its runDir names them joined by ' + '.
   */
  command: string;
}

interface EvalRow {
  step: number;
  success: number;
  episodesPerTask: number;
  seeds?: { success: number }[];
}

/** eval.jsonl's rows, the last one kept where a step appears twice; a bad line is refused by number. */
export function readEvalRows(runDir: string): EvalRow[] {
  const path = join(runDir, EVAL_FILE);
  if (!existsSync(path)) return [];
  const byStep = new Map<number, EvalRow>();
  readFileSync(path, 'utf8')
    .split('\n')
    .forEach((line, i) => {
      if (!line.trim()) return;
      let row: EvalRow;
      try {
        row = JSON.parse(line) as EvalRow;
      } catch (e) {
        throw new Error(`${path}, line ${i + 1}: not a JSON evaluation row (${(e as Error).message})`, { cause: e });
      }
      if (typeof row?.step !== 'number' || typeof row.success !== 'number')
        throw new Error(`${path}, line ${i + 1}: expected an evaluation row with numbers 'step' and 'success'`);
      byStep.set(row.step, row);
    });
  return [...byStep.values()].sort((a, b) => a.step - b.step);
}

/** The flags that train `info`'s run again: its env, dataset, agent, preset, trainer keys and config overrides. */
export function trainCommand(info: RunInfo, runDir: string): string {
  const c = info.config;
  const t = c.trainer;
  const flags = [
    `--env ${c.env}`,
    `--dataset ${c.dataset}`,
    `--agent ${c.agent}`,
    `--preset ${c.preset}`,
    `--steps ${t.steps}`,
    ...(t.seed !== 0 ? [`--seed ${t.seed}`] : []),
    ...(t.seeds > 1 ? [`--seeds ${t.seeds}`] : []),
    `--eval-every ${t.evalEvery}`,
    `--eval-episodes ${t.evalEpisodes}`,
    ...(t.actionFraction !== 1 ? [`--action-fraction ${t.actionFraction}`] : []),
    ...(t.labelledOnly ? ['--labelledOnly true'] : []),
  ];
  // Agent keys that differ from what the preset gives on this env.
  const base = resolveConfig({ agent: c.agent, preset: c.preset, env: c.env, dataset: c.dataset }).agentConfig as Record<string, unknown>;
  for (const [k, v] of Object.entries(c.agentConfig as Record<string, unknown>))
    if (JSON.stringify(base[k]) !== JSON.stringify(v)) flags.push(`--${k} ${Array.isArray(v) ? v.join(',') : String(v)}`);
  return `npx hiql train ${flags.join(' ')} --run-dir ${runDir}`;
}

/** The run's result over its last `last` evaluations (fewer while it has fewer; none refused). */
export function runResult(runDir: string, last = 3): RunResult {
  if (!Number.isInteger(last) || last < 1) throw new RangeError(`last must be a positive integer, got ${last}`);
  const info = readRunInfo(runDir);
  const rows = readEvalRows(runDir).slice(-last);
  if (rows.length === 0) throw new Error(`'${runDir}' has no evaluations yet (${EVAL_FILE} is missing or empty)`);
  const seeds = info.config.trainer.seeds ?? 1;
  const perSeed = Array.from({ length: seeds }, (_, k) => {
    const xs = rows.map((r) => {
      const v = seeds > 1 ? r.seeds?.[k]?.success : r.success;
      if (typeof v !== 'number')
        throw new Error(`${join(runDir, EVAL_FILE)}: the evaluation at step ${r.step} has no success for seed ${k} of ${seeds}`);
      return v;
    });
    return xs.reduce((a, b) => a + b, 0) / xs.length;
  });
  const { mean, std } = meanStd(perSeed);
  const final = rows[rows.length - 1]!;
  const lastPerSeed = seeds > 1 ? final.seeds!.map((x) => x.success) : [final.success];
  const lastEval = meanStd(lastPerSeed);
  const published = PUBLISHED[info.config.env]?.[info.config.agent];
  return {
    runDir,
    env: info.config.env,
    agent: info.config.agent,
    preset: info.config.preset,
    steps: rows.map((r) => r.step),
    target: info.config.trainer.steps,
    wanted: last,
    perSeed,
    seedIds: runSeeds(info),
    lastPerSeed,
    mean,
    std,
    last: lastEval,
    episodesPerTask: final.episodesPerTask,
    ...(published ? { published } : {}),
    command: trainCommand(info, runDir),
  };
}

const pct = (x: number) => (100 * x).toFixed(1);

/** A markdown table of results, one row per run, then the command behind each row. */
export function resultsTable(results: readonly RunResult[]): string {
  const head =
    '| dataset | agent | evaluations (steps) | seeds | success, mean +- std | per seed | last evaluation | ' +
    'OGBench (1M steps, 8 seeds) |\n' +
    '|---|---|---|---|---|---|---|---|';
  const rows = results.map((r) => {
    const young = r.steps.length < r.wanted ? ` (${r.steps.length} of ${r.wanted})` : '';
    const at = r.steps[r.steps.length - 1]!;
    const running = at < r.target ? ` (still training: ${at.toLocaleString('en-US')} of ${r.target.toLocaleString('en-US')} steps)` : '';
    const evals = `${r.steps.map((s) => s.toLocaleString('en-US')).join(', ')}${young}${running}`;
    const pub = r.published ? `${r.published[0]} +- ${r.published[1]}` : '';
    const success = `**${pct(r.mean)} +- ${pct(r.std)}**`;
    const cells = [
      r.env,
      r.agent,
      evals,
      r.perSeed.length,
      success,
      r.perSeed.map(pct).join(' / '),
      `${pct(r.last.mean)} +- ${pct(r.last.std)}`,
      pub,
    ];
    return `| ${cells.join(' | ')} |`;
  });
  const commands = results.map(
    (r) =>
      `- ${r.env} ${r.agent}: ${r.command
        .split('\n')
        .map((c) => `\`${c}\``)
        .join('; ')}`,
  );
  return `${head}\n${rows.join('\n')}\n\n${commands.join('\n')}`;
}

/**
 * Saved results (`hiql results --save FILE`): the rows as JSON, read back by `hiql results FILE` in
 * place of run folders that are gone (run folders are not kept in git; docs/results.json is), beside
 * run folders that still exist. mean and std are checked against the seeds' scores they summarise, and
 * the published figure is looked up again, so an edited or damaged file is refused rather than shown.
 */
export const RESULTS_KIND = 'hiql-results';
export const RESULTS_VERSION = 1;

export function resultsJson(results: readonly RunResult[]): string {
  return `${JSON.stringify({ kind: RESULTS_KIND, version: RESULTS_VERSION, rows: results }, null, 2)}\n`;
}

export function readSavedResults(path: string): RunResult[] {
  let doc: unknown;
  try {
    doc = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new Error(`${path}: not a saved results file (hiql results --save): ${(e as Error).message}`, { cause: e });
  }
  const top = doc as { kind?: unknown; version?: unknown; rows?: unknown };
  if (typeof doc !== 'object' || doc === null || top.kind !== RESULTS_KIND)
    throw new Error(`${path}: expected a saved results file with kind '${RESULTS_KIND}', got kind ${JSON.stringify(top?.kind)}`);
  if (top.version !== RESULTS_VERSION)
    throw new Error(`${path}: saved results version ${JSON.stringify(top.version)}; this hiql reads version ${RESULTS_VERSION}`);
  if (!Array.isArray(top.rows)) throw new Error(`${path}: expected 'rows' to be an array, got ${typeof top.rows}`);
  return top.rows.map((row: unknown, i) => checkSavedRow(row, `${path}, row ${i + 1}`));
}

function checkSavedRow(row: unknown, where: string): RunResult {
  if (typeof row !== 'object' || row === null) throw new Error(`${where}: expected an object, got ${JSON.stringify(row)}`);
  const r = row as Record<string, unknown>;
  const fail = (key: string, want: string): never => {
    throw new Error(`${where}: expected '${key}' to be ${want}, got ${JSON.stringify(r[key])}`);
  };
  const str = (key: string) => (typeof r[key] === 'string' && r[key] !== '' ? (r[key] as string) : fail(key, 'a non-empty string'));
  const posInt = (key: string) =>
    Number.isInteger(r[key]) && (r[key] as number) > 0 ? (r[key] as number) : fail(key, 'a positive integer');
  const frac = (v: unknown) => typeof v === 'number' && v >= 0 && v <= 1;
  const agent = str('agent') as AgentName;
  if (!AGENT_NAMES.includes(agent)) fail('agent', `one of ${AGENT_NAMES.join(', ')}`);
  const env = str('env');
  const wanted = posInt('wanted');
  const target = posInt('target');
  const episodesPerTask = posInt('episodesPerTask');
  const steps = r['steps'];
  if (
    !Array.isArray(steps) ||
    steps.length === 0 ||
    steps.length > wanted ||
    !steps.every((s, k) => Number.isInteger(s) && s > 0 && (k === 0 || s > steps[k - 1]))
  )
    fail('steps', `1 to ${wanted} increasing positive integers (the evaluations averaged)`);
  const perSeed = r['perSeed'];
  if (!Array.isArray(perSeed) || perSeed.length === 0 || !perSeed.every(frac))
    fail('perSeed', 'a non-empty array of success rates in [0, 1]');
  const { mean, std } = meanStd(perSeed as number[]);
  for (const [key, v] of [
    ['mean', mean],
    ['std', std],
  ] as const)
    if (typeof r[key] !== 'number' || Math.abs((r[key] as number) - v) > 1e-9)
      throw new Error(`${where}: '${key}' is ${JSON.stringify(r[key])}, but its seeds' scores ${JSON.stringify(perSeed)} give ${v}`);
  const last = r['last'] as { mean?: unknown; std?: unknown } | undefined;
  if (typeof last !== 'object' || last === null || !frac(last.mean) || !frac(last.std))
    fail('last', 'an object { mean, std } of rates in [0, 1]');
  const n = (perSeed as number[]).length;
  const seedIds = r['seedIds'];
  if (
    seedIds !== undefined &&
    (!Array.isArray(seedIds) || seedIds.length !== n || !seedIds.every((k) => Number.isInteger(k) && k >= 0) || new Set(seedIds).size !== n)
  )
    fail('seedIds', `absent or ${n} distinct seed numbers, one per score`);
  const lastPerSeed = r['lastPerSeed'];
  if (lastPerSeed !== undefined) {
    if (!Array.isArray(lastPerSeed) || lastPerSeed.length !== n || !lastPerSeed.every(frac))
      fail('lastPerSeed', `absent or ${n} success rates in [0, 1], one per score`);
    const l = meanStd(lastPerSeed as number[]);
    if (Math.abs(l.mean - (last!.mean as number)) > 1e-9 || Math.abs(l.std - (last!.std as number)) > 1e-9)
      throw new Error(
        `${where}: 'last' is ${JSON.stringify(last)}, but 'lastPerSeed' ${JSON.stringify(lastPerSeed)} gives ${JSON.stringify(l)}`,
      );
  }
  const published = PUBLISHED[env]?.[agent];
  return {
    runDir: str('runDir'),
    env,
    agent,
    preset: str('preset'),
    steps: steps as number[],
    target,
    wanted,
    perSeed: perSeed as number[],
    ...(seedIds !== undefined ? { seedIds: seedIds as number[] } : {}),
    ...(lastPerSeed !== undefined ? { lastPerSeed: lastPerSeed as number[] } : {}),
    mean,
    std,
    last: { mean: last!.mean as number, std: last!.std as number },
    episodesPerTask,
    ...(published ? { published } : {}),
    command: str('command'),
  };
}

/**
 * Rows from several sources in argument order; a row for a run folder already shown (same runDir)
 * replaces it in place, so `hiql results docs/results.json runs/results/X` shows X's folder as it is now.
 */
export function mergeResults(lists: readonly (readonly RunResult[])[]): RunResult[] {
  const out: RunResult[] = [];
  const at = new Map<string, number>();
  for (const r of lists.flat()) {
    const k = at.get(r.runDir);
    if (k === undefined) {
      at.set(r.runDir, out.length);
      out.push(r);
    } else out[k] = r;
  }
  return out;
}

/** What makes two rows the same experiment but for their seeds: all of the command but --seed, --seeds, --run-dir. */
function experimentKey(r: RunResult): string {
  // A merged row's command has a line per folder; they differ only in those flags.
  const flags = r.command.split('\n')[0]!.replace(/ --(seed|seeds|run-dir) \S+/g, '');
  return JSON.stringify([r.env, r.agent, r.preset, r.steps, r.target, r.wanted, r.episodesPerTask, flags]);
}

/**
 * One row per experiment: rows of the same configuration trained seed by seed in separate run folders
 * (`hiql train --seed K`, which trains what seed K of `--seeds N` trains) become one row over all
 * their seeds, at the first one's place, seeds in ascending order. Rows whose seeds overlap, or saved
 * without their seeds' numbers and last evaluations, are left as they are; `notes` says why.
 */
export function mergeSeeds(results: readonly RunResult[], notes: string[] = []): RunResult[] {
  const groups = new Map<string, RunResult[]>();
  for (const r of results) {
    const k = experimentKey(r);
    groups.set(k, [...(groups.get(k) ?? []), r]);
  }
  const out: RunResult[] = [];
  const done = new Set<string>();
  for (const r of results) {
    const k = experimentKey(r);
    const group = groups.get(k)!;
    if (group.length === 1) {
      out.push(r);
      continue;
    }
    if (done.has(k)) continue;
    const ids = group.flatMap((g) => g.seedIds ?? []);
    const complete = group.every((g) => g.seedIds && g.lastPerSeed);
    if (!complete || new Set(ids).size !== ids.length) {
      // Each of the group's rows is kept; the note is said once, at the first.
      if (group[0] === r)
        notes.push(
          `${group.map((g) => g.runDir).join(', ')}: the same experiment, not merged: ` +
            (complete ? `their seeds overlap (${ids.join(', ')})` : "a row saved without its seeds' numbers and last evaluations"),
        );
      out.push(r);
      continue;
    }
    done.add(k);
    const seeds = group
      .flatMap((g) => g.perSeed.map((score, i) => ({ id: g.seedIds![i]!, score, last: g.lastPerSeed![i]! })))
      .sort((a, b) => a.id - b.id);
    const perSeed = seeds.map((x) => x.score);
    const lastPerSeed = seeds.map((x) => x.last);
    out.push({
      ...r,
      runDir: group.map((g) => g.runDir).join(' + '),
      perSeed,
      seedIds: seeds.map((x) => x.id),
      lastPerSeed,
      ...meanStd(perSeed),
      last: meanStd(lastPerSeed),
      command: group.map((g) => g.command).join('\n'),
    });
  }
  return out;
}
