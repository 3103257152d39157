// Canvas drawing of the maze and the episode overlays. World <-> pixel mapping is envs/render.ts's
// mazeTransform (row 0 of the map at the top, like the map strings and the dataset pictures).
import { cellCenterX, cellCenterY, isWall, type MazeSpec } from '../../envs/maze.ts';
import { BALL_RADIUS, GOAL_TOLERANCE, TELEPORT_RADIUS } from '../../envs/pointmaze.ts';
import { mazeTransform, type MazeTransform } from '../../envs/render.ts';

export interface Scene {
  trajectory: readonly number[] | null;
  start: readonly [number, number] | null;
  ball: readonly [number, number] | null;
  goal: readonly [number, number] | null;
  subgoal: readonly [number, number] | null;
  /** Candidate positions and their latent distances to z, for the heat map (null: none). */
  heat: { candidates: Float32Array; distances: Float32Array; spacing: number } | null;
  success: boolean;
}

const C = {
  floor: '#f4f5f8',
  grid: '#e3e6ee',
  wall: '#2f3646',
  wallTop: '#3b4356',
  teleIn: '#4a7be6',
  teleOut: '#f0a03a',
  trail0: [120, 170, 235],
  trail1: [22, 78, 170],
  goal: '#1f9d55',
  subgoal: '#c026d3',
  ball: '#f07a24',
  ballEdge: '#8a3d0c',
};

export class MazeView {
  tf!: MazeTransform;
  /** Device pixels per CSS pixel used for the current size. */
  dpr = 1;
  private background: HTMLCanvasElement | null = null;
  private readonly ctx: CanvasRenderingContext2D;

  constructor(
    readonly canvas: HTMLCanvasElement,
    public maze: MazeSpec,
  ) {
    this.ctx = canvas.getContext('2d')!;
  }

  /** Sizes the canvas to `cssWidth` CSS pixels wide (height follows the maze's aspect ratio). */
  resize(cssWidth: number): void {
    const worldW = this.maze.xMax - this.maze.xMin;
    this.dpr = Math.max(1, Math.min(3, globalThis.devicePixelRatio || 1));
    const ppu = (cssWidth / worldW) * this.dpr;
    this.tf = mazeTransform(this.maze, ppu);
    this.canvas.width = this.tf.width;
    this.canvas.height = this.tf.height;
    this.canvas.style.width = `${this.tf.width / this.dpr}px`;
    this.canvas.style.height = `${this.tf.height / this.dpr}px`;
    this.background = null;
  }

  setMaze(maze: MazeSpec, cssWidth: number): void {
    this.maze = maze;
    this.resize(cssWidth);
  }

  /** World position of a pointer event on the canvas. */
  eventToWorld(e: MouseEvent): [number, number] {
    const r = this.canvas.getBoundingClientRect();
    const px = ((e.clientX - r.left) / r.width) * this.canvas.width;
    const py = ((e.clientY - r.top) / r.height) * this.canvas.height;
    return this.tf.toWorld(px, py);
  }

