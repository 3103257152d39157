// Composite functions built from ops: they are decompositions with no gradient rule of their own.
import type { Graph, Tensor } from './graph.ts';
import './ops.ts';

/**
 * GELU, tanh approximation: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), computed in the equal
 * form x sigmoid(x (a + b x^2)) with a = 2 sqrt(2/pi), b = 0.044715 a, since 0.5 (1 + tanh(u)) =
 * sigmoid(2u). Elementwise ops are memory-bound on the CPU; this form needs 6 forward ops instead
 * of 9 and a shorter backward chain. It agrees with the tanh form to float32 rounding.
 */
export function gelu(g: Graph, x: Tensor): Tensor {
  // With contribOps (float32): onnxruntime's FastGelu, the same function in one kernel; its gradient
  // rule (grad.ts) recomputes what it needs from x, so where no gradient flows the 6 passes become 1.
  if (g.options.contribOps && x.dtype === 'float32') return g.scope('gelu', () => g.fastGelu(x));
  return g.scope('gelu', () => g.mul(x, g.sigmoid(g.mul(x, g.add(g.mul(g.mul(x, x), GELU_B), GELU_A)))));
}

/** gelu's constants: u(x) = x (GELU_A + GELU_B x^2) is twice the tanh argument, GELU_A = 2 sqrt(2/pi). */
export const GELU_A = 2 * Math.sqrt(2 / Math.PI);
export const GELU_B = 0.044715 * GELU_A;

/** Squared L2 norm over the last axis, keepdims. */
export function sumSquares(g: Graph, x: Tensor): Tensor {
  return g.reduceSum(g.mul(x, x), [-1], true);
}

/** Rescales rows to length sqrt(dim) (HIQL's goal-representation normalisation). */
export function lengthNormalize(g: Graph, x: Tensor): Tensor {
  const d = x.shape[x.shape.length - 1];
  if (typeof d !== 'number') throw new RangeError('lengthNormalize needs a static last dimension');
  return g.scope('length_normalize', () => g.mul(g.div(x, g.sqrt(sumSquares(g, x))), Math.sqrt(d)));
}

/**
 * log N(a; mu, diag(exp(logStd))^2) per row, with the Gaussian constant:
 * -0.5 ||(a - mu) / std||^2 - (d/2) log(2 pi) - sum(logStd); logStd null means std 1.
 */
export function gaussianLogProb(g: Graph, a: Tensor, mu: Tensor, logStd: Tensor | null = null): Tensor {
  const d = a.shape[a.shape.length - 1];
  if (typeof d !== 'number') throw new RangeError('gaussianLogProb needs a static action dimension');
  return g.scope('log_prob', () => {
    let z = g.sub(a, mu);
    if (logStd) z = g.div(z, g.exp(logStd));
    let lp = g.sub(g.mul(g.reduceSum(g.mul(z, z), [-1], false), -0.5), (d / 2) * Math.log(2 * Math.PI));
    if (logStd) lp = g.sub(lp, g.reduceSum(logStd, [-1], false));
    return lp;
  });
}

/** Mean of all elements. */
export function mean(g: Graph, x: Tensor): Tensor {
  return g.reduceMean(x, undefined, false);
}
