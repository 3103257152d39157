// Where onnxruntime places each node of a graph. A GPU execution provider that lacks a kernel does
// not fail: onnxruntime silently runs that node on the CPU and copies tensors across at both ends,
// which in a training step means device <-> host traffic in the middle of every update. The only
// authority on placement is onnxruntime's own verbose session log ("Node placements", written to
// stderr by native code), so this module creates the session once in a child Node process with
// verbose logging and parses that log.
//
//   const p = await nodePlacement(modelBytes, 'webgpu');
//   assertPlacedOn(p, Graph.fromBytes(modelBytes).graph, 'webgpu');   // throws, naming the ops
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Graph } from './graph.ts';
import { PROVIDER_HINTS } from './session.ts';

/** onnxruntime's name for each execution provider we use. */
export const PROVIDER_NAMES: Record<string, string> = {
  cpu: 'CPUExecutionProvider',
  webgpu: 'WebGpuExecutionProvider',
  cuda: 'CUDAExecutionProvider',
};

export interface PlacedNode {
  opType: string;
  /** The node's name after onnxruntime's graph optimisations (fused nodes get new names). */
  name: string;
}

export interface Placement {
  /** Provider name -> number of nodes onnxruntime placed there. */
  counts: Map<string, number>;
  /** Provider name -> the nodes, where onnxruntime lists them (it does not when one provider takes all). */
  nodes: Map<string, PlacedNode[]>;
  /** Ops for which the provider reported "kernel not found", with the node names. */
  missingKernels: PlacedNode[];
  /** The verbose log it was read from (nodePlacement only). */
  log?: string;
}

const HEADER = /(All nodes|Node\(s\)) placed on \[(\w+)\]\. Number of nodes: (\d+)/;
const NODE_LINE = /VerifyEachNodeIsAssignedToAnEp\]\s{3,}(\w+) \((.*)\)\s*$/;
const MISSING = /kernel not found in registries for Op type: (\w+) node name: (.*?)\s*$/;

/** Parses onnxruntime's verbose session log (the lines of VerifyEachNodeIsAssignedToAnEp). */
export function parsePlacementLog(log: string): Placement {
  const counts = new Map<string, number>();
  const nodes = new Map<string, PlacedNode[]>();
  const missingKernels: PlacedNode[] = [];
  let current: string | null = null;
  for (const line of log.split('\n')) {
    const h = HEADER.exec(line);
    if (h) {
      current = h[2]!;
      counts.set(current, Number(h[3]));
      nodes.set(current, []);
      continue;
    }
    const n = NODE_LINE.exec(line);
    if (n && current) {
      nodes.get(current)!.push({ opType: n[1]!, name: n[2]! });
      continue;
    }
    const m = MISSING.exec(line);
    if (m) missingKernels.push({ opType: m[1]!, name: m[2]! });
  }
  if (counts.size === 0)
    throw new Error('onnxruntime wrote no node placement to its log (expected "... placed on [Provider]. Number of nodes: N")');
  return { counts, nodes, missingKernels };
}

// The child: create the session with verbose logging and exit. onnxruntime writes its log to stderr.
const CHILD = `
const [ortPath, modelPath, ep] = process.argv.slice(1);
const ort = await import(ortPath);
try {
  await ort.InferenceSession.create(modelPath, {
    executionProviders: [ep],
    logSeverityLevel: 0,
    logVerbosityLevel: 0,
    graphOptimizationLevel: 'all',
  });
} catch (e) {
  process.stderr.write('\\nSESSION-ERROR ' + String(e && e.message || e).replace(/\\n/g, ' ') + '\\n');
  process.exit(3);
}
`;

/**
 * Creates a session for `model` on `provider` ('cpu', 'webgpu', 'cuda') in a child process with
 * onnxruntime's verbose log and returns where each node went. Throws, with onnxruntime's reason,
 * when the provider cannot start.
 */
