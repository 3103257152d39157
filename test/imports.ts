// Module specifiers of a source text, for the import checks (test/layering.test.ts, test/runtime/imports.test.ts).

/** Every module specifier in a source text: static, side-effect, re-export, dynamic, require, reference path. */
export function importSpecifiers(text: string): { spec: string | null; kind: string }[] {
  const out: { spec: string | null; kind: string }[] = [];
  const patterns: [RegExp, string][] = [
    [/\bfrom\s*(['"])([^'"]+)\1/g, 'from'],
    [/(?:^|[;\s])import\s*(['"])([^'"]+)\1/g, 'import'],
    [/\bimport\s*\(\s*(['"`])([^'"`]+)\1\s*[,)]/g, 'import()'],
    [/\brequire\s*\(\s*(['"`])([^'"`]+)\1\s*\)/g, 'require()'],
    [/\/\/\/\s*<reference\s+path\s*=\s*(['"])([^'"]+)\1/g, 'reference path'],
  ];
  for (const [re, kind] of patterns) for (const m of text.matchAll(re)) out.push({ spec: m[2]!, kind });
  // A dynamic import or require of a computed name cannot be checked: refuse it.
  for (const m of text.matchAll(/\b(import|require)\s*\(\s*([^'"`\s)][^)]*)\)/g)) out.push({ spec: null, kind: `${m[1]}(${m[2]})` });
  return out;
}
