// Results over seeds: a run of N seeds (`hiql train --seeds N`) evaluates each seed's policy under
// the same protocol and reports their mean and standard deviation, as OGBench reports its tables.
import type { EvalResult } from './evaluate.ts';

/** An evaluation of one or more seeds: the mean over seeds, and with several each seed's result. */
export interface SeedsEvalResult extends EvalResult {
  /** Standard deviation of the overall success over seeds (population; 0 for one seed). */
  successStd?: number;
  /** Each seed's result, seed 0 (the run's --seed) first; absent for one seed. */
  seeds?: EvalResult[];
}

const mean = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

/** Mean and population standard deviation (as OGBench's np.std) of figures over seeds. */
export function meanStd(xs: readonly number[]): { mean: number; std: number } {
  const m = mean(xs);
  return { mean: m, std: Math.sqrt(mean(xs.map((x) => (x - m) ** 2))) };
}

/** Mean and standard deviation over seeds; per task, the mean of the seeds' success and steps. */
export function seedsEval(each: readonly EvalResult[]): SeedsEvalResult {
  if (each.length === 0) throw new RangeError('seedsEval: no results');
  if (each.length === 1) return each[0]!;
  const { mean: success, std: successStd } = meanStd(each.map((r) => r.success));
  const tasks = each[0]!.tasks.map((t, i) => ({
    task: t.task,
    success: mean(each.map((r) => r.tasks[i]!.success)),
    meanSteps: mean(each.map((r) => r.tasks[i]!.meanSteps)),
  }));
  return { env: each[0]!.env, episodesPerTask: each[0]!.episodesPerTask, tasks, success, successStd, seeds: [...each] };
}

/** "71.2% +- 3.1 (3 seeds)" or "71.2%". */
export function formatSuccess(r: SeedsEvalResult): string {
  const pct = `${(100 * r.success).toFixed(1)}%`;
  return r.seeds ? `${pct} +- ${(100 * (r.successStd ?? 0)).toFixed(1)} (${r.seeds.length} seeds)` : pct;
}
