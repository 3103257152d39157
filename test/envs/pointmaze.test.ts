import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MAZE_NAMES, bfsDistances, cellCenter, cellOf, geodesicField, getMaze, isWall } from '../../envs/maze.ts';
import {
  ACTION_SCALE,
  BALL_RADIUS,
  GOAL_TOLERANCE,
  PointMazeEnv,
  TELEPORT_RADIUS,
  VecPointMaze,
  applyTeleport,
  distanceToWalls,
  moveBall,
  physicsStep,
} from '../../envs/pointmaze.ts';
import { Rng } from '../../rng/rng.ts';

test('maps, tasks and cells follow SPEC section 5', () => {
  const dims: Record<string, [number, number]> = { medium: [8, 8], large: [9, 12], giant: [12, 16], teleport: [9, 12] };
  for (const name of MAZE_NAMES) {
    const m = getMaze(name);
    assert.deepEqual([m.rows, m.cols], dims[name]);
    assert.equal(m.tasks.length, 5);
    // Border is wall everywhere.
    for (let j = 0; j < m.cols; j++) assert.ok(isWall(m, 0, j) && isWall(m, m.rows - 1, j));
    for (let i = 0; i < m.rows; i++) assert.ok(isWall(m, i, 0) && isWall(m, i, m.cols - 1));
    // Every task's goal is reachable from its start.
    for (const t of m.tasks) assert.ok(bfsDistances(m, t.goal)[t.start[0] * m.cols + t.start[1]]! > 0, `${name} task ${t.id}`);
  }
  assert.deepEqual(cellCenter([1, 1]), [0, 0]);
  assert.deepEqual(cellCenter([2, 3]), [8, 4]); // x = 4j - 4, y = 4i - 4: rows run along y
  assert.deepEqual(cellOf(8, 4), [2, 3]);
  assert.deepEqual(cellOf(9.99, 5.99), [2, 3]);
  assert.deepEqual(cellOf(10, 6), [3, 4]);
  assert.deepEqual(getMaze('medium').tasks[0], { id: 1, start: [1, 1], goal: [6, 6] });
  assert.deepEqual(getMaze('teleport').teleportIn, [
    [4, 6],
    [5, 1],
  ]);
  assert.throws(() => getMaze('small'), /unknown maze 'small'; expected one of medium, large, giant, teleport/);
});

test('a step that touches no wall moves exactly 0.2 * clip(a); a step into a wall keeps the along-wall part', () => {
  const m = getMaze('medium');
  const pos = Float64Array.of(0, 0); // centre of cell (1, 1)
  moveBall(m, pos, 0, 0.5, -0.25);
  assert.deepEqual([...pos], [0.1, -0.05]);
  moveBall(m, pos, 0, 3, -7); // clipped to (1, -1)
  assert.ok(Math.abs(pos[0]! - 0.3) < 1e-15 && Math.abs(pos[1]! + 0.25) < 1e-15);
  // Cell (1, 1) has wall (0, 1) above it (y < -2): push into it diagonally.
  const p = Float64Array.of(0, -2 + BALL_RADIUS + 0.05);
  moveBall(m, p, 0, 0.5, -1);
  assert.equal(p[0], 0 + ACTION_SCALE * 0.5); // along the wall: kept exactly
  assert.equal(p[1], -2 + BALL_RADIUS); // into the wall: stopped at the contact distance
  // Pushing on keeps it there and still slides.
  for (let k = 0; k < 10; k++) moveBall(m, p, 0, 0.5, -1);
  assert.ok(Math.abs(p[0]! - 1.1) < 1e-12);
  assert.equal(p[1], -2 + BALL_RADIUS);
});

test('concave corners hold the ball exactly radius from both walls', () => {
  const m = getMaze('medium');
  // Cell (1, 1): wall (0, 1) above and wall (1, 0) to the left; corner at (-2, -2).
  const p = Float64Array.of(0, 0);
  for (let k = 0; k < 60; k++) moveBall(m, p, 0, -1, -1);
  assert.equal(p[0], -2 + BALL_RADIUS);
  assert.equal(p[1], -2 + BALL_RADIUS);
});

