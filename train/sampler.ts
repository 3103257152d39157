// Goal sampling: what a training batch holds (docs/spec.md section 3, OGBench's GCDataset and
// HGCDataset). Indices t are uniform over stored indices that have a successor; `final` is the last
// such index of t's trajectory. Per row, goal indices are drawn in OGBench's order (a value goal for
// every agent, then the actor's goals), so a batch stream depends only on the seed, the dataset and
// the settings; only the keys of the agent's batch spec are copied. Buffers are allocated once and
// refilled each call.
import type { Rng } from '../rng/rng.ts';
import { BATCH_KEY_KINDS, type BatchKey } from './batch.ts';
import type { Dataset, TrajectoryIndex } from './data/dataset.ts';

/** Goal mix for one kind of goal: current state, future state of the trajectory, else a random state. */
export interface GoalMix {
  /** Probability of the current state. */
  pCur: number;
  /** Probability of a future state of the same trajectory (the rest is a random dataset state). */
  pTraj: number;
  /** Future states at t + Geometric(1 - discount) rather than uniform in the future. */
  geom: boolean;
}

/** The sampler's settings; each agent file derives them from its config. */
export interface GoalSampling {
  batchSize: number;
  discount: number;
  /** Rewards success - 1 (else success). */
  gcNegative: boolean;
  /** Value goals (drawn for every agent, as OGBench's GCDataset does). */
  value: GoalMix;
  /** A flat actor's goals (`actorGoals`). */
  actor?: GoalMix;
  /** HIQL's goals: high-level goals random with pRandom (else future), and the subgoal step k. */
  highActor?: { pRandom: number; geom: boolean; subgoalSteps: number };
}

/** Observation-like entries are uint8 for pixel datasets (frames are copied, never converted); the rest float32. */
export type BatchArrays = Record<string, Float32Array | Uint8Array>;

export class GoalSampler {
  private readonly d: number;
  private readonly bufs: BatchArrays = {};
  private readonly keys: ReadonlySet<BatchKey>;
  /** Indices of the last batch (for tests and diagnostics). */
  readonly idx: Int32Array;
  readonly valueGoalIdx: Int32Array;
  readonly actorGoalIdx: Int32Array;
  readonly targetIdx: Int32Array;

  constructor(
    readonly ds: Dataset,
    readonly traj: TrajectoryIndex,
    readonly cfg: GoalSampling,
    keys: readonly BatchKey[],
  ) {
    if (traj.validIndices.length === 0)
      throw new RangeError('GoalSampler: the dataset has no transition (every trajectory has a single state)');
    const hierarchical = ['lowActorGoals', 'highActorGoals', 'highActorTargets'] as const;
    if (hierarchical.some((k) => keys.includes(k)) && !cfg.highActor)
      throw new RangeError(`GoalSampler: keys ${hierarchical.join(', ')} need the highActor settings`);
    if (keys.includes('actorGoals') && !cfg.actor) throw new RangeError('GoalSampler: actorGoals needs the actor settings');
    this.keys = new Set(keys);
    this.d = ds.obsShape.reduce((a, b) => a * b, 1);
    const B = cfg.batchSize;
    const pixels = ds.observations instanceof Uint8Array;
    for (const k of keys) {
      const kind = BATCH_KEY_KINDS[k];
      if (kind === 'obs') this.bufs[k] = pixels ? new Uint8Array(B * this.d) : new Float32Array(B * this.d);
      else this.bufs[k] = new Float32Array(kind === 'action' ? B * ds.actionDim : B);
    }
    this.bufs['actionMask'] = new Float32Array(B);
    this.idx = new Int32Array(B);
    this.valueGoalIdx = new Int32Array(B);
    this.actorGoalIdx = new Int32Array(B);
    this.targetIdx = new Int32Array(B);
  }

  /** A uniformly random index with a successor. */
  randomIndex(rng: Rng): number {
    const v = this.traj.validIndices;
    return v[rng.int(v.length)]!;
  }

  /** t + Geometric(1 - discount) (support 1, 2, ...), clipped at `final`. */
  geometricFuture(rng: Rng, t: number, final: number): number {
    const p = 1 - this.cfg.discount;
    let u = rng.uniform();
    while (u === 0) u = rng.uniform();
    const offset = Math.max(1, Math.ceil(Math.log(u) / Math.log(1 - p)));
    return Math.min(t + offset, final);
  }

  /** OGBench's uniform future goal: round(min(t + 1, final) d + final (1 - d)), d ~ U[0, 1). */
  uniformFuture(rng: Rng, t: number, final: number): number {
    const d = rng.uniform();
    return Math.round(Math.min(t + 1, final) * d + final * (1 - d));
  }

  /** A goal index under the (current, trajectory, random) mix, as OGBench's sample_goals. */
  goalIndex(rng: Rng, t: number, mix: GoalMix): number {
    const final = this.traj.finalIndex[t]!;
    const trajGoal = mix.geom ? this.geometricFuture(rng, t, final) : this.uniformFuture(rng, t, final);
    const random = this.randomIndex(rng);
    let gi = mix.pCur >= 1 ? t : rng.uniform() < mix.pTraj / (1 - mix.pCur) ? trajGoal : random;
    if (rng.uniform() < mix.pCur) gi = t;
    return gi;
  }

  /** Fills and returns the batch buffers (reused between calls), drawing from `rng`. */
  sample(rng: Rng): BatchArrays {
    const { ds, cfg, d, bufs, keys } = this;
    const obs = ds.observations;
    const A = ds.actionDim;
    const copy = (key: BatchKey, row: number, index: number) => {
      if (keys.has(key)) bufs[key]!.set(obs.subarray(index * d, index * d + d), row * d);
    };
    const put = (key: BatchKey, row: number, value: number) => {
      if (keys.has(key)) bufs[key]![row] = value;
    };
    const actions = keys.has('actions') ? bufs['actions']! : null;
    const actionMask = bufs['actionMask']!;
    for (let b = 0; b < cfg.batchSize; b++) {
      const t = this.randomIndex(rng);
      const final = this.traj.finalIndex[t]!;
      this.idx[b] = t;
      copy('observations', b, t);
      copy('nextObservations', b, t + 1);
      actions?.set(ds.actions.subarray(t * A, t * A + A), b * A);
      actionMask[b] = ds.actionMask ? ds.actionMask[t]! : 1;

      const vg = this.goalIndex(rng, t, cfg.value);
      this.valueGoalIdx[b] = vg;
      copy('valueGoals', b, vg);
      const success = t === vg ? 1 : 0;
      put('rewards', b, success - (cfg.gcNegative ? 1 : 0));
      put('masks', b, 1 - success);

      if (cfg.highActor) {
        const k = cfg.highActor.subgoalSteps;
        copy('lowActorGoals', b, Math.min(t + k, final));
        let goal: number;
        let target: number;
        if (rng.uniform() < cfg.highActor.pRandom) {
          goal = this.randomIndex(rng);
          target = Math.min(t + k, final);
        } else {
          goal = cfg.highActor.geom ? this.geometricFuture(rng, t, final) : this.uniformFuture(rng, t, final);
          target = Math.min(t + k, goal);
        }
        this.actorGoalIdx[b] = goal;
        this.targetIdx[b] = target;
        copy('highActorGoals', b, goal);
        copy('highActorTargets', b, target);
      } else if (cfg.actor) {
        const ag = this.goalIndex(rng, t, cfg.actor);
        this.actorGoalIdx[b] = ag;
        copy('actorGoals', b, ag);
      }
    }
    return bufs;
  }
}
