// Tiny exported policies for the runtime tests, made from seeded initial parameters (no training).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportPolicy, metadataFor } from '../../export/export.ts';
import { Graph } from '../../onnx/index.ts';
import { buildAgentStep, initAgentState } from '../../train/step.ts';
import { type AgentName } from '../../train/agents/index.ts';
import { type Dims } from '../../train/dims.ts';
import { configHash, resolveConfig, type RunConfig } from '../../train/config.ts';
import { VERSION, type RunInfo } from '../../train/run-folder.ts';

export const ENV = 'pointmaze-medium-navigate';
export const DIMS: Dims = { obsDim: 2, actionDim: 2 };

export function tinyConfig(agent: AgentName, hidden = 32, extra: Record<string, unknown> = {}): RunConfig {
  const sizes: Record<string, unknown> = { batchSize: 64, actorHiddenDims: [hidden, hidden] };
  if (agent !== 'gcbc') sizes['valueHiddenDims'] = [hidden, hidden];
  return resolveConfig({ agent, preset: 'ogbench', env: ENV, dataset: '', overrides: { ...sizes, ...extra } });
}

export interface TinyPolicy {
  path: string;
  info: RunInfo;
  params: Map<string, Float32Array>;
}

/** Exports an untrained policy of `agent` with seeded parameters to DIR/NAME.onnx (+ companions). */
export async function makePolicy(
  dir: string,
  name: string,
  agent: AgentName,
  o: { hidden?: number; seed?: number; step?: number; validate?: boolean; env?: string } = {},
): Promise<TinyPolicy> {
  const cfg = o.env ? { ...tinyConfig(agent, o.hidden ?? 32), env: o.env } : tinyConfig(agent, o.hidden ?? 32);
  const step = buildAgentStep(agent, cfg.agentConfig, DIMS);
  const params = initAgentState(step, o.seed ?? 1);
  const info: RunInfo = { config: cfg, configHash: configHash(cfg), dims: DIMS, version: VERSION };
  const path = join(dir, `${name}.onnx`);
  await exportPolicy(info, params, o.step ?? 0, path, { validate: o.validate ?? false });
  return { path, info, params };
}

export function tempDir(prefix = 'hiql-runtime-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** One RegExp from several literals, for patterns too long for one line. */
export const re = (...parts: RegExp[]): RegExp => new RegExp(parts.map((r) => r.source).join(''));

/** Deterministic pseudo-random float32 values in [-lim, lim]. */
export function randomFloats(n: number, seed: number, lim = 10): Float32Array {
  let s = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = (s / 4294967296) * 2 * lim - lim;
  }
  return out;
}

/**
 * A policy file of `agent` whose every output is `observation x W` (W: 2 x width, the given values
 * repeated), with the metadata an export of `tiny` writes for `role`: a stand-in for a damaged or
 * crafted model. For HIQL roles the second input is subgoal (low_policy) or goal.
 */
export function craftedModel(tiny: TinyPolicy, role: 'policy' | 'low_policy' | 'goal_rep', w: readonly number[], step = 0): Uint8Array {
  const hier = tiny.info.config.agent === 'hiql';
  const stem = 'p';
  const companions: Record<string, string> = hier ? { low_policy: `${stem}.low.onnx`, goal_rep: `${stem}.phi.onnx` } : {};
  const g = new Graph('crafted');
  const obs = g.input('observation', 'float32', ['batch', 2]);
  g.input(role === 'low_policy' ? 'subgoal' : 'goal', 'float32', ['batch', role === 'low_policy' ? 10 : 2]);
  const outputs: [string, number][] =
    role === 'policy'
      ? hier
        ? [
            ['action', 2],
            ['subgoal', 10],
          ]
        : [['action', 2]]
      : role === 'low_policy'
        ? [['action', 2]]
        : [['representation', 10]];
  for (const [name, width] of outputs) {
    const data = Float32Array.from({ length: 2 * width }, (_, i) => w[i % w.length]!);
    g.output(g.matMul(obs, g.initializer(`W_${name}`, { dtype: 'float32', dims: [2, width], data })), name);
  }
  return g.toBytes({ opset: 17, irVersion: 8, metadata: metadataFor(tiny.info, role, step, companions) });
}

// ---- protobuf wire format, for models onnxruntime would read external data for -------------------

