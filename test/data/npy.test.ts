import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type NpyArray, NPY_DTYPES, encodeNpy, parseNpy, readNpy, writeNpy } from '../../train/data/npy.ts';
import { encodeNpz, encodeZip, parseNpz, readNpz, writeNpz } from '../../train/data/npz.ts';
import { crc32 } from '../../checksum/crc32.ts';
import { Rng } from '../../rng/rng.ts';

const dir = mkdtempSync(join(tmpdir(), 'hiql-npy-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

const ascii = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0));
const concat = (...parts: Uint8Array[]) => {
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
};
const le16 = (x: number) => Uint8Array.of(x & 0xff, (x >>> 8) & 0xff);
const le32 = (x: number) => Uint8Array.of(x & 0xff, (x >>> 8) & 0xff, (x >>> 16) & 0xff, (x >>> 24) & 0xff);
const bytesOf = (a: ArrayBufferView) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

/** A .npy file built by hand following the format spec, exactly as numpy >= 1.24 writes it. */
function handNpy(
  descr: string,
  shapeRepr: string,
  firstDim: number | null,
  data: Uint8Array,
  opts: { version?: 1 | 2; align?: number; growth?: boolean; fortran?: boolean } = {},
): Uint8Array {
  const version = opts.version ?? 1;
  const align = opts.align ?? 64;
  let dict = `{'descr': '${descr}', 'fortran_order': ${opts.fortran ? 'True' : 'False'}, 'shape': ${shapeRepr}, }`;
  if ((opts.growth ?? true) && firstDim !== null) dict += ' '.repeat(21 - String(firstDim).length);
  const prefix = version === 1 ? 10 : 12;
  const pad = align - ((prefix + dict.length + 1) % align);
  const header = dict + ' '.repeat(pad) + '\n';
  const len = version === 1 ? le16(header.length) : le32(header.length);
  return concat(Uint8Array.of(0x93), ascii('NUMPY'), Uint8Array.of(version, 0), len, ascii(header), data);
}

/** A ZIP built by hand: stored (method 0) members; optionally with numpy's ZIP64 local headers. */
function handZip(members: { name: string; data: Uint8Array }[], zip64Local = false): Uint8Array {
  const locals: Uint8Array[] = [];
  const centrals: Uint8Array[] = [];
  let offset = 0;
  for (const m of members) {
    const name = ascii(m.name);
    const crc = crc32(m.data);
    // numpy opens members with force_zip64=True: the local header's sizes are 0xFFFFFFFF and a
    // ZIP64 extra field (id 1, 16 bytes) holds them; the central directory has the plain values.
    const extra = zip64Local ? concat(le16(1), le16(16), le32(m.data.length), le32(0), le32(m.data.length), le32(0)) : new Uint8Array(0);
    const size32 = zip64Local ? 0xffffffff : m.data.length;
    const local = concat(
      le32(0x04034b50),
      le16(zip64Local ? 45 : 10),
      le16(0),
      le16(0),
      le16(0),
      le16(0x21),
      le32(crc),
      le32(size32),
      le32(size32),
      le16(name.length),
      le16(extra.length),
      name,
      extra,
    );
    const central = concat(
      le32(0x02014b50),
      le16(20),
      le16(10),
      le16(0),
      le16(0),
      le16(0),
      le16(0x21),
      le32(crc),
      le32(m.data.length),
      le32(m.data.length),
      le16(name.length),
      le16(0),
      le16(0),
      le16(0),
      le16(0),
      le32(0),
      le32(offset),
      name,
    );
    locals.push(local, m.data);
    centrals.push(central);
    offset += local.length + m.data.length;
  }
  const cd = concat(...centrals);
  const eocd = concat(
    le32(0x06054b50),
    le16(0),
    le16(0),
    le16(members.length),
    le16(members.length),
    le32(cd.length),
    le32(offset),
    le16(0),
  );
  return concat(...locals, cd, eocd);
}

test('a hand-built .npy (format 1.0, 64-byte aligned header) loads, and our writer produces the same bytes', () => {
  const values = Float32Array.of(1, 2, 3, 4, 5, 6.5);
  const file = handNpy('<f4', '(2, 3)', 2, bytesOf(values));
  assert.equal(file.length % 64, 24); // header 64 bytes, then 24 data bytes
  const arr = parseNpy(file, 'hand.npy');
  assert.equal(arr.dtype, '<f4');
  assert.deepEqual(arr.shape, [2, 3]);
  assert.deepEqual(arr.data, values);
  assert.deepEqual(encodeNpy(arr), file);
  // numpy's np.save(np.zeros(3, np.float32)) has header length 0x76: 10 + 118 = 128 bytes before the data.
  const z = encodeNpy({ dtype: '<f4', shape: [3], data: new Float32Array(3) });
  assert.deepEqual([...z.subarray(0, 10)], [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0, 0x76, 0]);
  assert.equal(z.length, 128 + 12);
  assert.equal(String.fromCharCode(...z.subarray(10, 67)), "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }");
  assert.equal(z[127], 0x0a);
});

