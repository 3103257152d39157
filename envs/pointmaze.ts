// PointMaze dynamics (docs/spec.md section 5): a ball moved directly by its action, pushed out of the
// maze's wall blocks, with the teleport maze's teleporters.
//
// The reference is a MuJoCo point mass. We replace its physics by a kinematic rule that reproduces
// what docs/spec.md measured in it:
//   - position += 0.2 * clip(action, -1, 1) exactly when no wall is touched;
//   - a step into a wall keeps its component along the wall and loses the component into it;
//   - the ball centre never comes closer than the ball radius to any wall block.
// Contact is a circle (the ball) against axis-aligned 4 x 4 squares (the wall blocks). A step moves
// at most 0.2 * sqrt(2) < BALL_RADIUS, so the ball can never tunnel through a wall and only the
// 3 x 3 blocks around its cell can touch it.
//
// Positions are kept in Float64Array for the physics; observations handed to policies are float32.

import { type Cell, type MazeName, type MazeSpec, cellCenterX, cellCenterY, colOf, getMaze, getTask, isWall, rowOf } from './maze.ts';
import { Rng } from '../rng/rng.ts';

/**
 * Ball radius in world units. The reference ball is a MuJoCo sphere of size 0.7 with soft contact;
 * docs/spec.md measured the ball centre settling 0.55-0.7 from a wall surface, so a hard-contact radius of
 * 0.6 sits in that band (walls keep the centre exactly 0.6 from their surface here).
 */
export const BALL_RADIUS = 0.6;
/** position += ACTION_SCALE * clip(action, -1, 1) per step. */
export const ACTION_SCALE = 0.2;
/** Success when ||xy - goal|| <= GOAL_TOLERANCE, checked after the step (and after a teleport). */
export const GOAL_TOLERANCE = 1.0;
/** Evaluation episode length. */
export const MAX_EPISODE_STEPS = 1000;
/** Start and goal get uniform noise in [-RESET_NOISE, RESET_NOISE] per axis at every reset. */
export const RESET_NOISE = 1.0;
/** Coming within this distance of an inbound teleporter's cell centre teleports the ball. */
export const TELEPORT_RADIUS = 1.5;
/**
 * Seconds per environment step in the reference (MuJoCo timestep 0.02 x frame_skip 5). Only used
 * to express `qvel` in the generated datasets in the reference's units.
 */
export const STEP_DT = 0.1;

const HALF = 2; // half a wall block

function clip1(a: number): number {
  return a > 1 ? 1 : a < -1 ? -1 : a !== a ? 0 : a; // NaN actions count as 0 rather than poisoning the state
}

/**
 * Pushes the ball at (pos[k], pos[k + 1]) out of every wall block it overlaps, in place.
 *
 * Pass 1 handles face contacts (the centre projects onto a block's side): the ball is moved along
 * the face normal to exactly `radius` from the face, which keeps the motion along the wall intact
 * (sliding) and resolves concave corners as two face contacts. Pass 2 handles convex corners: the
 * ball is moved radially away from the corner point. Corners where two wall blocks meet along a
 * straight wall are never reached in pass 2 because pass 1 has already put the ball `radius` away
 * from the shared face, so a ball sliding along a long wall gets no spurious sideways kick at block
 * seams. The passes repeat until nothing moves (two rounds suffice in practice; four are allowed).
 */
