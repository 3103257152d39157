// Browser entry of @hiql/runtime: onnxruntime-web, backends 'wasm' and 'webgpu'. `loadPolicy(url)`
// fetches a HIQL policy's companions relative to the policy's URL (per `hiql.companions`).
// Configure onnxruntime-web itself (e.g. `ort.env.wasm.wasmPaths`) through the exported `ort`.
import * as ortWeb from 'onnxruntime-web';
import { loadFrom, type LoadOptions, type ModelSource, type OrtProvider, type Policy } from './policy.js';

export * from './api.js';
export { ortWeb as ort };

/** onnxruntime-web for 'wasm' and 'webgpu' (options.sha256 is checked with crypto.subtle, the core's default). */
export const webProvider: OrtProvider = {
  backends: ['wasm', 'webgpu'],
  defaultBackend: 'wasm',
  engine: () => 'onnxruntime-web',
  async module(_backend, threads) {
    // Read by onnxruntime-web when it initialises (first session); left to its default unless asked.
    if (threads !== undefined) ortWeb.env.wasm.numThreads = threads;
    return ortWeb;
  },
};

/** Options of the browser loadPolicy; `fetch` defaults to globalThis.fetch. */
export interface WebLoadOptions extends LoadOptions {
  fetch?: (url: string) => Promise<{ ok: boolean; status: number; statusText: string; arrayBuffer(): Promise<ArrayBuffer> }>;
}

function resolveUrl(u: string | URL): URL {
  if (u instanceof URL) return u;
  const base = (globalThis as { location?: { href?: string } }).location?.href;
  try {
    return base ? new URL(u, base) : new URL(u);
  } catch {
    throw new TypeError(
      `loadPolicy: '${u}' is not a URL${base ? '' : ' (relative URLs need a page to resolve against; give an absolute URL)'}`,
    );
  }
}

async function fetchBytes(url: URL, what: string, f: NonNullable<WebLoadOptions['fetch']>): Promise<Uint8Array> {
  let res: Awaited<ReturnType<typeof f>>;
  try {
    res = await f(url.href);
  } catch (e) {
    throw new Error(`cannot fetch ${what} '${url.href}': ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  }
  if (!res.ok) throw new Error(`cannot fetch ${what} '${url.href}': HTTP ${res.status} ${res.statusText}`.trim());
  return new Uint8Array(await res.arrayBuffer());
}

/**
 * Loads a policy from a URL (companions are fetched relative to it) or from bytes (companions only
 * from `options.companions`). Backends: 'wasm' (default) and 'webgpu' (with `fallback: 'wasm'` to
 * fall back explicitly where WebGPU is unavailable).
 */
export async function loadPolicy(source: string | URL | Uint8Array | ArrayBuffer, options: WebLoadOptions = {}): Promise<Policy> {
  let main: ModelSource;
  let url: URL | null = null;
  const f = options.fetch ?? (globalThis.fetch?.bind(globalThis) as WebLoadOptions['fetch']);
  if (source instanceof Uint8Array) main = { bytes: source, name: '(bytes)' };
  else if (source instanceof ArrayBuffer) main = { bytes: new Uint8Array(source), name: '(bytes)' };
  else if (typeof source === 'string' || source instanceof URL) {
    if (!f) throw new Error('loadPolicy: no fetch in this environment; pass options.fetch or the model bytes');
    url = resolveUrl(source);
    main = { bytes: await fetchBytes(url, 'policy', f), name: url.href };
  } else {
    throw new TypeError(
      `loadPolicy: source must be a URL, a Uint8Array or an ArrayBuffer, got ${source === null ? 'null' : typeof source}`,
    );
  }
  if (url === null || !f) return loadFrom(main, options, webProvider, {}, null);
  const base = url;
  return loadFrom(main, options, webProvider, {}, async (file, role) => {
    const cu = new URL(file, base);
    return { bytes: await fetchBytes(cu, `the ${role} companion of '${base.href}'`, f), name: cu.href };
  });
}
