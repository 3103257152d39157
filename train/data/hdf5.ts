// D4RL-style HDF5 files (observations, actions, rewards, terminals, timeouts, infos/..., and
// sometimes next_observations), read and written with h5wasm (the HDF5 C library compiled to
// WebAssembly; its 'h5wasm/node' build opens host paths directly). Every dataset in the file is
// returned, keyed by its path without the leading '/', e.g. 'infos/goal'.
//
// h5wasm is loaded on first use: importing it instantiates a 4 MB WebAssembly build of the HDF5
// library (about 4 s and 600 MB of memory on a 2-core machine), which every command that never
// reads an HDF5 file would otherwise pay. Its C library prints HDF5-DIAG error stacks straight to
// file descriptor 2; `quietly` keeps them off the user's terminal and puts their gist in the error.

import fs, { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import type H5 from 'h5wasm/node';
import { fsErrorReason } from '../../onnx/checkpoint.ts';
import { type NpyArray, type TypedArray, npyArray } from './npy.ts';

type H5wasm = typeof H5;
let loading: Promise<H5wasm> | null = null;
async function load(): Promise<H5wasm> {
  loading ??= import('h5wasm/node').then(async (m) => {
    await m.default.ready;
    return m.default;
  });
  return loading;
}

/**
 * Runs `fn` (synchronous h5wasm calls) with writes to file descriptor 2 captured instead of
 * printed. h5wasm's Emscripten runtime writes the C library's stderr through fs.writeSync(2, ...);
 * the calls are synchronous, so nothing else can write in that window. Returns what was captured.
 */
function quietly<T>(fn: () => T): { value?: T; error?: unknown; diag: string } {
  const write = fs.writeSync;
  const captured: string[] = [];
  fs.writeSync = ((fd: number, buf: unknown, ...rest: unknown[]) => {
    if (fd !== 2) return (write as (...a: unknown[]) => number)(fd, buf, ...rest);
    if (typeof buf === 'string') {
      if (captured.length < 200) captured.push(buf);
      return Buffer.byteLength(buf);
    }
    // writeSync(fd, buffer, offset, length, position): Emscripten passes its whole heap and a range.
    const b = buf as Uint8Array;
    const offset = typeof rest[0] === 'number' ? rest[0] : 0;
    const length = typeof rest[1] === 'number' ? rest[1] : b.byteLength - offset;
    if (captured.length < 200) captured.push(Buffer.from(b.buffer, b.byteOffset + offset, length).toString('utf8'));
    return length;
  }) as typeof fs.writeSync;
  try {
    return { value: fn(), diag: captured.join('') };
  } catch (error) {
    return { error, diag: captured.join('') };
  } finally {
    fs.writeSync = write;
  }
}

/** The innermost HDF5-DIAG message (the cause), e.g. 'truncated file: eof = 11024, ...', or ''. */
function diagCause(diag: string): string {
  const lines = diag.split('\n').filter((l) => /^\s*#\d+:/.test(l));
  const last = lines[lines.length - 1];
  return last ? last.replace(/^\s*#\d+:.*?\(\):\s*/, '').trim() : '';
}

// HDF5 type classes (H5T_class_t).
const H5T_INTEGER = 0;
const H5T_FLOAT = 1;
const H5T_ENUM = 8;

interface H5Meta {
  type: number;
  size: number;
  signed: boolean;
  littleEndian: boolean;
  shape: number[] | null;
  enum_type?: { members: Record<string, number>; type: number; size?: number; signed?: boolean };
}

function dtypeFor(meta: H5Meta, where: string): string {
  const { size, signed } = meta;
  let { type } = meta;
  let isBool = false;
  if (type === H5T_ENUM && meta.enum_type) {
    // h5py stores numpy bools as an enum {FALSE: 0, TRUE: 1} over int8.
    const m = meta.enum_type.members;
    isBool = Object.keys(m).length === 2 && m['FALSE'] === 0 && m['TRUE'] === 1;
    if (!isBool) throw new RangeError(`${where}: unsupported HDF5 enum type (members ${Object.keys(m).join(', ')})`);
    type = H5T_INTEGER;
  }
  if (!meta.littleEndian && size > 1)
    throw new RangeError(`${where}: big-endian HDF5 data is not supported; rewrite the dataset as little-endian`);
  if (isBool) return '|b1';
  if (type === H5T_FLOAT) {
    if (size === 4) return '<f4';
    if (size === 8) return '<f8';
  } else if (type === H5T_INTEGER) {
    if (size === 1) return signed ? '|i1' : '|u1';
    if (size === 2 || size === 4 || size === 8) return `<${signed ? 'i' : 'u'}${size}`;
  }
  throw new RangeError(`${where}: unsupported HDF5 datatype (class ${meta.type}, ${size} bytes); supported: float32/64, (u)int8-64, bool`);
}

/** Reads every dataset of an HDF5 file. */
export async function readHdf5(path: string): Promise<Record<string, NpyArray>> {
  checkHdf5Structure(path);
  const h5 = await load();
  const opened = quietly(() => new h5.File(path, 'r'));
  const cause = diagCause(opened.diag);
  if (opened.error !== undefined) {
    const e = opened.error;
    throw new Error(`${path}: cannot open as HDF5 (${cause || (e instanceof Error ? e.message : String(e))})`, { cause: e });
  }
  const f = opened.value!;
  // h5wasm reports a failed open by a file id of 0 or below rather than by throwing.
  if (!(f.file_id > 0n)) throw new Error(`${path}: cannot open as HDF5 (${cause || 'not an HDF5 file, or truncated'})`);
  const read = quietly(() => readAll(h5, f, path));
  quietly(() => f.close());
  if (read.error !== undefined) {
    const e = read.error;
    const why = diagCause(read.diag);
    if (e instanceof RangeError && !why) throw e;
    throw new Error(`${path}: cannot read the HDF5 file (${why || (e instanceof Error ? e.message : String(e))})`, { cause: e });
  }
  return read.value!;
}

function readAll(h5: H5wasm, f: InstanceType<H5wasm['File']>, path: string): Record<string, NpyArray> {
  const out: Record<string, NpyArray> = {};
  const walk = (group: InstanceType<H5wasm['Group']>, prefix: string) => {
    for (const name of group.keys()) {
      const key = prefix ? `${prefix}/${name}` : name;
      const obj = group.get(name);
      if (obj instanceof h5.Group) {
        walk(obj, key);
      } else if (obj instanceof h5.Dataset) {
        const where = `${path}[${key}]`;
        const meta = obj.metadata as unknown as H5Meta;
        const dtype = dtypeFor(meta, where);
        const shape = meta.shape ?? [];
        let value = obj.value as unknown;
        if (dtype === '|b1' && !(value instanceof Uint8Array)) {
          value = ArrayBuffer.isView(value) ? new Uint8Array(value.buffer, value.byteOffset, value.byteLength) : value;
        }
        if (!ArrayBuffer.isView(value)) {
          // Scalars come back as numbers; wrap them.
          if (typeof value === 'number' || typeof value === 'bigint' || typeof value === 'boolean') {
            value = scalarArray(dtype, value);
          } else {
            throw new RangeError(`${where}: unsupported HDF5 dataset value (${typeof value})`);
          }
        }
        out[key] = npyArray(dtype, shape, copy(value as TypedArray), where);
      }
    }
  };
  walk(f, '');
  return out;
}

/**
 * Checks the file before handing it to the C library: the HDF5 signature (the superblock sits at
 * offset 0 or, after a user block, at 512, 1024, 2048, ... bytes) and the superblock's end-of-file
 * address against the file's size, so that a missing, foreign or truncated file gets one clear line.
 */
function checkHdf5Structure(path: string): void {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    throw cannotOpen(path, e);
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) {
      const why = st.isDirectory() ? Object.assign(new Error('EISDIR'), { code: 'EISDIR' }) : new Error('not a regular file');
      throw cannotOpen(path, why);
    }
    const size = st.size;
    const sig = Buffer.alloc(8);
    for (let off = 0; off + 8 <= size; off = off === 0 ? 512 : off * 2) {
      readSync(fd, sig, 0, 8, off);
      if (!sig.equals(HDF5_SIGNATURE)) continue;
      const eof = storedEof(fd, off, size);
      if (eof !== null && size < eof)
        throw new Error(
          `${path}: truncated HDF5 file: its superblock says the file is ${eof} bytes, it has ${size} ` +
            `(was the download or copy cut short?)`,
        );
      return;
    }
    throw new Error(`${path}: bad magic: not an HDF5 file (no \\x89HDF\\r\\n\\x1a\\n signature; ${size} bytes)`);
  } finally {
    closeSync(fd);
  }
}

/** `PATH: cannot open (ENOENT: no such file or folder)`. */
function cannotOpen(path: string, e: unknown): Error {
  const code = (e as { code?: unknown } | null)?.code;
  const words = fsErrorReason(e).replace(/ \(\w+\)$/, '');
  return new Error(`${path}: cannot open (${typeof code === 'string' ? `${code}: ` : ''}${words})`, { cause: e });
}

/**
 * The end-of-file address recorded in the superblock at `off` (HDF5 file format specification,
 * section II.A: versions 0 and 1 keep it after the base and free-space addresses, at byte 24 or 28
 * plus two offsets; versions 2 and 3 after the base and extension addresses, at byte 12 plus two
 * offsets), or null when unknown (undefined address, unknown version, or past the file's end).
 */
function storedEof(fd: number, off: number, size: number): number | null {
  const head = Buffer.alloc(16);
  if (off + 16 > size) return null;
  readSync(fd, head, 0, 16, off);
  const version = head[8]!;
  const offsetSize = version <= 1 ? head[13]! : version <= 3 ? head[9]! : 0;
  if (offsetSize !== 2 && offsetSize !== 4 && offsetSize !== 8) return null;
  const at = off + (version === 0 ? 24 : version === 1 ? 28 : 12) + 2 * offsetSize;
  if (at + offsetSize > size) return null;
  const field = Buffer.alloc(offsetSize);
  readSync(fd, field, 0, offsetSize, at);
  let v = 0;
  for (let k = offsetSize - 1; k >= 0; k--) v = v * 256 + field[k]!;
  // All bits set is HDF5's undefined address.
  if (field.every((x) => x === 0xff) || !Number.isSafeInteger(v)) return null;
  return v;
}

const HDF5_SIGNATURE = Buffer.from([0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a]);

function copy(a: TypedArray): TypedArray {
  // Detach from the WebAssembly heap-backed buffer h5wasm may hand out.
  return a.slice() as TypedArray;
}

function scalarArray(dtype: string, v: number | bigint | boolean): TypedArray {
  switch (dtype) {
    case '<f4':
      return Float32Array.of(Number(v));
    case '<f8':
      return Float64Array.of(Number(v));
    case '|b1':
    case '|u1':
      return Uint8Array.of(Number(v));
    case '|i1':
      return Int8Array.of(Number(v));
    case '<i2':
      return Int16Array.of(Number(v));
    case '<u2':
      return Uint16Array.of(Number(v));
    case '<i4':
      return Int32Array.of(Number(v));
    case '<u4':
      return Uint32Array.of(Number(v));
    case '<i8':
      return BigInt64Array.of(BigInt(v));
    default:
      return BigUint64Array.of(BigInt(v));
  }
}

const H5_DTYPE: Record<string, string> = {
  '<f4': '<f',
  '<f8': '<d',
  '|u1': '<B',
  '|b1': '<B',
  '|i1': '<b',
  '<i2': '<h',
  '<u2': '<H',
  '<i4': '<i',
  '<u4': '<I',
  '<i8': '<q',
  '<u8': '<Q',
};

/**
 * Writes arrays to a new HDF5 file (keys with '/' create groups, as in D4RL's 'infos/goal').
 * Bools are written as uint8 (h5wasm cannot create h5py's bool enum); readHdf5 reads both.
 */
export async function writeHdf5(path: string, arrays: Record<string, NpyArray>, opts: { compression?: number } = {}): Promise<void> {
  const h5 = await load();
  const f = new h5.File(path, 'w');
  try {
    for (const [key, arr] of Object.entries(arrays)) {
      const parts = key.split('/');
      let g: InstanceType<H5wasm['Group']> = f;
      for (const p of parts.slice(0, -1)) {
        const existing = g.get(p);
        g = existing instanceof h5.Group ? existing : g.create_group(p);
      }
      const h5dtype = H5_DTYPE[arr.dtype];
      if (!h5dtype) throw new RangeError(`${path}[${key}]: unsupported dtype ${arr.dtype}`);
      const chunked = opts.compression !== undefined && arr.shape.length > 0 && arr.shape[0]! > 0;
      g.create_dataset({
        name: parts[parts.length - 1]!,
        data: arr.data,
        shape: arr.shape,
        dtype: h5dtype,
        ...(chunked ? { chunks: [Math.min(arr.shape[0]!, 4096), ...arr.shape.slice(1)], compression: opts.compression } : {}),
      });
    }
  } finally {
    f.close();
  }
}
