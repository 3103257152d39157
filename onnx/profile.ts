// onnxruntime's own profiler, summarised. A session created with `profileFilePrefix` records every
// kernel run as a Chrome-trace event ({cat: 'Node', name: '<node>_kernel_time', dur (us), args:
// {op_name}}); `session.endProfiling()` writes the file. summariseProfile totals kernel time per op
// type and per part of the graph, so that an optimisation is picked by what it would save.
import { readFileSync } from 'node:fs';

export interface ProfileRow {
  key: string;
  /** Total kernel time over all recorded runs, microseconds. */
  us: number;
  /** Kernel runs recorded. */
  calls: number;
}

export interface ProfileSummary {
  /** Kernel runs per session.run (the number of kernels onnxruntime executes after its fusions). */
  kernelsPerRun: number;
  /** Kernel time per session.run, microseconds. */
  usPerRun: number;
  byOp: ProfileRow[];
  byPart: ProfileRow[];
  /** Per node, keyed "name (op) input shapes": where one op type's time goes. */
  byNode: ProfileRow[];
}

interface TraceEvent {
  cat?: string;
  name?: string;
  dur?: number;
  args?: { op_name?: string; input_type_shape?: Record<string, number[]>[] };
}

/**
 * Sums a profile's kernel events. `partOf` maps a node name to the part it belongs to; `runs` is the
 * number of session.run calls recorded (warm-up runs included if they were profiled).
 */
export function summariseProfile(file: string, runs: number, partOf: (node: string) => string): ProfileSummary {
  const events = JSON.parse(readFileSync(file, 'utf8')) as TraceEvent[];
  if (!Array.isArray(events)) throw new Error(`profile ${file}: expected a JSON array of trace events`);
  const byOp = new Map<string, ProfileRow>();
  const byPart = new Map<string, ProfileRow>();
  const byNode = new Map<string, ProfileRow>();
  let kernels = 0;
  let total = 0;
  const add = (m: Map<string, ProfileRow>, key: string, us: number) => {
    const r = m.get(key) ?? { key, us: 0, calls: 0 };
    r.us += us;
    r.calls++;
    m.set(key, r);
  };
  for (const e of events) {
    if (e.cat !== 'Node' || !e.name?.endsWith('_kernel_time')) continue;
    const us = e.dur ?? 0;
    const node = e.name.slice(0, -'_kernel_time'.length);
    add(byOp, e.args?.op_name ?? '?', us);
    add(byPart, partOf(node), us);
    const shapes = (e.args?.input_type_shape ?? []).map((t) => `[${Object.values(t)[0]?.join(',') ?? ''}]`).join(' ');
    add(byNode, `${node} (${e.args?.op_name ?? '?'}) ${shapes}`, us);
    kernels++;
    total += us;
  }
  const sorted = (m: Map<string, ProfileRow>) => [...m.values()].sort((a, b) => b.us - a.us);
  return { kernelsPerRun: kernels / runs, usPerRun: total / runs, byOp: sorted(byOp), byPart: sorted(byPart), byNode: sorted(byNode) };
}

/** A table of the top rows: key, share of the total, microseconds and kernels per run. */
export function profileTable(rows: readonly ProfileRow[], runs: number, top = 12): string {
  const total = rows.reduce((a, r) => a + r.us, 0);
  return rows
    .slice(0, top)
    .map(
      (r) =>
        `  ${r.key.padEnd(26)} ${((100 * r.us) / total).toFixed(1).padStart(5)}%  ${(r.us / runs).toFixed(0).padStart(7)} us/run  ` +
        `${(r.calls / runs).toFixed(0).padStart(4)} kernels/run`,
    )
    .join('\n');
}
