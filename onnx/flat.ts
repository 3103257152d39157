// Flat parameter vectors. A training step over many small tensors spends much of its time launching
// nodes (Adam alone is ~10 elementwise ops per tensor). Keeping all trainable parameters in ONE flat
// graph input, with named views (Slice + Reshape) for the network code, makes Adam ~10 ops in all
// and the state passed between steps a handful of tensors. The gradient of the flat vector is the
// concatenation of the views' gradients, built here rather than through the Slice rule (which would
// pad every view's gradient to the full length and add them).
import { gradients } from './grad.ts';
import type { Graph, Tensor } from './graph.ts';
import './ops.ts';

export interface FlatEntry {
  name: string;
  shape: number[];
  offset: number;
  size: number;
}

export class FlatLayout {
  readonly entries: FlatEntry[] = [];
  readonly size: number;
  private readonly byName = new Map<string, FlatEntry>();

  constructor(specs: readonly { name: string; shape: readonly number[] }[]) {
    let offset = 0;
    for (const s of specs) {
      const size = s.shape.reduce((a, b) => a * b, 1);
      const e = { name: s.name, shape: [...s.shape], offset, size };
      if (this.byName.has(s.name)) throw new Error(`FlatLayout: '${s.name}' appears twice`);
      this.entries.push(e);
      this.byName.set(s.name, e);
      offset += size;
    }
    this.size = offset;
  }

  entry(name: string): FlatEntry {
    const e = this.byName.get(name);
    if (!e) throw new Error(`FlatLayout has no '${name}'`);
    return e;
  }

  has(name: string): boolean {
    return this.byName.has(name);
  }

  /** Packs named values into one vector (each value must have its entry's size). */
  flatten(values: ReadonlyMap<string, Float32Array>): Float32Array {
    const out = new Float32Array(this.size);
    for (const e of this.entries) {
      const v = values.get(e.name);
      if (!v) throw new Error(`flatten: no value for '${e.name}'`);
      if (v.length !== e.size) throw new RangeError(`flatten: '${e.name}' has ${v.length} values, [${e.shape}] needs ${e.size}`);
      out.set(v, e.offset);
    }
    return out;
  }

  /** Copies each named value out of a flat vector. */
  unflatten(flat: Float32Array): Map<string, Float32Array> {
    if (flat.length !== this.size) throw new RangeError(`unflatten: vector has ${flat.length} values, layout needs ${this.size}`);
    return new Map(this.entries.map((e) => [e.name, flat.slice(e.offset, e.offset + e.size)]));
  }
}

/**
 * Named views of a flat graph input: one Split into the entries, then a Reshape to each entry's shape
 * where it has more than one axis (a Reshape to the same shape would still cost a kernel per step).
 * One Split is what onnxruntime makes of a Slice per entry too (GatherSliceToSplitFusion), but only
 * while nothing else reads the vector; emitted as a Split it stays one kernel whatever else does.
 * A seed-stacked input [N, size] (`seeds` N above 1) splits along its second axis into views
 * [N, ...shape], one slice of every seed's row.
 */
export function flatViews(g: Graph, flat: Tensor, layout: FlatLayout, seeds = 1): Map<string, Tensor> {
  const lead = seeds > 1 ? [seeds] : [];
  const parts = g.scope('views', () =>
    g.split(
      flat,
      layout.entries.map((e) => e.size),
      lead.length,
    ),
  );
  return new Map(
    layout.entries.map((e, i) => [
      e.name,
      e.shape.length === 1 ? parts[i]! : g.scope(`views/${e.name}`, () => g.reshape(parts[i]!, [...lead, ...e.shape])),
    ]),
  );
}

/** Views [N, ...shape] (or [...shape]) flattened to [N, size] ([size]) and concatenated in layout order. */
export function flatConcat(g: Graph, views: readonly Tensor[], layout: FlatLayout, seeds = 1): Tensor {
  const lead = seeds > 1 ? [seeds] : [];
  return g.concat(
    views.map((v, i) => (v.shape.length === lead.length + 1 ? v : g.reshape(v, [...lead, layout.entries[i]!.size]))),
    lead.length,
  );
}

/** d loss / d flat as one vector ([N, size] with seeds): each view's gradient flattened, concatenated in layout order. */
export function flatGradient(g: Graph, loss: Tensor, views: ReadonlyMap<string, Tensor>, layout: FlatLayout, seeds = 1): Tensor {
  const vs = layout.entries.map((e) => views.get(e.name)!);
  const grads = gradients(g, loss, vs, { named: false });
  return g.scope('flat_grad', () => flatConcat(g, grads, layout, seeds));
}
