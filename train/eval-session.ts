// Evaluation during and after training: the agent's policy graph built from parameters in memory,
// run on onnxruntime as a BatchPolicy, under the evaluation protocol of train/evaluate.ts.
import { createSession, ort } from '../onnx/index.ts';
import type { RunConfig } from './config.ts';
import { isPixels, obsInput, type Dims } from './dims.ts';
import { evaluate, type BatchPolicy, type EvalResult } from './evaluate.ts';
import { buildPolicyGraph } from './graphs.ts';

/** A BatchPolicy running the agent's policy graph built from `params` on onnxruntime. */
export async function sessionPolicy(
  cfg: RunConfig,
  dims: Dims,
  params: ReadonlyMap<string, Float32Array>,
  threads?: number,
): Promise<{ policy: BatchPolicy; release: () => Promise<void> }> {
  const session = await createSession(buildPolicyGraph(cfg.agent, cfg.agentConfig, dims, params).toBytes(), { threads });
  const { shape } = obsInput(dims);
  const tensor = (x: Float32Array | Uint8Array, n: number) =>
    x instanceof Uint8Array ? new ort.Tensor('uint8', x, [n, ...shape]) : new ort.Tensor('float32', x, [n, ...shape]);
  const policy: BatchPolicy = async (obs, goals, n) => {
    const out = await session.run({ observation: tensor(obs, n), goal: tensor(goals, n) });
    return out['action']!.data as Float32Array;
  };
  return { policy, release: () => session.release() };
}

/** The success of parameters under the evaluation protocol (5 tasks x `episodes`). */
export async function evaluateParams(
  cfg: RunConfig,
  dims: Dims,
  params: ReadonlyMap<string, Float32Array>,
  episodes: number,
  seed: number,
  threads?: number,
  record?: number,
): Promise<EvalResult> {
  const { policy, release } = await sessionPolicy(cfg, dims, params, threads);
  try {
    const frameSize = isPixels(dims) ? dims.obsShape?.[0] : undefined;
    return await evaluate(cfg.env, policy, { episodesPerTask: episodes, seed, frameSize, record });
  } finally {
    await release();
  }
}
