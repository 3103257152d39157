// Soak: many batch-1 act calls on a tiny policy; after warm-up, heap and RSS must stay flat (a leak
// of even a few dozen bytes per call, in JS or in the native session, would show over 200k calls).
// Sized for CI: about 7 s on two cores. No wall-clock assertion.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import v8 from 'node:v8';
import vm from 'node:vm';
import { loadPolicy, type Backend } from '../../runtime/src/index.ts';
import { makePolicy, tempDir } from './helpers.ts';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;
const tmp = tempDir();
after(tmp.cleanup);
const tiny = await makePolicy(tmp.dir, 'soak', 'hiql', { hidden: 32 });

function memory(): { rss: number; heap: number } {
  gc();
  gc();
  const m = process.memoryUsage();
  return { rss: m.rss / 2 ** 20, heap: m.heapUsed / 2 ** 20 };
}

const SEGMENTS = 4;

async function soak(backend: Backend, calls: number, t: { diagnostic(msg: string): void }): Promise<void> {
  const p = await loadPolicy(tiny.path, { backend });
  const obs = new Float32Array(2);
  const goal = new Float32Array([21, 13]);
  const c = p.controller({ subgoalEvery: 5 });
  const run = async (n: number) => {
    let sum = 0;
    for (let i = 0; i < n; i++) {
      obs[0] = (i % 97) * 0.25;
      obs[1] = (i % 89) * 0.25;
      // Mostly plain act; every 10th call through a k-step controller (subgoal + low-level paths).
      const a = i % 10 === 0 ? await c.act(obs, goal) : await p.act(obs, goal);
      sum += a[0]!;
    }
    return sum;
  };
  await run(Math.min(20_000, calls / 10));
  // RSS is noisy: an allocator arena or a wasm memory.grow can add megabytes once, at any time.
  // A leak grows in every window, so the check is on the smallest growth over SEGMENTS windows.
  const before = memory();
  const marks = [before];
  let checksum = 0;
  for (let s = 0; s < SEGMENTS; s++) {
    checksum += await run(calls / SEGMENTS);
    marks.push(memory());
  }
  const afterMem = marks[SEGMENTS]!;
  await p.release();
  const dHeap = afterMem.heap - before.heap;
  const dRss = marks.slice(1).map((m, i) => m.rss - marks[i]!.rss);
  const minRss = Math.min(...dRss);
  t.diagnostic(
    `${backend}: ${calls} act calls; heap ${before.heap.toFixed(2)} -> ${afterMem.heap.toFixed(2)} MiB, ` +
      `rss ${marks.map((m) => m.rss.toFixed(1)).join(' -> ')} MiB`,
  );
  assert.ok(Number.isFinite(checksum));
  assert.ok(dHeap < 2, `JS heap grew by ${dHeap.toFixed(2)} MiB over ${calls} calls`);
  assert.ok(minRss < 4, `RSS grew in every window of ${calls / SEGMENTS} calls, by at least ${minRss.toFixed(1)} MiB`);
}

test('soak: 200k act calls at batch 1 on onnxruntime-node keep heap and RSS flat after warm-up', async (t) => {
  await soak('cpu', 200_000, t);
});

test('soak: 40k act calls at batch 1 on onnxruntime-web (wasm) keep heap and RSS flat after warm-up', async (t) => {
  await soak('wasm', 40_000, t);
});
