// The progress display: one line redrawn in place on a TTY (messages above it), plain lines elsewhere.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { fmtTime, progress } from '../../cli/progress.ts';

const ESC = '\x1b[';

function fakeStream(tty: boolean): { stream: NodeJS.WriteStream; text: () => string } {
  const s = new PassThrough();
  let out = '';
  s.on('data', (c: Buffer) => (out += c.toString()));
  Object.assign(s, { isTTY: tty, columns: 120, rows: 40 });
  return { stream: s as unknown as NodeJS.WriteStream, text: () => out };
}

test('fmtTime: hours and minutes, minutes and seconds, seconds, unknown', () => {
  assert.equal(fmtTime(3725), '1h02m');
  assert.equal(fmtTime(185), '3m05s');
  assert.equal(fmtTime(7.9), '7s');
  assert.equal(fmtTime(Infinity), '?');
});

test('not a TTY: one plain line per report and per message, no escape codes', () => {
  const { stream, text } = fakeStream(false);
  const p = progress({ label: 'step', total: 1000, stream });
  p.update({ step: 100, stepsPerSec: 25.04, etaSec: 36, text: 'loss 1.000' });
  p.log('eval @ 100: success 40.0%');
  p.update({ step: 200, stepsPerSec: 24.96, etaSec: 32, text: 'loss 0.900' });
  p.stop();
  assert.equal(
    text(),
    'step  100/1000  25.0 steps/s  ETA 36s  loss 1.000\neval @ 100: success 40.0%\nstep  200/1000  25.0 steps/s  ETA 32s  loss 0.900\n',
  );
  assert.ok(!text().includes(ESC), 'no escape codes');
});

test('a TTY: the line is redrawn in place with steps/s, ETA and losses; messages go above it', async () => {
  const { stream, text } = fakeStream(true);
  const p = progress({ label: 'step', total: 1000, stream });
  p.update({ step: 100, stepsPerSec: 25, etaSec: 36, text: 'loss 1.000' });
  p.log('eval @ 100: success 40.0%');
  await new Promise((r) => setTimeout(r, 300));
  p.update({ step: 900, stepsPerSec: 30, etaSec: 3, text: 'loss 0.500' });
  p.stop();
  const out = text();
  assert.ok(out.includes(ESC), 'cursor control codes');
  assert.match(out, /eval @ 100: success 40\.0%\n/);
  assert.match(out, /900\/1000 {2}30\.0 steps\/s {2}ETA 3s {2}loss 0\.500/);
  assert.ok(out.split('\n').length < 8, `redrawn in place, not one line per update: ${JSON.stringify(out)}`);
});
