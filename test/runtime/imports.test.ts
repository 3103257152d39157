// The runtime package may import only onnxruntime-node / onnxruntime-web (and node: builtins in its
// Node entry), never the training stack: this test scans every import specifier under runtime/.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { importSpecifiers } from '../imports.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const RUNTIME = join(ROOT, 'runtime');
const FORBIDDEN_DIRS = ['train', 'export', 'envs', 'onnx'];
const ALLOWED_PACKAGES = ['onnxruntime-node', 'onnxruntime-web'];
/** Files that may import node: builtins (the Node entry points). */
const NODE_ENTRIES = ['src/index.ts', 'src/node.ts'];

/** Problems with one file's imports (empty when it is clean). */
export function checkFile(file: string, text: string): string[] {
  const rel = relative(RUNTIME, file).split(sep).join('/');
  const problems: string[] = [];
  for (const { spec, kind } of importSpecifiers(text)) {
    if (spec === null) {
      problems.push(`${rel}: computed ${kind} cannot be checked`);
      continue;
    }
    if (spec.startsWith('.') || spec.startsWith('/')) {
      const target = resolve(dirname(file), spec);
      const fromRoot = relative(ROOT, target).split(sep).join('/');
      const top = fromRoot.split('/')[0]!;
      if (FORBIDDEN_DIRS.includes(top)) problems.push(`${rel}: imports ${top}/ ('${spec}', ${kind})`);
      else if (relative(RUNTIME, target).startsWith('..')) problems.push(`${rel}: imports '${spec}' from outside runtime/ (${kind})`);
      continue;
    }
    const top = spec.split('/')[0]!;
    if (FORBIDDEN_DIRS.includes(top)) problems.push(`${rel}: imports ${top}/ ('${spec}', ${kind})`);
    else if (spec.startsWith('node:')) {
      if (!NODE_ENTRIES.includes(rel))
        problems.push(`${rel}: imports '${spec}'; node: builtins only in the Node entry (${NODE_ENTRIES.join(', ')})`);
    } else if (!ALLOWED_PACKAGES.includes(spec))
      problems.push(`${rel}: imports package '${spec}'; the runtime may import only ${ALLOWED_PACKAGES.join(', ')}`);
  }
  return problems;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    if (name === 'node_modules' || name === 'dist') return [];
    if (statSync(p).isDirectory()) return sourceFiles(p);
    return /\.(ts|mts|cts|js|mjs|cjs)$/.test(name) ? [p] : [];
  });
}

test('the scanner catches every import form (self-check on synthetic sources)', () => {
  const f = join(RUNTIME, 'src', 'policy.ts');
  const bad = [
    `import { Graph } from '../../onnx/index.ts';`,
    `import type { RunInfo } from "../../train/trainer.ts";`,
    `export * from '../../export/export.ts';`,
    `import '../../envs/maze.ts';`,
    `const m = await import('../../train/config.ts');`,
    'const m = await import(`../../onnx/graph.ts`);',
    `const m = require('../../rng/rng.ts');`,
    `/// <reference path="../../onnx/graph.ts" />`,
    `const m = await import(name);`,
    `import protobuf from 'protobufjs';`,
    `import { readFile } from 'node:fs';`,
    `import x from '../../package.json';`,
  ];
  for (const src of bad) assert.equal(checkFile(f, src).length, 1, `not caught: ${src}`);
  assert.deepEqual(checkFile(f, `import { a } from './metadata.js';\nimport * as o from 'onnxruntime-web';`), []);
  assert.deepEqual(checkFile(join(RUNTIME, 'src', 'index.ts'), `import { readFile } from 'node:fs/promises';`), []);
});

test('nothing under runtime/ imports train/, export/, envs/ or onnx/ (only onnxruntime and, in the Node entry, node: builtins)', () => {
  const files = sourceFiles(RUNTIME);
  assert.ok(
    files.some((f) => f.endsWith(join('src', 'policy.ts'))),
    'runtime sources found',
  );
  const problems = files.flatMap((f) => checkFile(f, readFileSync(f, 'utf8')));
  assert.deepEqual(problems, []);
});

test('runtime/package.json depends on onnxruntime only', () => {
  const pkg = JSON.parse(readFileSync(join(RUNTIME, 'package.json'), 'utf8')) as Record<string, Record<string, string> | undefined>;
  const deps = [...Object.keys(pkg['dependencies'] ?? {}), ...Object.keys(pkg['peerDependencies'] ?? {})];
  assert.deepEqual(
    deps.filter((d) => !ALLOWED_PACKAGES.includes(d)),
    [],
  );
});

test('both entry points export the same API besides their own loader and provider', async () => {
  const node = await import('../../runtime/src/index.ts');
  const web = await import('../../runtime/src/web.ts');
  const own = new Set(['loadPolicy', 'nodeProvider', 'webProvider', 'ort']);
  const names = (m: object) =>
    Object.keys(m)
      .filter((k) => !own.has(k))
      .sort();
  assert.deepEqual(names(node), names(web));
  assert.ok(names(node).includes('readPolicyInfo') && names(node).includes('Policy'));
});
