// The browser demo: pick a maze, watch a shipped HIQL policy (or one you trained: `npm run demo --
// --models DIR`) drive the ball to a goal you place. Policies run on onnxruntime-web through
// @hiql/runtime's browser entry; the dynamics are envs/.
import './style.css';
import { loadPolicy, ort, type Backend, type Policy } from '../../runtime/src/web.ts';
import { MAZE_NAMES, cellCenter, cellOf, getMaze, isWall, type MazeSpec } from '../../envs/maze.ts';
import { MAX_EPISODE_STEPS } from '../../envs/pointmaze.ts';
import type { Manifest, ManifestModel } from '../manifest.ts';
import { Episode } from './episode.ts';
import { SubgoalFinder, type SubgoalView } from './subgoal.ts';
import { MazeView } from './draw.ts';
import type { DemoHook, RunEpisodeOptions, RunEpisodeResult } from './hook.ts';

// ---------------------------------------------------------------------------------------------
// onnxruntime-web: its wasm files are served beside the page (ort/), so the demo works offline.
const BASE = document.baseURI;
ort.env.wasm.wasmPaths = new URL('ort/', BASE).href;
ort.env.logLevel = 'error';
const params = new URLSearchParams(location.search);
/**
 * Intra-op threads for onnxruntime-web. A batch-1 call of these small MLPs is fastest on one thread
 * (thread hand-offs cost more than they save); `?threads=N` overrides (needs cross-origin isolation,
 * which the demo's server headers provide).
 */
const THREADS = Math.max(1, Number(params.get('threads') ?? '1') | 0);

// ---------------------------------------------------------------------------------------------
const $ = <T extends HTMLElement = HTMLElement>(id: string): T => document.getElementById(id) as T;
const el = {
  badge: $('backend-badge'),
  badgeText: $('backend-text'),
  notice: $('notice'),
  status: $('status'),
  hint: $('hint'),
  canvas: $<HTMLCanvasElement>('maze'),
  wrap: $('canvas-wrap'),
  toast: $('toast'),
  mazeButtons: $('maze-buttons'),
  policyRow: $('policy-row'),
  policySelect: $<HTMLSelectElement>('policy-select'),
  modelInfo: $('model-info'),
  backendSelect: $<HTMLSelectElement>('backend-select'),
  backendNote: $('backend-note'),
  taskButtons: $('task-buttons'),
  play: $<HTMLButtonElement>('play'),
  step: $<HTMLButtonElement>('step'),
  restart: $<HTMLButtonElement>('restart'),
  mode: $('mode'),
  speed: $<HTMLInputElement>('speed'),
  speedOut: $('speed-out'),
  showSubgoal: $<HTMLInputElement>('show-subgoal'),
  showTrail: $<HTMLInputElement>('show-trail'),
  showHeat: $<HTMLInputElement>('show-heat'),
  stSteps: $('st-steps'),
  stDist: $('st-dist'),
  stInfer: $('st-infer'),
  stSubgoal: $('st-subgoal'),
};

interface State {
  manifest: Manifest;
  model: ManifestModel | null;
  policy: Policy | null;
  maze: MazeSpec;
  episode: Episode;
  finder: SubgoalFinder | null;
  subgoal: SubgoalView | null;
  playing: boolean;
  stepsPerFrame: number;
  clickMode: 'goal' | 'start';
  backendWanted: Backend;
  webgpu: boolean;
  /** Bumped on every model load and episode reset, so stale async work is dropped. */
  gen: number;
  seed: number;
  loading: boolean;
}

const S: State = {
  manifest: { version: 1, models: [], skipped: [] },
  model: null,
  policy: null,
  maze: getMaze('medium'),
  episode: new Episode(getMaze('medium')),
  finder: null,
  subgoal: null,
  playing: false,
  stepsPerFrame: 3,
  clickMode: 'goal',
  backendWanted: 'wasm',
  webgpu: false,
  gen: 0,
  seed: (Date.now() % 100000) + 1,
  loading: true,
};

