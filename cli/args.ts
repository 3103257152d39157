// A small command-line parser: `--key value`, `--key=value`, `--flag`, and positionals.
// Values stay strings; each command converts and validates the keys it knows and rejects the rest.

export interface ParsedArgs {
  positionals: string[];
  options: Map<string, string | true>;
}

export function parseArgs(argv: readonly string[]): ParsedArgs {
  const positionals: string[] = [];
  const options = new Map<string, string | true>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      if (eq >= 0) {
        options.set(a.slice(2, eq), a.slice(eq + 1));
      } else {
        const next = argv[i + 1];
        if (next !== undefined && !next.startsWith('--')) {
          options.set(a.slice(2), next);
          i++;
        } else {
          options.set(a.slice(2), true);
        }
      }
    } else {
      positionals.push(a);
    }
  }
  return { positionals, options };
}

/** Throws a RangeError naming any option not in `known`. */
export function rejectUnknown(args: ParsedArgs, known: readonly string[], command: string): void {
  for (const k of args.options.keys()) {
    if (!known.includes(k)) {
      const valid = known.map((x) => '--' + x).join(', ');
      throw new RangeError(`hiql ${command}: unknown option --${k}; valid options: ${valid}`);
    }
  }
}

export function optString(args: ParsedArgs, key: string): string | undefined {
  const v = args.options.get(key);
  if (v === true) throw new RangeError(`--${key} needs a value`);
  return v;
}

export function optNumber(args: ParsedArgs, key: string): number | undefined {
  const v = optString(args, key);
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n)) throw new RangeError(`--${key} expects a number, got '${v}'`);
  return n;
}

/** An integer option; with `min`, also at least `min`. */
export function optInt(args: ParsedArgs, key: string, min?: number): number | undefined {
  const n = optNumber(args, key);
  if (n !== undefined && !Number.isInteger(n)) throw new RangeError(`--${key} expects an integer, got '${n}'`);
  if (n !== undefined && min !== undefined && n < min)
    throw new RangeError(`--${key} must be ${min === 1 ? 'a positive integer' : `an integer >= ${min}`}, got ${n}`);
  return n;
}

/** Whether the command line asks for help (--help or -h anywhere before a '--'). */
export function wantsHelp(argv: readonly string[]): boolean {
  const end = argv.indexOf('--');
  return (end < 0 ? argv : argv.slice(0, end)).some((a) => a === '--help' || a === '-h');
}

export function requireString(args: ParsedArgs, key: string, command: string): string {
  const v = optString(args, key);
  if (v === undefined) throw new RangeError(`hiql ${command}: --${key} is required`);
  return v;
}

/** An output file name of the kind `--key` writes (`ext` such as '.png'); refused before any work otherwise. */
export function checkOutputName(path: string, key: string, ext: string, what: string, command: string): void {
  if (!path.endsWith(ext)) throw new RangeError(`hiql ${command}: --${key} writes ${what}: give a FILE${ext}, got '${path}'`);
}

/** A flag (`--force`): true when given; a value after it is refused (the parser reads `--flag X` as a value). */
export function optFlag(args: ParsedArgs, key: string, command: string): boolean {
  const v = args.options.get(key);
  if (v === undefined || v === true) return v === true;
  throw new RangeError(`hiql ${command}: --${key} takes no value (got '${v}'); put it after the positional arguments`);
}
