// What a network sees of the data: numbers per observation and per action, and for pixels the
// frame shape. Read off a dataset once, saved with the run (config.json) and in exported metadata.
import type { Dataset } from './data/dataset.ts';

export interface Dims {
  /** Numbers per observation (for pixels: height * width * channels). */
  obsDim: number;
  actionDim: number;
  /** Pixel observations: [height, width, channels] uint8 frames (HWC). Absent for state vectors. */
  obsShape?: number[];
}

/** Whether observations (and goals) are uint8 frames rather than float32 state vectors. */
export const isPixels = (dims: Dims): boolean => dims.obsShape !== undefined && dims.obsShape.length === 3;

/** The graph dtype and per-row shape of observations and goals. */
export function obsInput(dims: Dims): { dtype: 'float32' | 'uint8'; shape: number[] } {
  return dims.obsShape !== undefined && dims.obsShape.length === 3
    ? { dtype: 'uint8', shape: dims.obsShape }
    : { dtype: 'float32', shape: [dims.obsDim] };
}

/** Network dimensions of a dataset: state vectors [d], or uint8 frames [H, W, C]. */
export function datasetDims(ds: Dataset): Dims {
  const obsDim = ds.obsShape.reduce((a, b) => a * b, 1);
  const name = ds.name ?? '?';
  if (ds.observations instanceof Uint8Array) {
    if (ds.obsShape.length !== 3)
      throw new RangeError(`dataset '${name}': uint8 observations must be frames [N, H, W, C], got per-row shape [${ds.obsShape}]`);
    return { obsDim, actionDim: ds.actionDim, obsShape: [...ds.obsShape] };
  }
  if (ds.obsShape.length !== 1)
    throw new RangeError(
      `dataset '${name}' has float observations of shape [${ds.obsShape}]; expected state vectors [N, d] or uint8 frames [N, H, W, C]`,
    );
  return { obsDim, actionDim: ds.actionDim };
}