const view = new MazeView(el.canvas, S.maze);

function canvasWidth(): number {
  const avail = el.wrap.clientWidth || 720;
  // Keep tall mazes on screen.
  const aspect = (S.maze.yMax - S.maze.yMin) / (S.maze.xMax - S.maze.xMin);
  const maxH = Math.max(360, window.innerHeight - 230);
  return Math.floor(Math.min(avail, 880, maxH / aspect));
}

// ---------------------------------------------------------------------------------------------
// Status, stats and rendering.

let toastTimer = 0;
function toast(text: string): void {
  el.toast.textContent = text;
  el.toast.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = window.setTimeout(() => (el.toast.hidden = true), 1800);
}

function setStatus(state: string, text: string): void {
  el.status.dataset.state = state;
  el.status.textContent = text;
}

const fmtMs = (ms: number) => (Number.isFinite(ms) ? (ms < 1 ? `${(ms * 1000).toFixed(0)} µs` : `${ms.toFixed(ms < 10 ? 2 : 1)} ms`) : '–');
const fmtBytes = (b: number) => (b >= 1 << 20 ? `${(b / (1 << 20)).toFixed(1)} MB` : `${Math.round(b / 1024)} KB`);

function updateStatus(): void {
  if (S.loading) return;
  const e = S.episode;
  if (!S.policy) return;
  if (e.status === 'success') setStatus('success', `Reached the goal in ${e.steps} steps`);
  else if (e.status === 'timeout') setStatus('timeout', `Time limit: ${e.steps} steps without reaching the goal`);
  else if (S.playing) setStatus('running', `Running · step ${e.steps}`);
  else setStatus('idle', e.steps === 0 ? 'Ready' : `Paused · step ${e.steps}`);
}

function updateStats(): void {
  const e = S.episode;
  el.stSteps.textContent = S.policy ? `${e.steps} / ${MAX_EPISODE_STEPS}` : '–';
  const [x, y] = e.position;
  const [gx, gy] = e.goal;
  el.stDist.textContent = S.policy ? Math.hypot(x - gx, y - gy).toFixed(2) : '–';
  const t = e.timing();
  el.stInfer.textContent = fmtMs(t.median);
  el.stInfer.title = Number.isFinite(t.last) ? `last ${fmtMs(t.last)}, mean ${fmtMs(t.mean)} over ${e.times.length} calls` : '';
  const f = S.finder;
  if (!S.policy || !f) el.stSubgoal.textContent = S.policy && !S.policy.info.hierarchical ? 'flat policy' : '–';
  else if (!f.available) el.stSubgoal.textContent = 'no φ companion';
  else if (!S.subgoal) el.stSubgoal.textContent = `${f.count} candidates`;
  else el.stSubgoal.textContent = f.lastMissMs > 0 ? fmtMs(f.lastMissMs) : '–';
  el.stSubgoal.title = f ? `one batched φ call over ${f.count} candidate positions; ${f.hits} cache hits, ${f.misses} calls` : '';
  el.play.textContent = S.playing ? 'Pause' : e.done ? 'Replay' : 'Play';
  updateStatus();
}

function render(): void {
  const e = S.episode;
  const showSub = el.showSubgoal.checked && S.subgoal !== null && !e.done;
  view.draw({
    trajectory: el.showTrail.checked ? e.trajectory : null,
    start: S.policy ? e.start : null,
    ball: S.policy ? e.position : null,
    goal: S.policy ? e.goal : null,
    subgoal: showSub ? [S.subgoal!.x, S.subgoal!.y] : null,
    heat:
      el.showHeat.checked && S.subgoal && S.finder
        ? { candidates: S.finder.candidates, distances: S.subgoal.distances, spacing: S.finder.spacing }
        : null,
    success: e.status === 'success',
  });
  updateStats();
}