test('older (16-byte aligned, no growth padding), version 2.0, scalar and bool .npy files load', () => {
  const old = handNpy('<i8', '(3,)', 3, bytesOf(BigInt64Array.of(-1n, 2n, 3n)), { align: 16, growth: false });
  assert.deepEqual([...old.subarray(8, 10)], [0x46, 0]); // 'F\x00': 70-byte header, data at 80
  const a = parseNpy(old, 'old.npy');
  assert.deepEqual(a.data, BigInt64Array.of(-1n, 2n, 3n));
  const v2 = handNpy('<u2', '(2,)', 2, bytesOf(Uint16Array.of(7, 65535)), { version: 2 });
  assert.deepEqual(parseNpy(v2, 'v2.npy').data, Uint16Array.of(7, 65535));
  const scalar = handNpy('<f8', '()', null, bytesOf(Float64Array.of(Math.PI)));
  assert.deepEqual(parseNpy(scalar, 's.npy'), { dtype: '<f8', shape: [], data: Float64Array.of(Math.PI) });
  const bool = handNpy('|b1', '(4,)', 4, Uint8Array.of(1, 0, 0, 1));
  assert.deepEqual(parseNpy(bool, 'b.npy'), { dtype: '|b1', shape: [4], data: Uint8Array.of(1, 0, 0, 1) });
});

test('a hand-built stored .npz (plain and with numpy-style ZIP64 local headers) loads', () => {
  const obs = handNpy('<f4', '(2, 2)', 2, bytesOf(Float32Array.of(0.5, 1.5, 2.5, 3.5)));
  const term = handNpy('|b1', '(2,)', 2, Uint8Array.of(0, 1));
  for (const zip64 of [false, true]) {
    const zip = handZip(
      [
        { name: 'observations.npy', data: obs },
        { name: 'terminals.npy', data: term },
      ],
      zip64,
    );
    const path = join(dir, `hand${zip64 ? '64' : ''}.npz`);
    writeFileSync(path, zip);
    const arrays = readNpz(path);
    assert.deepEqual(Object.keys(arrays), ['observations', 'terminals']);
    assert.deepEqual(arrays['observations'], { dtype: '<f4', shape: [2, 2], data: Float32Array.of(0.5, 1.5, 2.5, 3.5) });
    assert.deepEqual(arrays['terminals'], { dtype: '|b1', shape: [2], data: Uint8Array.of(0, 1) });
  }
});

function sampleArray(dtype: string, shape: number[], rng: Rng): NpyArray {
  const n = shape.reduce((a, b) => a * b, 1);
  const u32 = () => rng.nextU32();
  switch (dtype) {
    case '<f4':
      return {
        dtype,
        shape,
        data: Float32Array.from({ length: n }, (_, k) => [NaN, -0, Infinity, -Infinity, 3.4e38, 1e-45][k] ?? rng.normal() * 1e3),
      };
    case '<f8':
      return {
        dtype,
        shape,
        data: Float64Array.from({ length: n }, (_, k) => [NaN, -0, Infinity, Number.MAX_VALUE, 5e-324][k] ?? rng.normal() * 1e10),
      };
    case '|b1':
      return { dtype, shape, data: Uint8Array.from({ length: n }, () => rng.int(2)) };
    case '|u1':
      return { dtype, shape, data: Uint8Array.from({ length: n }, () => rng.int(256)) };
    case '|i1':
      return { dtype, shape, data: Int8Array.from({ length: n }, () => rng.int(256) - 128) };
    case '<i2':
      return { dtype, shape, data: Int16Array.from({ length: n }, () => rng.int(65536) - 32768) };
    case '<u2':
      return { dtype, shape, data: Uint16Array.from({ length: n }, () => rng.int(65536)) };
    case '<i4':
      return { dtype, shape, data: Int32Array.from({ length: n }, () => u32() | 0) };
    case '<u4':
      return { dtype, shape, data: Uint32Array.from({ length: n }, () => u32()) };
    case '<i8':
      return {
        dtype,
        shape,
        data: BigInt64Array.from(
          { length: n },
          (_, k) => [-(2n ** 63n), 2n ** 63n - 1n][k] ?? BigInt.asIntN(64, (BigInt(u32()) << 32n) | BigInt(u32())),
        ),
      };
    case '<u8':
      return {
        dtype,
        shape,
        data: BigUint64Array.from({ length: n }, (_, k) => [2n ** 64n - 1n][k] ?? (BigInt(u32()) << 32n) | BigInt(u32())),
      };
    default:
      throw new Error(dtype);
  }
}