const varint = (n: number): number[] => {
  const out: number[] = [];
  while (n >= 0x80) {
    out.push((n % 0x80) | 0x80);
    n = Math.floor(n / 0x80);
  }
  out.push(n);
  return out;
};
const concat = (parts: (Uint8Array | number[])[]): Uint8Array => {
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
};
export const lenField = (field: number, payload: Uint8Array): Uint8Array =>
  concat([varint(field * 8 + 2), varint(payload.length), payload]);
export const varintField = (field: number, v: number): Uint8Array => concat([varint(field * 8), varint(v)]);
const str = (s: string) => new TextEncoder().encode(s);
const entry = (k: string, v: string) => concat([lenField(1, str(k)), lenField(2, str(v))]);

/** The top-level fields of a message: number, wire type, and the field's bytes (tag included) and payload. */
function fieldsOf(b: Uint8Array): { field: number; whole: Uint8Array; payload: Uint8Array | null }[] {
  const out: { field: number; whole: Uint8Array; payload: Uint8Array | null }[] = [];
  let pos = 0;
  const read = () => {
    let r = 0;
    let mul = 1;
    for (;;) {
      const byte = b[pos++]!;
      r += (byte & 0x7f) * mul;
      if (byte < 0x80) return r;
      mul *= 128;
    }
  };
  while (pos < b.length) {
    const start = pos;
    const tag = read();
    const wire = tag & 7;
    let payload: Uint8Array | null = null;
    if (wire === 0) read();
    else if (wire === 1) pos += 8;
    else if (wire === 5) pos += 4;
    else if (wire === 2) {
      const len = read();
      payload = b.subarray(pos, pos + len);
      pos += len;
    } else throw new Error(`wire type ${wire}`);
    out.push({ field: Math.floor(tag / 8), whole: b.subarray(start, pos), payload });
  }
  return out;
}

/** A TensorProto [dims] float32 whose data is external: at `location` (offset, length), data_location EXTERNAL. */
export function externalTensor(name: string, dims: number[], location: string | null, o: { offset?: number } = {}): Uint8Array {
  const parts: Uint8Array[] = [...dims.map((d) => varintField(1, d)), varintField(2, 1), lenField(8, str(name))];
  if (location !== null) {
    parts.push(lenField(13, entry('location', location)));
    parts.push(lenField(13, entry('offset', String(o.offset ?? 0))));
    parts.push(lenField(13, entry('length', String(4 * dims.reduce((a, b) => a * b, 1)))));
  }
  parts.push(varintField(14, 1));
  return concat(parts);
}

/**
 * `model` with graph edits: initializer `replace` swapped for `tensor` (a TensorProto's bytes), and
 * `extraNodes` (NodeProto bytes) and `extraInitializers` (TensorProto bytes) appended.
 */
export function editGraph(
  model: Uint8Array,
  o: { replace?: string; tensor?: Uint8Array; extraNodes?: Uint8Array[]; extraInitializers?: Uint8Array[] },
): Uint8Array {
  const parts: Uint8Array[] = [];
  let replaced = o.replace === undefined;
  for (const f of fieldsOf(model)) {
    if (f.field !== 7 || !f.payload) {
      parts.push(f.whole);
      continue;
    }
    const graph: Uint8Array[] = [];
    for (const g of fieldsOf(f.payload)) {
      const isTarget =
        g.field === 5 && g.payload && fieldsOf(g.payload).some((t) => t.field === 8 && new TextDecoder().decode(t.payload!) === o.replace);
      if (isTarget) {
        graph.push(lenField(5, o.tensor!));
        replaced = true;
      } else graph.push(g.whole);
    }
    for (const n of o.extraNodes ?? []) graph.push(lenField(1, n));
    for (const t of o.extraInitializers ?? []) graph.push(lenField(5, t));
    parts.push(lenField(7, concat(graph)));
  }
  if (!replaced) throw new Error(`no initializer '${o.replace}'`);
  return concat(parts);
}

/** A NodeProto: `opType` with one attribute of the given field (5 t, 6 g, 10 tensors, ...) and payload. */
export function nodeWithAttribute(opType: string, attrName: string, attrType: number, field: number, payload: Uint8Array): Uint8Array {
  const attr = concat([lenField(1, str(attrName)), varintField(20, attrType), lenField(field, payload)]);
  return concat([lenField(2, str(`${attrName}_out`)), lenField(4, str(opType)), lenField(5, attr)]);
}
