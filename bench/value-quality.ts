// How well a trained value function knows the maze: V(s, g) of HIQL, GCIVL or GCIQL runs evaluated on every
// pair of free-cell centres, against the true shortest-path distance (BFS over cells).
//
//   npm run bench -- value-quality runs/large-hiql runs/large-gcivl
//
// Figures per run: the Spearman rank correlation of -V with the path distance over all pairs (1:
// V orders every pair by how far apart it really is), and the wall AUC: among cells two apart in a
// row or column, the probability that a pair with a wall cell between them (path distance >= 4)
// gets a lower value than a pair with a free cell between them (path distance 2). 0.5 means the value function cannot
// tell a wall from an opening, and a policy following it (HIQL's high level proposing subgoals, or
// GCIVL's advantages) pushes into walls towards goals on their other side.
import { createSession, ort } from '../onnx/index.ts';
import { bfsDistances, cellCenter, cellIndex, getMaze, NEIGHBOURS } from '../envs/maze.ts';
import { parseEnvName } from '../envs/datasets.ts';
import { buildValueGraph } from '../train/graphs.ts';
import { readRunInfo, readRunParams } from '../train/run-folder.ts';

function ranks(xs: readonly number[]): number[] {
  const idx = xs.map((_, i) => i).sort((a, b) => xs[a]! - xs[b]!);
  const r = new Array<number>(xs.length);
  for (let k = 0; k < idx.length;) {
    let e = k;
    while (e + 1 < idx.length && xs[idx[e + 1]!] === xs[idx[k]!]) e++;
    for (let q = k; q <= e; q++) r[idx[q]!] = (k + e) / 2;
    k = e + 1;
  }
  return r;
}

function pearson(a: readonly number[], b: readonly number[]): number {
  const n = a.length;
  const ma = a.reduce((s, x) => s + x, 0) / n;
  const mb = b.reduce((s, x) => s + x, 0) / n;
  let sab = 0;
  let saa = 0;
  let sbb = 0;
  for (let i = 0; i < n; i++) {
    sab += (a[i]! - ma) * (b[i]! - mb);
    saa += (a[i]! - ma) ** 2;
    sbb += (b[i]! - mb) ** 2;
  }
  return sab / Math.sqrt(saa * sbb);
}

export async function main(argv: readonly string[]): Promise<void> {
  if (argv.length === 0)
    throw new RangeError('usage: npm run bench -- value-quality RUN_DIR [RUN_DIR ...] (HIQL, GCIVL or GCIQL runs on a state-based maze)');
  const results: Record<string, unknown>[] = [];
  for (const runDir of argv) {
    const info = readRunInfo(runDir);
    const agent = info.config.agent;
    if (agent !== 'hiql' && agent !== 'gcivl' && agent !== 'gciql')
      throw new RangeError(`${runDir}: value-quality needs a HIQL, GCIVL or GCIQL run, got ${agent}`);
    const maze = getMaze(parseEnvName(info.config.env).maze);
    const { params, step } = readRunParams(runDir);
    const cells: [number, number][] = [];
    for (let i = 0; i < maze.rows; i++) for (let j = 0; j < maze.cols; j++) if (!maze.walls[i * maze.cols + j]) cells.push([i, j]);
    const n = cells.length;
    const obs = new Float32Array(n * n * 2);
    const goal = new Float32Array(n * n * 2);
    const dist: number[] = [];
    for (let a = 0; a < n; a++) {
      const d = bfsDistances(maze, cells[a]!);
      for (let b = 0; b < n; b++) {
        obs.set(cellCenter(cells[a]!), 2 * (a * n + b));
        goal.set(cellCenter(cells[b]!), 2 * (a * n + b));
        dist.push(d[cellIndex(maze, cells[b]![0], cells[b]![1])]!);
      }
    }
    const session = await createSession(buildValueGraph(agent, info.config.agentConfig, info.dims, params).toBytes(), { threads: 1 });
    const out = await session.run({
      observation: new ort.Tensor('float32', obs, [n * n, 2]),
      goal: new ort.Tensor('float32', goal, [n * n, 2]),
    });
    await session.release();
    const v = Array.from(out['value']!.data as Float32Array);
    const pairs = dist.map((d, k) => ({ d, v: v[k]! })).filter((p) => p.d > 0);
    const spearman = pearson(ranks(pairs.map((p) => -p.v)), ranks(pairs.map((p) => p.d)));
    // Cells two apart in a row or column: a free cell between (path 2) or a wall between (path >= 4).
    const open: number[] = [];
    const walled: number[] = [];
    for (let a = 0; a < n; a++) {
      const [i, j] = cells[a]!;
      for (const [di, dj] of NEIGHBOURS) {
        const [ti, tj] = [i + 2 * di, j + 2 * dj];
        if (ti < 0 || tj < 0 || ti >= maze.rows || tj >= maze.cols || maze.walls[ti * maze.cols + tj]) continue;
        const b = cells.findIndex(([p, q]) => p === ti && q === tj);
        const d = dist[a * n + b]!;
        const between = maze.walls[(i + di) * maze.cols + (j + dj)];
        if (!between && d === 2) open.push(v[a * n + b]!);
        if (between && d >= 4) walled.push(v[a * n + b]!);
      }
    }
    let wins = 0;
    for (const w of walled) for (const o of open) wins += w < o ? 1 : w === o ? 0.5 : 0;
    const wallAuc = wins / Math.max(1, walled.length * open.length);
    const r = {
      run: runDir,
      agent,
      step,
      pairs: pairs.length,
      spearman,
      wallPairs: walled.length,
      openPairs: open.length,
      wallAuc,
      meanVOpen: open.reduce((s, x) => s + x, 0) / open.length,
      meanVWalled: walled.reduce((s, x) => s + x, 0) / Math.max(1, walled.length),
    };
    results.push(r);
    console.log(
      `${runDir.padEnd(28)} ${agent.padEnd(6)} step ${step}: Spearman(-V, path) ${spearman.toFixed(3)}; ` +
        `wall AUC ${wallAuc.toFixed(3)} (${walled.length} walled, ${open.length} open pairs; ` +
        `mean V ${r.meanVWalled.toFixed(1)} vs ${r.meanVOpen.toFixed(1)})`,
    );
  }
  console.log(JSON.stringify({ bench: 'value-quality', results }));
}