test('.npz and .npy round trips are exact for every supported dtype (compressed and stored)', () => {
  const rng = new Rng(3);
  const arrays: Record<string, NpyArray> = {};
  for (const dt of NPY_DTYPES) {
    arrays[`a${dt.replace(/[<|]/g, '_')}`] = sampleArray(dt, [7, 3], rng);
    arrays[`s${dt.replace(/[<|]/g, '_')}`] = sampleArray(dt, [], rng);
  }
  arrays['empty'] = { dtype: '<f4', shape: [0, 2], data: new Float32Array(0) };
  arrays['infos/goal'] = sampleArray('<f8', [2, 2, 2], rng);
  for (const compress of [true, false]) {
    const path = join(dir, `all-${compress}.npz`);
    writeNpz(path, arrays, { compress });
    const back = readNpz(path);
    assert.deepEqual(Object.keys(back), Object.keys(arrays));
    for (const [k, a] of Object.entries(arrays)) {
      const b = back[k]!;
      assert.equal(b.dtype, a.dtype, k);
      assert.deepEqual(b.shape, a.shape, k);
      assert.equal(b.data.constructor, a.data.constructor, k);
      assert.deepEqual(bytesOf(b.data), bytesOf(a.data), k); // bit-exact, NaN payloads and -0 included
    }
  }
  // Compressed archives are smaller for compressible data, and the bytes are reproducible.
  const big = { x: { dtype: '<f4', shape: [10000], data: new Float32Array(10000) } };
  assert.ok(encodeNpz(big).length < encodeNpz(big, { compress: false }).length / 10);
  assert.deepEqual(encodeNpz(arrays), encodeNpz(arrays));
  const p = join(dir, 'one.npy');
  writeNpy(p, arrays['a_f4']!);
  assert.deepEqual(bytesOf(readNpy(p).data), bytesOf(arrays['a_f4']!.data));
});

// ---- malformed files: every error names the file, the key and the problem ----

function npzWith(name: string, npy: Uint8Array): string {
  const path = join(dir, name);
  writeFileSync(path, encodeZip([{ name: 'observations.npy', data: npy }], { compress: true }));
  return path;
}

test('malformed: truncated .npy data and truncated .npz', () => {
  const npy = handNpy('<f4', '(2, 3)', 2, bytesOf(new Float32Array(6)));
  assert.throws(
    () => parseNpy(npy.subarray(0, npy.length - 4), 'x.npy'),
    /^Error: x\.npy: truncated \.npy data: shape \(2, 3\) <f4 needs 24 bytes, file has 20$/,
  );
  assert.throws(() => parseNpy(npy.subarray(0, 30), 'x.npy'), /x\.npy: truncated \.npy file: header says 118 bytes but only 20 follow/);
  assert.throws(() => parseNpy(npy.subarray(0, 5), 'x.npy'), /x\.npy: truncated \.npy file: 5 bytes/);
  const path = npzWith('trunc.npz', npy);
  const full = readNpz(path); // sanity: the intact file loads
  assert.deepEqual(full['observations']!.shape, [2, 3]);
  const zip = encodeZip([{ name: 'observations.npy', data: npy }], { compress: false });
  const cut = join(dir, 'cut.npz');
  writeFileSync(cut, zip.subarray(0, zip.length - 40));
  assert.throws(
    () => readNpz(cut),
    (e: Error) => e.message.startsWith(`${cut}: truncated .npz file`),
  );
  // Member data shortened inside an otherwise valid directory: the member's own check fires.
  const inner = join(dir, 'inner.npz');
  writeFileSync(inner, encodeZip([{ name: 'observations.npy', data: npy.subarray(0, npy.length - 8) }]));
  assert.throws(() => readNpz(inner), new RegExp(`${inner.replace(/[.]/g, '\\.')}\\[observations\\]: truncated \\.npy data`));
});

