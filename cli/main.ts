// The `hiql` command: a thin dispatcher. Each subcommand lives in its own module and exports
// `run(argv): Promise<number>`; logic lives in library functions that tests call directly.
import { fsErrorReason } from '../onnx/checkpoint.ts';

const HELP = `hiql: train, export and evaluate HIQL goal-reaching policies (no Python)

Usage:
  hiql quickstart [--env pointmaze-medium-navigate] [--steps 50000]   generate, train (quick), export, evaluate
  hiql data generate --env pointmaze-medium-navigate --out data/pointmaze-medium-navigate.npz
                     [--episodes N] [--seed S]
  hiql data info FILE
  hiql data render --env ENV --dataset FILE --out maze.png
  hiql train --env ENV --dataset FILE --agent hiql|gcivl|gcbc|gciql|crl|qrl --preset quick|ogbench|paper
             --steps N --run-dir runs/NAME
  hiql eval runs/NAME [--episodes 50]
  hiql results runs/NAME... [--last 3]     mean of the last 3 evaluations, mean +- std over seeds
  hiql export runs/NAME --out models/NAME.onnx

Run 'hiql <command> --help' for a command's options.`;

type Command = (argv: string[]) => Promise<number>;

const COMMANDS: Record<string, () => Promise<Command>> = {
  quickstart: async () => (await import('./quickstart.ts')).run,
  data: async () => (await import('./data.ts')).run,
  train: async () => (await import('./train.ts')).runTrain,
  eval: async () => (await import('./eval.ts')).runEval,
  results: async () => (await import('./results.ts')).run,
  export: async () => (await import('./export.ts')).run,
};

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (cmd === undefined || cmd === '--help' || cmd === '-h' || cmd === 'help') {
    console.log(HELP);
    return 0;
  }
  const load = COMMANDS[cmd];
  if (!load) {
    console.error(`hiql: unknown command '${cmd}'. Commands: ${Object.keys(COMMANDS).join(', ')}\n\n${HELP}`);
    return 2;
  }
  try {
    return await (
      await load()
    )(rest);
  } catch (e) {
    if (process.env['HIQL_DEBUG']) throw e;
    // A message that already names its command ('hiql export: ...') is not prefixed a second time.
    const message = describeError(e);
    console.error(message.startsWith(`hiql ${cmd}`) ? message : `hiql ${cmd}: ${message}`);
    return 1;
  }
}

const VERBS: Record<string, string> = {
  mkdir: 'create the folder',
  open: 'open',
  read: 'read',
  write: 'write',
  rename: 'write',
  unlink: 'remove',
  scandir: 'list',
  stat: 'find',
  lstat: 'find',
};

/**
 * An error as one line for the user. A raw system error that got this far (EISDIR with no path,
 * "EEXIST: file already exists, mkdir 'x'") is put in words: what could not be done, to which
 * path, and why.
 */
export function describeError(e: unknown): string {
  if (!(e instanceof Error)) return String(e);
  const sys = e as Error & { code?: unknown; syscall?: unknown; path?: unknown };
  if (typeof sys.code === 'string' && /^E[A-Z]+$/.test(sys.code) && e.message.startsWith(`${sys.code}:`)) {
    const verb = typeof sys.syscall === 'string' ? (VERBS[sys.syscall] ?? sys.syscall) : 'access';
    const path = typeof sys.path === 'string' ? ` '${sys.path}'` : ' a file';
    return `cannot ${verb}${path}: ${fsErrorReason(e)}`;
  }
  return e.message;
}
