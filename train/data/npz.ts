// NumPy .npz archives: a ZIP file holding one KEY.npy per array (np.savez stores them,
// np.savez_compressed deflates them). Reading handles both, including the ZIP64 records that
// numpy's writer adds (it opens every member with force_zip64=True); writing deflates by default
// and produces a plain ZIP with a fixed timestamp, so the same arrays give the same bytes.
//
// The ZIP container is parsed here (central directory, local headers, CRC-32 check) rather than
// by a library so that every failure can say which file, which member and what is wrong; only the
// deflate codec comes from fflate.

import { basename, dirname } from 'node:path';
import { Inflate, deflateSync, inflateSync } from 'fflate';
import { crc32 } from '../../checksum/crc32.ts';
import { removeStaleTempFiles, writeFileAtomic } from '../../onnx/checkpoint.ts';
import { type NpyArray, encodeNpy, npyHeaderLength, parseNpy, parseNpyHeader, readFile } from './npy.ts';

const SIG_LOCAL = 0x04034b50;
const SIG_CENTRAL = 0x02014b50;
const SIG_EOCD = 0x06054b50;
const SIG_ZIP64_EOCD = 0x06064b50;
const SIG_ZIP64_LOCATOR = 0x07064b50;

export interface ZipEntry {
  name: string;
  /** 0 = stored, 8 = deflate. */
  method: number;
  crc32: number;
  compressedSize: number;
  size: number;
  localHeaderOffset: number;
}

function u64(v: DataView, o: number): number {
  const lo = v.getUint32(o, true);
  const hi = v.getUint32(o + 4, true);
  const n = hi * 4294967296 + lo;
  if (!Number.isSafeInteger(n)) throw new RangeError(`ZIP64 value ${hi}:${lo} exceeds 2^53`);
  return n;
}

/** Lists the members of a ZIP archive from its central directory. */
export function listZip(bytes: Uint8Array, source: string): ZipEntry[] {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = bytes.length;
  // The end-of-central-directory record is the last 22 bytes plus an optional comment (< 64 KiB).
  let eocd = -1;
  for (let o = n - 22; o >= Math.max(0, n - 22 - 65535); o--) {
    if (v.getUint32(o, true) === SIG_EOCD) {
      eocd = o;
      break;
    }
  }
  if (eocd < 0) {
    const isLocal = n >= 4 && v.getUint32(0, true) === SIG_LOCAL;
    throw new Error(
      isLocal
        ? `${source}: truncated .npz file: ZIP end-of-central-directory record missing (${n} bytes; was the file cut short?)`
        : `${source}: bad magic: not a .npz (ZIP) file (no ZIP signature found in ${n} bytes)`,
    );
  }
  let count = v.getUint16(eocd + 10, true);
  let cdSize = v.getUint32(eocd + 12, true);
  let cdOffset = v.getUint32(eocd + 16, true);
  if (count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
    const loc = eocd - 20;
    if (loc < 0 || v.getUint32(loc, true) !== SIG_ZIP64_LOCATOR) throw new Error(`${source}: ZIP64 archive without a ZIP64 locator`);
    const z = u64(v, loc + 8);
    if (z + 56 > n || v.getUint32(z, true) !== SIG_ZIP64_EOCD)
      throw new Error(`${source}: ZIP64 end-of-central-directory record missing at offset ${z}`);
    count = u64(v, z + 32);
    cdSize = u64(v, z + 40);
    cdOffset = u64(v, z + 48);
  }
  if (cdOffset + cdSize > n)
    throw new Error(`${source}: truncated .npz file: central directory at ${cdOffset} (+${cdSize} bytes) lies past the end (${n} bytes)`);
  const entries: ZipEntry[] = [];
  let o = cdOffset;
  for (let k = 0; k < count; k++) {
    if (o + 46 > n || v.getUint32(o, true) !== SIG_CENTRAL)
      throw new Error(`${source}: corrupt ZIP central directory at offset ${o} (entry ${k} of ${count})`);
    const flags = v.getUint16(o + 8, true);
    const method = v.getUint16(o + 10, true);
    const crc = v.getUint32(o + 16, true);
    let compressedSize = v.getUint32(o + 20, true);
    let size = v.getUint32(o + 24, true);
    const nameLen = v.getUint16(o + 28, true);
    const extraLen = v.getUint16(o + 30, true);
    const commentLen = v.getUint16(o + 32, true);
    let localHeaderOffset = v.getUint32(o + 42, true);
    if (o + 46 + nameLen + extraLen + commentLen > n) throw new Error(`${source}: truncated ZIP central directory entry ${k}`);
    const name = new TextDecoder().decode(bytes.subarray(o + 46, o + 46 + nameLen));
    if (flags & 1) throw new Error(`${source}: member '${name}' is encrypted; encrypted archives are not supported`);
    // ZIP64 extended information: the 64-bit values replace whichever 32-bit fields are 0xFFFFFFFF, in this order.
    let e = o + 46 + nameLen;
    const eEnd = e + extraLen;
    while (e + 4 <= eEnd) {
      const id = v.getUint16(e, true);
      const len = v.getUint16(e + 2, true);
      if (id === 0x0001) {
        let p = e + 4;
        if (size === 0xffffffff) {
          size = u64(v, p);
          p += 8;
        }
        if (compressedSize === 0xffffffff) {
          compressedSize = u64(v, p);
          p += 8;
        }
        if (localHeaderOffset === 0xffffffff) localHeaderOffset = u64(v, p);
      }
      e += 4 + len;
    }
    entries.push({ name, method, crc32: crc, compressedSize, size, localHeaderOffset });
    o += 46 + nameLen + extraLen + commentLen;
  }
  return entries;
}

