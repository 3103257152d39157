// Issue 15, item 11: a small .npz whose member inflates to far more than its .npy header needs (a
// decompression bomb) is refused before it is inflated, without the memory it claims; so is a ZIP
// directory that declares more than deflate can produce.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { encodeNpy, npyArray } from '../../train/data/npy.ts';
import { readNpz } from '../../train/data/npz.ts';
import { crc32 } from '../../checksum/crc32.ts';
import { tempDir } from './helpers.ts';

/** Bits packed least significant first, as deflate does; Huffman codes go most significant bit first. */
class BitWriter {
  private bytes: number[] = [];
  private acc = 0;
  private n = 0;
  bits(value: number, count: number): void {
    for (let k = 0; k < count; k++) this.bit((value >>> k) & 1);
  }
  code(value: number, count: number): void {
    for (let k = count - 1; k >= 0; k--) this.bit((value >>> k) & 1);
  }
  private bit(b: number): void {
    this.acc |= b << this.n;
    if (++this.n === 8) {
      this.bytes.push(this.acc);
      this.acc = 0;
      this.n = 0;
    }
  }
  done(): Uint8Array {
    if (this.n > 0) this.bytes.push(this.acc);
    return Uint8Array.from(this.bytes);
  }
}

/** A fixed-Huffman deflate stream: `prefix` as literals, then `zeros` zero bytes (258 per back-reference). */
function deflateBomb(prefix: Uint8Array, zeros: number): Uint8Array {
  const w = new BitWriter();
  w.bits(1, 1); // BFINAL
  w.bits(1, 2); // BTYPE 01: fixed Huffman codes
  const literal = (b: number) => (b < 144 ? w.code(0x30 + b, 8) : w.code(0x190 + b - 144, 9));
  for (const b of prefix) literal(b);
  literal(0);
  for (let left = zeros - 1; left >= 258; left -= 258) {
    w.code(0xc5, 8); // length 258 (code 285)
    w.code(0, 5); // distance 1
  }
  w.code(0, 7); // end of block
  return w.done();
}

/** A one-member ZIP whose directory declares `declared` bytes for `data` (deflated). */
function zipWith(name: string, data: Uint8Array, declared: number, crc: number): Uint8Array {
  const enc = new TextEncoder().encode(name);
  const local = new Uint8Array(30 + enc.length);
  const lv = new DataView(local.buffer);
  lv.setUint32(0, 0x04034b50, true);
  lv.setUint16(4, 20, true);
  lv.setUint16(8, 8, true);
  lv.setUint32(14, crc, true);
  lv.setUint32(18, data.length, true);
  lv.setUint32(22, declared, true);
  lv.setUint16(26, enc.length, true);
  local.set(enc, 30);
  const cd = new Uint8Array(46 + enc.length);
  const cv = new DataView(cd.buffer);
  cv.setUint32(0, 0x02014b50, true);
  cv.setUint16(4, 20, true);
  cv.setUint16(6, 20, true);
  cv.setUint16(10, 8, true);
  cv.setUint32(16, crc, true);
  cv.setUint32(20, data.length, true);
  cv.setUint32(24, declared, true);
  cv.setUint16(28, enc.length, true);
  cd.set(enc, 46);
  const eocd = new Uint8Array(22);
  const ev = new DataView(eocd.buffer);
  ev.setUint32(0, 0x06054b50, true);
  ev.setUint16(8, 1, true);
  ev.setUint16(10, 1, true);
  ev.setUint32(12, cd.length, true);
  ev.setUint32(16, local.length + data.length, true);
  const out = new Uint8Array(local.length + data.length + cd.length + 22);
  out.set(local, 0);
  out.set(data, local.length);
  out.set(cd, local.length + data.length);
  out.set(eocd, local.length + data.length + cd.length);
  return out;
}

const dir = tempDir('bomb');

test('an .npz member that inflates far beyond its .npy header is refused before it is inflated', () => {
  // The header says 10 x 2 float32 (80 bytes of data); the stream inflates to 400 MB of zeros, and
  // the directory declares all of it: the file is about 2.5 MB.
  const header = encodeNpy(npyArray('<f4', [10, 2], new Float32Array(20)));
  const headerOnly = header.subarray(0, header.length - 80);
  const inflated = 400 * 2 ** 20;
  const stream = deflateBomb(headerOnly, inflated - headerOnly.length);
  const file = join(dir, 'bomb.npz');
  writeFileSync(file, zipWith('observations.npy', stream, inflated, 0));
  const before = process.resourceUsage().maxRSS;
  assert.throws(
    () => readNpz(file),
    (e: Error) =>
      e instanceof RangeError &&
      /bomb\.npz\[observations\]: data length mismatch: shape \(10, 2\) <f4 needs 80 bytes/.test(e.message) &&
      /the member declares \d+ .* refused before inflating it/.test(e.message),
  );
  const grownMiB = (process.resourceUsage().maxRSS - before) / 1024;
  assert.ok(grownMiB < 100, `reading the bomb raised the peak memory by ${grownMiB.toFixed(0)} MiB`);
});

test('a ZIP directory that declares more than deflate can produce is refused without allocating it', () => {
  const npy = encodeNpy(npyArray('<f4', [10, 2], new Float32Array(20)));
  const stream = deflateBomb(npy, 1);
  const file = join(dir, 'liar.npz');
  // 3.9 GB claimed from a few hundred bytes (deflate gives at most 1032:1).
  writeFileSync(file, zipWith('actions.npy', stream, 0xf0000000, crc32(npy)));
  assert.throws(
    () => readNpz(file),
    /liar\.npz\[actions\]: corrupt ZIP: the directory declares 4026531840 bytes from \d+ compressed bytes/,
  );
});
