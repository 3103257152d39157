// NumPy .npy files, read and written as the NumPy format specification describes
// (numpy/lib/format.py, "NEP 1"):
//
//   bytes 0-5   magic "\x93NUMPY"
//   bytes 6-7   format version major, minor (1.0: header length is a little-endian uint16;
//               2.0: uint32; 3.0: uint32 and the header is UTF-8 instead of latin-1)
//   header      a Python dict literal {'descr': <dtype str>, 'fortran_order': <bool>,
//               'shape': <tuple of ints>, } padded with spaces and ended by '\n' so that the array
//               data starts at a multiple of 64 bytes
//   data        prod(shape) items in C order, item layout given by descr
//
// The writer produces the same bytes as numpy >= 1.24's np.save: keys sorted, the 21-character
// growth padding numpy adds after the dict, then alignment spaces and '\n'; version 1.0 unless the
// header needs more than 65535 bytes.
//
// Supported dtypes: <f4 <f8 |b1 |u1 |i1 <i2 <u2 <i4 <u4 <i8 <u8 (little-endian only). int64/uint64
// are returned as BigInt64Array/BigUint64Array; bool as a Uint8Array of 0/1.

import { readFileSync } from 'node:fs';
import { fsError, writeFileAtomic } from '../../onnx/checkpoint.ts';

export type TypedArray =
  | Float32Array
  | Float64Array
  | Uint8Array
  | Int8Array
  | Int16Array
  | Uint16Array
  | Int32Array
  | Uint32Array
  | BigInt64Array
  | BigUint64Array;

export interface NpyArray {
  /** NumPy dtype string, canonical form: '<f4', '|b1', '<i8', ... */
  dtype: string;
  /** Array shape ([] for a scalar). */
  shape: number[];
  /** Flat data in C (row-major) order. */
  data: TypedArray;
}

interface DtypeInfo {
  size: number;
  make: (buf: ArrayBuffer, n: number, offset?: number) => TypedArray;
  ctor: string;
}

const DTYPES: Record<string, DtypeInfo> = {
  '<f4': { size: 4, make: (b, n, o = 0) => new Float32Array(b, o, n), ctor: 'Float32Array' },
  '<f8': { size: 8, make: (b, n, o = 0) => new Float64Array(b, o, n), ctor: 'Float64Array' },
  '|b1': { size: 1, make: (b, n, o = 0) => new Uint8Array(b, o, n), ctor: 'Uint8Array' },
  '|u1': { size: 1, make: (b, n, o = 0) => new Uint8Array(b, o, n), ctor: 'Uint8Array' },
  '|i1': { size: 1, make: (b, n, o = 0) => new Int8Array(b, o, n), ctor: 'Int8Array' },
  '<i2': { size: 2, make: (b, n, o = 0) => new Int16Array(b, o, n), ctor: 'Int16Array' },
  '<u2': { size: 2, make: (b, n, o = 0) => new Uint16Array(b, o, n), ctor: 'Uint16Array' },
  '<i4': { size: 4, make: (b, n, o = 0) => new Int32Array(b, o, n), ctor: 'Int32Array' },
  '<u4': { size: 4, make: (b, n, o = 0) => new Uint32Array(b, o, n), ctor: 'Uint32Array' },
  '<i8': { size: 8, make: (b, n, o = 0) => new BigInt64Array(b, o, n), ctor: 'BigInt64Array' },
  '<u8': { size: 8, make: (b, n, o = 0) => new BigUint64Array(b, o, n), ctor: 'BigUint64Array' },
};

/** The dtypes this module reads and writes. */
export const NPY_DTYPES: readonly string[] = Object.keys(DTYPES);

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY
const ARRAY_ALIGN = 64;
const GROWTH_AXIS_MAX_DIGITS = 21;

/**
 * Canonical dtype for a descr string, or a RangeError naming the problem. Accepts '=' and native
 * '<' spellings, and any byte-order mark on one-byte types (numpy writes '|' for those).
 */
