// Shared by the hardness tests: a tiny dataset on disk, tiny network settings, and the `hiql`
// command run in this process with its output captured (or as a child process).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generateDataset } from '../../envs/datasets.ts';
import { datasetFromGenerated, saveDatasetNpz } from '../../train/data/dataset.ts';
import { captureOutput } from '../capture.ts';
import { main } from '../../cli/main.ts';

export const BIN = fileURLToPath(new URL('../../bin/hiql.js', import.meta.url));
export const ENV = 'pointmaze-medium-navigate';

/** Networks of 8 units, batch 16, one thread, no periodic evaluation: a step takes about a millisecond. */
export const TINY = [
  '--batchSize',
  '16',
  '--valueHiddenDims',
  '8,8',
  '--actorHiddenDims',
  '8,8',
  '--repDim',
  '4',
  '--evalEvery',
  '0',
  '--evalEpisodes',
  '1',
  '--threads',
  '1',
];

/** A fresh temporary folder, removed when the process exits. */
export function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), `hiql-${prefix}-`));
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Writes a generated dataset of `episodes` episodes of `env` to `path`. */
export function writeDataset(path: string, env = ENV, episodes = 2, seed = 1): string {
  saveDatasetNpz(path, datasetFromGenerated(generateDataset(env, { seed, episodes })));
  return path;
}

/** Runs `hiql ARGV` in this process; console output and writes to stderr (fd 2 included) are captured. */
export const hiql = (argv: string[]): Promise<{ code: number; out: string; err: string }> => captureOutput(() => main(argv));

/** Runs `hiql ARGV` as a child process and waits for it. */
export function hiqlChild(argv: string[], cwd: string, env: Record<string, string> = {}) {
  return spawnSync(process.execPath, [BIN, ...argv], { cwd, encoding: 'utf8', timeout: 120_000, env: { ...process.env, ...env } });
}

/** Starts `hiql ARGV` as a child process. */
export function startHiql(argv: string[], cwd: string, env: Record<string, string> = {}): ChildProcess {
  return spawn(process.execPath, [BIN, ...argv], { cwd, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
}

/** A process id that is certainly not running (a child that has exited). */
export function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  return Number(r.stdout);
}
