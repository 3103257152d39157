// Composite checks against TensorFlow.js (CPU backend) on the same float32 inputs: gradients of a
// 3-layer Dense/GELU/LayerNorm MLP under the three kinds of loss HIQL uses and GCIQL's DDPG+BC, Adam
// against tf.train.adam, and the EMA update against a hand computation.
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import {
  Graph,
  StepRunner,
  buildTrainStep,
  createSession,
  ema,
  gaussianLogProb,
  gelu,
  glorotUniform,
  gradients,
  mean,
  ort,
  toOrt,
  type Tensor,
} from '../../onnx/index.ts';
import { Rng } from '../../rng/rng.ts';
import { ddpgBcLoss } from '../../train/agents/losses.ts';

before(async () => {
  await tf.setBackend('cpu');
  await tf.ready();
});

const IN = 5;
const H = 16;
const B = 32;
const EPS = 1e-6;

interface ParamDef {
  name: string;
  shape: number[];
  data: Float32Array;
}

/** Parameters of Dense(IN,H) GELU LN, Dense(H,H) GELU LN, Dense(H,out), with non-trivial LN scale/bias. */
function mlpParams(prefix: string, out: number, seed: number): ParamDef[] {
  const rng = new Rng(seed);
  const ps: ParamDef[] = [];
  const dims = [IN, H, H, out];
  for (let i = 0; i < 3; i++) {
    ps.push({ name: `${prefix}/${i}/kernel`, shape: [dims[i]!, dims[i + 1]!], data: glorotUniform(rng, dims[i]!, dims[i + 1]!) });
    ps.push({
      name: `${prefix}/${i}/bias`,
      shape: [dims[i + 1]!],
      data: Float32Array.from({ length: dims[i + 1]! }, () => 0.2 * rng.normal()),
    });
    if (i < 2) {
      ps.push({ name: `${prefix}/${i}/ln/scale`, shape: [H], data: Float32Array.from({ length: H }, () => 1 + 0.2 * rng.normal()) });
      ps.push({ name: `${prefix}/${i}/ln/bias`, shape: [H], data: Float32Array.from({ length: H }, () => 0.1 * rng.normal()) });
    }
  }
  return ps;
}

/** The MLP in the ONNX builder: onnx/nn.ts gelu and g.layerNormalization (epsilon 1e-6). */
function onnxMlp(g: Graph, x: Tensor, p: Map<string, Tensor>, prefix: string): Tensor {
  let h = x;
  for (let i = 0; i < 3; i++) {
    h = g.gemm(h, p.get(`${prefix}/${i}/kernel`)!, p.get(`${prefix}/${i}/bias`)!);
    if (i < 2)
      h = g.layerNormalization(gelu(g, h), p.get(`${prefix}/${i}/ln/scale`)!, p.get(`${prefix}/${i}/ln/bias`)!, { epsilon: EPS }).y;
  }
  return h;
}

/** The same MLP in TensorFlow.js ops. */
function tfMlp(x: tf.Tensor, p: Map<string, tf.Tensor>, prefix: string): tf.Tensor {
  const tfGelu = (v: tf.Tensor) =>
    tf.mul(tf.mul(v, 0.5), tf.add(tf.tanh(tf.mul(tf.add(v, tf.mul(tf.pow(v, 3), 0.044715)), Math.sqrt(2 / Math.PI))), 1));
  const tfLn = (v: tf.Tensor, s: tf.Tensor, b: tf.Tensor) => {
    const mu = tf.mean(v, -1, true);
    const c = tf.sub(v, mu);
    const variance = tf.mean(tf.square(c), -1, true);
    return tf.add(tf.mul(tf.div(c, tf.sqrt(tf.add(variance, EPS))), s), b);
  };
  let h = x;
  for (let i = 0; i < 3; i++) {
    h = tf.add(tf.matMul(h as tf.Tensor2D, p.get(`${prefix}/${i}/kernel`)! as tf.Tensor2D), p.get(`${prefix}/${i}/bias`)!);
    if (i < 2) h = tfLn(tfGelu(h), p.get(`${prefix}/${i}/ln/scale`)!, p.get(`${prefix}/${i}/ln/bias`)!);
  }
  return h;
}

function randn(rng: Rng, n: number, scale = 1, offset = 0): Float32Array {
  return Float32Array.from({ length: n }, () => offset + scale * rng.normal());
}