export function canonicalDtype(descr: string, source = 'array'): string {
  let d = descr.trim();
  if (d.length >= 2 && /^[<>=|!]/.test(d)) {
    const order = d[0]!;
    const rest = d.slice(1);
    const oneByte = /^[biu]1$/.test(rest);
    if ((order === '>' || order === '!') && !oneByte) {
      throw new RangeError(
        `${source}: big-endian dtype '${descr}' is not supported; ` +
          `convert the array to little-endian ('<${rest}') first, e.g. arr.astype('<${rest}')`,
      );
    }
    d = oneByte ? `|${rest}` : `<${rest}`;
  } else if (/^[biuf]\d+$/.test(d)) {
    d = /^[biu]1$/.test(d) ? `|${d}` : `<${d}`;
  }
  if (!(d in DTYPES)) {
    throw new RangeError(`${source}: unsupported dtype '${descr}'; supported: ${NPY_DTYPES.join(', ')}`);
  }
  return d;
}

/** prod(shape), checking that every dimension is a non-negative integer. */
export function shapeSize(shape: readonly number[], source = 'array'): number {
  let n = 1;
  for (const s of shape) {
    if (!Number.isSafeInteger(s) || s < 0) throw new RangeError(`${source}: shape (${shape.join(', ')}) has an invalid dimension ${s}`);
    n *= s;
  }
  if (!Number.isSafeInteger(n)) throw new RangeError(`${source}: shape (${shape.join(', ')}) has too many elements`);
  return n;
}

/** Builds an NpyArray after checking that the typed array class and length fit dtype and shape. */
export function npyArray(dtype: string, shape: readonly number[], data: TypedArray, source = 'array'): NpyArray {
  const d = canonicalDtype(dtype, source);
  const n = shapeSize(shape, source);
  const want = DTYPES[d]!.ctor;
  const got = data.constructor.name;
  if (got !== want) throw new TypeError(`${source}: dtype ${d} needs a ${want}, got a ${got}`);
  if (data.length !== n) {
    throw new RangeError(`${source}: data length ${data.length} does not match shape (${shape.join(', ')}) with ${n} elements`);
  }
  return { dtype: d, shape: [...shape], data };
}

// ---------------------------------------------------------------------------------------------
// Header parsing: a tiny parser for the Python literals numpy writes (dict, tuple, list, str, int,
// True/False/None). Anything else is a format error.

type PyValue = string | number | boolean | null | PyValue[] | { [k: string]: PyValue };

function parsePyLiteral(text: string, source: string): PyValue {
  let i = 0;
  const fail = (what: string): never => {
    throw new Error(`${source}: malformed .npy header (${what} at character ${i}): ${JSON.stringify(text.slice(0, 200))}`);
  };
  const ws = () => {
    while (i < text.length && /\s/.test(text[i]!)) i++;
  };
  const value = (): PyValue => {
    ws();
    const c = text[i];
    if (c === '{') {
      i++;
      const obj: { [k: string]: PyValue } = {};
      for (;;) {
        ws();
        if (text[i] === '}') {
          i++;
          return obj;
        }
        const k = value();
        if (typeof k !== 'string') fail('dict key is not a string');
        ws();
        if (text[i] !== ':') fail("expected ':'");
        i++;
        obj[k as string] = value();
        ws();
        if (text[i] === ',') i++;
        else if (text[i] !== '}') fail("expected ',' or '}'");
      }
    }
    if (c === '(' || c === '[') {
      const close = c === '(' ? ')' : ']';
      i++;
      const arr: PyValue[] = [];
      for (;;) {
        ws();
        if (text[i] === close) {
          i++;
          return arr;
        }
        arr.push(value());
        ws();
        if (text[i] === ',') i++;
        else if (text[i] !== close) fail(`expected ',' or '${close}'`);
      }
    }
    if (c === "'" || c === '"') {
      const end = text.indexOf(c, i + 1);
      if (end < 0) fail('unterminated string');
      const s = text.slice(i + 1, end);
      i = end + 1;
      return s;
    }
    const m = /^(True|False|None|-?\d+L?)/.exec(text.slice(i));
    if (!m) return fail('unexpected token');
    i += m[0].length;
    if (m[0] === 'True') return true;
    if (m[0] === 'False') return false;
    if (m[0] === 'None') return null;
    return Number(m[0].replace('L', '')); // 'L' suffix: Python 2 longs in old files
  };
  const v = value();
  ws();
  if (i !== text.length) fail('trailing characters');
  return v;
}

/** What a .npy header declares: dtype, shape, where the data starts and how many bytes it takes. */
export interface NpyHeader {
  dtype: string;
  shape: number[];
  dataStart: number;
  dataBytes: number;
}

