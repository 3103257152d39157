/// <reference types="node" />
// Node entry of @hiql/runtime: backends 'cpu', 'cuda' and 'webgpu' run on onnxruntime-node, 'wasm'
// on onnxruntime-web (both loaded on first use, so only the one you use needs to be installed).
// `loadPolicy(path)` also loads a HIQL policy's companions from beside it (per `hiql.companions`).
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadFrom, type Backend, type LoadOptions, type ModelSource, type OrtModule, type OrtProvider, type Policy } from './policy.js';

export * from './api.js';

const ENGINE: Record<Backend, string> = {
  cpu: 'onnxruntime-node',
  cuda: 'onnxruntime-node',
  webgpu: 'onnxruntime-node',
  wasm: 'onnxruntime-web',
};

async function importOrt(pkg: string, backend: Backend): Promise<OrtModule> {
  try {
    return pkg === 'onnxruntime-node' ? await import('onnxruntime-node') : await import('onnxruntime-web');
  } catch (e) {
    throw new Error(`backend '${backend}' needs the ${pkg} package (npm install ${pkg}): ${e instanceof Error ? e.message : String(e)}`, {
      cause: e,
    });
  }
}

/** onnxruntime for each backend, in Node. */
export const nodeProvider: OrtProvider = {
  backends: ['cpu', 'cuda', 'webgpu', 'wasm'],
  defaultBackend: 'cpu',
  engine: (b) => ENGINE[b],
  async module(backend, threads) {
    const m = await importOrt(ENGINE[backend], backend);
    // onnxruntime-web reads numThreads when it initialises (first session); 1 unless asked.
    if (backend === 'wasm' && m.env?.wasm) m.env.wasm.numThreads = threads ?? 1;
    return m;
  },
  sha256: async (bytes) => createHash('sha256').update(bytes).digest('hex'),
};

const why = (e: unknown): string => {
  const code = (e as { code?: string }).code;
  return code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'it is a folder' : e instanceof Error ? e.message : String(e);
};

/**
 * Loads a policy. `source` is a file path (or file: URL), or the policy's bytes. From a path, a HIQL
 * policy's companions are read from beside it unless given in `options.companions`; a companion
 * listed in the metadata but missing is an Error. From bytes, companions come only from options.
 */
export async function loadPolicy(source: string | URL | Uint8Array, options: LoadOptions = {}): Promise<Policy> {
  if (source instanceof Uint8Array) return loadFrom({ bytes: source, name: '(bytes)' }, options, nodeProvider, {}, null);
  if (typeof source !== 'string' && !(source instanceof URL))
    throw new TypeError(
      `loadPolicy: source must be a file path, a file: URL or a Uint8Array, got ${source === null ? 'null' : typeof source}`,
    );
  const path = source instanceof URL ? fileURLToPath(source) : source;
  let main: ModelSource;
  try {
    main = { bytes: new Uint8Array(await readFile(path)), name: path };
  } catch (e) {
    throw new Error(`cannot read policy '${path}': ${why(e)}`, { cause: e });
  }
  return loadFrom(main, options, nodeProvider, {}, async (file, role) => {
    const p = join(dirname(path), file);
    try {
      return { bytes: new Uint8Array(await readFile(p)), name: p };
    } catch (e) {
      throw new Error(
        `policy '${basename(path)}' lists its ${role} companion '${file}', which cannot be read beside it (${p}): ${why(e)}; ` +
          'keep the exported files together',
        { cause: e },
      );
    }
  });
}