export function resolveContacts(maze: MazeSpec, pos: Float64Array, k: number, radius = BALL_RADIUS): void {
  for (let round = 0; round < 4; round++) {
    let x = pos[k]!;
    let y = pos[k + 1]!;
    const ci = rowOf(y);
    const cj = colOf(x);
    let moved = false;
    // Pass 1: faces.
    for (let di = -1; di <= 1; di++) {
      for (let dj = -1; dj <= 1; dj++) {
        const bi = ci + di;
        const bj = cj + dj;
        if (!isWall(maze, bi, bj)) continue;
        const bx = cellCenterX(bj);
        const by = cellCenterY(bi);
        const x0 = bx - HALF;
        const x1 = bx + HALF;
        const y0 = by - HALF;
        const y1 = by + HALF;
        const inX = x > x0 && x < x1;
        const inY = y > y0 && y < y1;
        if (inX && inY) {
          // Centre inside a block: only reachable by placing the ball there by hand. Leave by the
          // nearest face.
          const dl = x - x0;
          const dr = x1 - x;
          const dd = y - y0;
          const du = y1 - y;
          const m = Math.min(dl, dr, dd, du);
          if (m === dl) x = x0 - radius;
          else if (m === dr) x = x1 + radius;
          else if (m === dd) y = y0 - radius;
          else y = y1 + radius;
          moved = true;
        } else if (inX) {
          if (y <= y0 && y > y0 - radius) {
            y = y0 - radius;
            moved = true;
          } else if (y >= y1 && y < y1 + radius) {
            y = y1 + radius;
            moved = true;
          }
        } else if (inY) {
          if (x <= x0 && x > x0 - radius) {
            x = x0 - radius;
            moved = true;
          } else if (x >= x1 && x < x1 + radius) {
            x = x1 + radius;
            moved = true;
          }
        }
      }
    }
    // Pass 2: convex corners.
    for (let di = -1; di <= 1; di++) {
      for (let dj = -1; dj <= 1; dj++) {
        const bi = ci + di;
        const bj = cj + dj;
        if (!isWall(maze, bi, bj)) continue;
        const bx = cellCenterX(bj);
        const by = cellCenterY(bi);
        // Closest point of the block to the centre.
        const qx = x < bx - HALF ? bx - HALF : x > bx + HALF ? bx + HALF : x;
        const qy = y < by - HALF ? by - HALF : y > by + HALF ? by + HALF : y;
        const dx = x - qx;
        const dy = y - qy;
        const d2 = dx * dx + dy * dy;
        if (d2 >= radius * radius || d2 === 0) continue; // d2 === 0 only inside a block, handled in pass 1
        const d = Math.sqrt(d2);
        x = qx + (dx / d) * radius;
        y = qy + (dy / d) * radius;
        moved = true;
      }
    }
    pos[k] = x;
    pos[k + 1] = y;
    if (!moved) return;
  }
}

/** One movement step, in place: pos += ACTION_SCALE * clip(a), then wall contact. No teleport. */
export function moveBall(maze: MazeSpec, pos: Float64Array, k: number, ax: number, ay: number): void {
  pos[k] = pos[k]! + ACTION_SCALE * clip1(ax);
  pos[k + 1] = pos[k + 1]! + ACTION_SCALE * clip1(ay);
  resolveContacts(maze, pos, k);
}

/**
 * Teleport rule of the teleport maze, in place: if the ball is within TELEPORT_RADIUS of an inbound
 * teleporter's cell centre, it moves to the centre of a uniformly chosen outbound one. Returns
 * whether it teleported. Draws from `rng` only when a teleport happens.
 */
export function applyTeleport(maze: MazeSpec, pos: Float64Array, k: number, rng: Rng): boolean {
  const tin = maze.teleportIn;
  if (tin.length === 0) return false;
  const x = pos[k]!;
  const y = pos[k + 1]!;
  for (let t = 0; t < tin.length; t++) {
    const c = tin[t]!;
    const dx = x - cellCenterX(c[1]);
    const dy = y - cellCenterY(c[0]);
    if (dx * dx + dy * dy <= TELEPORT_RADIUS * TELEPORT_RADIUS) {
      const out = maze.teleportOut[rng.int(maze.teleportOut.length)]!;
      pos[k] = cellCenterX(out[1]);
      pos[k + 1] = cellCenterY(out[0]);
      return true;
    }
  }
  return false;
}

/** A full environment step of the ball at pos[k]: move with wall contact, then teleport. */
export function physicsStep(maze: MazeSpec, pos: Float64Array, k: number, ax: number, ay: number, rng: Rng): void {
  moveBall(maze, pos, k, ax, ay);
  applyTeleport(maze, pos, k, rng);
}

/** Distance from (x, y) to the nearest wall block (negative inside one), over the whole map. */
export function distanceToWalls(maze: MazeSpec, x: number, y: number): number {
  let best = Infinity;
  for (let i = 0; i < maze.rows; i++) {
    for (let j = 0; j < maze.cols; j++) {
      if (maze.walls[i * maze.cols + j] !== 1) continue;
      const bx = cellCenterX(j);
      const by = cellCenterY(i);
      const ox = Math.abs(x - bx) - HALF;
      const oy = Math.abs(y - by) - HALF;
      // Signed distance to an axis-aligned square.
      const outside = Math.hypot(Math.max(ox, 0), Math.max(oy, 0));
      const d = outside > 0 ? outside : Math.max(ox, oy);
      if (d < best) best = d;
    }
  }
  return best;
}

/** Centre of `cell` plus uniform noise of +-RESET_NOISE per axis (two draws: x then y). */
function noisyCenter(cell: Cell, rng: Rng, noise: number): [number, number] {
  const x = cellCenterX(cell[1]) + rng.range(-noise, noise);
  const y = cellCenterY(cell[0]) + rng.range(-noise, noise);
  return [x, y];
}

function resolveMaze(maze: MazeSpec | MazeName | string): MazeSpec {
  return typeof maze === 'string' ? getMaze(maze) : maze;
}

