// `hiql export ... --quantize int8`: the card of a run's quantized export, and `--from-model FILE`
// (quantize an exported float policy set). The work is export/quantize.ts; this file prints.
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { cardData, type CardData } from '../export/card.ts';
import { exportPolicy, type ExportResult } from '../export/export.ts';
import { quantizePolicyFiles, writeQuantizedCard } from '../export/quantize.ts';
import { decodeModel } from '../onnx/proto.ts';
import type { Backend } from '../runtime/src/index.ts';
import type { EvalResult } from '../train/evaluate.ts';
import type { RunInfo } from '../train/run-folder.ts';
import { claimPolicyPath, policySetPaths, removeReplacedLeftovers } from '../export/file-set.ts';
import { optFlag, optInt, optString, type ParsedArgs } from './args.ts';

/**
 * The card of a run's quantized export (`hiql export RUN --quantize int8 --card`): the float policy is
 * exported to a temporary folder and evaluated beside the quantized one. Returns the quantized evaluation
 * and the card's files.
 */
export async function runCardQuantized(p: {
  info: RunInfo;
  params: ReadonlyMap<string, Float32Array>;
  step: number;
  runDir: string;
  out: string;
  result: ExportResult;
  episodes: number;
  backend: Backend;
  datasetSeed: number;
}): Promise<[EvalResult, string[]]> {
  const tmp = mkdtempSync(join(tmpdir(), 'hiql-export-float-'));
  try {
    const float = await exportPolicy(p.info, p.params, p.step, join(tmp, basename(p.out)));
    const w = await writeQuantizedCard({
      out: p.out,
      floatPath: float.files[0]!.path,
      floatFiles: float.files,
      result: p.result,
      env: p.info.config.env,
      episodes: p.episodes,
      seed: p.info.config.trainer.seed,
      backend: p.backend,
      build: (ev) => {
        const d = cardData(p.info, p.runDir, p.step, p.result.files, ev, p.datasetSeed, p.backend);
        d.commands[d.commands.length - 1] += ` --quantize ${p.result.quantization!.scheme}`;
        return d;
      },
    });
    console.error(`float policy: ${(100 * w.float.success).toFixed(1)}% (same protocol, this session)`);
    return [w.quantized, w.files];
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

/** The card of a float policy, if one (NAME.json) sits beside it. */
function floatCardOf(path: string): CardData | null {
  const p = path.replace(/\.onnx$/, '.json');
  if (!existsSync(p)) return null;
  try {
    return JSON.parse(readFileSync(p, 'utf8')) as CardData;
  } catch {
    return null;
  }
}

const HELP_FROM_MODEL = `hiql export --from-model models/NAME.onnx --quantize int8 [--out models/NAME-int8.onnx] [--no-validate] [--force]
                   [--card [--episodes 50] [--backend cpu]]`;

/**
 * \`hiql export --from-model FILE --quantize int8\`: quantizes an exported float policy file set (no run
 * folder needed). With --card, evaluates the quantized and the float files and writes the card.
 */
export async function runFromModel(args: ParsedArgs): Promise<number> {
  const src = optString(args, 'from-model')!;
  const scheme = optString(args, 'quantize');
  if (scheme !== 'int8')
    throw new RangeError(`hiql export --from-model re-encodes an exported policy: give --quantize int8\n${HELP_FROM_MODEL}`);
  if (args.positionals.length > 0) throw new RangeError('hiql export: give either a run folder or --from-model FILE, not both');
  if (!existsSync(src)) throw new Error(`hiql export: --from-model '${src}' does not exist`);
  const out = optString(args, 'out') ?? src.replace(/\.onnx$/, `-${scheme}.onnx`);
  const previous = claimPolicyPath(out, {
    force: optFlag(args, 'force', 'export'),
    command: 'hiql export --from-model',
    sources: policySetPaths(src),
  });
  const r = await quantizePolicyFiles(src, out, scheme, { validate: !args.options.has('no-validate') });
  for (const v of r.validation)
    console.error(
      `validated ${v.role} on ${v.backend}: |diff| mean ${v.meanAbsDiff.toExponential(2)}, max ${v.maxAbsDiff.toExponential(2)}`,
    );
  for (const c of r.quantization.layerChecks)
    console.error(
      `int8 layers of ${c.role} on ${c.backend}: ${c.worstRatio.toFixed(3)} x the hard rounding bound, ` +
        `errors / rounding sigma RMS ${c.rmsZ.toFixed(2)}, max ${c.maxZ.toFixed(1)}`,
    );
  for (const f of r.files) {
    const s = r.source.find((x) => x.role === f.role)!;
    console.error(`wrote ${f.path} (${(f.bytes.length / 1024).toFixed(1)} KiB, float ${(s.bytes.length / 1024).toFixed(1)} KiB)`);
  }
  for (const p of removeReplacedLeftovers(
    previous,
    r.files.map((f) => f.path),
  ))
    console.error(`removed ${p} (it described the replaced policy)`);
  let card: { success: number; floatSuccess: number; files: string[] } | undefined;
  if (args.options.has('card')) {
    const episodes = optInt(args, 'episodes') ?? 50;
    const backend = (optString(args, 'backend') ?? 'cpu') as Backend;
    if (!['cpu', 'webgpu', 'cuda'].includes(backend))
      throw new RangeError(`hiql export: --backend must be cpu, webgpu or cuda, got '${backend}'`);
    const fc = floatCardOf(src);
    const meta = Object.fromEntries(decodeModel(r.source[0]!.bytes).metadataProps.map((p) => [p.key, p.value]));
    const seed = fc?.evaluation.seed ?? 0;
    console.error(`evaluating ${src} and ${out} through the runtime: ${episodes} episodes x 5 tasks each ...`);
    const command =
      `npx hiql export --from-model ${src} --quantize ${scheme} --out ${out} --card --episodes ${episodes}` +
      (backend === 'cpu' ? '' : ` --backend ${backend}`);
    const w = await writeQuantizedCard({
      out,
      floatPath: src,
      floatFiles: r.source,
      result: r,
      env: meta['hiql.env']!,
      episodes,
      seed,
      backend,
      build: (ev) => {
        const cfg = JSON.parse(meta['hiql.config'] ?? '{}') as {
          batchSize?: number;
          valueHiddenDims?: number[];
          actorHiddenDims?: number[];
        };
        return {
          name: basename(out).replace(/\.onnx$/, ''),
          env: meta['hiql.env']!,
          agent: meta['hiql.agent']!,
          preset: fc?.preset ?? meta['hiql.preset'] ?? '',
          trainSteps: Number(meta['hiql.train_steps'] ?? 0),
          seed: fc?.seed ?? NaN,
          datasetSeed: fc?.datasetSeed ?? NaN,
          batchSize: fc?.batchSize ?? cfg.batchSize ?? NaN,
          hiddenDims: fc?.hiddenDims ?? { value: cfg.valueHiddenDims, actor: cfg.actorHiddenDims ?? [] },
          files: r.files.map((f) => ({ file: basename(f.path), role: f.role, bytes: f.bytes.length, sha256: f.sha256 })),
          evaluation: {
            episodesPerTask: ev.episodesPerTask,
            seed,
            backend: `onnxruntime-node ${backend} (@hiql/runtime)`,
            success: ev.success,
            tasks: ev.tasks,
          },
          commands: [...(fc?.commands ?? []), command],
        };
      },
    });
    const tasks = w.quantized.tasks.map((t, i) => `${(100 * t.success).toFixed(0)}/${(100 * w.float.tasks[i]!.success).toFixed(0)}%`);
    console.error(
      `success ${(100 * w.quantized.success).toFixed(1)}% with ${scheme} weights, ${(100 * w.float.success).toFixed(1)}% float ` +
        `[${tasks.join(', ')}]; wrote ${w.files.join(', ')}`,
    );
    card = { success: w.quantized.success, floatSuccess: w.float.success, files: w.files };
  }
  console.log(
    JSON.stringify({
      from: src,
      quantize: scheme,
      files: r.files.map((f) => ({ role: f.role, path: f.path, bytes: f.bytes.length, sha256: f.sha256 })),
      source: r.source.map((f) => ({ role: f.role, path: f.path, bytes: f.bytes.length, sha256: f.sha256 })),
      card,
    }),
  );
  return 0;
}
