// How well a trained value function knows the maze: V(s, g) of a run (HIQL, GCIVL, GCIQL, QRL: -d(s, g), CRL: its critic) on every
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
//
// Then the advantages the actors are extracted from, on the run's own dataset: for transitions
// s_t -> s_{t+h} in one trajectory and goals at free-cell centres, how often the sign of
// V(s_{t+h}, g) - V(s_t, g) agrees with the true progress d(s_t, g) - d(s_{t+h}, g), d the geodesic
// distance through the maze (Dijkstra on a 0.1-unit grid, 8-connected, read bilinearly), at h = 1
// (GCIVL's flat actor and HIQL's low level, whose goal is the subgoal) and h = 25 (HIQL's high
// level: a subgoal 25 steps ahead). Moves of under 0.05 units towards or away from the goal are left
// out. The HIQL paper's argument (section 4) is that a noisy value ranks one-step moves close to
// chance far from the goal, and moves 25 steps apart much better.
import { createSession, ort } from '../onnx/index.ts';
import { Rng } from '../rng/rng.ts';
import { buildTrajectoryIndex, loadDataset } from '../train/data/dataset.ts';
import { bfsDistances, cellCenter, cellIndex, geodesicField, getMaze, NEIGHBOURS, type MazeSpec } from '../envs/maze.ts';
import { parseEnvName } from '../envs/datasets.ts';
import { buildValueGraph } from '../train/graphs.ts';
import { AGENTS } from '../train/agents/index.ts';
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

/** Sign agreement of V(s_{t+h}, g) - V(s_t, g) with the true progress, per horizon (see the header). */
async function advantageSigns(
  session: ort.InferenceSession,
  maze: MazeSpec,
  datasetPath: string,
  horizons: readonly number[],
): Promise<{ h: number; transitions: number; agree: number; corr: number; euclidAgree: number }[]> {
  const ds = await loadDataset(datasetPath);
  if (ds.obsShape.length !== 1 || ds.obsShape[0]! < 2 || !(ds.observations instanceof Float32Array))
    throw new RangeError(`${datasetPath}: the advantage look needs state observations (x, y, ...), got shape [${ds.obsShape}]`);
  const od = ds.obsShape[0]!;
  const obsAll = ds.observations;
  const idx = buildTrajectoryIndex(ds.terminals);
  const goals = maze.freeCells.map((c) => cellCenter(c));
  const fields = goals.map((g) => geodesicField(maze, g, 0.1));
  const rng = new Rng(12345);
  const perGoal = 200;
  const out = [];
  for (const h of horizons) {
    const rows: { t: number; g: number }[] = [];
    for (let g = 0; g < goals.length; g++)
      for (let k = 0; k < perGoal; k++) {
        for (let tries = 0; tries < 100; tries++) {
          const t = idx.validIndices[rng.int(idx.validIndices.length)]!;
          if (t + h <= idx.finalIndex[t]! + 1) {
            rows.push({ t, g });
            break;
          }
        }
      }
    const n = rows.length;
    const obs = new Float32Array(2 * n * od);
    const goal = new Float32Array(2 * n * od);
    rows.forEach(({ t, g }, r) => {
      obs.set(obsAll.subarray(t * od, (t + 1) * od), r * od);
      obs.set(obsAll.subarray((t + h) * od, (t + h + 1) * od), (n + r) * od);
      for (const base of [r, n + r]) {
        goal[base * od] = goals[g]![0];
        goal[base * od + 1] = goals[g]![1];
      }
    });
    const res = await session.run({
      observation: new ort.Tensor('float32', obs, [2 * n, od]),
      goal: new ort.Tensor('float32', goal, [2 * n, od]),
    });
    const v = res['value']!.data as Float32Array;
    const adv: number[] = [];
    const prog: number[] = [];
    // The same figure for a value that ignores the walls: -(straight-line distance to the goal).
    let euclidAgree = 0;
    rows.forEach(({ t, g }, r) => {
      const f = fields[g]!;
      const d0 = f(obsAll[t * od]!, obsAll[t * od + 1]!);
      const d1 = f(obsAll[(t + h) * od]!, obsAll[(t + h) * od + 1]!);
      const p = d0 - d1;
      if (!Number.isFinite(p) || Math.abs(p) < 0.05) return;
      adv.push(v[n + r]! - v[r]!);
      prog.push(p);
      const e = (u: number) => Math.hypot(obsAll[u * od]! - goals[g]![0], obsAll[u * od + 1]! - goals[g]![1]);
      euclidAgree += Math.sign(e(t) - e(t + h)) === Math.sign(p) ? 1 : 0;
    });
    let agree = 0;
    for (let k = 0; k < adv.length; k++) agree += Math.sign(adv[k]!) === Math.sign(prog[k]!) ? 1 : 0;
    out.push({
      h,
      transitions: adv.length,
      agree: agree / adv.length,
      corr: pearson(ranks(adv), ranks(prog)),
      euclidAgree: euclidAgree / adv.length,
    });
  }
  return out;
}

export async function main(argv: readonly string[]): Promise<void> {
  if (argv.length === 0)
    throw new RangeError(
      'usage: npm run bench -- value-quality RUN_DIR [RUN_DIR ...] (runs of an agent with a value, on a state-based maze)',
    );
  const results: Record<string, unknown>[] = [];
  for (const runDir of argv) {
    const info = readRunInfo(runDir);
    const agent = info.config.agent;
    if (!AGENTS[agent].value) throw new RangeError(`${runDir}: value-quality needs an agent with a value function, got ${agent}`);
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
    const signs = await advantageSigns(session, maze, info.config.dataset, [1, 25]);
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
      advantageSigns: signs,
    };
    results.push(r);
    console.log(
      `${runDir.padEnd(28)} ${agent.padEnd(6)} step ${step}: Spearman(-V, path) ${spearman.toFixed(3)}; ` +
        `wall AUC ${wallAuc.toFixed(3)} (${walled.length} walled, ${open.length} open pairs; ` +
        `mean V ${r.meanVWalled.toFixed(1)} vs ${r.meanVOpen.toFixed(1)})`,
    );
    for (const a of signs)
      console.log(
        `${''.padEnd(28)} advantage over ${String(a.h).padStart(2)} step(s): sign agrees with the true progress on ` +
          `${(100 * a.agree).toFixed(1)}% of ${a.transitions} transitions (a wall-blind -straight-line distance: ` +
          `${(100 * a.euclidAgree).toFixed(1)}%); Spearman ${a.corr.toFixed(3)}`,
      );
  }
  console.log(JSON.stringify({ bench: 'value-quality', results }));
}