/** The uncompressed bytes of one member (CRC-checked). */
export function readZipEntry(bytes: Uint8Array, entry: ZipEntry, source: string): Uint8Array {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const where = `${source}[${entry.name}]`;
  const o = entry.localHeaderOffset;
  if (o + 30 > bytes.length || v.getUint32(o, true) !== SIG_LOCAL)
    throw new Error(`${where}: corrupt ZIP: no local file header at offset ${o}`);
  const start = o + 30 + v.getUint16(o + 26, true) + v.getUint16(o + 28, true);
  const end = start + entry.compressedSize;
  if (end > bytes.length) {
    throw new Error(`${where}: truncated .npz file: member data needs bytes ${start}..${end}, file has ${bytes.length}`);
  }
  const raw = bytes.subarray(start, end);
  let out: Uint8Array;
  if (entry.method === 0) {
    out = raw;
  } else if (entry.method === 8) {
    checkDeflateRatio(entry, raw.length, where);
    try {
      // With an output buffer of the declared size fflate never writes past it: a stream that
      // inflates to more stops there (and fails the CRC check below).
      out = inflateSync(raw, { out: new Uint8Array(entry.size) });
    } catch (err) {
      throw new Error(`${where}: corrupt deflate data (${err instanceof Error ? err.message : String(err)})`, { cause: err });
    }
  } else {
    throw new Error(`${where}: unsupported ZIP compression method ${entry.method} (supported: 0 stored, 8 deflate)`);
  }
  if (out.length !== entry.size) throw new Error(`${where}: member inflates to ${out.length} bytes, directory says ${entry.size}`);
  const crc = crc32(out);
  if (crc !== entry.crc32)
    throw new Error(`${where}: CRC-32 mismatch (stored ${hex(entry.crc32)}, computed ${hex(crc)}): the file is corrupt`);
  return out;
}

const MAX_DEFLATE_RATIO = 1032;

/**
 * Deflate turns at most 2 bits into 258 bytes (1032:1): a directory that declares more than the
 * data can give is corrupt or a decompression bomb, refused before anything is allocated.
 */
function checkDeflateRatio(entry: ZipEntry, compressed: number, where: string): void {
  if (entry.size > MAX_DEFLATE_RATIO * compressed + 1024)
    throw new Error(
      `${where}: corrupt ZIP: the directory declares ${entry.size} bytes from ${compressed} compressed bytes, ` +
        `more than deflate can produce (at most ${MAX_DEFLATE_RATIO}:1)`,
    );
}

