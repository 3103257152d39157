// PointMaze maps, evaluation tasks and grid helpers (docs/spec.md section 5).
//
// Coordinates: cell (i, j) is row i, column j of the map; its centre is x = 4j - 4, y = 4i - 4, so
// rows run along the y axis and cell (1, 1) sits at the origin. Every map has a wall border, and
// every wall is a 4 x 4 block centred on its cell. Pure data and integer code: no imports.

export const MAZE_NAMES = ['medium', 'large', 'giant', 'teleport'] as const;
export type MazeName = (typeof MAZE_NAMES)[number];

/** Side of one maze cell (and wall block) in world units. */
export const MAZE_UNIT = 4;
/** World position of cell (0, 0)'s centre: x = MAZE_UNIT * j - MAZE_OFFSET. */
export const MAZE_OFFSET = 4;

export type Cell = readonly [i: number, j: number];

export interface MazeTask {
  /** 1-based, as in OGBench (`task_id` 1..5). */
  id: number;
  start: Cell;
  goal: Cell;
}

export interface MazeSpec {
  name: MazeName;
  rows: number;
  cols: number;
  /** rows * cols, row-major, 1 = wall. */
  walls: Uint8Array;
  /** The five evaluation tasks. */
  tasks: readonly MazeTask[];
  /** Teleport maze only (empty elsewhere): coming within TELEPORT_RADIUS of an inbound cell centre... */
  teleportIn: readonly Cell[];
  /** ...moves the ball to the centre of one of these, chosen uniformly. */
  teleportOut: readonly Cell[];
  /** Free cells in row-major order. */
  freeCells: readonly Cell[];
  /** Free cells that are not straight corridor cells (walls on both sides): navigate goals come from here. */
  vertexCells: readonly Cell[];
  /** World extent of the whole map including its border walls. */
  xMin: number;
  xMax: number;
  yMin: number;
  yMax: number;
}

// Maps as in docs/spec.md section 5 (1 = wall, row i = 0 first).
const MAPS: Record<MazeName, readonly string[]> = {
  medium: ['11111111', '10011001', '10010001', '11000111', '10010001', '10100101', '10001001', '11111111'],
  large: [
    '111111111111',
    '100001000001',
    '101101010101',
    '100000010001',
    '101111011101',
    '100101000001',
    '110101010111',
    '100100010001',
    '111111111111',
  ],
  giant: [
    '1111111111111111',
    '1010000001100001',
    '1010110101001101',
    '1000100100010001',
    '1011101111110101',
    '1000100010000101',
    '1110101001010111',
    '1000100100010001',
    '1010101111110101',
    '1011100010001101',
    '1000001000100001',
    '1111111111111111',
  ],
  teleport: [
    '111111111111',
    '100000101001',
    '110100010011',
    '110111000001',
    '100001010101',
    '101101010101',
    '101101010101',
    '100001000101',
    '111111111111',
  ],
};

// Evaluation tasks, start cell -> goal cell (docs/spec.md section 5).
const TASKS: Record<MazeName, readonly (readonly [Cell, Cell])[]> = {
  medium: [
    [
      [1, 1],
      [6, 6],
    ],
    [
      [6, 1],
      [1, 6],
    ],
    [
      [5, 3],
      [4, 2],
    ],
    [
      [6, 5],
      [6, 1],
    ],
    [
      [2, 6],
      [1, 1],
    ],
  ],
  large: [
    [
      [1, 1],
      [7, 10],
    ],
    [
      [5, 4],
      [7, 1],
    ],
    [
      [7, 4],
      [1, 10],
    ],
    [
      [3, 8],
      [5, 4],
    ],
    [
      [1, 1],
      [5, 4],
    ],
  ],
  giant: [
    [
      [1, 1],
      [10, 14],
    ],
    [
      [1, 14],
      [10, 1],
    ],
    [
      [8, 14],
      [1, 1],
    ],
    [
      [8, 3],
      [5, 12],
    ],
    [
      [5, 9],
      [3, 8],
    ],
  ],
  teleport: [
    [
      [1, 10],
      [7, 1],
    ],
    [
      [1, 1],
      [7, 10],
    ],
    [
      [5, 6],
      [7, 10],
    ],
    [
      [7, 1],
      [7, 10],
    ],
    [
      [5, 6],
      [7, 1],
    ],
  ],
};