  private drawBackground(): HTMLCanvasElement {
    const { tf, maze } = this;
    const bg = document.createElement('canvas');
    bg.width = tf.width;
    bg.height = tf.height;
    const g = bg.getContext('2d')!;
    const s = tf.scale;
    g.fillStyle = C.floor;
    g.fillRect(0, 0, bg.width, bg.height);
    // Cell grid on the floor.
    g.strokeStyle = C.grid;
    g.lineWidth = Math.max(1, s * 0.04);
    for (let i = 0; i < maze.rows; i++) {
      for (let j = 0; j < maze.cols; j++) {
        if (isWall(maze, i, j)) continue;
        const [px, py] = tf.toPixel(cellCenterX(j) - 2, cellCenterY(i) - 2);
        g.strokeRect(px, py, 4 * s, 4 * s);
      }
    }
    // Walls: one block per wall cell, with a soft shadow on the floor.
    g.save();
    g.shadowColor = 'rgba(20, 25, 40, 0.28)';
    g.shadowBlur = s * 0.5;
    g.shadowOffsetY = s * 0.12;
    g.fillStyle = C.wall;
    for (let i = 0; i < maze.rows; i++) {
      for (let j = 0; j < maze.cols; j++) {
        if (!isWall(maze, i, j)) continue;
        const [px, py] = tf.toPixel(cellCenterX(j) - 2, cellCenterY(i) - 2);
        g.fillRect(Math.floor(px), Math.floor(py), Math.ceil(4 * s) + 1, Math.ceil(4 * s) + 1);
      }
    }
    g.restore();
    g.fillStyle = C.wallTop;
    const inset = s * 0.18;
    for (let i = 0; i < maze.rows; i++) {
      for (let j = 0; j < maze.cols; j++) {
        if (!isWall(maze, i, j)) continue;
        const [px, py] = tf.toPixel(cellCenterX(j) - 2, cellCenterY(i) - 2);
        // Merge the top face with wall neighbours so long walls read as one piece.
        const l = isWall(maze, i, j - 1) ? 0 : inset;
        const r = isWall(maze, i, j + 1) ? 0 : inset;
        const t = isWall(maze, i - 1, j) ? 0 : inset;
        const b = isWall(maze, i + 1, j) ? 0 : inset;
        g.fillRect(px + l, py + t, 4 * s - l - r, 4 * s - t - b);
      }
    }
    // Teleporters (teleport maze): inbound blue, outbound orange.
    const disc = (x: number, y: number, r: number, color: string) => {
      const [px, py] = tf.toPixel(x, y);
      g.beginPath();
      g.arc(px, py, r * s, 0, 2 * Math.PI);
      g.globalAlpha = 0.22;
      g.fillStyle = color;
      g.fill();
      g.globalAlpha = 0.9;
      g.lineWidth = Math.max(1.5, s * 0.12);
      g.strokeStyle = color;
      g.setLineDash([s * 0.35, s * 0.25]);
      g.stroke();
      g.setLineDash([]);
      g.globalAlpha = 1;
    };
    for (const [i, j] of maze.teleportIn) disc(cellCenterX(j), cellCenterY(i), TELEPORT_RADIUS, C.teleIn);
    for (const [i, j] of maze.teleportOut) disc(cellCenterX(j), cellCenterY(i), 1.0, C.teleOut);
    return bg;
  }

