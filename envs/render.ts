// Rendering: a top-down picture of a maze (walls, teleporters, ball, goal, subgoal, trajectories)
// and the 64 x 64 pixel observations of docs/spec.md section 8. Pure typed-array code, deterministic (only
// IEEE +, -, *, /, sqrt and rounding), no canvas, so it runs in Node, in workers and in browsers.
//
// Orientation: pictures are drawn with world y growing downwards, so row 0 of the map is the top row
// of the picture and the picture reads like the map strings in maze.ts. A browser canvas that draws
// its own overlays should use `mazeTransform` for the same mapping.

import { type MazeSpec, MAZE_UNIT, cellCenterX, cellCenterY, colOf, isWall, rowOf } from './maze.ts';
import { BALL_RADIUS, GOAL_TOLERANCE, TELEPORT_RADIUS } from './pointmaze.ts';

export type RGB = readonly [r: number, g: number, b: number];

export interface RGBAImage {
  width: number;
  height: number;
  /** width * height * 4 bytes, row-major, row 0 at the top. */
  data: Uint8ClampedArray;
}

/** World <-> pixel mapping of a maze picture. Pixel (0, 0) is the top-left corner of the top-left pixel. */
export interface MazeTransform {
  /** Pixels per world unit. */
  scale: number;
  width: number;
  height: number;
  /** World coordinates of the picture's top-left corner (the map's xMin, yMin). */
  x0: number;
  y0: number;
  toPixel(x: number, y: number): [px: number, py: number];
  toWorld(px: number, py: number): [x: number, y: number];
}

/** Default picture scale: 8 pixels per world unit (32 per cell). */
export const DEFAULT_PIXELS_PER_UNIT = 8;

export function mazeTransform(maze: MazeSpec, pixelsPerUnit = DEFAULT_PIXELS_PER_UNIT): MazeTransform {
  if (!(pixelsPerUnit > 0) || !Number.isFinite(pixelsPerUnit))
    throw new RangeError(`pixelsPerUnit must be a positive number, got ${pixelsPerUnit}`);
  const s = pixelsPerUnit;
  const x0 = maze.xMin;
  const y0 = maze.yMin;
  return {
    scale: s,
    width: Math.round((maze.xMax - maze.xMin) * s),
    height: Math.round((maze.yMax - maze.yMin) * s),
    x0,
    y0,
    toPixel: (x, y) => [(x - x0) * s, (y - y0) * s],
    toWorld: (px, py) => [px / s + x0, py / s + y0],
  };
}

export interface TrajectoryStyle {
  /** Interleaved world positions x0, y0, x1, y1, ... (e.g. a slice of a dataset's observations). */
  points: ArrayLike<number>;
  color?: RGB;
  /** Line width in pixels (default 1.5). */
  width?: number;
  /** Opacity 0..1 (default 0.85). */
  alpha?: number;
}

export interface RenderOptions {
  pixelsPerUnit?: number;
  ball?: readonly [number, number] | null;
  goal?: readonly [number, number] | null;
  subgoal?: readonly [number, number] | null;
  trajectories?: readonly (TrajectoryStyle | ArrayLike<number>)[];
  /** Draw the cell grid on the floor (default true). */
  grid?: boolean;
  /** Draw teleporters in the teleport maze (default true). */
  teleporters?: boolean;
  /** Polylines break where consecutive points are further apart than this (teleports); default 1. */
  breakDistance?: number;
}

export const COLORS = {
  floor: [238, 240, 244] as RGB,
  grid: [222, 226, 233] as RGB,
  wall: [55, 63, 79] as RGB,
  teleportIn: [66, 120, 230] as RGB,
  teleportOut: [250, 160, 50] as RGB,
  ball: [232, 118, 36] as RGB,
  ballEdge: [120, 55, 10] as RGB,
  goal: [34, 160, 70] as RGB,
  subgoal: [200, 40, 190] as RGB,
} as const;

/** Ten distinct, colour-blind-tolerant line colours (Tableau 10). */
export const PALETTE: readonly RGB[] = [
  [31, 119, 180],
  [255, 127, 14],
  [44, 160, 44],
  [214, 39, 40],
  [148, 103, 189],
  [140, 86, 75],
  [227, 119, 194],
  [127, 127, 127],
  [188, 189, 34],
  [23, 190, 207],
];

