// Showing HIQL's subgoal as a maze position, as the paper does: the high level outputs a latent z;
// the position shown is the candidate p whose goal representation phi([s; p]) is nearest to z.
// phi depends on the current state s too, so the representations of all candidates are computed in
// one batched call per state and cached by state (quantised to CACHE_CELL units: the ball moves at
// most 0.2 per step, so a cache entry serves a few steps and a replayed route hits the cache).
import { MAZE_UNIT, cellCenter, type MazeSpec } from '../../envs/maze.ts';
import type { Policy } from '../../runtime/src/web.ts';

/** States closer than this (per axis, same grid bin) share their candidates' representations. */
export const CACHE_CELL = 0.5;
const CACHE_ENTRIES = 384;

export interface SubgoalView {
  /** The nearest candidate position. */
  x: number;
  y: number;
  /** ||phi([s; p]) - z|| for every candidate (for the optional heat map), in candidate order. */
  distances: Float32Array;
  /** Whether the representations came from the cache. */
  cached: boolean;
  /** Milliseconds spent (the batched phi call on a miss, the search otherwise). */
  ms: number;
}

export class SubgoalFinder {
  /** Candidate positions, interleaved x, y: a k x k lattice inside every free cell. */
  readonly candidates: Float32Array;
  readonly count: number;
  /** Distance between neighbouring candidates in a cell. */
  readonly spacing: number;
  private readonly cache = new Map<string, Float32Array>();
  private readonly obsBatch: Float32Array;
  private readonly distances: Float32Array;
  hits = 0;
  misses = 0;
  /** Duration and end time (performance.now) of the last batched phi call. */
  lastMissMs = 0;
  lastMissAt = -Infinity;

  constructor(
    readonly policy: Policy,
    readonly maze: MazeSpec,
    perCellSide = maze.freeCells.length > 60 ? 3 : 4,
  ) {
    const k = perCellSide;
    // Offsets spread over the part of a cell a ball centre can reach next to walls (0.6 from a face).
    const span = MAZE_UNIT / 2 - 0.7;
    const offs = k === 1 ? [0] : Array.from({ length: k }, (_, a) => -span + (2 * span * a) / (k - 1));
    this.spacing = k === 1 ? MAZE_UNIT : (2 * span) / (k - 1);
    const pts: number[] = [];
    for (const cell of maze.freeCells) {
      const [cx, cy] = cellCenter(cell);
      for (const dy of offs) for (const dx of offs) pts.push(cx + dx, cy + dy);
    }
    this.candidates = Float32Array.from(pts);
    this.count = pts.length / 2;
    this.obsBatch = new Float32Array(pts.length);
    this.distances = new Float32Array(this.count);
  }

  get available(): boolean {
    return this.policy.info.hierarchical && this.policy.hasCompanion.goal_rep;
  }

  private key(x: number, y: number): string {
    return `${Math.round(x / CACHE_CELL)},${Math.round(y / CACHE_CELL)}`;
  }

  /**
   * Whether a batched phi call now keeps phi under about a quarter of the time: while the ball moves
   * fast, misses are spaced out (the subgoal shown is then held for a frame or two).
   */
  missAllowed(now = performance.now()): boolean {
    return now - this.lastMissAt >= 3 * this.lastMissMs;
  }

  /** phi([s; p]) for every candidate p, [count * repDim]; null on a miss when misses are not allowed. */
  private async reps(x: number, y: number, allowMiss: boolean): Promise<{ reps: Float32Array; cached: boolean } | null> {
    const key = this.key(x, y);
    const hit = this.cache.get(key);
    if (hit) {
      // Refresh its place in the LRU order.
      this.cache.delete(key);
      this.cache.set(key, hit);
      this.hits++;
      return { reps: hit, cached: true };
    }
    if (!allowMiss) return null;
    this.misses++;
    const t0 = performance.now();
    // The state of the bin's first visit stands for the whole bin.
    for (let i = 0; i < this.count; i++) {
      this.obsBatch[2 * i] = x;
      this.obsBatch[2 * i + 1] = y;
    }
    const reps = Float32Array.from(await this.policy.goalRepBatch(this.obsBatch, this.candidates, this.count));
    this.lastMissAt = performance.now();
    this.lastMissMs = this.lastMissAt - t0;
    this.cache.set(key, reps);
    if (this.cache.size > CACHE_ENTRIES) this.cache.delete(this.cache.keys().next().value!);
    return { reps, cached: false };
  }

  /**
   * The candidate nearest to latent `z` for state (x, y); null when that needs a phi call and
   * `allowMiss` is false.
   */
  async nearest(x: number, y: number, z: Float32Array, allowMiss = true): Promise<SubgoalView | null> {
    const t0 = performance.now();
    const got = await this.reps(x, y, allowMiss);
    if (!got) return null;
    const { reps, cached } = got;
    const d = z.length;
    let best = 0;
    let bestD = Infinity;
    for (let i = 0; i < this.count; i++) {
      let s = 0;
      const o = i * d;
      for (let c = 0; c < d; c++) {
        const v = reps[o + c]! - z[c]!;
        s += v * v;
      }
      this.distances[i] = Math.sqrt(s);
      if (s < bestD) {
        bestD = s;
        best = i;
      }
    }
    return {
      x: this.candidates[2 * best]!,
      y: this.candidates[2 * best + 1]!,
      distances: this.distances,
      cached,
      ms: performance.now() - t0,
    };
  }

  clear(): void {
    this.cache.clear();
  }
}