export interface StepResult {
  obs: Float32Array;
  success: boolean;
  done: boolean;
  steps: number;
}

export interface EnvOptions {
  /** Episode length (default MAX_EPISODE_STEPS). */
  maxSteps?: number;
  /** Per-axis reset noise (default RESET_NOISE). */
  resetNoise?: number;
}

/**
 * One PointMaze episode at a time (for demos and step-by-step use; batched evaluation should use
 * VecPointMaze). The episode ends on success or after maxSteps steps.
 */
export class PointMazeEnv {
  readonly maze: MazeSpec;
  readonly maxSteps: number;
  readonly resetNoise: number;
  private readonly pos = new Float64Array(2);
  private readonly goalXY = new Float64Array(2);
  private rng: Rng | null = null;
  private stepCount = 0;
  private finished = true;
  private succeeded = false;

  constructor(maze: MazeSpec | MazeName | string, opts: EnvOptions = {}) {
    this.maze = resolveMaze(maze);
    this.maxSteps = checkMaxSteps(opts.maxSteps);
    this.resetNoise = opts.resetNoise ?? RESET_NOISE;
  }

  /** Starts evaluation task `taskId` (1..5): start and goal cell centres plus reset noise. */
  reset(taskId: number, rng: Rng): { obs: Float32Array; goal: Float32Array } {
    const task = getTask(this.maze, taskId);
    const start = noisyCenter(task.start, rng, this.resetNoise);
    const goal = noisyCenter(task.goal, rng, this.resetNoise);
    return this.resetTo(start, goal, rng);
  }

  /** Starts an episode at exactly `start` with goal `goal` (the start is pushed out of walls if needed). */
  resetTo(start: readonly [number, number], goal: readonly [number, number], rng: Rng): { obs: Float32Array; goal: Float32Array } {
    for (const [what, p] of [
      ['start', start],
      ['goal', goal],
    ] as const) {
      if (!Number.isFinite(p[0]) || !Number.isFinite(p[1]))
        throw new RangeError(`PointMazeEnv.resetTo: ${what} must be finite, got (${p[0]}, ${p[1]})`);
    }
    this.rng = rng;
    this.pos[0] = start[0];
    this.pos[1] = start[1];
    resolveContacts(this.maze, this.pos, 0);
    // Goals are rounded to float32 so the success test uses exactly the goal a policy is given.
    this.goalXY[0] = Math.fround(goal[0]);
    this.goalXY[1] = Math.fround(goal[1]);
    this.stepCount = 0;
    this.finished = false;
    this.succeeded = false;
    return { obs: Float32Array.from(this.pos), goal: Float32Array.from(this.goalXY) };
  }

  step(action: ArrayLike<number>): StepResult {
    if (this.finished || !this.rng) {
      throw new Error(this.rng ? 'PointMazeEnv.step: the episode is over; call reset() first' : 'PointMazeEnv.step: call reset() first');
    }
    if (action.length !== 2) throw new RangeError(`PointMazeEnv.step: action must have 2 numbers, got ${action.length}`);
    physicsStep(this.maze, this.pos, 0, action[0]!, action[1]!, this.rng);
    this.stepCount++;
    const dx = this.pos[0]! - this.goalXY[0]!;
    const dy = this.pos[1]! - this.goalXY[1]!;
    this.succeeded = dx * dx + dy * dy <= GOAL_TOLERANCE * GOAL_TOLERANCE;
    this.finished = this.succeeded || this.stepCount >= this.maxSteps;
    return { obs: Float32Array.from(this.pos), success: this.succeeded, done: this.finished, steps: this.stepCount };
  }

  /** Current position (float64). */
  get position(): [number, number] {
    return [this.pos[0]!, this.pos[1]!];
  }
  get goal(): [number, number] {
    return [this.goalXY[0]!, this.goalXY[1]!];
  }
  get steps(): number {
    return this.stepCount;
  }
  get done(): boolean {
    return this.finished;
  }
  get success(): boolean {
    return this.succeeded;
  }
}

function checkMaxSteps(maxSteps: number | undefined): number {
  const m = maxSteps ?? MAX_EPISODE_STEPS;
  if (!Number.isInteger(m) || m < 1) throw new RangeError(`maxSteps must be a positive integer, got ${m}`);
  return m;
}

/**
 * n PointMaze episodes stepped in lockstep, for batched evaluation: one inference call produces
 * `actions` for all n, one `step` advances every unfinished episode. State lives in typed arrays
 * that a caller can hand straight to inference (`obs`, `goals`); `step` allocates nothing.
 *
 * Episode e's observation is obs[2e], obs[2e + 1] (float32 copy of the float64 physics state in
 * `pos`). Finished episodes keep their last observation and are not stepped again.
 */