/**
 * The first `want` inflated bytes of a deflate stream (fewer if it ends first), inflating in small
 * slices so that at most about a megabyte more than `want` is ever produced.
 */
export function inflatePrefix(raw: Uint8Array, want: number): Uint8Array {
  const parts: Uint8Array[] = [];
  let got = 0;
  const inf = new Inflate((chunk) => {
    parts.push(chunk);
    got += chunk.length;
  });
  for (let o = 0; o < raw.length && got < want; o += 1024)
    inf.push(raw.subarray(o, Math.min(raw.length, o + 1024)), o + 1024 >= raw.length);
  const out = new Uint8Array(Math.min(got, want));
  let p = 0;
  for (const c of parts) {
    if (p >= out.length) break;
    const take = c.subarray(0, out.length - p);
    out.set(take, p);
    p += take.length;
  }
  return out;
}

/**
 * For a deflated .npy member: inflates only its header and checks that the size the ZIP directory
 * declares is what the header's shape and dtype need, before the member is inflated in full.
 */
function checkDeflatedNpySize(bytes: Uint8Array, entry: ZipEntry, where: string): void {
  const o = entry.localHeaderOffset;
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (o + 30 > bytes.length || v.getUint32(o, true) !== SIG_LOCAL) return; // readZipEntry reports it
  const start = o + 30 + v.getUint16(o + 26, true) + v.getUint16(o + 28, true);
  const raw = bytes.subarray(start, Math.min(bytes.length, start + entry.compressedSize));
  checkDeflateRatio(entry, entry.compressedSize, where);
  let prefix: Uint8Array;
  let headerLen: number | null;
  try {
    prefix = inflatePrefix(raw, 12);
    headerLen = npyHeaderLength(prefix, where);
    if (headerLen === null) return; // too short to be a .npy: parseNpy says so
    // numpy's headers are a few hundred bytes; version 2 allows 4 GiB ones, which nothing writes.
    if (headerLen > 1 << 20) throw new Error(`${where}: .npy header of ${headerLen} bytes (over 1 MiB): not a numpy array`);
    prefix = inflatePrefix(raw, headerLen);
  } catch (err) {
    if (err instanceof Error && err.message.startsWith(where)) throw err;
    throw new Error(`${where}: corrupt deflate data (${err instanceof Error ? err.message : String(err)})`, { cause: err });
  }
  if (prefix.length < headerLen) return; // the stream ends inside the header: parseNpy says so
  const h = parseNpyHeader(prefix, where);
  // Declared short of what the header needs: parseNpy reports the truncation after a small inflate.
  const have = entry.size - h.dataStart;
  if (have > h.dataBytes)
    throw new RangeError(
      `${where}: data length mismatch: shape (${h.shape.join(', ')}) ${h.dtype} needs ${h.dataBytes} bytes, ` +
        `the member declares ${have} (${have - h.dataBytes} extra); refused before inflating it`,
    );
}

function hex(x: number): string {
  return '0x' + x.toString(16).padStart(8, '0');
}

/** Parses .npz bytes into arrays keyed by member name without '.npy'. */
export function parseNpz(bytes: Uint8Array, source = '<npz>'): Record<string, NpyArray> {
  const out: Record<string, NpyArray> = {};
  for (const entry of listZip(bytes, source)) {
    if (entry.name.endsWith('/')) continue; // directory entry
    if (!entry.name.endsWith('.npy')) {
      throw new Error(`${source}: member '${entry.name}' is not a .npy array; an .npz holds only KEY.npy members`);
    }
    const key = entry.name.slice(0, -4);
    if (entry.method === 8) checkDeflatedNpySize(bytes, entry, `${source}[${key}]`);
    // An inflated member is a fresh buffer: its data is used in place, not copied.
    out[key] = parseNpy(readZipEntry(bytes, entry, source), `${source}[${key}]`, { owned: entry.method === 8 });
  }
  return out;
}

export interface NpzWriteOptions {
  /** Deflate members like np.savez_compressed (default true); false stores them like np.savez. */
  compress?: boolean;
  /** Deflate level 0-9 (default 6, zlib's and Python's default). */
  level?: 0 | 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8 | 9;
}

export interface ZipMember {
  name: string;
  data: Uint8Array;
}