// ---------------------------------------------------------------------------------------------
// Stepping.

/** Updates the subgoal shown; `throttle` spaces out phi calls while the ball moves fast. */
async function refreshSubgoal(throttle = false): Promise<void> {
  const e = S.episode;
  const f = S.finder;
  if (!f || !f.available || !e.z) {
    S.subgoal = null;
    return;
  }
  const gen = S.gen;
  const v = await f.nearest(e.zAt[0], e.zAt[1], e.z, !throttle || S.subgoal === null || f.missAllowed());
  if (gen === S.gen && v) S.subgoal = v;
}

async function advance(n: number): Promise<void> {
  const policy = S.policy;
  if (!policy || S.episode.done) return;
  const gen = S.gen;
  await S.episode.advance(policy, n);
  if (gen !== S.gen) return;
  if (el.showSubgoal.checked || el.showHeat.checked) await refreshSubgoal(S.playing);
}

let ticking = false;
function frame(): void {
  requestAnimationFrame(frame);
  if (ticking) return;
  if (!S.playing || !S.policy || S.episode.done) return;
  ticking = true;
  const gen = S.gen;
  advance(S.stepsPerFrame)
    .then(() => {
      if (S.episode.done) S.playing = false;
      render();
    })
    // A step in flight when the policy is swapped out fails on the released policy: not an error.
    .catch((e) => gen === S.gen && fail(e))
    .finally(() => (ticking = false));
}