/**
 * The number of bytes a .npy file's prefix and header take (magic, version, header length,
 * header), read from its first 12 bytes; null when fewer than that are given.
 */
export function npyHeaderLength(bytes: Uint8Array, source = '<npy>'): number | null {
  if (bytes.length < 12) return null;
  checkMagic(bytes, source);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const major = bytes[6]!;
  if (major === 1) return 10 + view.getUint16(8, true);
  if (major === 2 || major === 3) return 12 + view.getUint32(8, true);
  throw new Error(`${source}: unsupported .npy format version ${major}.${bytes[7]} (supported: 1.0, 2.0, 3.0)`);
}

function checkMagic(bytes: Uint8Array, source: string): void {
  for (let k = 0; k < 6; k++) {
    if (bytes[k] !== MAGIC[k]) {
      throw new Error(
        `${source}: bad magic: not a .npy file (expected the bytes \\x93NUMPY, ` +
          `got ${JSON.stringify(String.fromCharCode(...bytes.subarray(0, 6)))})`,
      );
    }
  }
}

/**
 * Parses the header of .npy bytes; `bytes` may be just a prefix of the file that holds the whole
 * header (an .npz member is checked this way before it is inflated).
 */
export function parseNpyHeader(bytes: Uint8Array, source = '<npy>'): NpyHeader {
  if (bytes.length < 10) throw new Error(`${source}: truncated .npy file: ${bytes.length} bytes, a header needs at least 10`);
  checkMagic(bytes, source);
  const major = bytes[6]!;
  const minor = bytes[7]!;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let headerLen: number;
  let headerStart: number;
  if (major === 1) {
    headerLen = view.getUint16(8, true);
    headerStart = 10;
  } else if (major === 2 || major === 3) {
    if (bytes.length < 12)
      throw new Error(`${source}: truncated .npy file: ${bytes.length} bytes, a version ${major}.0 header needs at least 12`);
    headerLen = view.getUint32(8, true);
    headerStart = 12;
  } else {
    throw new Error(`${source}: unsupported .npy format version ${major}.${minor} (supported: 1.0, 2.0, 3.0)`);
  }
  const dataStart = headerStart + headerLen;
  if (dataStart > bytes.length) {
    throw new Error(`${source}: truncated .npy file: header says ${headerLen} bytes but only ${bytes.length - headerStart} follow`);
  }
  const hb = bytes.subarray(headerStart, dataStart);
  const text = major === 3 ? new TextDecoder('utf-8').decode(hb) : latin1(hb);
  const dict = parsePyLiteral(text, source);
  if (typeof dict !== 'object' || dict === null || Array.isArray(dict))
    throw new Error(`${source}: malformed .npy header: not a dict: ${text.trim()}`);
  for (const key of ['descr', 'fortran_order', 'shape']) {
    if (!(key in dict)) throw new Error(`${source}: malformed .npy header: missing key '${key}': ${text.trim()}`);
  }
  const descr = dict['descr'];
  if (typeof descr !== 'string') {
    throw new RangeError(
      `${source}: unsupported dtype ${JSON.stringify(descr)} (structured arrays are not supported); supported: ${NPY_DTYPES.join(', ')}`,
    );
  }
  const dtype = canonicalDtype(descr, source);
  if (dict['fortran_order'] !== false) {
    throw new RangeError(`${source}: fortran_order True is not supported; save a C-ordered array (np.ascontiguousarray(arr)) instead`);
  }
  const shapeV = dict['shape'];
  if (!Array.isArray(shapeV) || shapeV.some((s) => typeof s !== 'number'))
    throw new Error(`${source}: malformed .npy header: shape must be a tuple of ints, got ${JSON.stringify(shapeV)}`);
  const shape = shapeV as number[];
  const n = shapeSize(shape, source);
  const dataBytes = n * DTYPES[dtype]!.size;
  if (!Number.isSafeInteger(dataBytes)) throw new RangeError(`${source}: shape (${shape.join(', ')}) has too many elements`);
  return { dtype, shape, dataStart, dataBytes };
}

/**
 * Parses .npy bytes. `source` names the file (and npz key) in error messages. With `owned` (the
 * caller gives up `bytes`, e.g. a freshly inflated .npz member), the data is used in place when it
 * is aligned for its dtype instead of being copied.
 */