function uniform(rng: Rng, n: number, lo: number, hi: number): Float32Array {
  return Float32Array.from({ length: n }, () => lo + (hi - lo) * rng.uniform());
}

interface Problem {
  /** Batch arrays with their shapes. */
  batch: Record<string, { data: Float32Array; shape: number[] }>;
  params: ParamDef[];
  /**
   * Parameters reached only through stopGradient: differentiated on the ONNX side, where their
   * gradient must be exactly 0 (tf.grads refuses parameters the function does not use).
   */
  expectZero?: string[];
  onnxLoss: (g: Graph, b: Record<string, Tensor>, p: Map<string, Tensor>) => Tensor;
  /**
   * tfjs loss: called once with the parameter values (`fixed`) to compute the stop-gradient
   * branches as constants, it returns the loss as a function of the differentiated parameters.
   */
  tfLoss: (b: Record<string, tf.Tensor>, fixed: Map<string, tf.Tensor>) => (p: Map<string, tf.Tensor>) => tf.Scalar;
}

async function compareGradients(label: string, pr: Problem): Promise<void> {
  const all = pr.params.map((p) => p.name);
  const zero = new Set(pr.expectZero ?? []);
  const wrt = all.filter((n) => !zero.has(n));
  // ONNX side.
  const g = new Graph(label);
  const bt: Record<string, Tensor> = {};
  for (const [k, v] of Object.entries(pr.batch)) bt[k] = g.input(k, 'float32', ['batch', ...v.shape.slice(1)]);
  const pt = new Map(pr.params.map((p) => [p.name, g.input(p.name, 'float32', p.shape)]));
  const loss = pr.onnxLoss(g, bt, pt);
  const grads = gradients(
    g,
    loss,
    all.map((n) => pt.get(n)!),
  );
  g.output(loss, 'loss');
  grads.forEach((t) => g.output(t));
  const s = await createSession(g.toBytes(), { threads: 1 });
  const feeds: Record<string, ort.Tensor> = {};
  for (const [k, v] of Object.entries(pr.batch)) feeds[k] = toOrt('float32', v.data, v.shape);
  for (const p of pr.params) feeds[p.name] = toOrt('float32', p.data, p.shape);
  const r = await s.run(feeds);
  await s.release();

  // TensorFlow.js side.
  const tfParams = new Map(pr.params.map((p) => [p.name, tf.tensor(p.data, p.shape)]));
  const tfBatch: Record<string, tf.Tensor> = {};
  for (const [k, v] of Object.entries(pr.batch)) tfBatch[k] = tf.tensor(v.data, v.shape);
  const lossOf = pr.tfLoss(tfBatch, tfParams);
  const tfLossValue = (await lossOf(tfParams).data())[0]!;
  const tfGrads = tf.grads((...xs: tf.Tensor[]) => {
    const m = new Map(tfParams);
    wrt.forEach((n, i) => m.set(n, xs[i]!));
    return lossOf(m);
  })(wrt.map((n) => tfParams.get(n)!));

  const onnxLoss = Number(r['loss']!.data[0]);
  assert.ok(Math.abs(onnxLoss - tfLossValue) <= 1e-5 * Math.abs(tfLossValue), `${label}: loss ${onnxLoss} (onnx) vs ${tfLossValue} (tfjs)`);
  for (const [i, name] of all.entries()) {
    if (!zero.has(name)) continue;
    const ours = r[grads[i]!.name]!.data as Float32Array;
    assert.ok(
      ours.every((v) => v === 0),
      `${label}: d loss / d ${name} is not 0 though ${name} is reached only through stopGradient`,
    );
  }
  for (let i = 0; i < wrt.length; i++) {
    const ours = r[grads[all.indexOf(wrt[i]!)]!.name]!.data as Float32Array;
    const theirs = await tfGrads[i]!.data();
    assert.equal(ours.length, theirs.length);
    let scale = 0;
    let err = 0;
    for (let j = 0; j < ours.length; j++) {
      scale = Math.max(scale, Math.abs(theirs[j]!));
      err = Math.max(err, Math.abs(ours[j]! - theirs[j]!));
    }
    // Relative to the largest entry of this parameter's gradient (entries near 0 have no relative
    // error). Observed: 1e-7..7e-7.
    assert.ok(
      err <= 1e-4 * scale || (scale === 0 && err === 0),
      `${label}: d loss / d ${wrt[i]}: max |onnx - tfjs| = ${err.toExponential(3)}, max |tfjs| = ${scale.toExponential(3)}`,
    );
  }
  tf.dispose([...tfParams.values(), ...Object.values(tfBatch), ...tfGrads]);
}

