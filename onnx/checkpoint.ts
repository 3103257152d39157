// Checkpoints: named tensors + a JSON header, with a CRC-32 over the whole file so that a truncated
// or corrupted file is refused. Written atomically: a temporary file in the same folder, fsync, rename.
import { closeSync, fsyncSync, openSync, readFileSync, readdirSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { crc32 } from '../checksum/crc32.ts';

const MAGIC = 'HIQLCKPT';
const VERSION = 1;

export interface CheckpointTensor {
  dtype: 'float32';
  dims: number[];
  data: Float32Array;
}

export interface Checkpoint {
  step: number;
  tensors: Map<string, CheckpointTensor>;
  /** Free-form JSON-serialisable data (config, RNG state, ...). */
  meta: Record<string, unknown>;
}

/** What a file-system error means, in words, with its code: 'no space left on the device (ENOSPC)'. */
export function fsErrorReason(e: unknown): string {
  const code = (e as { code?: unknown } | null)?.code;
  const why = typeof code === 'string' ? FS_REASONS[code] : undefined;
  if (why) return `${why} (${code as string})`;
  return e instanceof Error ? e.message : String(e);
}

const FS_REASONS: Record<string, string> = {
  ENOENT: 'no such file or folder',
  EISDIR: 'it is a folder, not a file',
  ENOTDIR: 'a part of the path is a file, not a folder',
  EEXIST: 'a file of that name is in the way',
  ENOTEMPTY: 'the folder is not empty',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  ENOSPC: 'no space left on the device',
  EDQUOT: 'disk quota exceeded',
  EROFS: 'the file system is read-only',
  EMFILE: 'too many open files',
  ENAMETOOLONG: 'the name is too long',
  EIO: 'input/output error',
};

/** An Error saying what could not be done to which path and why, keeping the system error's code. */
export function fsError(what: string, path: string, e: unknown): Error {
  const err = new Error(`cannot ${what} '${path}': ${fsErrorReason(e)}`, { cause: e });
  const code = (e as { code?: unknown } | null)?.code;
  if (typeof code === 'string') (err as Error & { code: string }).code = code;
  return err;
}

/** The temporary file names writeFileAtomic uses: `.BASENAME.PID.MILLISECONDS.tmp` beside the target. */
const TEMP_NAME = /^\.(.+)\.(\d+)\.(\d+)\.tmp$/;

// Test hook (fault injection): milliseconds to wait between writing a temporary file and renaming
// it, so that a test can kill the process mid-write reliably. Unset in normal use.
const RENAME_DELAY_MS = Number(process.env['HIQL_TEST_RENAME_DELAY_MS'] ?? 0);

/**
 * Writes `bytes` to `path` atomically (temporary file + fsync + rename). A failure names the path;
 * the temporary file is removed. One killed mid-write stays behind as `.NAME.PID.MS.tmp`, which
 * removeStaleTempFiles deletes.
 */
export function writeFileAtomic(path: string, chunks: Uint8Array | readonly Uint8Array[]): void {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${Date.now()}.tmp`);
  let fd: number;
  try {
    fd = openSync(tmp, 'w');
  } catch (e) {
    throw fsError('write', path, e);
  }
  let open = true;
  try {
    for (const c of Array.isArray(chunks) ? chunks : [chunks as Uint8Array]) {
      let off = 0;
      while (off < c.length) off += writeSync(fd, c, off, c.length - off);
    }
    fsyncSync(fd);
    open = false;
    closeSync(fd);
    if (RENAME_DELAY_MS > 0) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, RENAME_DELAY_MS);
    renameSync(tmp, path);
  } catch (e) {
    try {
      if (open) closeSync(fd);
      unlinkSync(tmp);
    } catch {
      // the temporary file may be gone already (or never written)
    }
    throw fsError('write', path, e);
  }
}

/** Whether process `pid` is running (EPERM: it exists but belongs to someone else). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as { code?: string }).code === 'EPERM';
  }
}

/**
 * Removes the files of `dir` that `writerOf` attributes to a writing process (it returns the pid,
 * or null for a file that is not such) whose process is gone; with `mine`, this process's too.
 * Returns the paths removed.
 */
export function removeFilesOfGoneWriters(dir: string, writerOf: (name: string) => number | null, o: { mine?: boolean } = {}): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of names) {
    const pid = writerOf(name);
    if (pid === null || (pid === process.pid ? !o.mine : processAlive(pid))) continue;
    try {
      unlinkSync(join(dir, name));
      removed.push(join(dir, name));
    } catch {
      // removed meanwhile
    }
  }
  return removed;
}

/**
 * Removes the temporary files that writeFileAtomic left in `dir` when a process was killed
 * mid-write: those whose target name `owns` accepts and whose process is gone (a running writer's,
 * this process's included, are left alone). Returns the paths removed.
 */
export function removeStaleTempFiles(dir: string, owns: (target: string) => boolean): string[] {
  return removeFilesOfGoneWriters(dir, (name) => {
    const m = TEMP_NAME.exec(name);
    return m && owns(m[1]!) ? Number(m[2]) : null;
  });
}

export function encodeCheckpoint(ck: Checkpoint): Uint8Array[] {
  const entries: { name: string; dims: number[]; offset: number; length: number }[] = [];
  let offset = 0;
  for (const [name, t] of ck.tensors) {
    const n = t.dims.reduce((a, b) => a * b, 1);
    if (n !== t.data.length) throw new RangeError(`checkpoint tensor '${name}': ${t.data.length} values for dims [${t.dims}]`);
    entries.push({ name, dims: t.dims, offset, length: n });
    offset += n * 4;
  }
  const header = new TextEncoder().encode(JSON.stringify({ version: VERSION, step: ck.step, tensors: entries, meta: ck.meta }));
  const pre = new Uint8Array(8 + 4 + 4 + 8);
  pre.set(new TextEncoder().encode(MAGIC), 0);
  const dv = new DataView(pre.buffer);
  dv.setUint32(8, VERSION, true);
  dv.setUint32(12, header.length, true);
  dv.setFloat64(16, offset, true);
  const pad = new Uint8Array((8 - (header.length % 8)) % 8);
  const chunks: Uint8Array[] = [pre, header, pad];
  for (const t of ck.tensors.values()) chunks.push(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
  let crc = 0;
  for (const c of chunks) crc = crc32(c, crc);
  const tail = new Uint8Array(4);
  new DataView(tail.buffer).setUint32(0, crc, true);
  chunks.push(tail);
  return chunks;
}

export function saveCheckpoint(path: string, ck: Checkpoint): void {
  writeFileAtomic(path, encodeCheckpoint(ck));
}

export function decodeCheckpoint(bytes: Uint8Array, source = 'checkpoint'): Checkpoint {
  const fail = (why: string) => new Error(`${source}: not a valid checkpoint: ${why}`);
  if (bytes.length < 28) throw fail(`file is ${bytes.length} bytes, shorter than the 28-byte header`);
  if (new TextDecoder().decode(bytes.subarray(0, 8)) !== MAGIC) throw fail(`bad magic (expected '${MAGIC}')`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = dv.getUint32(8, true);
  if (version !== VERSION) throw fail(`format version ${version}, this build reads version ${VERSION}`);
  const headerLen = dv.getUint32(12, true);
  const dataLen = dv.getFloat64(16, true);
  const pad = (8 - (headerLen % 8)) % 8;
  const expected = 24 + headerLen + pad + dataLen + 4;
  if (bytes.length !== expected) throw fail(`file is ${bytes.length} bytes, its header says ${expected} (truncated or appended to)`);
  const crc = dv.getUint32(bytes.length - 4, true);
  const actual = crc32(bytes.subarray(0, bytes.length - 4));
  if (crc !== actual) throw fail(`checksum mismatch (stored ${crc.toString(16)}, computed ${actual.toString(16)}): the file is corrupt`);
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(24, 24 + headerLen))) as {
    step: number;
    tensors: { name: string; dims: number[]; offset: number; length: number }[];
    meta: Record<string, unknown>;
  };
  const base = 24 + headerLen + pad;
  const tensors = new Map<string, CheckpointTensor>();
  for (const e of header.tensors) {
    const data = new Float32Array(e.length);
    new Uint8Array(data.buffer).set(bytes.subarray(base + e.offset, base + e.offset + e.length * 4));
    tensors.set(e.name, { dtype: 'float32', dims: e.dims, data });
  }
  return { step: header.step, tensors, meta: header.meta ?? {} };
}

export function loadCheckpoint(path: string): Checkpoint {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    throw new Error(`cannot read checkpoint '${path}': ${(e as Error).message}`, { cause: e });
  }
  return decodeCheckpoint(bytes, path);
}
