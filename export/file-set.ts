// Writing an exported model's files as a set. Each file is written atomically (temporary file,
// fsync, rename), but a HIQL model is three files, and no file system renames three files at once:
// a process killed between the renames used to leave a new NAME.onnx beside the old NAME.low.onnx
// and NAME.phi.onnx, which the runtime rightly refuses.
//
// The way out uses what the runtime already does: it finds the companions by the names the policy's
// `hiql.companions` metadata gives. So the new set is first made complete under names no reader
// uses yet, and one rename of the policy switches readers from the old set to the new one:
//
//   1. the new companions under staged names, `.NAME.PID.MS.low.onnx` / `.NAME.PID.MS.phi.onnx`
//      (hidden; ending in .low.onnx / .phi.onnx so that lists of policies skip them);
//   2. the new NAME.onnx, naming the staged companions: readers go from the old set to the new set;
//   3. the new companions under their usual names (nothing reads those now);
//   4. the new NAME.onnx again, naming the usual companions: the set as it always was;
//   5. the staged companions are removed (nothing names them any more).
//
// Killed at any point, the folder holds a complete set, old or new: before step 2 the old one is
// untouched, after it the policy names files that exist. The price is two extra writes of small
// files. A later export removes the staged files and temporary files a killed one left (only those
// of processes that are gone).
import { existsSync, statSync, unlinkSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { removeFilesOfGoneWriters, removeStaleTempFiles, writeFileAtomic } from '../onnx/index.ts';

export interface SetFile {
  role: string;
  path: string;
  bytes: Uint8Array;
}

const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * Writes `policy` and its `companions` (all in one folder) so that a reader always finds a complete
 * set. `policyNaming(names)` gives the policy's bytes with `hiql.companions` set to `names` (role ->
 * file name); `policy.bytes` is the final form, naming the companions' usual names.
 */
export function writeFileSet(
  policy: SetFile,
  companions: readonly SetFile[],
  policyNaming: (names: Record<string, string>) => Uint8Array,
): void {
  const dir = dirname(policy.path);
  const stem = basename(policy.path).replace(/\.onnx$/, '');
  const suffixes = companions.map((c) => {
    const name = basename(c.path);
    if (dirname(c.path) !== dir || !name.startsWith(stem + '.'))
      throw new RangeError(`writeFileSet: companion '${c.path}' must sit beside '${policy.path}' and start with '${stem}.'`);
    return name.slice(stem.length); // '.low.onnx'
  });
  const staged = new RegExp(`^\\.${escapeRe(stem)}\\.(\\d+)\\.(\\d+)(${suffixes.map(escapeRe).join('|') || '$^'})$`);
  const ours = new Set([basename(policy.path), ...companions.map((c) => basename(c.path))]);
  removeStaleTempFiles(dir, (target) => ours.has(target));
  if (companions.length === 0) {
    writeFileAtomic(policy.path, policy.bytes);
    return;
  }
  const tag = `${process.pid}.${Date.now()}`;
  const stagedNames: Record<string, string> = {};
  companions.forEach((c, k) => (stagedNames[c.role] = `.${stem}.${tag}${suffixes[k]}`));
  for (const c of companions) writeFileAtomic(join(dir, stagedNames[c.role]!), c.bytes); // 1
  writeFileAtomic(policy.path, policyNaming(stagedNames)); // 2
  for (const c of companions) writeFileAtomic(c.path, c.bytes); // 3
  writeFileAtomic(policy.path, policy.bytes); // 4
  // 5: ours, and those of exports killed before (their pid is gone); the policy names none of them.
  removeFilesOfGoneWriters(
    dir,
    (name) => {
      const m = staged.exec(name);
      return m ? Number(m[1]) : null;
    },
    { mine: true },
  );
  removeStaleTempFiles(dir, (target) => staged.test(target));
}

// ---- replacing an existing set ------------------------------------------------------------------------

/** Each exported file's name after its stem NAME: the policy, and HIQL's two companions. */
export const ROLE_SUFFIX = { policy: '.onnx', low_policy: '.low.onnx', goal_rep: '.phi.onnx' } as const;

/** The files a policy NAME.onnx may have beside it: itself, its companions and its model card. */
export const POLICY_SET_SUFFIXES = [...Object.values(ROLE_SUFFIX), '.md', '.json'] as const;

/** The paths of the policy set named by `out` (NAME.onnx), whether they exist or not. */
export function policySetPaths(out: string): string[] {
  const stem = out.replace(/\.onnx$/, '');
  return POLICY_SET_SUFFIXES.map((s) => stem + s);
}

/**
 * Checked before an export to `out` does any work. An existing set there (a policy, a companion or a
 * card) is kept unless `force`: the error names its files. The files a re-encoding reads (`sources`)
 * are never targets, forced or not. Returns the set's files that exist now, for
 * `removeReplacedLeftovers` once the new set is written.
 */
export function claimPolicyPath(out: string, o: { force: boolean; command: string; sources?: readonly string[] }): string[] {
  if (!out.endsWith('.onnx')) throw new RangeError(`${o.command}: --out must name a .onnx file, got '${out}'`);
  const targets = policySetPaths(out);
  const sources = new Set((o.sources ?? []).map((p) => resolve(p)));
  const clash = targets.find((t) => sources.has(resolve(t)));
  if (clash !== undefined)
    throw new RangeError(`${o.command}: --out '${out}' would replace '${clash}', which this export reads; choose another --out`);
  const existing = targets.filter((t) => existsSync(t));
  const folder = existing.find((t) => statSync(t).isDirectory());
  if (folder !== undefined) throw new RangeError(`${o.command}: '${folder}' is a folder; --out must name a file`);
  if (existing.length > 0 && !o.force)
    throw new Error(
      `${o.command}: a policy is already exported there (${existing.join(', ')}); it is kept. ` +
        'Pass --force to replace the whole set (files the new export does not write, such as an old card, are removed), ' +
        'or choose another --out',
    );
  return existing;
}

/**
 * After a forced export has written its files: removes the files of the set it replaced that it did
 * not write again (an old card, or the companions of an old HIQL policy), so that nothing beside the
 * new policy describes the old one. Returns the removed paths.
 */
export function removeReplacedLeftovers(previous: readonly string[], written: readonly string[]): string[] {
  const keep = new Set(written.map((p) => resolve(p)));
  const removed: string[] = [];
  for (const p of previous)
    if (!keep.has(resolve(p)) && existsSync(p)) {
      unlinkSync(p);
      removed.push(p);
    }
  return removed;
}
