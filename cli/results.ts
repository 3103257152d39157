// `hiql results`: runs' results under OGBench's protocol (mean of the last three evaluations per
// seed, mean +- std over seeds) as a markdown table beside the published figures, with the command
// behind each row. The arithmetic is train/results.ts.
import { statSync } from 'node:fs';
import { resolve } from 'node:path';
import { writeFileAtomic } from '../onnx/index.ts';
import { resultsSvg } from '../train/plot.ts';
import { mergeResults, mergeSeeds, readSavedResults, resultsJson, resultsTable, runResult } from '../train/results.ts';
import { checkOutputName, optFlag, optInt, optString, parseArgs, rejectUnknown, wantsHelp } from './args.ts';

const RESULTS_HELP = `hiql results RUN_DIR|SAVED.json... [--last 3] [--json] [--svg FILE] [--save FILE [--force]]

Prints one table row per run folder: each seed's score is the mean success of its last evaluations
(--last, 3 as in OGBench's protocol), the row gives their mean +- std over the run's seeds (hiql
train --seeds N), each seed's score, OGBench's published figure for the dataset and agent, and
below the table the command that trains the run again. A young run with fewer evaluations is shown
with how many it has. --json prints the rows as JSON instead. --svg FILE also draws them as a bar
chart, a panel per dataset: each agent's mean (a whisker of +- std, a dot per seed) beside OGBench's.
--save FILE writes the rows to FILE (JSON, atomically); a .json file given in place of a run folder
is read back as the rows it holds, so a table outlives its run folders (docs/results.json). A run
folder given after a saved row of the same folder replaces that row. An existing --save FILE must
be among the inputs (its rows are then kept, or replaced by newer ones); otherwise it is kept
unless --force. Run folders that train the same
configuration seed by seed (hiql train --seed K, what seed K of --seeds N trains) make one row over all
their seeds.`;

export async function run(argv: string[]): Promise<number> {
  if (wantsHelp(argv)) {
    console.log(RESULTS_HELP);
    return 0;
  }
  const args = parseArgs(argv);
  rejectUnknown(args, ['last', 'json', 'svg', 'save', 'force'], 'results');
  const force = optFlag(args, 'force', 'results');
  if (args.positionals.length === 0) throw new RangeError('hiql results: give one or more run folders, e.g. hiql results runs/*');
  const lastGiven = optInt(args, 'last', 1);
  const last = lastGiven ?? 3;
  const svg = optString(args, 'svg');
  const save = optString(args, 'save');
  if (svg !== undefined) checkOutputName(svg, 'svg', '.svg', 'an SVG picture', 'results');
  // Only a .json input is read back as saved rows, so the rows are saved under that name.
  if (save !== undefined) checkOutputName(save, 'save', '.json', 'JSON rows', 'results');
  if (save !== undefined) keepSavedRows(save, args.positionals, force);
  const rows = mergeResults(
    args.positionals.map((p) => {
      if (!(p.endsWith('.json') && statSync(p, { throwIfNoEntry: false })?.isFile())) return [runResult(p, last)];
      const saved = readSavedResults(p);
      const other = saved.find((r) => r.wanted !== last);
      if (lastGiven !== undefined && other)
        throw new RangeError(
          `${p}: its row for ${other.runDir} was saved over the last ${other.wanted} evaluations; --last ${last} cannot be applied to it`,
        );
      return saved;
    }),
  );
  const notes: string[] = [];
  // Rows of one dataset together, datasets in the order they first appear (as the chart's panels).
  const merged = mergeSeeds(rows, notes);
  const envs = [...new Set(merged.map((r) => r.env))];
  const results = envs.flatMap((env) => merged.filter((r) => r.env === env));
  for (const n of notes) console.error(n);
  if (save !== undefined) {
    writeFileAtomic(save, new TextEncoder().encode(resultsJson(results)));
    console.error(`wrote ${save} (${results.length} rows)`);
  }
  if (svg !== undefined) {
    writeFileAtomic(svg, new TextEncoder().encode(resultsSvg(results)));
    console.error(`wrote ${svg}`);
  }
  console.log(args.options.has('json') ? JSON.stringify(results, null, 2) : resultsTable(results));
  return 0;
}

/**
 * An existing --save file holds rows that may have outlived their run folders: it is replaced only
 * when it is one of the inputs (its rows are part of what is written) or with --force. Checked before
 * any run folder is read.
 */
function keepSavedRows(save: string, inputs: readonly string[], force: boolean): void {
  const st = statSync(save, { throwIfNoEntry: false });
  if (!st) return;
  if (!st.isFile()) throw new RangeError(`hiql results: --save '${save}' is not a file`);
  if (force || inputs.some((p) => resolve(p) === resolve(save))) return;
  let held: string;
  try {
    const n = readSavedResults(save).length;
    held = `${n} saved row${n === 1 ? '' : 's'}`;
  } catch {
    held = 'a file that is not a saved results file';
  }
  throw new Error(
    `hiql results: --save '${save}' already holds ${held}, which these inputs do not include; it is kept. ` +
      `Give it as an input to add to it (hiql results ${save} RUN... --save ${save}), or pass --force to replace it`,
  );
}
