import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MAZE_NAMES, getMaze } from '../../envs/maze.ts';
import { MAX_EPISODE_STEPS, VecPointMaze } from '../../envs/pointmaze.ts';
import { NoisyExpert } from '../../envs/expert.ts';
import { Rng } from '../../rng/rng.ts';

/** Runs every evaluation task `perTask` times in lockstep (one batched step per time step). */
function runExpert(name: string, noise: number, seed: number, perTask: number): { success: Uint8Array; steps: Int32Array } {
  const maze = getMaze(name);
  // The teleport maze's evaluation tasks need an expert that does not walk into teleporters
  // (see ExpertOptions.avoidTeleporters); elsewhere the option changes nothing.
  const expert = new NoisyExpert(maze, { noise, avoidTeleporters: true });
  const n = 5 * perTask;
  const env = new VecPointMaze(maze, n);
  env.reset(
    Int32Array.from({ length: n }, (_, e) => 1 + (e % 5)),
    seed,
  );
  const rng = new Rng(seed + 1000);
  const actions = new Float32Array(2 * n);
  let running = n;
  for (let t = 0; t < MAX_EPISODE_STEPS && running > 0; t++) {
    for (let e = 0; e < n; e++) {
      if (!env.done[e]) expert.act(env.pos[2 * e]!, env.pos[2 * e + 1]!, env.goals[2 * e]!, env.goals[2 * e + 1]!, rng, actions, 2 * e);
    }
    running = env.step(actions);
  }
  return { success: env.success, steps: env.steps };
}

test('without noise the expert reaches the goal of every evaluation task of every maze within 1000 steps', () => {
  for (const name of MAZE_NAMES) {
    for (const seed of [0, 1, 2]) {
      const { success, steps } = runExpert(name, 0, seed, 4);
      success.forEach((s, e) => assert.equal(s, 1, `${name} task ${1 + (e % 5)} seed ${seed}: not reached in ${steps[e]} steps`));
    }
  }
});

test('with noise 0.5 the expert still reaches at least 90% of the evaluation tasks', () => {
  for (const name of MAZE_NAMES) {
    let ok = 0;
    let total = 0;
    for (const seed of [0, 1, 2]) {
      const { success } = runExpert(name, 0.5, seed, 10);
      ok += success.reduce((s, x) => s + x, 0);
      total += success.length;
    }
    assert.ok(ok / total >= 0.9, `${name}: ${ok}/${total}`);
  }
});

test('expert heads for the neighbouring cell with the smallest BFS distance, and for the goal inside the goal cell', () => {
  const maze = getMaze('medium');
  const expert = new NoisyExpert(maze, { noise: 0 });
  const out = new Float64Array(2);
  // From cell (1, 1) to goal in (1, 2): the right neighbour (1, 2) is the goal cell.
  expert.target(0.3, -0.2, 4.5, 0.5, out);
  assert.deepEqual([...out], [4, 0]);
  // Inside the goal cell: the goal itself.
  expert.target(4.1, 0.1, 4.5, 0.5, out);
  assert.deepEqual([...out], [4.5, 0.5]);
  // The action is a unit vector.
  expert.act(0, 0, 8, 0, null, out);
  assert.ok(Math.abs(Math.hypot(out[0]!, out[1]!) - 1) < 1e-6);
  assert.throws(() => new NoisyExpert(maze, { noise: -1 }), /noise must be a finite number >= 0, got -1/);
});