const TELEPORTS: Record<MazeName, { in: readonly Cell[]; out: readonly Cell[] }> = {
  medium: { in: [], out: [] },
  large: { in: [], out: [] },
  giant: { in: [], out: [] },
  teleport: {
    in: [
      [4, 6],
      [5, 1],
    ],
    out: [
      [1, 7],
      [6, 1],
      [6, 10],
    ],
  },
};

const cache = new Map<MazeName, MazeSpec>();

export function isMazeName(name: string): name is MazeName {
  return (MAZE_NAMES as readonly string[]).includes(name);
}

/** The maze with this name (built once, then shared; treat it as read-only). */
export function getMaze(name: string): MazeSpec {
  if (!isMazeName(name)) {
    throw new RangeError(`unknown maze '${name}'; expected one of ${MAZE_NAMES.join(', ')}`);
  }
  let m = cache.get(name);
  if (!m) {
    m = buildMaze(name);
    cache.set(name, m);
  }
  return m;
}

function buildMaze(name: MazeName): MazeSpec {
  const map = MAPS[name];
  const rows = map.length;
  const cols = map[0]!.length;
  const walls = new Uint8Array(rows * cols);
  for (let i = 0; i < rows; i++) {
    const row = map[i]!;
    if (row.length !== cols) throw new Error(`maze ${name}: row ${i} has ${row.length} columns, expected ${cols}`);
    for (let j = 0; j < cols; j++) walls[i * cols + j] = row[j] === '1' ? 1 : 0;
  }
  const wallAt = (i: number, j: number) => i < 0 || j < 0 || i >= rows || j >= cols || walls[i * cols + j] === 1;
  const freeCells: Cell[] = [];
  const vertexCells: Cell[] = [];
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < cols; j++) {
      if (wallAt(i, j)) continue;
      freeCells.push([i, j]);
      // A straight corridor cell has free cells on two opposite sides and walls on the other two.
      const vertical = !wallAt(i - 1, j) && !wallAt(i + 1, j) && wallAt(i, j - 1) && wallAt(i, j + 1);
      const horizontal = !wallAt(i, j - 1) && !wallAt(i, j + 1) && wallAt(i - 1, j) && wallAt(i + 1, j);
      if (!vertical && !horizontal) vertexCells.push([i, j]);
    }
  }
  const tasks = TASKS[name].map(([start, goal], k) => {
    for (const c of [start, goal]) {
      if (wallAt(c[0], c[1])) throw new Error(`maze ${name}: task ${k + 1} uses wall cell (${c[0]}, ${c[1]})`);
    }
    return { id: k + 1, start, goal };
  });
  const half = MAZE_UNIT / 2;
  return {
    name,
    rows,
    cols,
    walls,
    tasks,
    teleportIn: TELEPORTS[name].in,
    teleportOut: TELEPORTS[name].out,
    freeCells,
    vertexCells,
    xMin: -MAZE_OFFSET - half,
    xMax: MAZE_UNIT * (cols - 1) - MAZE_OFFSET + half,
    yMin: -MAZE_OFFSET - half,
    yMax: MAZE_UNIT * (rows - 1) - MAZE_OFFSET + half,
  };
}

/** True for wall cells and for anything outside the map. */
export function isWall(maze: MazeSpec, i: number, j: number): boolean {
  return i < 0 || j < 0 || i >= maze.rows || j >= maze.cols || maze.walls[i * maze.cols + j] === 1;
}

export function cellCenterX(j: number): number {
  return MAZE_UNIT * j - MAZE_OFFSET;
}
export function cellCenterY(i: number): number {
  return MAZE_UNIT * i - MAZE_OFFSET;
}
/** World (x, y) of a cell's centre. */
export function cellCenter(cell: Cell): [x: number, y: number] {
  return [cellCenterX(cell[1]), cellCenterY(cell[0])];
}