/** Writes a ZIP archive (no ZIP64; members and archive must stay below 4 GiB). */
export function encodeZip(members: readonly ZipMember[], opts: NpzWriteOptions = {}): Uint8Array {
  const compress = opts.compress ?? true;
  const enc = new TextEncoder();
  const parts: Uint8Array[] = [];
  const central: Uint8Array[] = [];
  let offset = 0;
  // DOS time 00:00:00, date 1980-01-01: a fixed stamp keeps archives reproducible.
  const dosTime = 0;
  const dosDate = (0 << 9) | (1 << 5) | 1;
  for (const m of members) {
    const name = enc.encode(m.name);
    const crc = crc32(m.data);
    const body = compress ? deflateSync(m.data, { level: opts.level ?? 6 }) : m.data;
    const method = compress ? 8 : 0;
    if (m.data.length > 0xfffffffe || offset + 30 + name.length + body.length > 0xfffffffe) {
      throw new RangeError(`cannot write '${m.name}': .npz members and archives above 4 GiB (ZIP64) are not supported by this writer`);
    }
    const local = new Uint8Array(30 + name.length);
    const lv = new DataView(local.buffer);
    lv.setUint32(0, SIG_LOCAL, true);
    lv.setUint16(4, 20, true); // version needed: 2.0 (deflate)
    lv.setUint16(6, 0x0800, true); // flags: UTF-8 names
    lv.setUint16(8, method, true);
    lv.setUint16(10, dosTime, true);
    lv.setUint16(12, dosDate, true);
    lv.setUint32(14, crc, true);
    lv.setUint32(18, body.length, true);
    lv.setUint32(22, m.data.length, true);
    lv.setUint16(26, name.length, true);
    lv.setUint16(28, 0, true);
    local.set(name, 30);
    const cd = new Uint8Array(46 + name.length);
    const cv = new DataView(cd.buffer);
    cv.setUint32(0, SIG_CENTRAL, true);
    cv.setUint16(4, 20, true); // made by: version 2.0, MS-DOS attributes
    cv.setUint16(6, 20, true);
    cv.setUint16(8, 0x0800, true);
    cv.setUint16(10, method, true);
    cv.setUint16(12, dosTime, true);
    cv.setUint16(14, dosDate, true);
    cv.setUint32(16, crc, true);
    cv.setUint32(20, body.length, true);
    cv.setUint32(24, m.data.length, true);
    cv.setUint16(28, name.length, true);
    cv.setUint32(42, offset, true);
    cd.set(name, 46);
    parts.push(local, body);
    central.push(cd);
    offset += local.length + body.length;
  }
  const cdSize = central.reduce((s, c) => s + c.length, 0);
  const eocd = new Uint8Array(22);
  const ev = new DataView(eocd.buffer);
  ev.setUint32(0, SIG_EOCD, true);
  ev.setUint16(8, members.length, true);
  ev.setUint16(10, members.length, true);
  ev.setUint32(12, cdSize, true);
  ev.setUint32(16, offset, true);
  const out = new Uint8Array(offset + cdSize + 22);
  let p = 0;
  for (const part of [...parts, ...central, eocd]) {
    out.set(part, p);
    p += part.length;
  }
  return out;
}

/** Encodes arrays as .npz bytes (members KEY.npy in the order given). */
export function encodeNpz(arrays: Record<string, NpyArray>, opts: NpzWriteOptions = {}): Uint8Array {
  return encodeZip(
    Object.entries(arrays).map(([key, arr]) => ({ name: `${key}.npy`, data: encodeNpy(arr, key) })),
    opts,
  );
}

export function readNpz(path: string): Record<string, NpyArray> {
  return parseNpz(readFile(path), path);
}

/**
 * Writes an .npz atomically (temporary file, then rename), first removing the temporary files of
 * earlier writers of this path that were killed mid-write.
 */
export function writeNpz(path: string, arrays: Record<string, NpyArray>, opts: NpzWriteOptions = {}): void {
  removeStaleTempFiles(dirname(path), (target) => target === basename(path));
  writeFileAtomic(path, encodeNpz(arrays, opts));
}