export class VecPointMaze {
  readonly maze: MazeSpec;
  readonly n: number;
  readonly maxSteps: number;
  readonly resetNoise: number;
  /** Physics state [n * 2], float64. */
  readonly pos: Float64Array;
  /** Observations [n * 2] (float32 copy of pos). */
  readonly obs: Float32Array;
  /** Goals [n * 2] (float32; success is tested against exactly these values). */
  readonly goals: Float32Array;
  /** Task id (1..5) of each episode. */
  readonly taskIds: Int32Array;
  /** Steps taken by each episode. */
  readonly steps: Int32Array;
  /** 1 once the episode has reached its goal. */
  readonly success: Uint8Array;
  /** 1 once the episode has ended (success or time limit). */
  readonly done: Uint8Array;
  private rng: Rng = new Rng(0);
  private running = 0;

  constructor(maze: MazeSpec | MazeName | string, n: number, opts: EnvOptions = {}) {
    if (!Number.isInteger(n) || n < 1) throw new RangeError(`VecPointMaze: n must be a positive integer, got ${n}`);
    this.maze = resolveMaze(maze);
    this.n = n;
    this.maxSteps = checkMaxSteps(opts.maxSteps);
    this.resetNoise = opts.resetNoise ?? RESET_NOISE;
    this.pos = new Float64Array(2 * n);
    this.obs = new Float32Array(2 * n);
    this.goals = new Float32Array(2 * n);
    this.taskIds = new Int32Array(n);
    this.steps = new Int32Array(n);
    this.success = new Uint8Array(n);
    this.done = new Uint8Array(n).fill(1);
  }

  /**
   * Resets all n episodes. `taskIds` is one id for all or one per episode. Noise is drawn from a
   * generator seeded with `seed`, episode by episode (start x, start y, goal x, goal y), and the same
   * generator then drives teleports, so a seed fixes the whole run.
   */
  reset(taskIds: number | ArrayLike<number>, seed: number): void {
    if (typeof taskIds !== 'number' && taskIds.length !== this.n) {
      throw new RangeError(`VecPointMaze.reset: expected ${this.n} task ids, got ${taskIds.length}`);
    }
    this.rng = new Rng(seed);
    for (let e = 0; e < this.n; e++) {
      const id = typeof taskIds === 'number' ? taskIds : taskIds[e]!;
      const task = getTask(this.maze, id);
      const [sx, sy] = noisyCenter(task.start, this.rng, this.resetNoise);
      const [gx, gy] = noisyCenter(task.goal, this.rng, this.resetNoise);
      this.taskIds[e] = id;
      this.pos[2 * e] = sx;
      this.pos[2 * e + 1] = sy;
      resolveContacts(this.maze, this.pos, 2 * e);
      this.obs[2 * e] = this.pos[2 * e]!;
      this.obs[2 * e + 1] = this.pos[2 * e + 1]!;
      this.goals[2 * e] = gx;
      this.goals[2 * e + 1] = gy;
    }
    this.steps.fill(0);
    this.success.fill(0);
    this.done.fill(0);
    this.running = this.n;
  }

  /**
   * Advances every unfinished episode by its action (actions[2e], actions[2e + 1]); finished
   * episodes ignore theirs. Returns how many episodes are still running.
   */
  step(actions: Float32Array | Float64Array): number {
    if (actions.length < 2 * this.n) {
      throw new RangeError(`VecPointMaze.step: expected ${2 * this.n} action values (${this.n} x 2), got ${actions.length}`);
    }
    const { maze, pos, obs, goals, steps, success, done, rng, maxSteps } = this;
    const tol2 = GOAL_TOLERANCE * GOAL_TOLERANCE;
    let running = 0;
    for (let e = 0; e < this.n; e++) {
      if (done[e]) continue;
      const k = 2 * e;
      physicsStep(maze, pos, k, actions[k]!, actions[k + 1]!, rng);
      obs[k] = pos[k]!;
      obs[k + 1] = pos[k + 1]!;
      const s = steps[e]! + 1;
      steps[e] = s;
      const dx = pos[k]! - goals[k]!;
      const dy = pos[k + 1]! - goals[k + 1]!;
      if (dx * dx + dy * dy <= tol2) {
        success[e] = 1;
        done[e] = 1;
      } else if (s >= maxSteps) {
        done[e] = 1;
      } else {
        running++;
      }
    }
    this.running = running;
    return running;
  }

  /** Episodes still running. */
  get numRunning(): number {
    return this.running;
  }
  /** Fraction of episodes that reached their goal so far. */
  successRate(): number {
    let s = 0;
    for (let e = 0; e < this.n; e++) s += this.success[e]!;
    return s / this.n;
  }
}