/** Row of the cell containing world y (cells are half-open: [centre - 2, centre + 2)). */
export function rowOf(y: number): number {
  return Math.floor((y + MAZE_OFFSET + MAZE_UNIT / 2) / MAZE_UNIT);
}
/** Column of the cell containing world x. */
export function colOf(x: number): number {
  return Math.floor((x + MAZE_OFFSET + MAZE_UNIT / 2) / MAZE_UNIT);
}
/** The cell containing world point (x, y) (OGBench's xy_to_ij). */
export function cellOf(x: number, y: number): [i: number, j: number] {
  return [rowOf(y), colOf(x)];
}

/** Flat index i * cols + j of a cell. */
export function cellIndex(maze: MazeSpec, i: number, j: number): number {
  return i * maze.cols + j;
}

const DI = [-1, 0, 1, 0] as const;
const DJ = [0, -1, 0, 1] as const;
/** Neighbour order used by BFS and by the expert's tie-breaking: up(i-1), left(j-1), down(i+1), right(j+1), as in OGBench. */
export const NEIGHBOURS: readonly Cell[] = [0, 1, 2, 3].map((k) => [DI[k]!, DJ[k]!] as const);

/**
 * Breadth-first distances (in cells, 4-connected) from `source` over free cells: an Int32Array
 * [rows * cols] with -1 for walls and unreachable cells. `blocked` cells (flat indices) are
 * treated as walls.
 */
export function bfsDistances(maze: MazeSpec, source: Cell, blocked?: ReadonlySet<number>): Int32Array {
  const { rows, cols } = maze;
  const dist = new Int32Array(rows * cols).fill(-1);
  const [si, sj] = source;
  if (isWall(maze, si, sj)) throw new RangeError(`bfsDistances: source cell (${si}, ${sj}) of maze ${maze.name} is a wall`);
  const queue = new Int32Array(rows * cols);
  let head = 0;
  let tail = 0;
  const s = si * cols + sj;
  dist[s] = 0;
  queue[tail++] = s;
  while (head < tail) {
    const c = queue[head++]!;
    const i = (c / cols) | 0;
    const j = c - i * cols;
    for (let k = 0; k < 4; k++) {
      const ni = i + DI[k]!;
      const nj = j + DJ[k]!;
      if (isWall(maze, ni, nj)) continue;
      const n = ni * cols + nj;
      if (dist[n] !== -1 || blocked?.has(n)) continue;
      dist[n] = dist[c]! + 1;
      queue[tail++] = n;
    }
  }
  return dist;
}

/**
 * The geodesic (shortest-path) distance to the point `goal` through the maze's free space, as a
 * function of (x, y) in world units: Dijkstra on a grid of step `h` over the whole map (8-connected,
 * no corner cutting past a wall block, so within about 8% of the Euclidean length of a free path),
 * read bilinearly between grid nodes. Infinity where the goal cannot be reached (a wall). The ball's
 * radius is not taken off the free space. bench/value-quality.ts scores values' advantages with it.
 */
