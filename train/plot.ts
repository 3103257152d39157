// Learning curves as SVG (no dependencies): losses from metrics.jsonl and success from eval.jsonl.
// A run of several seeds gets a line per seed and, drawn over them, their mean.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../onnx/index.ts';

interface Series {
  name: string;
  points: [number, number][];
  /** A thicker line (the mean over seeds). */
  bold?: boolean;
}

/** A metrics.jsonl or eval.jsonl row: figures, and with several seeds each seed's under `seeds`. */
type Row = Record<string, number> & { seeds?: Record<string, number[]> | { success: number }[] };

function readJsonl(path: string): Row[] {
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as Row);
}

/** The mean's series and, when rows carry seeds, one series per seed (`value(row, k)`). */
function withSeeds(
  name: string,
  rows: Row[],
  mean: (r: Row) => number,
  seedCount: number,
  value: (r: Row, k: number) => number | undefined,
): Series[] {
  if (seedCount <= 1) return [{ name, points: rows.map((r) => [r['step']!, mean(r)]) }];
  const seeds: Series[] = Array.from({ length: seedCount }, (_, k) => ({
    name: `seed ${k}`,
    points: rows.map((r) => [r['step']!, value(r, k) ?? NaN]),
  }));
  return [{ name: `${name}: mean of ${seedCount} seeds`, points: rows.map((r) => [r['step']!, mean(r)]), bold: true }, ...seeds];
}

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b'];
const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');

/** Round tick values (multiples of 1, 2 or 5 x 10^k) inside [lo, hi], about five of them. */
export function niceTicks(lo: number, hi: number): number[] {
  const raw = (hi - lo) / 5;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + 1e-9 * step; v += step) out.push(v);
  return out;
}

/** One chart panel: axes, ticks, a legend and one polyline per series. */
export function chartSvg(
  title: string,
  series: Series[],
  o: { x: number; y: number; w: number; h: number; yMin?: number; yMax?: number; xLabel: string },
): string {
  const pts = series.flatMap((s) => s.points).filter(([, y]) => Number.isFinite(y));
  if (pts.length === 0) return '';
  const xMin = Math.min(...pts.map((p) => p[0]));
  const xMax = Math.max(...pts.map((p) => p[0]), xMin + 1);
  let yMin = o.yMin ?? Math.min(...pts.map((p) => p[1]));
  let yMax = o.yMax ?? Math.max(...pts.map((p) => p[1]));
  if (yMax - yMin < 1e-9) {
    yMin -= 1;
    yMax += 1;
  }
  const L = o.x + 55;
  const R = o.x + o.w - 22;
  const T = o.y + 28;
  const B = o.y + o.h - 35;
  const sx = (x: number) => L + ((x - xMin) / (xMax - xMin)) * (R - L);
  const sy = (y: number) => B - ((y - yMin) / (yMax - yMin)) * (B - T);
  const parts: string[] = [];
  parts.push(`<text x="${o.x + o.w / 2}" y="${o.y + 16}" text-anchor="middle" font-size="14" font-weight="bold">${esc(title)}</text>`);
  parts.push(`<rect x="${L}" y="${T}" width="${R - L}" height="${B - T}" fill="none" stroke="#888"/>`);
  for (const yv of niceTicks(yMin, yMax)) {
    parts.push(`<line x1="${L}" x2="${R}" y1="${sy(yv)}" y2="${sy(yv)}" stroke="#eee"/>`);
    parts.push(`<text x="${L - 5}" y="${sy(yv) + 4}" text-anchor="end" font-size="10">${Number(yv.toPrecision(4))}</text>`);
  }
  for (const xv of niceTicks(xMin, xMax))
    parts.push(`<text x="${sx(xv)}" y="${B + 14}" text-anchor="middle" font-size="10">${Number(xv.toPrecision(6))}</text>`);
  parts.push(`<text x="${(L + R) / 2}" y="${B + 28}" text-anchor="middle" font-size="11">${esc(o.xLabel)}</text>`);
  series.forEach((s, i) => {
    const c = COLORS[i % COLORS.length];
    const d = s.points
      .filter(([, y]) => Number.isFinite(y))
      .map(([x, y]) => `${sx(x).toFixed(1)},${sy(y).toFixed(1)}`)
      .join(' ');
    parts.push(`<polyline fill="none" stroke="${s.bold ? '#000' : c}" stroke-width="${s.bold ? 2.5 : 1.2}" points="${d}"/>`);
    if (s.points.length < 30) for (const [x, y] of s.points) parts.push(`<circle cx="${sx(x)}" cy="${sy(y)}" r="2.5" fill="${c}"/>`);
    parts.push(`<text x="${L + 8}" y="${T + 14 + 13 * i}" font-size="11" fill="${s.bold ? '#000' : c}">${esc(s.name)}</text>`);
  });
  return parts.join('\n');
}