function fail(e: unknown): void {
  S.playing = false;
  const msg = e instanceof Error ? e.message : String(e);
  setStatus('error', 'Error');
  showNotice(`Something went wrong: ${escapeHtml(msg)}`);
  console.error(e);
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function showNotice(html: string | null): void {
  el.notice.hidden = html === null;
  el.notice.innerHTML = html ?? '';
}

/** Starts evaluation task `task` with fresh reset noise. */
function startTask(task: number, seed = S.seed++): void {
  S.gen++;
  S.episode.resetTask(task, seed);
  S.subgoal = null;
  markTask(task);
  S.playing = S.policy !== null;
  render();
}

function startFromTo(start: readonly [number, number], goal: readonly [number, number]): void {
  S.gen++;
  S.episode.resetTo(start, goal);
  S.subgoal = null;
  markTask(null);
  S.playing = S.policy !== null;
  render();
}

function markTask(task: number | null): void {
  for (const b of Array.from(el.taskButtons.querySelectorAll('button'))) b.classList.toggle('on', Number(b.dataset.task) === task);
}

// ---------------------------------------------------------------------------------------------
// Models.

async function fetchManifest(): Promise<Manifest> {
  const res = await fetch(new URL('models.json', BASE));
  if (!res.ok) throw new Error(`cannot fetch models.json: HTTP ${res.status}`);
  const m = (await res.json()) as Manifest;
  if (!m || !Array.isArray(m.models)) throw new Error('models.json has no model list');
  return m;
}

async function detectWebGpu(): Promise<boolean> {
  const gpu = (navigator as Navigator & { gpu?: { requestAdapter(): Promise<unknown> } }).gpu;
  if (!gpu) return false;
  try {
    return (await gpu.requestAdapter()) != null;
  } catch {
    return false;
  }
}

function setMaze(maze: MazeSpec): void {
  S.maze = maze;
  S.episode = new Episode(maze);
  view.setMaze(maze, canvasWidth());
  for (const b of Array.from(el.mazeButtons.querySelectorAll('button'))) b.classList.toggle('on', b.dataset.maze === maze.name);
  for (const li of Array.from(document.querySelectorAll<HTMLElement>('.legend .tele'))) li.hidden = maze.teleportIn.length === 0;
}

function describeBackend(p: Policy): void {
  const isolated = globalThis.crossOriginIsolated === true;
  const threads = p.backend === 'wasm' ? `${THREADS} thread${THREADS === 1 ? '' : 's'}` : 'GPU';
  el.badge.dataset.backend = p.backend;
  el.badgeText.textContent = `onnxruntime-web · ${p.backend === 'webgpu' ? 'WebGPU' : 'wasm'}`;
  const isolation = p.backend === 'wasm' ? `, ${isolated ? 'cross-origin isolated' : 'not isolated: no threads'}` : '';
  const notes: string[] = [`Running on <b>${p.backend === 'webgpu' ? 'WebGPU' : 'WebAssembly'}</b> (${threads}${isolation}).`];
  if (p.fallback) notes.push(`WebGPU could not load the policy, so it fell back to wasm: ${escapeHtml(p.fallback.reason.slice(0, 160))}`);
  else if (!S.webgpu) notes.push('WebGPU is not available in this browser.');
  el.backendNote.innerHTML = notes.join(' ');
  el.backendNote.classList.toggle('warn', p.fallback !== null);
}

/** The label of a policy in the selector: its name, and whether it is yours or has int8 weights. */
function modelLabel(m: ManifestModel): string {
  const tags = [m.source === 'user' ? 'yours' : '', m.weights !== 'float32' ? `${m.weights} weights` : ''].filter(Boolean);
  return tags.length ? `${m.name} (${tags.join(', ')})` : m.name;
}

async function describeModel(m: ManifestModel, p: Policy): Promise<void> {
  const i = p.info;
  const parts = [
    `<b>${escapeHtml(m.name)}</b>${m.source === 'user' ? ' <span class="tag user">your policy</span>' : ''}` +
      (m.weights !== 'float32' ? ` <span class="tag">${escapeHtml(m.weights)} weights</span>` : ''),
    `${i.agent.toUpperCase()} · ${i.trainSteps.toLocaleString('en-US')} training steps`,
    `${i.hierarchical ? `latent subgoal ${i.repDim}-d, k = ${i.subgoalSteps}` : 'flat policy (no subgoals)'} · ${fmtBytes(m.bytes)}`,
  ];
  if (i.hierarchical && m.phi && S.finder) parts.push(`subgoal shown over ${S.finder.count} candidate positions`);
  if (i.hierarchical && !m.phi) parts.push('<span class="warn">φ companion not shipped: no subgoal display</span>');
  let card = '';
  if (m.card) {
    const href = new URL(`models/${m.card}`, BASE).href;
    card = `<a href="${href}" target="_blank" rel="noopener">model card</a>`;
    if (m.card.endsWith('.json')) {
      try {
        const j = (await (await fetch(href)).json()) as Record<string, unknown>;
        const sr = findSuccess(j);
        if (sr !== null) card = `reported success ${(sr * 100).toFixed(0)}% · ${card}`;
      } catch {
        /* a card we cannot read is just a link */
      }
    }
  }
  if (card) parts.push(card);
  el.modelInfo.innerHTML = parts.join('<br>');
}

/** A success rate in [0, 1] from a JSON model card, if it states one under an obvious key. */
function findSuccess(j: unknown, depth = 0): number | null {
  if (!j || typeof j !== 'object' || depth > 2) return null;
  for (const [k, v] of Object.entries(j as Record<string, unknown>)) {
    if (/^(overall_?)?success(_?rate)?$/i.test(k) && typeof v === 'number' && v >= 0 && v <= 1) return v;
  }
  for (const v of Object.values(j as Record<string, unknown>)) {
    const r = findSuccess(v, depth + 1);
    if (r !== null) return r;
  }
  return null;
}

/** Loads `m` on the wanted backend (releasing the previous policy) and shows its maze. */
async function selectModel(m: ManifestModel): Promise<void> {
  S.gen++;
  S.playing = false;
  S.loading = true;
  setStatus('idle', `Loading ${m.name}…`);
  const old = S.policy;
  S.policy = null;
  S.finder = null;
  S.subgoal = null;
  S.model = m;
  if (old) await old.release();
  if (S.maze.name !== m.maze) setMaze(getMaze(m.maze));
  else S.episode = new Episode(S.maze);
  render();
  const gen = S.gen;
  const p = await loadPolicy(new URL(`models/${m.file}`, BASE).href, {
    backend: S.backendWanted,
    fallback: S.backendWanted === 'wasm' ? undefined : 'wasm',
    threads: THREADS,
  });
  if (gen !== S.gen) {
    await p.release();
    return;
  }
  S.policy = p;
  S.finder = new SubgoalFinder(p, S.maze);
  S.loading = false;
  describeBackend(p);
  await describeModel(m, p);
  // Policy choices for this maze.
  const same = S.manifest.models.filter((x) => x.maze === m.maze);
  el.policyRow.hidden = same.length < 2;
  el.policySelect.innerHTML = same
    .map((x) => `<option value="${escapeHtml(x.id)}"${x === m ? ' selected' : ''}>${escapeHtml(modelLabel(x))}</option>`)
    .join('');
  el.policySelect.title = modelLabel(m);
  for (const b of Array.from(el.taskButtons.querySelectorAll('button'))) (b as HTMLButtonElement).disabled = false;
  for (const b of [el.play, el.step, el.restart]) b.disabled = false;
}

// ---------------------------------------------------------------------------------------------
// UI wiring.

function buildControls(): void {
  el.mazeButtons.innerHTML = '';
  for (const name of MAZE_NAMES) {
    const b = document.createElement('button');
    b.type = 'button';
    b.textContent = name;
    b.dataset.maze = name;
    const m = S.manifest.models.find((x) => x.maze === name);
    b.disabled = !m;
    b.title = m ? modelLabel(m) : `no ${name} policy is shipped with this build`;
    b.addEventListener('click', () => {
      if (m && S.model?.maze !== name)
        selectModel(m)
          .then(() => startTask(1))
          .catch(fail);
    });
    el.mazeButtons.appendChild(b);
  }
  el.taskButtons.innerHTML = '';
  for (let t = 1; t <= 5; t++) {
    const b = document.createElement('button');
    b.type = 'button';
    b.textContent = `Task ${t}`;
    b.dataset.task = String(t);
    b.disabled = true;
    b.title = `Evaluation task ${t}, start and goal with fresh reset noise`;
    b.addEventListener('click', () => startTask(t));
    el.taskButtons.appendChild(b);
  }
  for (const b of [el.play, el.step, el.restart]) b.disabled = true;
}

function wire(): void {
  el.play.addEventListener('click', () => {
    if (!S.policy) return;
    if (S.episode.done) return startFromTo(S.episode.start, S.episode.goal);
    S.playing = !S.playing;
    render();
  });
  el.step.addEventListener('click', () => {
    S.playing = false;
    const gen = S.gen;
    advance(1)
      .then(render)
      .catch((e) => gen === S.gen && fail(e));
  });
  el.restart.addEventListener('click', () => {
    if (S.policy) startFromTo(S.episode.start, S.episode.goal);
  });
  el.mode.addEventListener('click', (ev) => {
    const b = (ev.target as HTMLElement).closest('button');
    if (!b) return;
    S.clickMode = b.dataset.mode === 'start' ? 'start' : 'goal';
    for (const x of Array.from(el.mode.querySelectorAll('button'))) x.classList.toggle('on', x === b);
  });
  el.speed.addEventListener('input', () => {
    S.stepsPerFrame = Number(el.speed.value);
    el.speedOut.textContent = `${S.stepsPerFrame} step${S.stepsPerFrame === 1 ? '' : 's'}/frame`;
  });
  for (const c of [el.showSubgoal, el.showTrail, el.showHeat]) {
    c.addEventListener('change', () => {
      if ((el.showSubgoal.checked || el.showHeat.checked) && !S.subgoal) refreshSubgoal().then(render).catch(fail);
      else render();
    });
  }
  el.backendSelect.addEventListener('change', () => {
    S.backendWanted = el.backendSelect.value === 'webgpu' ? 'webgpu' : 'wasm';
    const m = S.model;
    if (!m) return;
    const keep = { start: S.episode.start, goal: S.episode.goal };
    selectModel(m)
      .then(() => startFromTo(keep.start, keep.goal))
      .catch(fail);
  });
  el.policySelect.addEventListener('change', () => {
    const m = S.manifest.models.find((x) => x.id === el.policySelect.value);
    if (m)
      selectModel(m)
        .then(() => startTask(1))
        .catch(fail);
  });
  el.canvas.addEventListener('click', (ev) => {
    if (!S.policy) return;
    const [x, y] = view.eventToWorld(ev);
    const [i, j] = cellOf(x, y);
    if (isWall(S.maze, i, j)) {
      toast('That is a wall: pick a free cell');
      return;
    }
    if (S.clickMode === 'start' || ev.shiftKey) {
      startFromTo([x, y], S.episode.goal);
    } else {
      // A new goal: a new episode from where the ball is now.
      startFromTo(S.episode.position, [x, y]);
    }
  });
  window.addEventListener('keydown', (ev) => {
    if (ev.target instanceof HTMLInputElement || ev.target instanceof HTMLSelectElement) return;
    if (ev.key === ' ') {
      ev.preventDefault();
      el.play.click();
    } else if (ev.key === 's') el.step.click();
    else if (ev.key === 'r') el.restart.click();
  });
  let resizeTimer = 0;
  window.addEventListener('resize', () => {
    clearTimeout(resizeTimer);
    resizeTimer = window.setTimeout(() => {
      view.resize(canvasWidth());
      render();
    }, 100);
  });
}

// ---------------------------------------------------------------------------------------------
// Test hook: window.__demo (used by test/demo/demo.test.ts; handy from the console too).

async function runEpisode(o: RunEpisodeOptions): Promise<RunEpisodeResult> {
  const m = o.model !== undefined ? S.manifest.models.find((x) => x.id === o.model) : S.manifest.models.find((x) => x.maze === o.maze);
  if (!m)
    throw new Error(
      o.model !== undefined
        ? `no policy '${o.model}' in the manifest (${S.manifest.models.map((x) => x.id).join(', ') || 'none'})`
        : `no policy for maze '${o.maze}' is shipped (shipped: ${S.manifest.models.map((x) => x.maze).join(', ') || 'none'})`,
    );
  if (S.model !== m || !S.policy) await selectModel(m);
  const task = o.task ?? 1;
  const seed = o.seed ?? 0;
  startTask(task, seed);
  S.playing = false;
  const gen = S.gen;
  const stopAfter = o.stopAfter ?? Infinity;
  while (!S.episode.done && S.episode.steps < stopAfter && gen === S.gen) {
    await S.episode.advance(S.policy!, Math.min(50, stopAfter - S.episode.steps));
    await new Promise((r) => setTimeout(r, 0));
  }
  await refreshSubgoal();
  render();
  const e = S.episode;
  const t = e.timing();
  return {
    maze: m.maze,
    model: m.name,
    id: m.id,
    task,
    seed,
    success: e.status === 'success',
    steps: e.steps,
    done: e.done,
    backend: S.policy!.backend,
    meanMs: t.mean,
    medianMs: t.median,
    subgoalShown: S.subgoal !== null && !e.done,
  };
}

/** Timing of one batched phi call over all candidates at the ball's position (uncached). */
async function timeSubgoalSearch(): Promise<{ candidates: number; ms: number }> {
  const f = S.finder;
  if (!f || !S.episode.z) throw new Error('no subgoal to search for yet');
  f.clear();
  const v = (await f.nearest(S.episode.zAt[0], S.episode.zAt[1], S.episode.z))!;
  return { candidates: f.count, ms: v.ms };
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<{ models: string[] }> {
  buildControls();
  wire();
  setMaze(S.maze);
  render();
  requestAnimationFrame(frame);
  const [manifest, webgpu] = await Promise.all([fetchManifest(), detectWebGpu()]);
  S.manifest = manifest;
  S.webgpu = webgpu;
  const gpuOption = el.backendSelect.querySelector('option[value="webgpu"]') as HTMLOptionElement;
  gpuOption.disabled = !webgpu;
  if (!webgpu) gpuOption.textContent = 'WebGPU (not available here)';
  buildControls();
  if (manifest.models.length === 0) {
    S.loading = false;
    setStatus('idle', 'No policy to run');
    el.badgeText.textContent = 'onnxruntime-web · no model';
    el.hint.textContent = '';
    el.modelInfo.textContent = 'No pretrained policies are shipped with this build.';
    el.backendNote.textContent = webgpu
      ? 'WebGPU is available in this browser.'
      : 'WebGPU is not available in this browser; WebAssembly will be used.';
    showNotice(
      'No pretrained policies are shipped with this build. Put exported policies into <code>models/</code> ' +
        '(<code>node bin/hiql.js export RUN --out models/pointmaze-medium-navigate-hiql.onnx</code> writes the policy and its ' +
        '<code>.low.onnx</code> / <code>.phi.onnx</code> companions) and rebuild with <code>npm run demo:build</code>, ' +
        'or serve a folder of your own with <code>npm run demo -- --models DIR</code>.',
    );
    return { models: [] };
  }
  if (manifest.skipped.length > 0) console.warn('models skipped by the build:', manifest.skipped);
  const userSkipped = manifest.skipped.filter((k) => k.source === 'user');
  if (userSkipped.length > 0)
    showNotice(
      'Some files of the folder given with <code>--models</code> cannot be shown: ' +
        userSkipped.map((k) => `<code>${escapeHtml(k.file)}</code> (${escapeHtml(k.reason)})`).join('; '),
    );
  // ?model=ID, else the user's first policy (`--models`), else the first of ?maze=, else the first.
  const first =
    manifest.models.find((m) => m.id === params.get('model')) ??
    manifest.models.find((m) => m.source === 'user') ??
    manifest.models.find((m) => m.maze === params.get('maze')) ??
    manifest.models[0]!;
  await selectModel(first);
  if (params.get('autoplay') === '0') {
    S.episode.resetTaskCentres(1);
    markTask(1);
    render();
  } else {
    startTask(1);
  }
  return { models: manifest.models.map((m) => m.name) };
}

function freeCellOnScreen(): { x: number; y: number; world: [number, number] } {
  const [bx, by] = S.episode.position;
  let best: [number, number] = [0, 0];
  let bestD = -1;
  for (const c of S.maze.freeCells) {
    const [x, y] = cellCenter(c);
    const d = Math.hypot(x - bx, y - by);
    if (d > bestD) {
      bestD = d;
      best = [x, y];
    }
  }
  const [px, py] = view.tf.toPixel(best[0], best[1]);
  const r = el.canvas.getBoundingClientRect();
  return { x: r.left + (px / el.canvas.width) * r.width, y: r.top + (py / el.canvas.height) * r.height, world: best };
}

const hook: DemoHook = {
  ready: main().catch((e) => {
    fail(e);
    throw e;
  }),
  manifest: () => S.manifest,
  runEpisode,
  timeSubgoalSearch,
  state: () => ({
    maze: S.maze.name,
    model: S.model?.name ?? null,
    backend: S.policy?.backend ?? null,
    steps: S.episode.steps,
    status: S.episode.status,
    playing: S.playing,
    goal: S.episode.goal,
    position: S.episode.position,
  }),
  freeCellOnScreen,
  pause: () => {
    S.playing = false;
    render();
  },
};
window.__demo = hook;
