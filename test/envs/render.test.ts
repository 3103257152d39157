import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MAZE_NAMES, getMaze } from '../../envs/maze.ts';
import { crc32 } from '../../checksum/crc32.ts';
import { decodePng, encodePng } from '../../envs/png.ts';
import {
  COLORS,
  FLOOR_BLUE,
  FLOOR_COLOR_MAX,
  PIXEL_BALL,
  PIXEL_VIEW_EXTENT,
  PIXEL_WALL,
  floorColor,
  mazeTransform,
  pixelToWorld,
  renderMaze,
  renderPixelObservation,
} from '../../envs/render.ts';
import { generateDataset } from '../../envs/datasets.ts';

test('crc32 matches the standard check value', () => {
  assert.equal(crc32(new TextEncoder().encode('123456789')), 0xcbf43926);
});

test('maze pictures render to valid PNGs (signature, IHDR, decodable) with walls, floor and trajectories', () => {
  for (const name of MAZE_NAMES) {
    const maze = getMaze(name);
    const d = generateDataset(`pointmaze-${name}-navigate`, { seed: 0, episodes: 2 });
    const traj = d.observations.subarray(0, 2 * 300);
    const img = renderMaze(maze, { trajectories: [traj], ball: [0, 0], goal: [4, 0], subgoal: [2, 0] });
    const tf = mazeTransform(maze);
    assert.equal(img.width, maze.cols * 4 * 8);
    assert.equal(img.height, maze.rows * 4 * 8);
    const png = encodePng(img.width, img.height, img.data, 4);
    // Signature and IHDR, read by hand.
    assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    const v = new DataView(png.buffer, png.byteOffset);
    assert.equal(v.getUint32(8), 13);
    assert.equal(String.fromCharCode(...png.subarray(12, 16)), 'IHDR');
    assert.equal(v.getUint32(16), img.width);
    assert.equal(v.getUint32(20), img.height);
    assert.equal(png[24], 8); // bit depth
    assert.equal(png[25], 6); // RGBA
    assert.equal(v.getUint32(29), crc32(png.subarray(12, 29)));
    const back = decodePng(png);
    assert.deepEqual([back.width, back.height, back.channels], [img.width, img.height, 4]);
    assert.deepEqual(back.data, new Uint8Array(img.data.buffer));
    // The border is wall colour; the centre of a free cell far from the drawings is floor colour.
    const px = (x: number, y: number) => {
      const [u, w] = tf.toPixel(x, y);
      const o = (Math.floor(w) * img.width + Math.floor(u)) * 4;
      return [img.data[o], img.data[o + 1], img.data[o + 2]];
    };
    assert.deepEqual(px(-5, -5), [...COLORS.wall]);
    const last = maze.freeCells[maze.freeCells.length - 1]!;
    assert.deepEqual(tf.toWorld(...tf.toPixel(3.25, -1.5)), [3.25, -1.5]);
    const lx = 4 * last[1] - 4 + 1.3;
    const ly = 4 * last[0] - 4 - 1.1;
    const plain = renderMaze(maze);
    const o = (Math.floor(tf.toPixel(lx, ly)[1]) * img.width + Math.floor(tf.toPixel(lx, ly)[0])) * 4;
    assert.deepEqual([plain.data[o], plain.data[o + 1], plain.data[o + 2]], [...COLORS.floor]);
    // The ball is drawn where asked, and the trajectory changed some floor pixels.
    assert.deepEqual(px(0, 0), [...COLORS.ball]);
    let changed = 0;
    for (let k = 0; k < img.data.length; k += 4) if (img.data[k] !== plain.data[k]) changed++;
    assert.ok(changed > 500, `only ${changed} pixels differ`);
  }
  assert.throws(() => encodePng(2, 2, new Uint8Array(15), 4), /expected 16 bytes \(2 x 2 x 4\), got 15/);
  assert.throws(() => decodePng(new Uint8Array(20)), /not a PNG file/);
});

test('pixel observations: 64 x 64 x 3, deterministic, floor colour encodes position, walls grey, ball at the centre', () => {
  const maze = getMaze('large');
  const x = 13.3;
  const y = 7.9;
  const a = renderPixelObservation(maze, x, y);
  const b = renderPixelObservation(maze, x, y);
  assert.equal(a.length, 64 * 64 * 3);
  assert.deepEqual(a, b);
  // Ball at the centre.
  const at = (px: number, py: number) => [a[(py * 64 + px) * 3], a[(py * 64 + px) * 3 + 1], a[(py * 64 + px) * 3 + 2]];
  assert.deepEqual(at(32, 32), [...PIXEL_BALL]);
  assert.deepEqual(at(31, 31), [...PIXEL_BALL]);
  let floor = 0;
  let wall = 0;
  const sx = FLOOR_COLOR_MAX / (maze.xMax - maze.xMin); // colour steps per world unit
  const sy = FLOOR_COLOR_MAX / (maze.yMax - maze.yMin);
  for (let py = 0; py < 64; py++) {
    for (let px = 0; px < 64; px++) {
      const [wx, wy] = pixelToWorld(x, y, px, py);
      const c = at(px, py);
      if (c[2] === FLOOR_BLUE) {
        floor++;
        assert.deepEqual(c, floorColor(maze, wx, wy));
        // Decoding the colour gives the world position to within one colour step.
        const dx = maze.xMin + (c[0]! + 0.5) / sx;
        const dy = maze.yMin + (c[1]! + 0.5) / sy;
        assert.ok(Math.abs(dx - wx) <= 0.5 / sx + 1e-9 && Math.abs(dy - wy) <= 0.5 / sy + 1e-9, `pixel ${px},${py}`);
        assert.ok(c[0]! < FLOOR_COLOR_MAX && c[1]! < FLOOR_COLOR_MAX);
      } else if (c[0] === PIXEL_WALL[0] && c[2] === PIXEL_WALL[2]) {
        wall++;
        assert.deepEqual(c, [...PIXEL_WALL]);
      }
    }
  }
  assert.ok(floor > 1000 && wall > 100, `floor ${floor}, wall ${wall}`);
  // Moving the ball changes the floor colours around it (positions are distinguishable).
  const c = renderPixelObservation(maze, x + 1, y);
  assert.notDeepEqual(a, c);
  assert.equal(PIXEL_VIEW_EXTENT, 16);
  // Colour range: R and G stay in [0, 192).
  const corner = floorColor(maze, maze.xMax - 1e-9, maze.yMax - 1e-9);
  assert.deepEqual(corner, [FLOOR_COLOR_MAX - 1, FLOOR_COLOR_MAX - 1, FLOOR_BLUE]);
  assert.deepEqual(floorColor(maze, maze.xMin, maze.yMin), [0, 0, FLOOR_BLUE]);
  // Encodes as an RGB PNG too.
  assert.equal(decodePng(encodePng(64, 64, a, 3)).channels, 3);
});
