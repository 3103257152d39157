// The success of an exported policy file, measured through the deployable runtime (@hiql/runtime on
// onnxruntime-node): the file a user downloads, not the training graph.
import { evaluate, type EvalResult } from '../train/evaluate.ts';
import type { Backend } from '../runtime/src/index.ts';

/** Evaluates the exported policy file with the runtime (onnxruntime-node, CPU unless `backend` says otherwise). */
export async function evaluateExported(
  path: string,
  env: string,
  episodes: number,
  seed: number,
  backend: Backend = 'cpu',
): Promise<EvalResult> {
  const { loadPolicy } = await import('../runtime/src/index.ts');
  const policy = await loadPolicy(path, { backend });
  try {
    const frameSize = policy.info.obsDtype === 'uint8' ? policy.info.obsShape[0] : undefined;
    return await evaluate(env, (obs, goals, n) => policy.actBatch(obs, goals, n), { episodesPerTask: episodes, seed, frameSize });
  } finally {
    await policy.release();
  }
}