/** Writes curves.svg into a run folder: the losses and the evaluation success. */
export function writeCurves(runDir: string): void {
  const metrics = readJsonl(join(runDir, 'metrics.jsonl'));
  const evals = readJsonl(join(runDir, 'eval.jsonl'));
  if (metrics.length === 0) return;
  const lossKeys = Object.keys(metrics[0]!).filter((k) => k.endsWith('_loss') || k === 'loss');
  const metricSeeds = (r: Row) => r.seeds as Record<string, number[]> | undefined;
  const nSeeds = metricSeeds(metrics[0]!)?.['loss']?.length ?? 1;
  const panels: string[] = [];
  const W = 460;
  const H = 260;
  lossKeys.forEach((k, i) => {
    panels.push(
      chartSvg(
        k,
        withSeeds(
          k,
          metrics,
          (m) => m[k]!,
          nSeeds,
          (m, s) => metricSeeds(m)?.[k]?.[s],
        ),
        {
          x: (i % 2) * W,
          y: Math.floor(i / 2) * H,
          w: W,
          h: H,
          xLabel: 'step',
        },
      ),
    );
  });
  const row = Math.ceil(lossKeys.length / 2);
  if (evals.length) {
    panels.push(
      chartSvg(
        'evaluation success',
        withSeeds(
          'success (all tasks)',
          evals,
          (e) => e['success']!,
          nSeeds,
          (e, s) => (e.seeds as { success: number }[] | undefined)?.[s]?.success,
        ),
        {
          x: 0,
          y: row * H,
          w: W,
          h: H,
          yMin: 0,
          yMax: 1,
          xLabel: 'step',
        },
      ),
    );
  }
  panels.push(
    chartSvg('steps/s', [{ name: 'updates per second', points: metrics.map((m) => [m['step']!, m['stepsPerSec']!]) }], {
      x: W,
      y: row * H,
      w: W,
      h: H,
      yMin: 0,
      xLabel: 'step',
    }),
  );
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${2 * W}" height="${(row + 1) * H}" font-family="sans-serif"><rect width="100%" height="100%" fill="white"/>\n${panels.join('\n')}\n</svg>\n`;
  writeFileAtomic(join(runDir, 'curves.svg'), new TextEncoder().encode(svg));
}

/** What a results chart draws of a run (train/results.ts RunResult has these). */
export interface ResultBar {
  env: string;
  agent: string;
  /** The evaluation steps averaged (the last is shown). */
  steps: readonly number[];
  perSeed: readonly number[];
  mean: number;
  std: number;
  /** OGBench's figure, percent: mean and std. */
  published?: readonly [number, number];
}

/**
 * A bar chart of results, one panel per dataset: per agent, this repository's success (solid: the
 * mean over seeds, a whisker of +- std, a dot per seed) beside OGBench's published figure (pale,
 * with its std). An agent has the same colour in every panel.
 */
