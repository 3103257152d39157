// D4RL-style HDF5 files (observations, actions, rewards, terminals, timeouts, infos/..., and
// sometimes next_observations), read and written with h5wasm (the HDF5 C library compiled to
// WebAssembly; its 'h5wasm/node' build opens host paths directly). Every dataset in the file is
// returned, keyed by its path without the leading '/', e.g. 'infos/goal'.

import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import h5wasm from 'h5wasm/node';
import { type NpyArray, type TypedArray, npyArray } from './npy.ts';

let ready: Promise<unknown> | null = null;
async function load(): Promise<typeof h5wasm> {
  ready ??= h5wasm.ready;
  await ready;
  return h5wasm;
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
  checkHdf5Signature(path);
  const h5 = await load();
  let f: InstanceType<typeof h5wasm.File>;
  try {
    f = new h5.File(path, 'r');
  } catch (e) {
    throw new Error(`${path}: cannot open as HDF5 (${e instanceof Error ? e.message : String(e)})`, { cause: e });
  }
  // h5wasm reports a failed open by a file id of 0 or below rather than by throwing.
  if (!(f.file_id > 0n)) throw new Error(`${path}: cannot open as HDF5 (not an HDF5 file, or truncated)`);
  try {
    const out: Record<string, NpyArray> = {};
    const walk = (group: InstanceType<typeof h5wasm.Group>, prefix: string) => {
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
  } finally {
    f.close();
  }
}

/**
 * Checks the HDF5 signature before handing the path to the C library, which would print a page of
 * diagnostics for a missing or foreign file. The superblock sits at offset 0 or, after a user
 * block, at 512, 1024, 2048, ... bytes.
 */
function checkHdf5Signature(path: string): void {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    throw new Error(`${path}: cannot open (${e instanceof Error ? e.message : String(e)})`, { cause: e });
  }
  try {
    const size = fstatSync(fd).size;
    const sig = Buffer.alloc(8);
    for (let off = 0; off + 8 <= size; off = off === 0 ? 512 : off * 2) {
      readSync(fd, sig, 0, 8, off);
      if (sig.equals(HDF5_SIGNATURE)) return;
    }
    throw new Error(`${path}: bad magic: not an HDF5 file (no \\x89HDF\\r\\n\\x1a\\n signature; ${size} bytes)`);
  } finally {
    closeSync(fd);
  }
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
      let g: InstanceType<typeof h5wasm.Group> = f;
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
