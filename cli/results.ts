// `hiql results`: runs' results under OGBench's protocol (mean of the last three evaluations per
// seed, mean +- std over seeds) as a markdown table beside the published figures, with the command
// behind each row. The arithmetic is train/results.ts.
import { writeFileAtomic } from '../onnx/index.ts';
import { resultsSvg } from '../train/plot.ts';
import { resultsTable, runResult } from '../train/results.ts';
import { optInt, optString, parseArgs, rejectUnknown, wantsHelp } from './args.ts';

const RESULTS_HELP = `hiql results RUN_DIR... [--last 3] [--json] [--svg FILE]

Prints one table row per run folder: each seed's score is the mean success of its last evaluations
(--last, 3 as in OGBench's protocol), the row gives their mean +- std over the run's seeds (hiql
train --seeds N), each seed's score, OGBench's published figure for the dataset and agent, and
below the table the command that trains the run again. A young run with fewer evaluations is shown
with how many it has. --json prints the rows as JSON instead. --svg FILE also draws them as a bar
chart, a panel per dataset: each agent's mean (a whisker of +- std, a dot per seed) beside OGBench's.`;

export async function run(argv: string[]): Promise<number> {
  if (wantsHelp(argv)) {
    console.log(RESULTS_HELP);
    return 0;
  }
  const args = parseArgs(argv);
  rejectUnknown(args, ['last', 'json', 'svg'], 'results');
  if (args.positionals.length === 0) throw new RangeError('hiql results: give one or more run folders, e.g. hiql results runs/*');
  const last = optInt(args, 'last', 1) ?? 3;
  const svg = optString(args, 'svg');
  const results = args.positionals.map((dir) => runResult(dir, last));
  if (svg !== undefined) {
    writeFileAtomic(svg, new TextEncoder().encode(resultsSvg(results)));
    console.error(`wrote ${svg}`);
  }
  console.log(args.options.has('json') ? JSON.stringify(results, null, 2) : resultsTable(results));
  return 0;
}