  draw(scene: Scene): void {
    const { ctx, tf } = this;
    const s = tf.scale;
    if (!this.background) this.background = this.drawBackground();
    ctx.drawImage(this.background, 0, 0);

    if (scene.heat) {
      const { candidates, distances, spacing } = scene.heat;
      let lo = Infinity;
      let hi = -Infinity;
      for (let i = 0; i < distances.length; i++) {
        lo = Math.min(lo, distances[i]!);
        hi = Math.max(hi, distances[i]!);
      }
      const half = (spacing * s) / 2;
      for (let i = 0; i < distances.length; i++) {
        // Nearest candidates strongest, fading quickly: the shape of the latent match, not its scale.
        const u = hi > lo ? (distances[i]! - lo) / (hi - lo) : 1;
        const a = 0.6 * Math.exp(-6 * u);
        if (a < 0.02) continue;
        const [px, py] = tf.toPixel(candidates[2 * i]!, candidates[2 * i + 1]!);
        ctx.fillStyle = `rgba(192, 38, 211, ${a.toFixed(3)})`;
        ctx.fillRect(px - half, py - half, 2 * half, 2 * half);
      }
    }

    if (scene.goal) {
      const [gx, gy] = tf.toPixel(scene.goal[0], scene.goal[1]);
      ctx.beginPath();
      ctx.arc(gx, gy, GOAL_TOLERANCE * s, 0, 2 * Math.PI);
      ctx.fillStyle = scene.success ? 'rgba(31, 157, 85, 0.30)' : 'rgba(31, 157, 85, 0.14)';
      ctx.fill();
      ctx.lineWidth = Math.max(1.5, s * 0.1);
      ctx.strokeStyle = C.goal;
      ctx.stroke();
      // A small flag.
      ctx.beginPath();
      ctx.moveTo(gx, gy);
      ctx.lineTo(gx, gy - 0.9 * s);
      ctx.lineWidth = Math.max(1.5, s * 0.08);
      ctx.stroke();
      ctx.beginPath();
      ctx.moveTo(gx, gy - 0.9 * s);
      ctx.lineTo(gx + 0.6 * s, gy - 0.7 * s);
      ctx.lineTo(gx, gy - 0.5 * s);
      ctx.closePath();
      ctx.fillStyle = C.goal;
      ctx.fill();
      ctx.beginPath();
      ctx.arc(gx, gy, 0.14 * s, 0, 2 * Math.PI);
      ctx.fill();
    }

    if (scene.start) {
      const [px, py] = tf.toPixel(scene.start[0], scene.start[1]);
      ctx.beginPath();
      ctx.arc(px, py, 0.32 * s, 0, 2 * Math.PI);
      ctx.lineWidth = Math.max(1.5, s * 0.09);
      ctx.strokeStyle = 'rgb(22, 78, 170)';
      ctx.fillStyle = '#ffffff';
      ctx.fill();
      ctx.stroke();
    }

    const tr = scene.trajectory;
    if (tr && tr.length >= 4) {
      const n = tr.length / 2;
      ctx.lineCap = 'round';
      ctx.lineJoin = 'round';
      ctx.lineWidth = Math.max(2, s * 0.16);
      // Colour runs from light (old) to dark (recent); drawn in a few segments to keep it cheap.
      const segments = Math.min(24, n - 1);
      for (let g = 0; g < segments; g++) {
        const a = Math.floor((g * (n - 1)) / segments);
        const b = Math.floor(((g + 1) * (n - 1)) / segments);
        const f = segments === 1 ? 1 : g / (segments - 1);
        const c = C.trail0.map((v, k) => Math.round(v + (C.trail1[k]! - v) * f));
        ctx.strokeStyle = `rgb(${c[0]}, ${c[1]}, ${c[2]})`;
        ctx.beginPath();
        let [px, py] = tf.toPixel(tr[2 * a]!, tr[2 * a + 1]!);
        ctx.moveTo(px, py);
        for (let k = a + 1; k <= b; k++) {
          const x = tr[2 * k]!;
          const y = tr[2 * k + 1]!;
          const jump = Math.hypot(x - tr[2 * k - 2]!, y - tr[2 * k - 1]!) > 1; // a teleport
          [px, py] = tf.toPixel(x, y);
          if (jump) ctx.moveTo(px, py);
          else ctx.lineTo(px, py);
        }
        ctx.stroke();
      }
    }

    if (scene.subgoal && scene.ball) {
      const [bx, by] = tf.toPixel(scene.ball[0], scene.ball[1]);
      const [sx, sy] = tf.toPixel(scene.subgoal[0], scene.subgoal[1]);
      ctx.beginPath();
      ctx.moveTo(bx, by);
      ctx.lineTo(sx, sy);
      ctx.setLineDash([s * 0.3, s * 0.22]);
      ctx.lineWidth = Math.max(1.5, s * 0.08);
      ctx.strokeStyle = 'rgba(192, 38, 211, 0.75)';
      ctx.stroke();
      ctx.setLineDash([]);
      const r = 0.62 * s;
      ctx.beginPath();
      ctx.moveTo(sx, sy - r);
      ctx.lineTo(sx + r, sy);
      ctx.lineTo(sx, sy + r);
      ctx.lineTo(sx - r, sy);
      ctx.closePath();
      ctx.fillStyle = 'rgba(192, 38, 211, 0.22)';
      ctx.fill();
      ctx.lineWidth = Math.max(2, s * 0.12);
      ctx.strokeStyle = C.subgoal;
      ctx.stroke();
      ctx.beginPath();
      ctx.arc(sx, sy, 0.12 * s, 0, 2 * Math.PI);
      ctx.fillStyle = C.subgoal;
      ctx.fill();
    }

    if (scene.ball) {
      const [px, py] = tf.toPixel(scene.ball[0], scene.ball[1]);
      ctx.save();
      ctx.shadowColor = 'rgba(0, 0, 0, 0.3)';
      ctx.shadowBlur = s * 0.3;
      ctx.shadowOffsetY = s * 0.08;
      ctx.beginPath();
      ctx.arc(px, py, BALL_RADIUS * s, 0, 2 * Math.PI);
      const grad = ctx.createRadialGradient(px - 0.2 * s, py - 0.25 * s, 0.05 * s, px, py, BALL_RADIUS * s);
      grad.addColorStop(0, '#ffc28a');
      grad.addColorStop(1, C.ball);
      ctx.fillStyle = grad;
      ctx.fill();
      ctx.restore();
      ctx.lineWidth = Math.max(1, s * 0.07);
      ctx.strokeStyle = C.ballEdge;
      ctx.stroke();
    }
  }
}
