// The browser entry (runtime/src/web.ts) run in Node: onnxruntime-web's wasm backend, policies from
// bytes and from URLs (served by a local HTTP server) with companions fetched relative to the URL.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { loadPolicy as loadWeb } from '../../runtime/src/web.ts';
import { loadPolicy as loadNode } from '../../runtime/src/index.ts';
import { makePolicy, tempDir } from './helpers.ts';

const tmp = tempDir();
const hiql = await makePolicy(tmp.dir, 'p', 'hiql');
const requested: string[] = [];
const server = createServer((req, res) => {
  requested.push(req.url ?? '');
  const m = /^\/models\/([\w.-]+)$/.exec(req.url ?? '');
  try {
    if (!m) throw new Error('not found');
    const body = readFileSync(join(tmp.dir, m[1]!));
    res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(body);
  } catch {
    res.writeHead(404).end();
  }
});
await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
after(() => {
  server.close();
  tmp.cleanup();
});

const OBS = new Float32Array([3.5, 7.25]);
const GOAL = new Float32Array([20.5, 12]);

test('web entry: from a URL, companions are fetched relative to it; results match the Node entry on wasm', async () => {
  const p = await loadWeb(`${base}/models/p.onnx`);
  assert.deepEqual([p.backend, p.engine, p.fallback], ['wasm', 'onnxruntime-web', null]);
  assert.deepEqual(p.hasCompanion, { low_policy: true, goal_rep: true });
  assert.deepEqual(requested.slice(-3), ['/models/p.onnx', '/models/p.low.onnx', '/models/p.phi.onnx']);
  const n = await loadNode(hiql.path, { backend: 'wasm' });
  assert.deepEqual(await p.act(OBS, GOAL), await n.act(OBS, GOAL));
  const z = await p.subgoal(OBS, GOAL);
  assert.deepEqual(await p.actTowards(OBS, z), await n.actTowards(OBS, z));
  assert.deepEqual(await p.goalRep(OBS, GOAL), await n.goalRep(OBS, GOAL));
  await Promise.all([p.release(), n.release()]);
});

test('web entry: bytes and ArrayBuffer sources; errors for missing files and unavailable backends', async () => {
  const bytes = new Uint8Array(readFileSync(hiql.path));
  const fromBytes = await loadWeb(bytes);
  const fromBuffer = await loadWeb(bytes.slice().buffer);
  assert.deepEqual(await fromBuffer.act(OBS, GOAL), await fromBytes.act(OBS, GOAL));
  assert.deepEqual(fromBytes.hasCompanion, { low_policy: false, goal_rep: false });
  await Promise.all([fromBytes.release(), fromBuffer.release()]);

  await assert.rejects(
    loadWeb(`${base}/models/none.onnx`),
    /^Error: cannot fetch policy 'http:\/\/127\.0\.0\.1:\d+\/models\/none\.onnx': HTTP 404/,
  );
  await assert.rejects(
    loadWeb('models/p.onnx'),
    /^TypeError: loadPolicy: 'models\/p\.onnx' is not a URL \(relative URLs need a page to resolve against; give an absolute URL\)$/,
  );
  // A policy whose companion is missing on the server.
  await makePolicy(tmp.dir, 'lonely', 'hiql');
  rmSync(join(tmp.dir, 'lonely.phi.onnx'));
  await assert.rejects(
    loadWeb(`${base}/models/lonely.onnx`),
    /^Error: cannot fetch the goal_rep companion of '.*lonely\.onnx' '.*\/models\/lonely\.phi\.onnx': HTTP 404/,
  );
  // Node-only backends are not offered by the browser entry; WebGPU is explicit about falling back.
  await assert.rejects(
    loadWeb(bytes, { backend: 'cpu' }),
    /^RangeError: loadPolicy: backend 'cpu' is not available in this entry point; valid backends here: wasm, webgpu$/,
  );
  await assert.rejects(
    loadWeb(bytes, { backend: 'webgpu' }),
    /^Error: backend 'webgpu' \(onnxruntime-web\) could not load '\(bytes\)': .*, or pass \{ fallback: 'wasm' \} to fall back explicitly$/,
  );
  const fb = await loadWeb(bytes, { backend: 'webgpu', fallback: 'wasm' });
  assert.equal(fb.backend, 'wasm');
  assert.equal(fb.fallback?.from, 'webgpu');
  await fb.release();
});
