// Goal sampling: what a training batch holds (SPEC.md section 3, OGBench GCDataset/HGCDataset).
// Indices t are uniform over stored indices that have a successor; `final` is the last such index of
// t's trajectory. Buffers are allocated once and refilled each call.
import { Rng } from '../rng/rng.ts';
import type { Dataset, TrajectoryIndex } from './data/dataset.ts';

export interface SamplerConfig {
  batchSize: number;
  discount: number;
  gcNegative: boolean;
  valuePCurgoal?: number;
  valuePTrajgoal?: number;
  valuePRandomgoal?: number;
  valueGeomSample?: boolean;
  actorPCurgoal?: number;
  actorPTrajgoal?: number;
  actorPRandomgoal?: number;
  actorGeomSample?: boolean;
  /** HIQL's k; present only for the hierarchical batch. */
  subgoalSteps?: number;
}

/** Observation-like entries are uint8 for pixel datasets (frames are copied, never converted); the rest float32. */
export type BatchArrays = Record<string, Float32Array | Uint8Array>;

/** Which keys a sampler fills: 'hiql' (HGCDataset) or 'flat' (GCDataset: actorGoals). */
export type BatchLayout = 'hiql' | 'flat';

export class GoalSampler {
  /** Replace to re-seed (the trainer seeds it per step so a resumed run draws the same batches). */
  rng: Rng;
  private readonly d: number;
  private readonly bufs: BatchArrays = {};
  /** Indices of the last batch (for tests and diagnostics). */
  readonly idx: Int32Array;
  readonly valueGoalIdx: Int32Array;
  readonly actorGoalIdx: Int32Array;
  readonly targetIdx: Int32Array;

  constructor(
    readonly ds: Dataset,
    readonly traj: TrajectoryIndex,
    readonly cfg: SamplerConfig,
    readonly layout: BatchLayout,
    seed: number,
  ) {
    if (traj.validIndices.length === 0)
      throw new RangeError('GoalSampler: the dataset has no transition (every trajectory has a single state)');
    this.rng = new Rng(seed);
    this.d = ds.obsShape.reduce((a, b) => a * b, 1);
    const B = cfg.batchSize;
    const obsKeys =
      layout === 'hiql'
        ? ['observations', 'nextObservations', 'valueGoals', 'lowActorGoals', 'highActorGoals', 'highActorTargets']
        : ['observations', 'nextObservations', 'valueGoals', 'actorGoals'];
    const pixels = ds.observations instanceof Uint8Array;
    for (const k of obsKeys) this.bufs[k] = pixels ? new Uint8Array(B * this.d) : new Float32Array(B * this.d);
    this.bufs['actions'] = new Float32Array(B * ds.actionDim);
    for (const k of ['rewards', 'masks', 'actionMask']) this.bufs[k] = new Float32Array(B);
    this.idx = new Int32Array(B);
    this.valueGoalIdx = new Int32Array(B);
    this.actorGoalIdx = new Int32Array(B);
    this.targetIdx = new Int32Array(B);
  }

  /** A uniformly random index with a successor. */
  randomIndex(): number {
    const v = this.traj.validIndices;
    return v[this.rng.int(v.length)]!;
  }

  /** t + Geometric(1 - discount) (support 1, 2, ...), clipped at `final`. */
  geometricFuture(t: number, final: number): number {
    const p = 1 - this.cfg.discount;
    let u = this.rng.uniform();
    while (u === 0) u = this.rng.uniform();
    const offset = Math.max(1, Math.ceil(Math.log(u) / Math.log(1 - p)));
    return Math.min(t + offset, final);
  }

  /** OGBench's uniform future goal: round(min(t + 1, final) d + final (1 - d)), d ~ U[0, 1). */
  uniformFuture(t: number, final: number): number {
    const d = this.rng.uniform();
    return Math.round(Math.min(t + 1, final) * d + final * (1 - d));
  }

  /** A goal index under the (current, trajectory, random) mix, as OGBench's sample_goals. */
  goalIndex(t: number, pCur: number, pTraj: number, geom: boolean): number {
    const final = this.traj.finalIndex[t]!;
    const trajGoal = geom ? this.geometricFuture(t, final) : this.uniformFuture(t, final);
    const random = this.randomIndex();
    let gi = pCur >= 1 ? t : this.rng.uniform() < pTraj / (1 - pCur) ? trajGoal : random;
    if (this.rng.uniform() < pCur) gi = t;
    return gi;
  }

  /** Fills and returns the batch buffers (reused between calls). */
  sample(): BatchArrays {
    const { ds, cfg, d, bufs } = this;
    const obs = ds.observations;
    const A = ds.actionDim;
    const copy = (key: string, row: number, index: number) => bufs[key]!.set(obs.subarray(index * d, index * d + d), row * d);
    for (let b = 0; b < cfg.batchSize; b++) {
      const t = this.randomIndex();
      const final = this.traj.finalIndex[t]!;
      this.idx[b] = t;
      copy('observations', b, t);
      copy('nextObservations', b, t + 1);
      bufs['actions']!.set(ds.actions.subarray(t * A, t * A + A), b * A);
      bufs['actionMask']![b] = ds.actionMask ? ds.actionMask[t]! : 1;

      const vg = this.goalIndex(t, cfg.valuePCurgoal ?? 0, cfg.valuePTrajgoal ?? 1, cfg.valueGeomSample ?? true);
      this.valueGoalIdx[b] = vg;
      copy('valueGoals', b, vg);
      const success = t === vg ? 1 : 0;
      bufs['rewards']![b] = success - (cfg.gcNegative ? 1 : 0);
      bufs['masks']![b] = 1 - success;

      if (this.layout === 'hiql') {
        const k = cfg.subgoalSteps!;
        copy('lowActorGoals', b, Math.min(t + k, final));
        let goal: number;
        let target: number;
        if (this.rng.uniform() < (cfg.actorPRandomgoal ?? 0)) {
          goal = this.randomIndex();
          target = Math.min(t + k, final);
        } else {
          goal = cfg.actorGeomSample ? this.geometricFuture(t, final) : this.uniformFuture(t, final);
          target = Math.min(t + k, goal);
        }
        this.actorGoalIdx[b] = goal;
        this.targetIdx[b] = target;
        copy('highActorGoals', b, goal);
        copy('highActorTargets', b, target);
      } else {
        const ag = this.goalIndex(t, cfg.actorPCurgoal ?? 0, cfg.actorPTrajgoal ?? 1, cfg.actorGeomSample ?? false);
        this.actorGoalIdx[b] = ag;
        copy('actorGoals', b, ag);
      }
    }
    return bufs;
  }
}