test('MLP gradients under mean squared error match TensorFlow.js', async () => {
  const rng = new Rng(11);
  await compareGradients('mse', {
    batch: { x: { data: randn(rng, B * IN), shape: [B, IN] }, y: { data: randn(rng, B * 2), shape: [B, 2] } },
    params: mlpParams('net', 2, 1),
    onnxLoss: (g, b, p) => {
      const err = g.sub(onnxMlp(g, b['x']!, p, 'net'), b['y']!);
      return mean(g, g.mul(err, err));
    },
    tfLoss: (b) => (p) => tf.mean(tf.square(tf.sub(tfMlp(b['x']!, p, 'net'), b['y']!))) as tf.Scalar,
  });
});

test('MLP gradients under an expectile loss with stop-gradient weights match TensorFlow.js', async () => {
  // HIQL's value loss shape: q = r + gamma * stop(V(x')), adv = q - stop(V(x)),
  // weight = tau if adv >= 0 else 1 - tau, loss = mean(weight * (q - V(x))^2). V(x) is used twice:
  // once through stopGradient (no gradient) and once in the squared error.
  const rng = new Rng(12);
  const tau = 0.7;
  const gamma = 0.99;
  const params = mlpParams('value', 1, 2);
  const batch = {
    x: { data: randn(rng, B * IN), shape: [B, IN] },
    xn: { data: randn(rng, B * IN), shape: [B, IN] },
    r: { data: uniform(rng, B, -1, 1), shape: [B, 1] },
  };
  // tfjs has no stop-gradient op: the stop-gradient branch is computed first, with the same
  // parameter values, and enters the differentiated function as constants.
  let advSigns: number[] = [];
  await compareGradients('expectile', {
    batch,
    params,
    onnxLoss: (g, b, p) => {
      const v = onnxMlp(g, b['x']!, p, 'value');
      const q = g.add(b['r']!, g.mul(g.stopGradient(onnxMlp(g, b['xn']!, p, 'value')), gamma));
      const adv = g.sub(q, g.stopGradient(v));
      const weight = g.where(g.greaterOrEqual(adv, 0), tau, 1 - tau);
      const err = g.sub(q, v);
      return mean(g, g.mul(weight, g.mul(err, err)));
    },
    tfLoss: (b, p) => {
      const { q, weight } = tf.tidy(() => {
        const q0 = tf.add(b['r']!, tf.mul(tfMlp(b['xn']!, p, 'value'), gamma));
        const adv = tf.sub(q0, tfMlp(b['x']!, p, 'value'));
        const advData = adv.dataSync();
        // Keep the comparison away from the weight's switching point.
        advSigns = Array.from(advData, (a) => Math.sign(a));
        assert.ok(
          Array.from(advData).every((a) => Math.abs(a) > 1e-3),
          'an advantage is within 1e-3 of 0; pick another seed',
        );
        return { q: q0, weight: tf.where(tf.greaterEqual(adv, 0), tf.fill(adv.shape, tau), tf.fill(adv.shape, 1 - tau)) };
      });
      return (pp) => tf.mean(tf.mul(weight, tf.square(tf.sub(q, tfMlp(b['x']!, pp, 'value'))))) as tf.Scalar;
    },
  });
  assert.ok(advSigns.includes(1) && advSigns.includes(-1), 'both expectile branches are exercised');
});

