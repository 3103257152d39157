// Benchmark dispatcher: `npm run bench -- NAME [options]` runs `main(options)` of bench/NAME.ts.
// Every benchmark prints a readable table and, as its last line, one JSON object with its figures.
import { readdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Modules in bench/ that are helpers, not benchmarks. */
const HELPERS = new Set(['index', 'roof']);
const here = dirname(fileURLToPath(import.meta.url));
const names = readdirSync(here)
  .filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))
  .map((f) => f.slice(0, -3))
  .filter((n) => !HELPERS.has(n))
  .sort();

const [name, ...rest] = process.argv.slice(2);
if (!name || !names.includes(name)) {
  console.error(`${name ? `unknown benchmark '${name}'\n` : ''}usage: npm run bench -- NAME [options]\nbenchmarks: ${names.join(', ')}`);
  process.exit(name ? 1 : 0);
}
const mod = (await import(`./${name}.ts`)) as { main?: (argv: readonly string[]) => Promise<void> };
if (typeof mod.main !== 'function') throw new Error(`bench/${name}.ts does not export main(argv)`);
await mod.main(rest);
