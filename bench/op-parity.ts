// Op-by-op agreement of an execution provider with the CPU, for the ops of the pixel encoder and its
// gradient: each op alone on the same random inputs, max |difference| relative to the CPU output's
// largest entry. The pixel HIQL step differed from the CPU on WebGPU (README, "GPU"); this found the
// op: on an H200 (onnxruntime-node 1.30) Conv over 6 input channels is wrong, 3, 4, 8, 16 are not.
// Needs a machine where the provider starts (e.g. bash bench/gpu-check.sh).
//
//   npm run bench -- op-parity --device webgpu
import { Graph, createSession, gradients, ort, type Tensor } from '../onnx/index.ts';

interface Case {
  name: string;
  inputs: { name: string; dtype: 'float32' | 'uint8'; shape: number[] }[];
  build: (g: Graph, t: Record<string, Tensor>) => Tensor;
}

const f32 = (name: string, shape: number[]) => ({ name, dtype: 'float32' as const, shape });

/** A 3 x 3 Conv on [batch, cin, size, size] frames, with a [cout] bias unless bias is false. */
function convCase(o: { name: string; cin: number; cout: number; bias?: boolean; pads?: number[]; batch?: number; size?: number }): Case {
  const [n, hw, bias] = [o.batch ?? 64, o.size ?? 16, o.bias ?? true];
  return {
    name: o.name,
    inputs: [f32('x', [n, o.cin, hw, hw]), f32('w', [o.cout, o.cin, 3, 3]), ...(bias ? [f32('b', [o.cout])] : [])],
    build: (g, t) => g.conv(t['x']!, t['w']!, bias ? t['b']! : null, { pads: o.pads ?? [1, 1, 1, 1] }),
  };
}

/** d/d(wrt) of sum(y * r), through the gradient rules of onnx/grad.ts. */
const gradOf = (g: Graph, y: Tensor, r: Tensor, wrt: Tensor): Tensor =>
  gradients(g, g.reduceSum(g.mul(y, r), [0, 1, 2, 3], false), [wrt])[0]!;

const CASES: Case[] = [
  {
    name: 'Cast uint8 -> float32, x / 255',
    inputs: [{ name: 'x', dtype: 'uint8', shape: [64, 16, 16, 3] }],
    build: (g, t) => g.mul(g.cast(t['x']!, 'float32'), 1 / 255),
  },
  {
    name: 'Transpose NHWC -> NCHW',
    inputs: [{ name: 'x', dtype: 'float32', shape: [64, 16, 16, 6] }],
    build: (g, t) => g.transpose(t['x']!, [0, 3, 1, 2]),
  },
  {
    name: 'Concat uint8 frames on channels',
    inputs: [
      { name: 'a', dtype: 'uint8', shape: [64, 16, 16, 3] },
      { name: 'b', dtype: 'uint8', shape: [64, 16, 16, 3] },
    ],
    build: (g, t) => g.cast(g.concat([t['a']!, t['b']!], 3), 'float32'),
  },
  convCase({ name: 'Conv 3x3 stride 1 pads 1', cin: 6, cout: 8 }),
  {
    name: 'MaxPool 3x3 stride 2 pads [0,0,1,1] (SAME, even size)',
    inputs: [{ name: 'x', dtype: 'float32', shape: [64, 8, 16, 16] }],
    build: (g, t) => g.maxPool(t['x']!, { kernelShape: [3, 3], strides: [2, 2], pads: [0, 0, 1, 1] }).y,
  },
  {
    name: 'MaxPool 3x3 stride 2 pads [1,1,1,1]',
    inputs: [{ name: 'x', dtype: 'float32', shape: [64, 8, 15, 15] }],
    build: (g, t) => g.maxPool(t['x']!, { kernelShape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] }).y,
  },
  {
    name: 'Pad then MaxPool 3x3 stride 2 (no pads attribute)',
    inputs: [{ name: 'x', dtype: 'float32', shape: [64, 8, 16, 16] }],
    build: (g, t) => g.maxPool(g.pad(t['x']!, [0, 0, 0, 0, 0, 0, 1, 1]), { kernelShape: [3, 3], strides: [2, 2] }).y,
  },
  {
    name: 'ConvTranspose 3x3 pads 1 (Conv input gradient)',
    inputs: [
      { name: 'x', dtype: 'float32', shape: [64, 8, 16, 16] },
      { name: 'w', dtype: 'float32', shape: [8, 6, 3, 3] },
    ],
    build: (g, t) => g.convTranspose(t['x']!, t['w']!, { pads: [1, 1, 1, 1] }),
  },
  {
    name: 'Flatten C,H,W + Gemm',
    inputs: [
      { name: 'x', dtype: 'float32', shape: [64, 16, 2, 2] },
      { name: 'w', dtype: 'float32', shape: [64, 32] },
    ],
    build: (g, t) => g.matMul(g.reshape(t['x']!, [64, 64]), t['w']!),
  },
  ...[
    { name: 'Conv 3x3 stride 1 pads 1, no bias', cin: 6, cout: 8, bias: false },
    { name: 'Conv 3x3 stride 1 no pads, bias', cin: 6, cout: 8, pads: [0, 0, 0, 0] },
    { name: 'Conv 3x3 pads 1, bias, batch 1', cin: 6, cout: 8, batch: 1 },
    { name: 'Conv 3x3 pads 1, bias, 8 -> 16 channels', cin: 8, cout: 16, size: 8 },
    { name: 'Conv 3x3 pads 1, bias, 3 -> 8 channels', cin: 3, cout: 8 },
    { name: 'Conv 3x3 pads 1, bias, 4 -> 8 channels', cin: 4, cout: 8 },
  ].map(convCase),
  {
    name: 'Conv 3x3 pads 1 + Add bias [1, M, 1, 1]',
    inputs: [f32('x', [64, 6, 16, 16]), f32('w', [8, 6, 3, 3]), f32('b', [1, 8, 1, 1])],
    build: (g, t) => g.add(g.conv(t['x']!, t['w']!, null, { pads: [1, 1, 1, 1] }), t['b']!),
  },
  {
    name: 'Conv 6 channels zero-padded to 8',
    inputs: [f32('x', [64, 6, 16, 16]), f32('w', [8, 6, 3, 3]), f32('b', [8])],
    build: (g, t) =>
      g.conv(g.pad(t['x']!, [0, 0, 0, 0, 0, 2, 0, 0]), g.pad(t['w']!, [0, 0, 0, 0, 0, 2, 0, 0]), t['b']!, { pads: [1, 1, 1, 1] }),
  },
  // The gradients as the trainer emits them (onnx/grad.ts), of sum(y * r) for a fixed r.
  {
    name: 'Conv weight gradient (16x16 kernel over the batch)',
    inputs: [f32('x', [64, 6, 16, 16]), f32('w', [8, 6, 3, 3]), f32('r', [64, 8, 16, 16])],
    build: (g, t) => gradOf(g, g.conv(t['x']!, t['w']!, null, { pads: [1, 1, 1, 1] }), t['r']!, t['w']!),
  },
  {
    name: 'Conv input gradient (as emitted)',
    inputs: [f32('x', [64, 6, 16, 16]), f32('w', [8, 6, 3, 3]), f32('r', [64, 8, 16, 16])],
    build: (g, t) => gradOf(g, g.conv(t['x']!, t['w']!, null, { pads: [1, 1, 1, 1] }), t['r']!, t['x']!),
  },
  {
    name: 'MaxPool gradient, first-max masks (SAME pads)',
    inputs: [f32('x', [64, 8, 16, 16]), f32('r', [64, 8, 8, 8])],
    build: (g, t) => gradOf(g, g.maxPool(t['x']!, { kernelShape: [3, 3], strides: [2, 2], pads: [0, 0, 1, 1] }).y, t['r']!, t['x']!),
  },
  {
    name: 'Relu gradient',
    inputs: [f32('x', [64, 8, 16, 16]), f32('r', [64, 8, 16, 16])],
    build: (g, t) => gradOf(g, g.relu(t['x']!), t['r']!, t['x']!),
  },
];