/** Renders a maze picture; see RenderOptions. */
export function renderMaze(maze: MazeSpec, opts: RenderOptions = {}): RGBAImage {
  const tf = mazeTransform(maze, opts.pixelsPerUnit);
  const { width, height, scale } = tf;
  const img: RGBAImage = { width, height, data: new Uint8ClampedArray(width * height * 4) };
  const d = img.data;
  // Floor and walls, per pixel centre.
  for (let py = 0; py < height; py++) {
    const wy = (py + 0.5) / scale + tf.y0;
    const i = rowOf(wy);
    for (let px = 0; px < width; px++) {
      const wx = (px + 0.5) / scale + tf.x0;
      const c = isWall(maze, i, colOf(wx)) ? COLORS.wall : COLORS.floor;
      const o = (py * width + px) * 4;
      d[o] = c[0];
      d[o + 1] = c[1];
      d[o + 2] = c[2];
      d[o + 3] = 255;
    }
  }
  if (opts.grid ?? true) {
    // One-pixel cell boundaries on free cells.
    for (let py = 0; py < height; py++) {
      for (let px = 0; px < width; px++) {
        const wx = (px + 0.5) / scale + tf.x0;
        const wy = (py + 0.5) / scale + tf.y0;
        if (isWall(maze, rowOf(wy), colOf(wx))) continue;
        const fx = (((wx - tf.x0) % MAZE_UNIT) + MAZE_UNIT) % MAZE_UNIT;
        const fy = (((wy - tf.y0) % MAZE_UNIT) + MAZE_UNIT) % MAZE_UNIT;
        const edge = 0.5 / scale;
        if (fx < edge || MAZE_UNIT - fx < edge || fy < edge || MAZE_UNIT - fy < edge) setPixel(img, px, py, COLORS.grid, 1);
      }
    }
  }
  if ((opts.teleporters ?? true) && maze.teleportIn.length > 0) {
    for (const [i, j] of maze.teleportIn) {
      const [px, py] = tf.toPixel(cellCenterX(j), cellCenterY(i));
      fillDisc(img, px, py, TELEPORT_RADIUS * scale, COLORS.teleportIn, 0.3);
      ring(img, px, py, TELEPORT_RADIUS * scale, 1.5, COLORS.teleportIn, 0.9);
    }
    for (const [i, j] of maze.teleportOut) {
      const [px, py] = tf.toPixel(cellCenterX(j), cellCenterY(i));
      fillDisc(img, px, py, 1.0 * scale, COLORS.teleportOut, 0.3);
      ring(img, px, py, 1.0 * scale, 1.5, COLORS.teleportOut, 0.9);
    }
  }
  const breakD = opts.breakDistance ?? 1;
  (opts.trajectories ?? []).forEach((t, k) => {
    const style: TrajectoryStyle = isStyle(t) ? t : { points: t };
    drawPolyline(img, tf, style.points, style.color ?? PALETTE[k % PALETTE.length]!, style.width ?? 1.5, style.alpha ?? 0.85, breakD);
    // A small dot marks where each trajectory starts.
    if (style.points.length >= 2) {
      const [px, py] = tf.toPixel(style.points[0]!, style.points[1]!);
      fillDisc(img, px, py, Math.max(2, (style.width ?? 1.5) * 1.5), style.color ?? PALETTE[k % PALETTE.length]!, 1);
    }
  });
  if (opts.goal) {
    const [px, py] = tf.toPixel(opts.goal[0], opts.goal[1]);
    ring(img, px, py, GOAL_TOLERANCE * scale, 1.5, COLORS.goal, 0.8);
    fillDisc(img, px, py, 0.5 * scale, COLORS.goal, 1);
  }
  if (opts.subgoal) {
    const [px, py] = tf.toPixel(opts.subgoal[0], opts.subgoal[1]);
    const r = 0.55 * scale;
    // A diamond outline: four line segments.
    const pts = [px, py - r, px + r, py, px, py + r, px - r, py, px, py - r];
    for (let q = 0; q < 4; q++) line(img, pts[2 * q]!, pts[2 * q + 1]!, pts[2 * q + 2]!, pts[2 * q + 3]!, 2, COLORS.subgoal, 1);
    fillDisc(img, px, py, 0.15 * scale, COLORS.subgoal, 1);
  }
  if (opts.ball) {
    const [px, py] = tf.toPixel(opts.ball[0], opts.ball[1]);
    fillDisc(img, px, py, BALL_RADIUS * scale, COLORS.ballEdge, 1);
    fillDisc(img, px, py, BALL_RADIUS * scale - 1.5, COLORS.ball, 1);
  }
  return img;
}