test('MLP gradients under an advantage-weighted Gaussian log-likelihood match TensorFlow.js', async () => {
  // HIQL's actor loss shape: adv from a stop-gradient branch of a separate value network,
  // weight = min(exp(3 adv), 100), loss = -mean(weight * log N(a; mu(x), I)). The value parameters
  // are differentiated too: they are reached only through stopGradient, so their gradient is 0.
  const rng = new Rng(13);
  const actor = mlpParams('actor', 2, 3);
  const value = mlpParams('value', 1, 4);
  const batch = {
    x: { data: randn(rng, B * IN), shape: [B, IN] },
    xn: { data: randn(rng, B * IN), shape: [B, IN] },
    r: { data: uniform(rng, B, -1, 2.5), shape: [B, 1] },
    a: { data: randn(rng, B * 2, 0.5), shape: [B, 2] },
  };
  let clipped = 0;
  await compareGradients('awr', {
    batch,
    params: [...actor, ...value],
    expectZero: value.map((p) => p.name),
    onnxLoss: (g, b, p) => {
      const adv = g.stopGradient(g.add(b['r']!, g.sub(onnxMlp(g, b['xn']!, p, 'value'), onnxMlp(g, b['x']!, p, 'value'))));
      const weight = g.min(g.exp(g.mul(adv, 3)), 100);
      const logp = gaussianLogProb(g, b['a']!, onnxMlp(g, b['x']!, p, 'actor'));
      return g.neg(mean(g, g.mul(g.squeeze(weight, [1]), logp)));
    },
    tfLoss: (b, p) => {
      const weight = tf.tidy(() => {
        const adv = tf.add(b['r']!, tf.sub(tfMlp(b['xn']!, p, 'value'), tfMlp(b['x']!, p, 'value')));
        const w = tf.minimum(tf.exp(tf.mul(adv, 3)), 100);
        clipped = Array.from(w.dataSync()).filter((v) => v === 100).length;
        return tf.squeeze(w, [1]);
      });
      return (pp) => {
        const diff = tf.sub(b['a']!, tfMlp(b['x']!, pp, 'actor'));
        const logp = tf.sub(tf.mul(tf.sum(tf.square(diff), -1), -0.5), Math.log(2 * Math.PI));
        return tf.neg(tf.mean(tf.mul(weight, logp))) as tf.Scalar;
      };
    },
  });
  assert.ok(clipped > 0 && clipped < B, `the min(., 100) clip is active for some rows but not all (${clipped} of ${B})`);
});

test('Adam over 20 steps matches tf.train.adam', async () => {
  // tfjs's AdamOptimizer computes, per step t (tfjs-core adam_optimizer.js):
  //   m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2;
  //   p = p - lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)
  // with b^t kept as a running float32 product: the same formula as optax.adam and onnx/optim.ts
  // (epsilon outside the square root, added to the bias-corrected sqrt(v-hat); not Keras's eps-hat;
  // onnx/optim.ts folds the bias corrections into two scalars, the same update up to rounding), so
  // both sides are compared directly. Every parameter moves by far more than the tolerance.
  const cfg = { lr: 1e-2, beta1: 0.9, beta2: 0.999, eps: 1e-7 };
  const params = mlpParams('net', 2, 21);
  const rng = new Rng(22);
  const batches = Array.from({ length: 20 }, () => ({ x: randn(rng, B * IN), y: randn(rng, B * 2, 1, 0.5) }));

  const g = new Graph('adam');
  const x = g.input('x', 'float32', ['batch', IN]);
  const y = g.input('y', 'float32', ['batch', 2]);
  const pt = new Map(params.map((p) => [p.name, g.input(p.name, 'float32', p.shape)]));
  const err = g.sub(onnxMlp(g, x, pt, 'net'), y);
  const spec = buildTrainStep({ g, trainable: [...pt.values()], loss: mean(g, g.mul(err, err)), batchInputs: [x, y], adam: cfg });
  const init = new Map<string, Float32Array>(params.map((p) => [p.name, p.data]));
  for (const s of spec.state) if (!init.has(s.name)) init.set(s.name, new Float32Array(s.dims.reduce((a, b) => a * b, 1)));
  const runner = await StepRunner.create(spec, init, { threads: 1 });
  const ourLosses: number[] = [];
  for (const b of batches)
    ourLosses.push((await runner.step({ x: new ort.Tensor('float32', b.x, [B, IN]), y: new ort.Tensor('float32', b.y, [B, 2]) }))['loss']!);

  const vars = new Map(params.map((p) => [p.name, tf.variable(tf.tensor(p.data, p.shape), true, p.name)]));
  const opt = tf.train.adam(cfg.lr, cfg.beta1, cfg.beta2, cfg.eps);
  const tfLosses: number[] = [];
  for (const b of batches) {
    const xb = tf.tensor(b.x, [B, IN]);
    const yb = tf.tensor(b.y, [B, 2]);
    const l = opt.minimize(() => tf.mean(tf.square(tf.sub(tfMlp(xb, vars, 'net'), yb))) as tf.Scalar, true, [...vars.values()]);
    tfLosses.push((await l!.data())[0]!);
    tf.dispose([xb, yb, l!]);
  }
  ourLosses.forEach((l, i) =>
    assert.ok(Math.abs(l - tfLosses[i]!) <= 1e-5 * Math.abs(tfLosses[i]!), `step ${i}: loss ${l} (onnx) vs ${tfLosses[i]} (tfjs)`),
  );
  assert.ok(ourLosses[19]! < ourLosses[0]! * 0.8, 'the problem trains');
  for (const p of params) {
    const ours = await runner.read(p.name);
    const theirs = await vars.get(p.name)!.data();
    let err = 0;
    let moved = 0;
    for (let j = 0; j < ours.length; j++) {
      err = Math.max(err, Math.abs(ours[j]! - theirs[j]!));
      moved += Math.abs(theirs[j]! - p.data[j]!) / ours.length;
    }
    // Observed: below 4e-7.
    assert.ok(err <= 1e-5, `${p.name}: max |onnx - tfjs| after 20 Adam steps = ${err.toExponential(3)}`);
    assert.ok(moved > 1e-2, `${p.name}: entries moved by ${moved} on average`);
  }
  await runner.release();
  tf.dispose([...vars.values()]);
  opt.dispose();
});

