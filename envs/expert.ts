// The noisy scripted expert of docs/spec.md section 6 (OGBench's PointMaze data collector).
//
// BFS over free cells from the goal cell; from the ball's cell, head for the centre of the
// neighbouring cell with the smallest BFS distance (ties broken in the order up, left, down, right,
// as OGBench does); inside the goal cell, head for the goal itself. The action is the unit vector
// towards that target plus N(0, noise^2) per axis, clipped to [-1, 1].
//
// OGBench's oracle heads for the goal cell's centre while in the goal cell; docs/spec.md (and this file)
// head for the goal point, which reaches noisy goals near a cell corner without relying on noise.
//
// All BFS work happens once per maze: `next[g * cells + c]` is the cell to head for from cell c when
// the goal is in cell g, so acting is a table lookup, a few flops and two normal draws.

import { type MazeSpec, bfsDistances, cellCenterX, cellCenterY, colOf, isWall, rowOf } from './maze.ts';
import type { Rng } from '../rng/rng.ts';

export interface ExpertOptions {
  /** Standard deviation of the Gaussian action noise per axis (docs/spec.md: 0.5). */
  noise?: number;
  /**
   * Treat inbound teleporter cells as walls when planning (teleport maze only). OGBench's expert
   * does not know about teleporters and walks into them, which is what the teleport datasets
   * contain, so the default is false. With true, the expert avoids random teleports and solves
   * every evaluation task, which is what a reference "oracle" success rate needs.
   */
  avoidTeleporters?: boolean;
}

/** Default expert action noise (docs/spec.md section 6). */
export const EXPERT_NOISE = 0.5;

export class NoisyExpert {
  readonly maze: MazeSpec;
  readonly noise: number;
  readonly avoidTeleporters: boolean;
  /** [cells * cells]: flat index of the cell to head for, by (goal cell, current cell). */
  readonly next: Int32Array;
  private readonly cells: number;
  private readonly scratch = new Float64Array(2);

  constructor(maze: MazeSpec, opts: ExpertOptions = {}) {
    const noise = opts.noise ?? EXPERT_NOISE;
    if (!(noise >= 0) || !Number.isFinite(noise)) throw new RangeError(`NoisyExpert: noise must be a finite number >= 0, got ${noise}`);
    this.maze = maze;
    this.noise = noise;
    this.avoidTeleporters = opts.avoidTeleporters ?? false;
    const { rows, cols } = maze;
    const cells = rows * cols;
    this.cells = cells;
    this.next = new Int32Array(cells * cells).fill(-1);
    const inbound = new Set(this.avoidTeleporters ? maze.teleportIn.map(([i, j]) => i * cols + j) : []);
    for (const [gi, gj] of maze.freeCells) {
      const g = gi * cols + gj;
      // Never block the goal cell itself.
      const blocked = new Set([...inbound].filter((c) => c !== g));
      const dist = bfsDistances(maze, [gi, gj], blocked);
      for (const [ci, cj] of maze.freeCells) {
        const c = ci * cols + cj;
        let best = c;
        let bestDist = dist[c]! >= 0 ? dist[c]! : Infinity;
        // Order: up (i-1), left (j-1), down (i+1), right (j+1); strict < keeps the first minimum.
        for (const [di, dj] of [
          [-1, 0],
          [0, -1],
          [1, 0],
          [0, 1],
        ] as const) {
          const ni = ci + di;
          const nj = cj + dj;
          if (isWall(maze, ni, nj)) continue;
          const d = dist[ni * cols + nj]!;
          if (d >= 0 && d < bestDist) {
            bestDist = d;
            best = ni * cols + nj;
          }
        }
        // From an unreachable cell (e.g. the closed-off teleporter exit (1, 7)) best stays c: the
        // expert heads for its own cell centre, as OGBench's does.
        this.next[g * cells + c] = best;
      }
    }
  }

  /**
   * Writes the point the expert heads for from (x, y) with goal (gx, gy) into out[k], out[k + 1].
   */
  target(x: number, y: number, gx: number, gy: number, out: Float32Array | Float64Array, k = 0): void {
    const { rows, cols } = this.maze;
    const ci = rowOf(y);
    const cj = colOf(x);
    const gi = rowOf(gy);
    const gj = colOf(gx);
    const inside = ci >= 0 && ci < rows && cj >= 0 && cj < cols && gi >= 0 && gi < rows && gj >= 0 && gj < cols;
    const c = ci * cols + cj;
    const g = gi * cols + gj;
    if (c === g) {
      out[k] = gx;
      out[k + 1] = gy;
      return;
    }
    const t = inside ? this.next[g * this.cells + c]! : -1;
    if (t < 0) {
      // The ball or the goal is outside the free cells (only possible with hand-placed states): head
      // straight for the goal.
      out[k] = gx;
      out[k + 1] = gy;
      return;
    }
    const ti = (t / cols) | 0;
    out[k] = cellCenterX(t - ti * cols);
    out[k + 1] = cellCenterY(ti);
  }

  /**
   * Writes the expert's action for a ball at (x, y) with goal (gx, gy) into out[k], out[k + 1].
   * Draws two normals from `rng` (x then y) unless noise is 0.
   */
  act(x: number, y: number, gx: number, gy: number, rng: Rng | null, out: Float32Array | Float64Array, k = 0): void {
    const t = this.scratch;
    this.target(x, y, gx, gy, t, 0);
    const dx = t[0]! - x;
    const dy = t[1]! - y;
    // OGBench normalises with +1e-6 so that a ball sitting on its target gets a zero direction.
    const inv = 1 / (Math.sqrt(dx * dx + dy * dy) + 1e-6);
    let ax = dx * inv;
    let ay = dy * inv;
    if (this.noise > 0) {
      if (!rng) throw new Error('NoisyExpert.act: a random generator is needed when noise > 0');
      ax += this.noise * rng.normal();
      ay += this.noise * rng.normal();
    }
    out[k] = ax > 1 ? 1 : ax < -1 ? -1 : ax;
    out[k + 1] = ay > 1 ? 1 : ay < -1 ? -1 : ay;
  }
}

const experts = new WeakMap<MazeSpec, Map<string, NoisyExpert>>();

/** A cached expert per (maze, options): building the table costs a BFS per free cell. */
export function getExpert(maze: MazeSpec, opts: ExpertOptions = {}): NoisyExpert {
  const key = `${opts.noise ?? EXPERT_NOISE}/${opts.avoidTeleporters ?? false}`;
  let m = experts.get(maze);
  if (!m) experts.set(maze, (m = new Map()));
  let e = m.get(key);
  if (!e) m.set(key, (e = new NoisyExpert(maze, opts)));
  return e;
}