export function parseNpy(bytes: Uint8Array, source = '<npy>', o: { owned?: boolean } = {}): NpyArray {
  const { dtype, shape, dataStart, dataBytes: want } = parseNpyHeader(bytes, source);
  const n = shapeSize(shape, source);
  const info = DTYPES[dtype]!;
  const have = bytes.length - dataStart;
  if (have < want) {
    throw new Error(`${source}: truncated .npy data: shape (${shape.join(', ')}) ${dtype} needs ${want} bytes, file has ${have}`);
  }
  if (have > want) {
    throw new RangeError(
      `${source}: data length mismatch: shape (${shape.join(', ')}) ${dtype} needs ${want} bytes, file has ${have} (${have - want} extra)`,
    );
  }
  let data: TypedArray;
  if (o.owned && (bytes.byteOffset + dataStart) % info.size === 0) {
    data = info.make(bytes.buffer as ArrayBuffer, n, bytes.byteOffset + dataStart);
  } else {
    // Copy into a fresh buffer: the data offset is 64-aligned within the file, but the file's own
    // buffer (e.g. a stored .npz member inside the archive) may not be aligned for Float64Array views.
    const buf = new ArrayBuffer(want);
    new Uint8Array(buf).set(bytes.subarray(dataStart, dataStart + want));
    data = info.make(buf, n);
  }
  if (dtype === '|b1') {
    const u = data as Uint8Array;
    for (let k = 0; k < u.length; k++) {
      if (u[k]! > 1) throw new RangeError(`${source}: bool array holds byte value ${u[k]} at element ${k}; expected 0 or 1`);
    }
  }
  return { dtype, shape, data };
}

function latin1(b: Uint8Array): string {
  let s = '';
  for (let k = 0; k < b.length; k += 8192) s += String.fromCharCode(...b.subarray(k, k + 8192));
  return s;
}

function pyShapeRepr(shape: readonly number[]): string {
  if (shape.length === 0) return '()';
  if (shape.length === 1) return `(${shape[0]},)`;
  return `(${shape.join(', ')})`;
}

/** Encodes an array as .npy bytes, byte-identical to numpy's np.save for the same array. */
export function encodeNpy(arr: NpyArray, source = 'array'): Uint8Array {
  const a = npyArray(arr.dtype, arr.shape, arr.data, source);
  let header = `{'descr': '${a.dtype}', 'fortran_order': False, 'shape': ${pyShapeRepr(a.shape)}, }`;
  // numpy leaves room to grow the first axis in place.
  if (a.shape.length > 0) header += ' '.repeat(GROWTH_AXIS_MAX_DIGITS - String(a.shape[0]).length);
  const hlen = header.length + 1; // + '\n'
  let version = 1;
  let prefix = 10;
  let padlen = ARRAY_ALIGN - ((prefix + hlen) % ARRAY_ALIGN);
  if (hlen + padlen > 65535) {
    version = 2;
    prefix = 12;
    padlen = ARRAY_ALIGN - ((prefix + hlen) % ARRAY_ALIGN);
  }
  const total = prefix + hlen + padlen;
  const nbytes = a.data.byteLength;
  const out = new Uint8Array(total + nbytes);
  out.set(MAGIC, 0);
  out[6] = version;
  out[7] = 0;
  const v = new DataView(out.buffer);
  if (version === 1) v.setUint16(8, hlen + padlen, true);
  else v.setUint32(8, hlen + padlen, true);
  for (let k = 0; k < header.length; k++) out[prefix + k] = header.charCodeAt(k);
  out.fill(0x20, prefix + header.length, total - 1);
  out[total - 1] = 0x0a;
  out.set(new Uint8Array(a.data.buffer, a.data.byteOffset, nbytes), total);
  return out;
}

export function readNpy(path: string): NpyArray {
  return parseNpy(readFile(path), path);
}

/** Writes atomically: a temporary file next to the target, then a rename. */
export function writeNpy(path: string, arr: NpyArray): void {
  writeFileAtomic(path, encodeNpy(arr, path));
}

/** A file's bytes; a failure names the file and says why in words (a folder, missing, ...). */
export function readFile(path: string): Uint8Array {
  let b: Buffer;
  try {
    b = readFileSync(path);
  } catch (e) {
    throw fsError('read', path, e);
  }
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}