export function resultsSvg(results: readonly ResultBar[]): string {
  const envs = [...new Set(results.map((r) => r.env))];
  // One colour per agent across every panel, in order of first appearance.
  const agents = [...new Set(results.map((r) => r.agent))];
  const H = 300;
  const slot = 76;
  const panels: string[] = [];
  let y0 = 0;
  let width = 0;
  for (const env of envs) {
    const rs = results.filter((r) => r.env === env);
    const L = 55;
    const T = y0 + 66;
    const B = y0 + H - 40;
    const W = L + slot * rs.length + 20;
    width = Math.max(width, W, 520);
    const sy = (pct: number) => B - (pct / 100) * (B - T);
    const p: string[] = [];
    const seeds = [...new Set(rs.map((r) => r.perSeed.length))].join('/');
    const at = [...new Set(rs.map((r) => r.steps.map((s) => (s >= 1000 ? `${s / 1000}k` : String(s))).join(', ')))].join('; ');
    p.push(`<text x="${L}" y="${y0 + 18}" font-size="14" font-weight="bold">${esc(env)}</text>`);
    p.push(
      `<text x="${L}" y="${y0 + 34}" font-size="11">solid: this repository, ${seeds} seed(s), mean of the evaluations at ${esc(at)}</text>`,
    );
    p.push(
      `<text x="${L}" y="${y0 + 48}" font-size="11">(whisker: +- std over seeds, dots: each seed); pale: OGBench, 1M steps, 8 seeds</text>`,
    );
    for (const v of [0, 20, 40, 60, 80, 100]) {
      p.push(`<line x1="${L}" x2="${W - 20}" y1="${sy(v)}" y2="${sy(v)}" stroke="#eee"/>`);
      p.push(`<text x="${L - 5}" y="${sy(v) + 4}" text-anchor="end" font-size="10">${v}%</text>`);
    }
    rs.forEach((r, i) => {
      const c = COLORS[agents.indexOf(r.agent) % COLORS.length];
      const x = L + slot * i + 10;
      const m = 100 * r.mean;
      p.push(`<rect x="${x}" y="${sy(m)}" width="26" height="${B - sy(m)}" fill="${c}"/>`);
      const [lo, hi] = [Math.max(0, m - 100 * r.std), Math.min(100, m + 100 * r.std)];
      p.push(`<line x1="${x + 13}" x2="${x + 13}" y1="${sy(lo)}" y2="${sy(hi)}" stroke="#000"/>`);
      for (const s of r.perSeed) p.push(`<circle cx="${x + 13}" cy="${sy(100 * s)}" r="2.2" fill="#fff" stroke="#000"/>`);
      const top = Math.max(hi, ...r.perSeed.map((v) => 100 * v));
      p.push(`<text x="${x + 13}" y="${sy(top) - 5}" text-anchor="middle" font-size="10">${m.toFixed(0)}</text>`);
      if (r.published) {
        const [pm, ps] = r.published;
        p.push(`<rect x="${x + 30}" y="${sy(pm)}" width="26" height="${B - sy(pm)}" fill="${c}" fill-opacity="0.25" stroke="${c}"/>`);
        p.push(`<line x1="${x + 43}" x2="${x + 43}" y1="${sy(Math.max(0, pm - ps))}" y2="${sy(Math.min(100, pm + ps))}" stroke="#888"/>`);
        p.push(`<text x="${x + 43}" y="${sy(Math.min(100, pm + ps)) - 5}" text-anchor="middle" font-size="10" fill="#666">${pm}</text>`);
      }
      p.push(`<text x="${x + 28}" y="${B + 16}" text-anchor="middle" font-size="12">${esc(r.agent)}</text>`);
    });
    p.push(`<line x1="${L}" x2="${W - 20}" y1="${B}" y2="${B}" stroke="#888"/>`);
    panels.push(p.join('\n'));
    y0 += H;
  }
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${y0}" font-family="sans-serif">` +
    `<rect width="100%" height="100%" fill="white"/>\n${panels.join('\n')}\n</svg>\n`
  );
}