test('property: the ball never enters a wall (>= 100,000 random steps per maze, incl. pushing into walls and corners)', () => {
  for (const name of MAZE_NAMES) {
    const m = getMaze(name);
    const rng = new Rng(123);
    const balls = 50;
    const steps = 2000; // 50 x 2000 = 100,000 steps per maze
    const pos = new Float64Array(2 * balls);
    const dir = new Float64Array(2 * balls);
    for (let b = 0; b < balls; b++) {
      const c = m.freeCells[rng.int(m.freeCells.length)]!;
      const [x, y] = cellCenter(c);
      pos[2 * b] = x + rng.range(-1, 1);
      pos[2 * b + 1] = y + rng.range(-1, 1);
    }
    let minDist = Infinity;
    let contacts = 0;
    for (let t = 0; t < steps; t++) {
      for (let b = 0; b < balls; b++) {
        // Hold a saturated direction for a while (drives balls into walls and corners), with
        // occasional fully random actions, some far outside [-1, 1].
        if (t % 40 === 0 || rng.uniform() < 0.02) {
          const kind = rng.int(3);
          dir[2 * b] = kind === 0 ? rng.range(-1, 1) : kind === 1 ? (rng.int(2) ? 1 : -1) : rng.range(-5, 5);
          dir[2 * b + 1] = kind === 0 ? rng.range(-1, 1) : kind === 1 ? (rng.int(2) ? 1 : -1) : rng.range(-5, 5);
        }
        const bx = pos[2 * b]!;
        const by = pos[2 * b + 1]!;
        physicsStep(m, pos, 2 * b, dir[2 * b]! + 0.1 * rng.normal(), dir[2 * b + 1]! + 0.1 * rng.normal(), rng);
        const moved = Math.hypot(pos[2 * b]! - bx, pos[2 * b + 1]! - by);
        const d = distanceToWalls(m, pos[2 * b]!, pos[2 * b + 1]!);
        if (d < BALL_RADIUS + 1e-9) contacts++;
        if (d < minDist) minDist = d;
        assert.ok(d >= BALL_RADIUS - 1e-9, `${name}: ball ${b} at step ${t} is ${d} from a wall (< radius ${BALL_RADIUS})`);
        // Free steps move at most 0.2 sqrt(2); a push-out along a contact normal adds at most the
        // penetration depth, itself at most the step (measured worst case about 0.29 at corners).
        if (m.teleportIn.length === 0) assert.ok(moved <= 2 * ACTION_SCALE * Math.SQRT2 + 1e-12, `${name}: moved ${moved}`);
      }
    }
    assert.ok(contacts > 1000, `${name}: the test should push into walls often (only ${contacts} contact steps)`);
    assert.ok(minDist >= BALL_RADIUS - 1e-9);
  }
});

test('teleport maze: within 1.5 of an inbound teleporter the ball lands on a random outbound centre', () => {
  const m = getMaze('teleport');
  const rng = new Rng(9);
  const outs = m.teleportOut.map((c) => cellCenter(c).join(','));
  const seen = new Map<string, number>();
  for (let k = 0; k < 3000; k++) {
    const [cx, cy] = cellCenter(m.teleportIn[k % 2]!);
    const p = Float64Array.of(cx + TELEPORT_RADIUS - 0.01, cy);
    assert.ok(applyTeleport(m, p, 0, rng));
    const key = `${p[0]},${p[1]}`;
    assert.ok(outs.includes(key), key);
    seen.set(key, (seen.get(key) ?? 0) + 1);
  }
  for (const o of outs) assert.ok(Math.abs(seen.get(o)! / 3000 - 1 / 3) < 0.04, `outbound ${o}: ${seen.get(o)}`);
  // Just outside the radius: nothing happens.
  const [cx, cy] = cellCenter(m.teleportIn[0]!);
  const p = Float64Array.of(cx, cy - TELEPORT_RADIUS - 0.01);
  assert.equal(applyTeleport(m, p, 0, rng), false);
  assert.equal(applyTeleport(getMaze('large'), p, 0, rng), false);
});

test('PointMazeEnv: reset noise, success after the step within 1.0, episode limit', () => {
  const env = new PointMazeEnv('medium');
  const rng = new Rng(3);
  for (let k = 0; k < 200; k++) {
    const { obs, goal } = env.reset(1, rng);
    assert.ok(Math.abs(obs[0]!) <= 1 && Math.abs(obs[1]!) <= 1, 'start within +-1 of (1, 1) centre');
    assert.ok(Math.abs(goal[0]! - 20) <= 1 && Math.abs(goal[1]! - 20) <= 1, 'goal within +-1 of (6, 6) centre');
  }
  // Start 1.1 from the goal, step 0.2 towards it: success is checked after the step.
  env.resetTo([0, 0], [1.1, 0], rng);
  assert.equal(env.success, false);
  const r = env.step([1, 0]);
  assert.equal(r.success, true);
  assert.equal(r.done, true);
  assert.ok(Math.hypot(r.obs[0]! - 1.1, r.obs[1]!) <= GOAL_TOLERANCE);
  assert.throws(() => env.step([0, 0]), /episode is over/);
  const short = new PointMazeEnv('medium', { maxSteps: 5 });
  short.reset(1, rng);
  let last;
  for (let k = 0; k < 5; k++) last = short.step([0, 0]);
  assert.equal(last!.done, true);
  assert.equal(last!.success, false);
  assert.equal(last!.steps, 5);
  assert.throws(() => env.reset(6, rng), /task id must be an integer in 1\.\.5, got 6/);
});

