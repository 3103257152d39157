// A small convolutional encoder (Conv SAME, overlapping MaxPool stride 2, ReLU, a residual block,
// Dense) under a squared-error loss: our gradients against TensorFlow.js's on the same float32 inputs.
// TensorFlow.js is NHWC with [kh, kw, in, out] filters; our graphs are NCHW with [out, in, kh, kw].
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { Graph, createSession, gradients, mean, ort } from '../../onnx/index.ts';
import { Rng } from '../../rng/rng.ts';

before(async () => {
  await tf.setBackend('cpu');
  await tf.ready();
});

const [N, C, H, W] = [3, 3, 8, 8];
const [C1, C2] = [4, 4];
const FLAT = C2 * 4 * 4;
const OUT = 2;

test('conv encoder gradients match TensorFlow.js', async () => {
  const rng = Rng.counterSeeded(5);
  const rand = (n: number, s = 0.5) => Float32Array.from({ length: n }, () => s * rng.normal());
  const x = rand(N * C * H * W, 1);
  const target = rand(N * OUT, 1);
  const p = {
    w1: rand(C1 * C * 9),
    b1: rand(C1, 0.1),
    w2: rand(C2 * C1 * 9, 0.3),
    b2: rand(C2, 0.1),
    w3: rand(C2 * C2 * 9, 0.3),
    b3: rand(C2, 0.1),
    dw: rand(FLAT * OUT, 0.2),
    db: rand(OUT, 0.1),
  };
  const shapes: Record<keyof typeof p, number[]> = {
    w1: [C1, C, 3, 3],
    b1: [C1],
    w2: [C2, C1, 3, 3],
    b2: [C2],
    w3: [C2, C2, 3, 3],
    b3: [C2],
    dw: [FLAT, OUT],
    db: [OUT],
  };

  // Ours.
  const g = new Graph('encoder');
  const xi = g.input('x', 'float32', [N, C, H, W]);
  const ti = g.input('t', 'float32', [N, OUT]);
  const P = Object.fromEntries(Object.keys(p).map((k) => [k, g.input(k, 'float32', shapes[k as keyof typeof p])])) as Record<
    keyof typeof p,
    ReturnType<Graph['input']>
  >;
  const same = { pads: [1, 1, 1, 1] };
  let h = g.conv(xi, P.w1, P.b1, same);
  h = g.maxPool(h, { kernelShape: [3, 3], strides: [2, 2], pads: [0, 0, 1, 1] }).y;
  const r = g.conv(g.relu(g.conv(g.relu(h), P.w2, P.b2, same)), P.w3, P.b3, same);
  h = g.relu(g.add(h, r));
  // Flatten in NHWC order so that the Dense weights mean the same thing as in TensorFlow.js.
  const flat = g.reshape(g.transpose(h, [0, 2, 3, 1]), [N, FLAT]);
  const y = g.gemm(flat, P.dw, P.db);
  const d = g.sub(y, ti);
  const loss = mean(g, g.mul(d, d));
  const grads = gradients(g, loss, Object.values(P));
  g.output(loss, 'loss');
  grads.forEach((gr) => g.output(gr));
  const s = await createSession(g.toBytes(), { threads: 1 });
  const feeds: Record<string, ort.Tensor> = {
    x: new ort.Tensor('float32', x, [N, C, H, W]),
    t: new ort.Tensor('float32', target, [N, OUT]),
  };
  for (const k of Object.keys(p) as (keyof typeof p)[]) feeds[k] = new ort.Tensor('float32', p[k], shapes[k]);
  const out = await s.run(feeds);

  // TensorFlow.js.
  const toHwio = (wt: Float32Array, o: number, i: number) => tf.transpose(tf.tensor4d(wt, [o, i, 3, 3]), [2, 3, 1, 0]);
  const xt = tf.transpose(tf.tensor4d(x, [N, C, H, W]), [0, 2, 3, 1]);
  const vars = {
    w1: toHwio(p.w1, C1, C),
    b1: tf.tensor1d(p.b1),
    w2: toHwio(p.w2, C2, C1),
    b2: tf.tensor1d(p.b2),
    w3: toHwio(p.w3, C2, C2),
    b3: tf.tensor1d(p.b3),
    dw: tf.tensor2d(p.dw, [FLAT, OUT]),
    db: tf.tensor1d(p.db),
  };
  const names = Object.keys(vars) as (keyof typeof vars)[];
  const f = (...vs: tf.Tensor[]) => {
    const v = Object.fromEntries(names.map((n, i) => [n, vs[i]!])) as Record<keyof typeof vars, tf.Tensor>;
    let a = tf.add(tf.conv2d(xt as tf.Tensor4D, v.w1 as tf.Tensor4D, 1, 'same'), v.b1);
    a = tf.maxPool(a as tf.Tensor4D, 3, 2, 'same');
    const rr = tf.add(
      tf.conv2d(
        tf.relu(tf.add(tf.conv2d(tf.relu(a) as tf.Tensor4D, v.w2 as tf.Tensor4D, 1, 'same'), v.b2)) as tf.Tensor4D,
        v.w3 as tf.Tensor4D,
        1,
        'same',
      ),
      v.b3,
    );
    a = tf.relu(tf.add(a, rr));
    const yy = tf.add(tf.matMul(tf.reshape(a, [N, FLAT]), v.dw as tf.Tensor2D), v.db);
    return tf.mean(tf.square(tf.sub(yy, tf.tensor2d(target, [N, OUT])))) as tf.Scalar;
  };
  const { value, grads: tg } = tf.valueAndGrads(f)(names.map((n) => vars[n]));
  assert.ok(Math.abs((out['loss']!.data as Float32Array)[0]! - value.dataSync()[0]!) < 1e-5 * Math.abs(value.dataSync()[0]!));
  names.forEach((n, i) => {
    let ref = tg[i]!;
    if (n.startsWith('w')) ref = tf.transpose(ref, [3, 2, 0, 1]); // HWIO -> OIHW
    const want = ref.dataSync();
    const got = out[`${n}_grad`]!.data as Float32Array;
    const scale = Math.max(...Array.from(want, Math.abs));
    for (let k = 0; k < want.length; k++)
      assert.ok(Math.abs(got[k]! - want[k]!) <= 1e-4 * Math.abs(want[k]!) + 1e-5 * scale, `${n}[${k}]: ours ${got[k]}, tfjs ${want[k]}`);
  });
});
