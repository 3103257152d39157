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
  const before = memory();
  const checksum = await run(calls);
  const afterMem = memory();
  await p.release();
  const dHeap = afterMem.heap - before.heap;
  const dRss = afterMem.rss - before.rss;
  t.diagnostic(`${backend}: ${calls} act calls; heap ${before.heap.toFixed(2)} -> ${afterMem.heap.toFixed(2)} MiB, rss ${before.rss.toFixed(1)} -> ${afterMem.rss.toFixed(1)} MiB`);
  assert.ok(Number.isFinite(checksum));
  assert.ok(dHeap < 2, `JS heap grew by ${dHeap.toFixed(2)} MiB over ${calls} calls`);
  assert.ok(dRss < 16, `RSS grew by ${dRss.toFixed(1)} MiB over ${calls} calls`);
}

test('soak: 200k act calls at batch 1 on onnxruntime-node keep heap and RSS flat after warm-up', async (t) => {
  await soak('cpu', 200_000, t);
});

test('soak: 30k act calls at batch 1 on onnxruntime-web (wasm) keep heap and RSS flat after warm-up', async (t) => {
  await soak('wasm', 30_000, t);
});