export function geodesicField(maze: MazeSpec, goal: readonly [number, number], h = 0.1): (x: number, y: number) => number {
  if (!(h > 0) || (maze.xMax - maze.xMin) / h > 4096)
    throw new RangeError(`geodesicField: grid step ${h} must be > 0 and give <= 4096 nodes a side`);
  const [gi, gj] = cellOf(goal[0], goal[1]);
  if (isWall(maze, gi, gj))
    throw new RangeError(`geodesicField: the goal (${goal[0]}, ${goal[1]}) lies in a wall cell (${gi}, ${gj}) of maze ${maze.name}`);
  const H = h;
  // The grid has a node on the goal (distance 0 there exactly) and covers the map.
  const ga = Math.floor((goal[0] - maze.xMin) / H);
  const gb = Math.floor((goal[1] - maze.yMin) / H);
  const x0 = goal[0] - ga * H;
  const y0 = goal[1] - gb * H;
  const nx = Math.floor((maze.xMax - x0) / H) + 1;
  const ny = Math.floor((maze.yMax - y0) / H) + 1;
  const free = new Uint8Array(nx * ny);
  for (let b = 0; b < ny; b++)
    for (let a = 0; a < nx; a++) {
      const [i, j] = [rowOf(y0 + b * H), colOf(x0 + a * H)];
      free[b * nx + a] = i >= 0 && j >= 0 && i < maze.rows && j < maze.cols && !isWall(maze, i, j) ? 1 : 0;
    }
  const dist = new Float64Array(nx * ny).fill(Infinity);
  // A binary heap of (distance, node).
  const heap: number[] = [];
  const hd: number[] = [];
  const push = (d: number, v: number) => {
    let k = heap.length;
    heap.push(v);
    hd.push(d);
    while (k > 0) {
      const p = (k - 1) >> 1;
      if (hd[p]! <= d) break;
      heap[k] = heap[p]!;
      hd[k] = hd[p]!;
      k = p;
    }
    heap[k] = v;
    hd[k] = d;
  };
  const pop = (): [number, number] => {
    const top: [number, number] = [hd[0]!, heap[0]!];
    const v = heap.pop()!;
    const d = hd.pop()!;
    if (heap.length > 0) {
      let k = 0;
      for (;;) {
        let c = 2 * k + 1;
        if (c >= heap.length) break;
        if (c + 1 < heap.length && hd[c + 1]! < hd[c]!) c++;
        if (hd[c]! >= d) break;
        heap[k] = heap[c]!;
        hd[k] = hd[c]!;
        k = c;
      }
      heap[k] = v;
      hd[k] = d;
    }
    return top;
  };
  dist[gb * nx + ga] = 0;
  push(0, gb * nx + ga);
  while (heap.length > 0) {
    const [d, v] = pop();
    if (d > dist[v]!) continue;
    const [a, b] = [v % nx, Math.floor(v / nx)];
    for (let db = -1; db <= 1; db++)
      for (let da = -1; da <= 1; da++) {
        if (!da && !db) continue;
        const [a2, b2] = [a + da, b + db];
        if (a2 < 0 || b2 < 0 || a2 >= nx || b2 >= ny || !free[b2 * nx + a2]) continue;
        // No corner cutting: a diagonal step needs both of its sides free.
        if (da && db && (!free[b * nx + a2] || !free[b2 * nx + a])) continue;
        const nd = d + (da && db ? Math.SQRT2 : 1) * H;
        if (nd < dist[b2 * nx + a2]!) {
          dist[b2 * nx + a2] = nd;
          push(nd, b2 * nx + a2);
        }
      }
  }
  /** Bilinear in the grid nodes around (x, y), over the reachable ones. */
  return (x: number, y: number): number => {
    const fa = Math.min(nx - 1, Math.max(0, (x - x0) / H));
    const fb = Math.min(ny - 1, Math.max(0, (y - y0) / H));
    const [a, b] = [Math.min(nx - 2, Math.floor(fa)), Math.min(ny - 2, Math.floor(fb))];
    const [u, w] = [fa - a, fb - b];
    let sum = 0;
    let wsum = 0;
    for (const [da, db, wt] of [
      [0, 0, (1 - u) * (1 - w)],
      [1, 0, u * (1 - w)],
      [0, 1, (1 - u) * w],
      [1, 1, u * w],
    ] as const) {
      const d = dist[(b + db) * nx + (a + da)]!;
      if (Number.isFinite(d) && wt > 0) {
        sum += wt * d;
        wsum += wt;
      }
    }
    return wsum > 0 ? sum / wsum : Infinity;
  };
}

/** The evaluation task with this 1-based id. */
export function getTask(maze: MazeSpec, taskId: number): MazeTask {
  const t = maze.tasks[taskId - 1];
  if (!Number.isInteger(taskId) || !t) {
    throw new RangeError(`maze ${maze.name}: task id must be an integer in 1..${maze.tasks.length}, got ${taskId}`);
  }
  return t;
}
