// Minimal PNG encoder and decoder (8-bit RGB / RGBA, non-interlaced) on fflate's zlib, so it runs
// unchanged in Node and in browsers. Encoding uses filter type 0 (None) on every row; decoding
// accepts all five filter types, which covers PNGs from other tools with these colour types.

import { unzlibSync, zlibSync } from 'fflate';
import { crc32 } from '../checksum/crc32.ts';

const SIGNATURE = Uint8Array.of(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a);

export interface PngImage {
  width: number;
  height: number;
  /** 3 (RGB) or 4 (RGBA). */
  channels: 3 | 4;
  /** Row-major pixels, `channels` bytes each. */
  data: Uint8Array;
}

/** Encodes width x height pixels (`channels` = 3 for RGB or 4 for RGBA, 8 bits each) as a PNG file. */
export function encodePng(
  width: number,
  height: number,
  data: Uint8Array | Uint8ClampedArray,
  channels: 3 | 4 = 4,
  level: 0 | 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8 | 9 = 6,
): Uint8Array {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new RangeError(`encodePng: width and height must be positive integers, got ${width} x ${height}`);
  }
  if (channels !== 3 && channels !== 4) throw new RangeError(`encodePng: channels must be 3 or 4, got ${String(channels)}`);
  const rowBytes = width * channels;
  if (data.length !== rowBytes * height) {
    throw new RangeError(`encodePng: expected ${rowBytes * height} bytes (${width} x ${height} x ${channels}), got ${data.length}`);
  }
  const raw = new Uint8Array((rowBytes + 1) * height);
  for (let y = 0; y < height; y++) {
    raw[y * (rowBytes + 1)] = 0; // filter: None
    raw.set(data.subarray(y * rowBytes, (y + 1) * rowBytes), y * (rowBytes + 1) + 1);
  }
  const ihdr = new Uint8Array(13);
  const v = new DataView(ihdr.buffer);
  v.setUint32(0, width);
  v.setUint32(4, height);
  ihdr[8] = 8; // bit depth
  ihdr[9] = channels === 4 ? 6 : 2; // colour type: RGBA or RGB
  ihdr[10] = 0; // compression: deflate
  ihdr[11] = 0; // filter method 0
  ihdr[12] = 0; // no interlace
  const idat = zlibSync(raw, { level });
  const chunks = [chunk('IHDR', ihdr), chunk('IDAT', idat), chunk('IEND', new Uint8Array(0))];
  const out = new Uint8Array(SIGNATURE.length + chunks.reduce((s, c) => s + c.length, 0));
  out.set(SIGNATURE, 0);
  let o = SIGNATURE.length;
  for (const c of chunks) {
    out.set(c, o);
    o += c.length;
  }
  return out;
}

function chunk(type: string, body: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + body.length);
  const v = new DataView(out.buffer);
  v.setUint32(0, body.length);
  for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
  out.set(body, 8);
  v.setUint32(8 + body.length, crc32(out.subarray(4, 8 + body.length)));
  return out;
}

/** Decodes an 8-bit RGB or RGBA non-interlaced PNG; checks signature, chunk CRCs and sizes. */
export function decodePng(bytes: Uint8Array): PngImage {
  if (bytes.length < 8 || SIGNATURE.some((b, i) => bytes[i] !== b)) throw new Error('decodePng: not a PNG file (bad signature)');
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let o = 8;
  let width = 0;
  let height = 0;
  let channels: 3 | 4 = 4;
  const idat: Uint8Array[] = [];
  let sawEnd = false;
  while (o < bytes.length) {
    if (o + 12 > bytes.length) throw new Error(`decodePng: truncated chunk header at byte ${o}`);
    const len = v.getUint32(o);
    const type = String.fromCharCode(...bytes.subarray(o + 4, o + 8));
    if (o + 12 + len > bytes.length) throw new Error(`decodePng: chunk ${type} at byte ${o} needs ${len} bytes, file ends first`);
    const crc = v.getUint32(o + 8 + len);
    if (crc32(bytes.subarray(o + 4, o + 8 + len)) !== crc) throw new Error(`decodePng: CRC mismatch in chunk ${type} at byte ${o}`);
    const body = bytes.subarray(o + 8, o + 8 + len);
    if (type === 'IHDR') {
      const h = new DataView(body.buffer, body.byteOffset, body.byteLength);
      width = h.getUint32(0);
      height = h.getUint32(4);
      const depth = body[8]!;
      const ctype = body[9]!;
      if (depth !== 8 || (ctype !== 2 && ctype !== 6) || body[12] !== 0) {
        throw new Error(
          `decodePng: only 8-bit RGB/RGBA non-interlaced PNGs are supported ` +
            `(bit depth ${depth}, colour type ${ctype}, interlace ${body[12]})`,
        );
      }
      channels = ctype === 6 ? 4 : 3;
    } else if (type === 'IDAT') {
      idat.push(body);
    } else if (type === 'IEND') {
      sawEnd = true;
      break;
    }
    o += 12 + len;
  }
  if (width === 0) throw new Error('decodePng: no IHDR chunk');
  if (!sawEnd) throw new Error('decodePng: no IEND chunk (truncated file?)');
  const z = new Uint8Array(idat.reduce((s, c) => s + c.length, 0));
  let p = 0;
  for (const c of idat) {
    z.set(c, p);
    p += c.length;
  }
  const raw = unzlibSync(z);
  const rowBytes = width * channels;
  if (raw.length !== (rowBytes + 1) * height)
    throw new Error(`decodePng: image data has ${raw.length} bytes, expected ${(rowBytes + 1) * height}`);
  const out = new Uint8Array(rowBytes * height);
  for (let y = 0; y < height; y++) {
    const f = raw[y * (rowBytes + 1)]!;
    const src = raw.subarray(y * (rowBytes + 1) + 1, (y + 1) * (rowBytes + 1));
    const row = y * rowBytes;
    for (let i = 0; i < rowBytes; i++) {
      const a = i >= channels ? out[row + i - channels]! : 0;
      const b = y > 0 ? out[row - rowBytes + i]! : 0;
      const c = i >= channels && y > 0 ? out[row - rowBytes + i - channels]! : 0;
      let pred: number;
      switch (f) {
        case 0:
          pred = 0;
          break;
        case 1:
          pred = a;
          break;
        case 2:
          pred = b;
          break;
        case 3:
          pred = (a + b) >> 1;
          break;
        case 4: {
          const pp = a + b - c;
          const pa = Math.abs(pp - a);
          const pb = Math.abs(pp - b);
          const pc = Math.abs(pp - c);
          pred = pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
          break;
        }
        default:
          throw new Error(`decodePng: bad filter type ${f} on row ${y}`);
      }
      out[row + i] = (src[i]! + pred) & 0xff;
    }
  }
  return { width, height, channels, data: out };
}