function isStyle(t: TrajectoryStyle | ArrayLike<number>): t is TrajectoryStyle {
  return typeof (t as TrajectoryStyle).points === 'object' && (t as TrajectoryStyle).points !== null;
}

function setPixel(img: RGBAImage, px: number, py: number, c: RGB, alpha: number): void {
  if (px < 0 || py < 0 || px >= img.width || py >= img.height || alpha <= 0) return;
  const o = (py * img.width + px) * 4;
  const d = img.data;
  const a = alpha > 1 ? 1 : alpha;
  d[o] = d[o]! + (c[0] - d[o]!) * a;
  d[o + 1] = d[o + 1]! + (c[1] - d[o + 1]!) * a;
  d[o + 2] = d[o + 2]! + (c[2] - d[o + 2]!) * a;
  d[o + 3] = 255;
}

/** Filled disc centred at pixel coordinates (cx, cy), with a one-pixel anti-aliased edge. */
export function fillDisc(img: RGBAImage, cx: number, cy: number, r: number, c: RGB, alpha: number): void {
  const x0 = Math.max(0, Math.floor(cx - r - 1));
  const x1 = Math.min(img.width - 1, Math.ceil(cx + r + 1));
  const y0 = Math.max(0, Math.floor(cy - r - 1));
  const y1 = Math.min(img.height - 1, Math.ceil(cy + r + 1));
  for (let py = y0; py <= y1; py++) {
    for (let px = x0; px <= x1; px++) {
      const dx = px + 0.5 - cx;
      const dy = py + 0.5 - cy;
      const cover = r + 0.5 - Math.sqrt(dx * dx + dy * dy);
      if (cover > 0) setPixel(img, px, py, c, alpha * (cover > 1 ? 1 : cover));
    }
  }
}

/** Circle outline of radius r and the given line width (pixels). */
export function ring(img: RGBAImage, cx: number, cy: number, r: number, lineWidth: number, c: RGB, alpha: number): void {
  const x0 = Math.max(0, Math.floor(cx - r - lineWidth));
  const x1 = Math.min(img.width - 1, Math.ceil(cx + r + lineWidth));
  const y0 = Math.max(0, Math.floor(cy - r - lineWidth));
  const y1 = Math.min(img.height - 1, Math.ceil(cy + r + lineWidth));
  for (let py = y0; py <= y1; py++) {
    for (let px = x0; px <= x1; px++) {
      const dx = px + 0.5 - cx;
      const dy = py + 0.5 - cy;
      const cover = lineWidth / 2 + 0.5 - Math.abs(Math.sqrt(dx * dx + dy * dy) - r);
      if (cover > 0) setPixel(img, px, py, c, alpha * (cover > 1 ? 1 : cover));
    }
  }
}

/**
 * Calls `visit(px, py, coverage)` for every pixel an anti-aliased segment of width `lineWidth`
 * between pixel coordinates touches, with coverage in (0, 1].
 */