test('ema matches a hand computation, alone and as extra state of a training step', async () => {
  const tau = 0.005;
  const rng = new Rng(31);
  const n = 64;
  const t0 = randn(rng, n);
  const o0 = randn(rng, n);
  const g = new Graph('ema');
  const t = g.input('t', 'float32', [n]);
  const o = g.input('o', 'float32', [n]);
  g.output(ema(g, [t], [o], tau)[0]!, 'next');
  const s = await createSession(g.toBytes(), { threads: 1 });
  const r = (await s.run({ t: toOrt('float32', t0, [n]), o: toOrt('float32', o0, [n]) }))['next']!.data as Float32Array;
  await s.release();
  const f = Math.fround;
  for (let i = 0; i < n; i++) {
    // Bit-exact against the same float32 operations, and close to the exact value.
    assert.equal(r[i], f(f(t0[i]! * f(1 - tau)) + f(o0[i]! * f(tau))));
    const exact = (1 - tau) * t0[i]! + tau * o0[i]!;
    assert.ok(Math.abs(r[i]! - exact) <= 1e-6 * Math.max(1, Math.abs(exact)));
  }

  // As extra state: target' = ema(target, online before the update), over 5 steps.
  const g2 = new Graph('ema_step');
  const x = g2.input('x', 'float32', ['batch', 3]);
  const w = g2.input('w', 'float32', [3, 1]);
  const wt = g2.input('target/w', 'float32', [3, 1]);
  const pred = g2.matMul(x, w);
  const loss = mean(g2, g2.mul(pred, pred));
  const spec = buildTrainStep({
    g: g2,
    trainable: [w],
    loss,
    batchInputs: [x],
    extraState: [{ input: wt, next: ema(g2, [wt], [w], 0.1)[0]! }],
    adam: { lr: 0.05, beta1: 0.9, beta2: 0.999, eps: 1e-8 },
  });
  const init = new Map<string, Float32Array>([
    ['w', Float32Array.from([0.5, -1, 2])],
    ['target/w', Float32Array.from([0, 0, 0])],
    ['opt/m/w', new Float32Array(3)],
    ['opt/v/w', new Float32Array(3)],
  ]);
  const runner = await StepRunner.create(spec, init, { threads: 1 });
  let target = [0, 0, 0];
  for (let k = 0; k < 5; k++) {
    const online = Array.from(await runner.read('w'));
    await runner.step({ x: new ort.Tensor('float32', randn(rng, 12), [4, 3]) });
    target = target.map((v, i) => f(f(v * f(0.9)) + f(online[i]! * f(0.1))));
    assert.deepEqual(Array.from(await runner.read('target/w')), target, `target after step ${k + 1}`);
  }
  await runner.release();
});