test('VecPointMaze matches PointMazeEnv and only advances unfinished episodes', () => {
  const n = 5;
  const vec = new VecPointMaze('large', n, { maxSteps: 50 });
  vec.reset([1, 2, 3, 4, 5], 11);
  const obsRef = vec.obs;
  // Same noise draws as single environments fed from one generator in episode order.
  const rng = new Rng(11);
  const singles = [1, 2, 3, 4, 5].map((id) => {
    const e = new PointMazeEnv('large', { maxSteps: 50 });
    e.reset(id, rng);
    return e;
  });
  for (let e = 0; e < n; e++) {
    assert.deepEqual([vec.obs[2 * e], vec.obs[2 * e + 1]], [...Float32Array.from(singles[e]!.position)]);
    assert.deepEqual([vec.goals[2 * e], vec.goals[2 * e + 1]], [...Float32Array.from(singles[e]!.goal)]);
  }
  const actions = new Float32Array(2 * n);
  const act = new Rng(5);
  for (let t = 0; t < 60; t++) {
    for (let k = 0; k < actions.length; k++) actions[k] = act.range(-1, 1);
    const before = Float32Array.from(vec.obs);
    const doneBefore = Uint8Array.from(vec.done);
    const running = vec.step(actions);
    assert.equal(vec.obs, obsRef, 'obs array is reused, never reallocated');
    for (let e = 0; e < n; e++) {
      if (doneBefore[e]) {
        assert.deepEqual([vec.obs[2 * e], vec.obs[2 * e + 1]], [before[2 * e], before[2 * e + 1]], 'finished episodes do not move');
        continue;
      }
      const r = singles[e]!.step([actions[2 * e]!, actions[2 * e + 1]!]);
      assert.deepEqual([vec.obs[2 * e], vec.obs[2 * e + 1]], [r.obs[0], r.obs[1]]);
      assert.equal(vec.done[e] === 1, r.done);
      assert.equal(vec.success[e] === 1, r.success);
    }
    assert.equal(running, vec.numRunning);
  }
  assert.equal(vec.numRunning, 0);
  assert.ok([...vec.steps].every((s) => s <= 50));
  assert.throws(() => vec.step(new Float32Array(3)), /expected 10 action values \(5 x 2\), got 3/);
});

test('geodesic distance: straight corridors exactly, around walls between the straight line and the cell path', () => {
  const maze = getMaze('medium');
  const from = maze.freeCells[0]!;
  const f = geodesicField(maze, cellCenter(from));
  const bfs = bfsDistances(maze, from);
  assert.equal(f(...cellCenter(from)), 0);
  let corridors = 0;
  for (const c of maze.freeCells) {
    const [x, y] = cellCenter(c);
    const d = f(x, y);
    const straight = Math.hypot(x - cellCenter(from)[0], y - cellCenter(from)[1]);
    // Never shorter than the straight line, never longer than the path through cell centres (4 per cell).
    assert.ok(
      d >= straight - 1e-9 && d <= 4 * bfs[c[0] * maze.cols + c[1]]! + 1e-9,
      `cell ${c}: ${d} vs ${straight}, ${4 * bfs[c[0] * maze.cols + c[1]]!}`,
    );
    // A cell in line with no wall between: the straight line, to rounding.
    const inLine = c[0] === from[0] ? 'row' : c[1] === from[1] ? 'col' : null;
    const clear =
      inLine &&
      Array.from({ length: Math.abs(c[0] - from[0]) + Math.abs(c[1] - from[1]) + 1 }, (_, k) =>
        inLine === 'row' ? [c[0], Math.min(c[1], from[1]) + k] : [Math.min(c[0], from[0]) + k, c[1]],
      ).every(([i, j]) => !isWall(maze, i!, j!));
    if (clear) {
      corridors++;
      assert.ok(Math.abs(d - straight) < 1e-9, `cell ${c} in a clear line: ${d} vs ${straight}`);
    }
  }
  assert.ok(corridors >= 2);
  // (1, 5), at (16, 0), is 16 to the right of (1, 1), at (0, 0), across the walls (1, 3) and (1, 4); the
  // way round passes under wall (2, 3) (x 6..10, y 2..6): (0, 0) -> (6, 6) -> (10, 6) -> (16, 0), that
  // is 2 * sqrt(72) + 4 = 20.97, against 32 through cell centres.
  assert.deepEqual(
    [from, cellCenter(from), cellCenter([1, 5])],
    [
      [1, 1],
      [0, 0],
      [16, 0],
    ],
  );
  const across = f(...cellCenter([1, 5]));
  assert.ok(Math.abs(across - (2 * Math.sqrt(72) + 4)) < 0.1, `(1, 1) -> (1, 5): ${across}`);
  // Inside a wall the goal cannot be reached; a goal in a wall is refused.
  const wall = [...Array(maze.rows * maze.cols).keys()].find((k) => maze.walls[k])!;
  const [wi, wj] = [Math.floor(wall / maze.cols), wall % maze.cols];
  assert.equal(f(...cellCenter([wi, wj])), Infinity);
  assert.throws(() => geodesicField(maze, cellCenter([wi, wj])), /the goal \(.*\) lies in a wall cell/);
});