function fill(dtype: 'float32' | 'uint8', n: number, seed: number): Float32Array | Uint8Array {
  if (dtype === 'uint8') return Uint8Array.from({ length: n }, (_, i) => (i * 2654435761 + seed * 97) % 251);
  return Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.7311 + seed * 1.37) * 1.5);
}

export async function main(argv: readonly string[]): Promise<void> {
  let device = 'webgpu';
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--device') device = argv[++i]!;
    else throw new RangeError(`unknown option ${argv[i]}; options: --device webgpu|cuda|cpu`);
  }
  const results: { op: string; relMaxDiff: number | null; error?: string }[] = [];
  for (const c of CASES) {
    const g = new Graph('op');
    const t: Record<string, Tensor> = {};
    for (const x of c.inputs) t[x.name] = g.input(x.name, x.dtype, x.shape);
    g.output(c.build(g, t), 'y');
    const model = g.toBytes();
    const feeds: Record<string, ort.Tensor> = {};
    c.inputs.forEach(
      (x, k) =>
        (feeds[x.name] = new ort.Tensor(
          x.dtype,
          fill(
            x.dtype,
            x.shape.reduce((a, b) => a * b, 1),
            k + 1,
          ),
          x.shape,
        )),
    );
    try {
      const cpu = await createSession(model, { threads: 1 });
      const ref = (await cpu.run(feeds))['y']!.data as Float32Array;
      await cpu.release();
      const dev = await createSession(model, { executionProviders: [device] });
      const got = (await dev.run(feeds))['y']!.data as Float32Array;
      await dev.release();
      let worst = 0;
      let scale = 1e-30;
      for (let i = 0; i < ref.length; i++) {
        worst = Math.max(worst, Math.abs(ref[i]! - got[i]!));
        scale = Math.max(scale, Math.abs(ref[i]!));
      }
      results.push({ op: c.name, relMaxDiff: worst / scale });
      console.log(
        `${c.name.padEnd(56)} max |diff| / max |cpu| = ${(worst / scale).toExponential(2)}${worst / scale > 1e-4 ? '   <-- differs' : ''}`,
      );
    } catch (e) {
      results.push({ op: c.name, relMaxDiff: null, error: (e as Error).message });
      console.log(`${c.name.padEnd(56)} error: ${(e as Error).message.split('\n')[0]}`);
    }
  }
  console.log(JSON.stringify({ bench: 'op-parity', device, results }));
}
