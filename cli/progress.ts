// How long work is shown in a terminal: on a TTY, one progress line that updates in place (steps,
// steps/s, ETA, the losses) drawn by cli-progress, with messages printed above it; elsewhere (CI,
// a log file, a pipe) plain lines, one per report, that read well in a log.
import cliProgress from 'cli-progress';

/** Seconds as 1h02m, 3m05s or 7s ('?' when unknown). */
export function fmtTime(sec: number): string {
  if (!Number.isFinite(sec)) return '?';
  const h = Math.floor(sec / 3600);
  const m = Math.floor((sec % 3600) / 60);
  const s = Math.floor(sec % 60);
  return h > 0 ? `${h}h${String(m).padStart(2, '0')}m` : m > 0 ? `${m}m${String(s).padStart(2, '0')}s` : `${s}s`;
}

export interface ProgressReport {
  step: number;
  stepsPerSec: number;
  etaSec: number;
  /** Short figures for the line, e.g. `loss 1.234  V 0.321`. */
  text: string;
}

export interface Progress {
  /** Whether the line is redrawn in place (a TTY). */
  readonly interactive: boolean;
  /** A new position; on a TTY the line is redrawn, elsewhere a line is printed. */
  update(r: ProgressReport): void;
  /** A message (an evaluation, a note) printed as its own line, above the progress line on a TTY. */
  log(message: string): void;
  /** Ends the progress line (leaves its last state on screen). */
  stop(): void;
}

/**
 * A progress display for `total` steps on `stream` (stderr by default). `interactive` defaults to
 * whether the stream is a TTY.
 */
export function progress(o: {
  label: string;
  total: number;
  start?: number;
  stream?: NodeJS.WriteStream;
  interactive?: boolean;
}): Progress {
  const stream = o.stream ?? process.stderr;
  const width = String(o.total).length;
  const plain = (r: ProgressReport) =>
    `${o.label} ${String(r.step).padStart(width)}/${o.total}  ${r.stepsPerSec.toFixed(1)} steps/s  ETA ${fmtTime(r.etaSec)}  ${r.text}`;
  if (!(o.interactive ?? stream.isTTY === true)) {
    return {
      interactive: false,
      update: (r) => void stream.write(plain(r) + '\n'),
      log: (m) => void stream.write(m + '\n'),
      stop: () => {},
    };
  }
  const bars = new cliProgress.MultiBar(
    {
      stream,
      format: `${o.label} {bar} {value}/{total}  {sps} steps/s  ETA {etaText}  {text}`,
      barsize: 20,
      hideCursor: true,
      clearOnComplete: false,
      fps: 5,
    },
    cliProgress.Presets.shades_classic,
  );
  const bar = bars.create(o.total, o.start ?? 0, { sps: '-', etaText: '?', text: '' });
  return {
    interactive: true,
    update: (r) => bar.update(r.step, { sps: r.stepsPerSec.toFixed(1), etaText: fmtTime(r.etaSec), text: r.text }),
    log: (m) => bars.log(m + '\n'),
    stop: () => bars.stop(),
  };
}