export async function nodePlacement(model: Uint8Array, provider: string): Promise<Placement> {
  const dir = mkdtempSync(join(tmpdir(), 'hiql-placement-'));
  const modelPath = join(dir, 'model.onnx');
  writeFileSync(modelPath, model);
  const ortEntry = createRequire(import.meta.url).resolve('onnxruntime-node');
  try {
    const { code, stderr } = await new Promise<{ code: number | null; stderr: string }>((resolve, reject) => {
      const child = spawn(process.execPath, ['--input-type=module', '-e', CHILD, ortEntry, modelPath, provider], {
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      const chunks: Buffer[] = [];
      child.stderr.on('data', (c: Buffer) => chunks.push(c));
      child.on('error', reject);
      child.on('close', (c) => resolve({ code: c, stderr: Buffer.concat(chunks).toString('utf8') }));
    });
    const err = /SESSION-ERROR (.*)/.exec(stderr);
    if (code !== 0 || err) {
      const reason =
        err?.[1] ??
        stderr
          .split('\n')
          .filter((l) => l.trim())
          .slice(-3)
          .join(' ');
      throw new Error(
        `onnxruntime could not start the '${provider}' execution provider: ${reason.trim()}. ${PROVIDER_HINTS[provider] ?? ''}`.trim(),
      );
    }
    return { ...parsePlacementLog(stderr), log: stderr };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Throws when onnxruntime put computation of `graph` on the CPU that would move tensors between the
 * device and the host inside a run. A CPU node is accepted when it computes only integers (shape
 * arithmetic, which onnxruntime keeps on the CPU on purpose) or when everything it reads is fed from
 * the host anyway (`hostInputs`, e.g. the batch, and what accepted CPU nodes make of them). Every
 * other CPU node (float math or boolean masks on device tensors) is named in the error by op type.
 * `hostInputs` defaults to all graph inputs (inference graphs); a training step passes its batch.
 */
export function assertPlacedOn(p: Placement, graph: Graph, provider: string, hostInputs?: Iterable<string>): void {
  const want = PROVIDER_NAMES[provider] ?? provider;
  if (want === PROVIDER_NAMES['cpu']) return;
  if (!p.counts.has(want))
    throw new Error(
      `onnxruntime placed no node of '${graph.name}' on ${want}: ${[...p.counts].map(([k, v]) => `${v} on ${k}`).join(', ')}`,
    );
  const onHost = new Set<string>(hostInputs ?? graph.inputs.map((t) => t.name));
  for (const name of graph.initializers.keys()) onHost.add(name);
  const cpu = new Set<string>();
  const offenders: PlacedNode[] = [];
  for (const [ep, list] of p.nodes) {
    if (ep === want) continue;
    const count = p.counts.get(ep) ?? 0;
    if (list.length < count) offenders.push({ opType: '?', name: `${count - list.length} unlisted nodes on ${ep}` });
    for (const n of list) if (!n.opType.startsWith('Memcpy')) cpu.add(n.name);
  }
  const known = new Set(graph.nodes.map((n) => n.name));
  for (const n of graph.nodes) {
    if (!cpu.has(n.name)) continue;
    const integer = n.outputs.every((o) => ['int64', 'int32'].includes(graph.tensor(o).dtype));
    const fromHost = n.inputs.every((i) => i === '' || onHost.has(i));
    if (fromHost) for (const o of n.outputs) onHost.add(o);
    if (!integer && !fromHost) offenders.push({ opType: n.opType, name: n.name });
  }
  // Nodes onnxruntime made itself (fusions) cannot be judged from our graph: report them too.
  for (const [ep, list] of p.nodes)
    if (ep !== want) for (const n of list) if (!known.has(n.name) && !n.opType.startsWith('Memcpy')) offenders.push(n);
  if (offenders.length === 0) return;
  const byOp = new Map<string, string[]>();
  for (const n of offenders) byOp.set(n.opType, [...(byOp.get(n.opType) ?? []), n.name]);
  const list = [...byOp]
    .map(([op, names]) => `${op} x${names.length} (${names.slice(0, 3).join(', ')}${names.length > 3 ? ', ...' : ''})`)
    .join('; ');
  throw new Error(
    `the '${provider}' execution provider would run ${offenders.length} node(s) of '${graph.name}' on the CPU, ` +
      `copying tensors between device and host inside every run: ${list}. ` +
      `onnxruntime has no ${provider} kernel for these ops (or these types); use --device cpu, or rewrite them in ops the provider has.`,
  );
}