test("CRL's binary NCE over all B x B pairs (two MLPs, bilinear logits) matches TensorFlow.js's sigmoid cross-entropy", async () => {
  // train/agents/crl.ts: logits[i, j] = phi(x_i) . psi(y_j) / sqrt(d), labels I, loss the mean over
  // the B^2 pairs of softplus(l) - I l; tfjs computes it as relu(l) - l I + log1p(exp(-|l|)).
  // The logits are scaled by 8 so that some exceed 20 in size, where the unstable form
  // -log(1 - sigmoid(l)) is infinite in float32.
  const rng = new Rng(14);
  const d = 8;
  const scale = 8 / Math.sqrt(d);
  const batch = { x: { data: randn(rng, B * IN), shape: [B, IN] }, y: { data: randn(rng, B * IN), shape: [B, IN] } };
  const eye = Float32Array.from({ length: B * B }, (_, k) => (k % (B + 1) === 0 ? 1 : 0));
  let largest = 0;
  await compareGradients('binary-nce', {
    batch,
    params: [...mlpParams('phi', d, 5), ...mlpParams('psi', d, 6)],
    onnxLoss: (g, b, p) => {
      const logits = g.mul(g.matMul(onnxMlp(g, b['x']!, p, 'phi'), g.transpose(onnxMlp(g, b['y']!, p, 'psi'), [1, 0])), scale);
      const I = g.constant(eye, 'float32', [B, B]);
      return mean(g, g.sub(g.softplus(logits), g.mul(logits, I)));
    },
    tfLoss: (b) => (p) => {
      const logits = tf.mul(
        tf.matMul(tfMlp(b['x']!, p, 'phi') as tf.Tensor2D, tfMlp(b['y']!, p, 'psi') as tf.Tensor2D, false, true),
        scale,
      );
      largest = Math.max(largest, ...Array.from(tf.abs(logits).dataSync()));
      return tf.losses.sigmoidCrossEntropy(tf.tensor(eye, [B, B]), logits, undefined, 0, tf.Reduction.MEAN) as tf.Scalar;
    },
  });
  assert.ok(largest > 20, `the largest |logit| is ${largest}: scale them up so the stable form is exercised`);
});

test('MLP gradients under the DDPG+BC actor loss (GCIQL, train/agents/losses.ts ddpgBcLoss) match TensorFlow.js', async () => {
  // q = min(Q1, Q2)([xc; clip(mu(x), -1, 1)]) from two critics whose parameters are read through
  // stopGradient (their gradient must be 0, while the gradient reaches mu through the action);
  // loss = -mean(q) / sg(mean|q| + 1e-6) - alpha mean(log N(a; mu(x), I)).
  const rng = new Rng(14);
  const alpha = 0.5;
  const actor = mlpParams('actor', 2, 5);
  const critics = [...mlpParams('q1', 1, 6), ...mlpParams('q2', 1, 7)];
  const batch = {
    x: { data: randn(rng, B * IN), shape: [B, IN] },
    xc: { data: randn(rng, B * (IN - 2)), shape: [B, IN - 2] },
    a: { data: randn(rng, B * 2, 0.5), shape: [B, 2] },
  };
  let clipped = 0;
  await compareGradients('ddpgbc', {
    batch,
    params: [...actor, ...critics],
    expectZero: critics.map((p) => p.name),
    onnxLoss: (g, b, p) => {
      const frozen = new Map([...p].map(([k, v]) => [k, k.startsWith('q') ? g.stopGradient(v) : v]));
      const mu = onnxMlp(g, b['x']!, p, 'actor');
      const input = g.concat([b['xc']!, g.clip(mu, -1, 1)], 1);
      const q = g.squeeze(g.min(onnxMlp(g, input, frozen, 'q1'), onnxMlp(g, input, frozen, 'q2')), [1]);
      return ddpgBcLoss(g, q, alpha, { mu, logStd: null, target: b['a']! }).loss;
    },
    tfLoss: (b, fixed) => {
      const qOf = (p: Map<string, tf.Tensor>) => {
        const input = tf.concat([b['xc']!, tf.clipByValue(tfMlp(b['x']!, p, 'actor'), -1, 1)], 1);
        return tf.squeeze(tf.minimum(tfMlp(input, p, 'q1'), tfMlp(input, p, 'q2')), [1]);
      };
      // The normaliser is a constant (stop-gradient): computed once from the parameter values.
      const norm = tf.tidy(() => {
        const mu = tfMlp(b['x']!, fixed, 'actor').dataSync();
        clipped = Array.from(mu).filter((v) => Math.abs(v) > 1).length;
        return tf.mean(tf.abs(qOf(fixed))).dataSync()[0]! + 1e-6;
      });
      return (p) => {
        const mu = tfMlp(b['x']!, p, 'actor');
        const logp = tf.sub(tf.mul(tf.sum(tf.square(tf.sub(b['a']!, mu)), -1), -0.5), Math.log(2 * Math.PI));
        return tf.sub(tf.neg(tf.div(tf.mean(qOf(p)), norm)), tf.mul(tf.mean(logp), alpha)) as tf.Scalar;
      };
    },
  });
  assert.ok(clipped > 0 && clipped < 2 * B, `the action clip is active for some entries but not all (${clipped} of ${2 * B})`);
});