test('malformed: bad magic', () => {
  const npy = handNpy('<f4', '(1,)', 1, new Uint8Array(4));
  const bad = Uint8Array.from(npy);
  bad[1] = 0x4d; // 'M' instead of 'N'
  assert.throws(() => parseNpy(bad, 'm.npy'), /m\.npy: bad magic: not a \.npy file/);
  const path = join(dir, 'notzip.npz');
  writeFileSync(path, 'this is not a zip file at all, just text that is long enough');
  assert.throws(() => readNpz(path), new RegExp(`${path.replace(/[.]/g, '\\.')}: bad magic: not a \\.npz \\(ZIP\\) file`));
  const badMember = npzWith('badmember.npz', bad);
  assert.throws(() => readNpz(badMember), /badmember\.npz\[observations\]: bad magic/);
});

test('malformed: unsupported dtypes and big-endian data', () => {
  const cases: [string, RegExp][] = [
    ['<f2', /u\.npz\[observations\]: unsupported dtype '<f2'; supported: <f4, <f8, \|b1, \|u1, \|i1, <i2, <u2, <i4, <u4, <i8, <u8/],
    ['<c8', /unsupported dtype '<c8'/],
    ['|O', /unsupported dtype '\|O'/],
    ['<U5', /unsupported dtype '<U5'/],
    ['>f4', /u\.npz\[observations\]: big-endian dtype '>f4' is not supported; convert the array to little-endian \('<f4'\)/],
    ['>i8', /big-endian dtype '>i8'/],
  ];
  for (const [descr, re] of cases) {
    const path = npzWith('u.npz', handNpy(descr, '(1,)', 1, new Uint8Array(8)));
    assert.throws(() => readNpz(path), re, descr);
  }
  // Structured dtype: descr is a list.
  const structured = concat(ascii('\x93NUMPY'), Uint8Array.of(1, 0));
  const dict = "{'descr': [('x', '<f4'), ('y', '<f4')], 'fortran_order': False, 'shape': (1,), }";
  const hdr = dict + ' '.repeat(64 - ((10 + dict.length + 1) % 64)) + '\n';
  const file = concat(structured, le16(hdr.length), ascii(hdr), new Uint8Array(8));
  assert.throws(
    () => parseNpy(file, 'st.npy'),
    /st\.npy: unsupported dtype \[\["x","<f4"\],\["y","<f4"\]\] \(structured arrays are not supported\)/,
  );
  // One-byte types accept any byte-order mark.
  assert.equal(parseNpy(handNpy('>u1', '(1,)', 1, Uint8Array.of(9)), 'b.npy').dtype, '|u1');
});

test('malformed: Fortran order and data length that does not match the shape', () => {
  const fortran = handNpy('<f4', '(2, 2)', 2, new Uint8Array(16), { fortran: true });
  const path = npzWith('fortran.npz', fortran);
  assert.throws(() => readNpz(path), /fortran\.npz\[observations\]: fortran_order True is not supported; save a C-ordered array/);
  const long = concat(handNpy('<f4', '(2, 2)', 2, new Uint8Array(16)), new Uint8Array(4));
  assert.throws(
    () => parseNpy(long, 'long.npy'),
    /^RangeError: long\.npy: data length mismatch: shape \(2, 2\) <f4 needs 16 bytes, file has 20 \(4 extra\)$/,
  );
  assert.throws(
    () => parseNpy(handNpy('|b1', '(2,)', 2, Uint8Array.of(1, 7)), 'b.npy'),
    /b\.npy: bool array holds byte value 7 at element 1; expected 0 or 1/,
  );
});

test('malformed: corrupt compressed data is caught by the CRC', () => {
  const npy = handNpy('<f4', '(4,)', 4, bytesOf(Float32Array.of(1, 2, 3, 4)));
  const zip = encodeZip([{ name: 'observations.npy', data: npy }], { compress: false });
  const bad = Uint8Array.from(zip);
  bad[30 + 'observations.npy'.length + 130]! ^= 0xff; // flip a data byte of the stored member
  assert.throws(
    () => parseNpz(bad, 'c.npz'),
    /c\.npz\[observations\.npy\]: CRC-32 mismatch \(stored 0x[0-9a-f]{8}, computed 0x[0-9a-f]{8}\): the file is corrupt/,
  );
  assert.throws(
    () => parseNpz(encodeZip([{ name: 'readme.txt', data: ascii('hi') }]), 'r.npz'),
    /r\.npz: member 'readme\.txt' is not a \.npy array/,
  );
});