function rasterSegment(
  img: { width: number; height: number },
  ax: number,
  ay: number,
  bx: number,
  by: number,
  lineWidth: number,
  visit: (px: number, py: number, cover: number) => void,
): void {
  const h = lineWidth / 2 + 1;
  const x0 = Math.max(0, Math.floor(Math.min(ax, bx) - h));
  const x1 = Math.min(img.width - 1, Math.ceil(Math.max(ax, bx) + h));
  const y0 = Math.max(0, Math.floor(Math.min(ay, by) - h));
  const y1 = Math.min(img.height - 1, Math.ceil(Math.max(ay, by) + h));
  const vx = bx - ax;
  const vy = by - ay;
  const len2 = vx * vx + vy * vy;
  for (let py = y0; py <= y1; py++) {
    for (let px = x0; px <= x1; px++) {
      const qx = px + 0.5 - ax;
      const qy = py + 0.5 - ay;
      let t = len2 > 0 ? (qx * vx + qy * vy) / len2 : 0;
      t = t < 0 ? 0 : t > 1 ? 1 : t;
      const dx = qx - t * vx;
      const dy = qy - t * vy;
      const cover = lineWidth / 2 + 0.5 - Math.sqrt(dx * dx + dy * dy);
      if (cover > 0) visit(px, py, cover > 1 ? 1 : cover);
    }
  }
}

/** Anti-aliased line segment between pixel coordinates. */
export function line(img: RGBAImage, ax: number, ay: number, bx: number, by: number, lineWidth: number, c: RGB, alpha: number): void {
  rasterSegment(img, ax, ay, bx, by, lineWidth, (px, py, cover) => setPixel(img, px, py, c, alpha * cover));
}

/**
 * Polyline through world points, broken where consecutive points jump further than breakDistance
 * (teleports). Segments are rasterised into a coverage mask (max, not sum) so that the overlapping
 * caps of many short segments do not darken the line.
 */
function drawPolyline(
  img: RGBAImage,
  tf: MazeTransform,
  pts: ArrayLike<number>,
  c: RGB,
  lineWidth: number,
  alpha: number,
  breakDistance: number,
): void {
  const n = Math.floor(pts.length / 2);
  if (n < 2) return;
  // Draw into a coverage mask first so overlapping segments do not stack their alpha.
  const cover = new Float32Array(img.width * img.height);
  let [px, py] = tf.toPixel(pts[0]!, pts[1]!);
  let lastX = pts[0]!;
  let lastY = pts[1]!;
  for (let k = 1; k < n; k++) {
    const x = pts[2 * k]!;
    const y = pts[2 * k + 1]!;
    const [qx, qy] = tf.toPixel(x, y);
    const jump = Math.hypot(x - lastX, y - lastY) > breakDistance;
    if (!jump) segmentCoverage(img, cover, px, py, qx, qy, lineWidth);
    px = qx;
    py = qy;
    lastX = x;
    lastY = y;
  }
  for (let i = 0; i < cover.length; i++) {
    const cv = cover[i]!;
    if (cv > 0) setPixel(img, i % img.width, (i / img.width) | 0, c, alpha * cv);
  }
}

/** Max-accumulates a segment's coverage into `cover` (one value per pixel). */
function segmentCoverage(
  img: { width: number; height: number },
  cover: Float32Array,
  ax: number,
  ay: number,
  bx: number,
  by: number,
  lineWidth: number,
): void {
  rasterSegment(img, ax, ay, bx, by, lineWidth, (px, py, cv) => {
    const o = py * img.width + px;
    if (cv > cover[o]!) cover[o] = cv;
  });
}

// ---------------------------------------------------------------------------------------------
// Pixel observations (docs/spec.md section 8).

/**
 * Side of the square world window a pixel observation shows, centred on the ball. The reference
 * renders with a camera that tracks the ball; we use a top-down window of 16 units (4 cells, 4 pixels
 * per unit at 64 x 64), enough to show the ball's cell and all its neighbours.
 */
export const PIXEL_VIEW_EXTENT = 16;
/** Floor colour channels run over [0, FLOOR_COLOR_MAX) across the maze extent. */
export const FLOOR_COLOR_MAX = 192;
export const FLOOR_BLUE = 128;
/** Walls (and anything outside the map) in pixel observations: grey 0.6 as in OGBench's visual mazes. */
export const PIXEL_WALL: RGB = [153, 153, 153];
/** The ball in pixel observations (OGBench's point body colour 0.7, 0.5, 0.3). */
export const PIXEL_BALL: RGB = [178, 127, 76];

/** World position of the centre of pixel (px, py) in a pixel observation of a ball at (x, y). */
export function pixelToWorld(x: number, y: number, px: number, py: number, size = 64, extent = PIXEL_VIEW_EXTENT): [number, number] {
  const s = extent / size;
  return [x + (px + 0.5 - size / 2) * s, y + (py + 0.5 - size / 2) * s];
}

