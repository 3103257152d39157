// The layering of docs/design.md, checked on every source file: which top-level folders each folder
// may import. A forbidden import fails with the file, the specifier and the rule it breaks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { importSpecifiers } from './imports.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/**
 * Folder -> the project folders it may import (itself always); the longest listed prefix of a file's
 * path decides. Folders not listed (bench/, test/) may import anything.
 */
const MAY_IMPORT: Record<string, readonly string[]> = {
  rng: [],
  checksum: [],
  onnx: ['rng', 'checksum'],
  envs: ['rng', 'checksum'],
  train: ['onnx', 'envs', 'rng', 'checksum'],
  export: ['onnx', 'train', 'envs', 'rng', 'runtime'],
  runtime: [],
  cli: ['onnx', 'envs', 'rng', 'train', 'export', 'runtime'],
  // The page the browser runs; the demo's build and serve tooling (vite.config.ts, serve.ts) runs in
  // Node and may export a user's run folder on the fly.
  'demo/src': ['runtime', 'envs', 'rng'],
  demo: ['runtime', 'envs', 'rng', 'train', 'export', 'onnx'],
  examples: ['runtime', 'envs', 'rng'],
};
const PROJECT_FOLDERS = new Set([
  'rng',
  'checksum',
  'onnx',
  'envs',
  'train',
  'export',
  'runtime',
  'cli',
  'demo',
  'examples',
  'bench',
  'test',
  'models',
]);

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    if (name === 'node_modules' || name === 'dist' || name.startsWith('.')) return [];
    return statSync(p).isDirectory() ? sourceFiles(p) : /\.(ts|js)$/.test(name) ? [p] : [];
  });
}

/** Forbidden imports of one file (relative paths only: packages are the package.json's business). */
export function layeringProblems(file: string, text: string): string[] {
  const rel = relative(ROOT, file).split(sep).join('/');
  const from = rel.split('/')[0]!;
  const rule = Object.keys(MAY_IMPORT)
    .filter((k) => rel.startsWith(k + '/'))
    .sort((a, b) => b.length - a.length)[0];
  const allowed = rule === undefined ? undefined : MAY_IMPORT[rule];
  if (!allowed) return [];
  const problems: string[] = [];
  for (const { spec, kind } of importSpecifiers(text)) {
    if (spec === null || !(spec.startsWith('.') || spec.startsWith('/'))) continue;
    const target = relative(ROOT, resolve(dirname(file), spec))
      .split(sep)
      .join('/');
    const to = target.split('/')[0]!;
    if (to === from || to === '..' || !PROJECT_FOLDERS.has(to)) continue;
    if (!allowed.includes(to))
      problems.push(
        `${rel}: imports ${to}/ ('${spec}', ${kind}); ${rule}/ may import ${allowed.length ? allowed.join(', ') : 'no project folder'}`,
      );
  }
  return problems;
}

test('every folder imports only what docs/design.md allows it', () => {
  const files = Object.keys(MAY_IMPORT)
    .filter((d) => !d.includes('/'))
    .flatMap((d) => sourceFiles(join(ROOT, d)));
  assert.ok(files.length > 50, `found ${files.length} source files`);
  const problems = files.flatMap((f) => layeringProblems(f, readFileSync(f, 'utf8')));
  assert.deepEqual(problems, []);
});

test('the layering check catches each forbidden direction', () => {
  const cases: [string, string][] = [
    ['onnx/graph.ts', `import { Rng } from '../envs/pointmaze.ts';`],
    ['envs/maze.ts', `import { Graph } from '../onnx/index.ts';`],
    ['train/trainer.ts', `import { main } from '../cli/main.ts';`],
    ['export/export.ts', `const m = await import('../cli/export.ts');`],
    ['train/trainer.ts', `export * from '../export/export.ts';`],
    ['rng/rng.ts', `import '../envs/maze.ts';`],
    ['runtime/src/policy.ts', `import type { RunInfo } from '../../train/run-folder.ts';`],
    ['demo/src/main.ts', `import { train } from '../../train/trainer.ts';`],
  ];
  for (const [file, src] of cases) assert.equal(layeringProblems(join(ROOT, file), src).length, 1, `not caught in ${file}: ${src}`);
  assert.deepEqual(layeringProblems(join(ROOT, 'cli/main.ts'), `import { train } from '../train/trainer.ts';`), []);
  assert.deepEqual(layeringProblems(join(ROOT, 'train/agents/hiql.ts'), `import { Graph } from '../../onnx/index.ts';`), []);
});
