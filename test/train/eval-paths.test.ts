// hiql eval --picture: evaluation records the ball's path in the first episodes of each task, and
// draws them on the maze. The paths are the episodes the success figures count.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { getExpert } from '../../envs/expert.ts';
import { getMaze } from '../../envs/maze.ts';
import { GOAL_TOLERANCE } from '../../envs/pointmaze.ts';
import { renderMaze } from '../../envs/render.ts';
import { evalPathsPicture, evaluate } from '../../train/evaluate.ts';

test('recorded paths: every recorded episode from its reset to its end, as the success figures count it', async () => {
  const maze = getMaze('medium');
  const expert = getExpert(maze, { noise: 0 });
  // The noise-free expert on tasks 1-4 (it reaches each goal), a ball that never moves on task 5.
  let task = new Int32Array(0);
  const policy = async (obs: Float32Array | Uint8Array, goals: Float32Array | Uint8Array, n: number) => {
    const a = new Float32Array(2 * n);
    for (let e = 0; e < n; e++)
      if (task[e] !== 5) expert.act(obs[2 * e]!, obs[2 * e + 1]!, goals[2 * e]!, goals[2 * e + 1]!, null, a, 2 * e);
    return a;
  };
  const episodes = 3;
  task = Int32Array.from({ length: 5 * episodes }, (_, e) => 1 + Math.floor(e / episodes));
  const r = await evaluate('pointmaze-medium-navigate', policy, { episodesPerTask: episodes, seed: 7, record: episodes });
  assert.equal(r.paths!.length, 5 * episodes);
  for (const t of r.tasks) {
    const mine = r.paths!.filter((p) => p.task === t.task);
    assert.equal(mine.length, episodes);
    // Successes and steps are those of the recorded paths (a path of k steps holds k + 1 points).
    assert.equal(mine.filter((p) => p.success).length, Math.round(t.success * episodes));
    assert.equal(
      mine.reduce((s, p) => s + p.xy.length / 2 - 1, 0),
      t.meanSteps * episodes,
    );
    for (const p of mine) {
      const [ex, ey] = [p.xy[p.xy.length - 2]!, p.xy[p.xy.length - 1]!];
      if (p.success) assert.ok(Math.hypot(ex - p.goal[0], ey - p.goal[1]) <= GOAL_TOLERANCE, `task ${t.task} ends at its goal`);
    }
  }
  assert.deepEqual(
    r.tasks.map((t) => t.success),
    [1, 1, 1, 1, 0],
  );
  // The unmoving ball: 1000 steps at its start.
  const still = r.paths!.find((p) => p.task === 5)!;
  assert.equal(still.xy.length, 2 * 1001);
  assert.ok(still.xy.every((v, i) => v === still.xy[i % 2]));
  // Without record there are no paths; with record the picture is the maze's size and differs from the bare maze.
  const bare = await evaluate('pointmaze-medium-navigate', policy, { episodesPerTask: 1, seed: 7 });
  assert.equal(bare.paths, undefined);
  const img = evalPathsPicture('pointmaze-medium-navigate', r.paths!);
  const plain = renderMaze(maze, { pixelsPerUnit: 12 });
  assert.deepEqual([img.width, img.height], [plain.width, plain.height]);
  let changed = 0;
  for (let i = 0; i < img.data.length; i += 4) if (img.data[i] !== plain.data[i] || img.data[i + 1] !== plain.data[i + 1]) changed++;
  assert.ok(changed > 500, `${changed} pixels drawn`);
});