/** Floor colour at world (wx, wy): R ~ x and G ~ y over the maze extent, B = 128. */
export function floorColor(maze: MazeSpec, wx: number, wy: number): [number, number, number] {
  // Same arithmetic as renderPixelObservation (multiply by the reciprocal), so both agree bit for bit.
  const u = (wx - maze.xMin) * (1 / (maze.xMax - maze.xMin));
  const v = (wy - maze.yMin) * (1 / (maze.yMax - maze.yMin));
  return [channel(u), channel(v), FLOOR_BLUE];
}

function channel(u: number): number {
  const c = Math.floor(u * FLOOR_COLOR_MAX);
  return c < 0 ? 0 : c > FLOOR_COLOR_MAX - 1 ? FLOOR_COLOR_MAX - 1 : c;
}

/**
 * A size x size x 3 (HWC, uint8) top-down frame centred on the ball at (x, y): floor colour encodes
 * position, walls grey, ball drawn, goal never drawn. Each pixel is sampled at its centre (no
 * anti-aliasing), so the output is exactly reproducible.
 */
export function renderPixelObservation(
  maze: MazeSpec,
  x: number,
  y: number,
  size = 64,
  out?: Uint8Array,
  extent = PIXEL_VIEW_EXTENT,
): Uint8Array {
  if (!Number.isInteger(size) || size < 1) throw new RangeError(`renderPixelObservation: size must be a positive integer, got ${size}`);
  const frame = out ?? new Uint8Array(size * size * 3);
  if (frame.length !== size * size * 3)
    throw new RangeError(`renderPixelObservation: out must have ${size * size * 3} bytes, got ${frame.length}`);
  const s = extent / size;
  const r2 = BALL_RADIUS * BALL_RADIUS;
  const du = 1 / (maze.xMax - maze.xMin);
  const dv = 1 / (maze.yMax - maze.yMin);
  for (let py = 0; py < size; py++) {
    const oy = (py + 0.5 - size / 2) * s;
    const wy = y + oy;
    const i = rowOf(wy);
    const g = channel((wy - maze.yMin) * dv);
    for (let px = 0; px < size; px++) {
      const ox = (px + 0.5 - size / 2) * s;
      const wx = x + ox;
      const o = (py * size + px) * 3;
      if (ox * ox + oy * oy <= r2) {
        frame[o] = PIXEL_BALL[0];
        frame[o + 1] = PIXEL_BALL[1];
        frame[o + 2] = PIXEL_BALL[2];
      } else if (isWall(maze, i, colOf(wx))) {
        frame[o] = PIXEL_WALL[0];
        frame[o + 1] = PIXEL_WALL[1];
        frame[o + 2] = PIXEL_WALL[2];
      } else {
        frame[o] = channel((wx - maze.xMin) * du);
        frame[o + 1] = g;
        frame[o + 2] = FLOOR_BLUE;
      }
    }
  }
  return frame;
}

/**
 * Frames of renderPixelObservation for n positions ([n * 2], x then y): [n * size * size * 3]
 * uint8, row after row (NHWC). Positions beyond `stride` coordinates per row are skipped (stride 2
 * for positions, more for states whose first two coordinates are x and y).
 */
export function renderPixelObservations(
  maze: MazeSpec,
  positions: ArrayLike<number>,
  n: number,
  size = 64,
  out?: Uint8Array,
  stride = 2,
): Uint8Array {
  const per = size * size * 3;
  const frames = out ?? new Uint8Array(n * per);
  if (frames.length < n * per) throw new RangeError(`renderPixelObservations: out must have ${n * per} bytes, got ${frames.length}`);
  if (positions.length < n * stride)
    throw new RangeError(`renderPixelObservations: ${n} positions need ${n * stride} numbers, got ${positions.length}`);
  for (let i = 0; i < n; i++)
    renderPixelObservation(maze, positions[i * stride]!, positions[i * stride + 1]!, size, frames.subarray(i * per, (i + 1) * per));
  return frames;
}
