// Every shipped model in models/ loads with the runtime and reproduces the evaluation its card
// states (same protocol, episodes and seed; a flip of at most one episode per task is tolerated for
// float rounding differences between machines), and its files match the card's sizes and hashes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { evaluateExported } from '../../export/evaluate.ts';
import { type CardData } from '../../export/card.ts';

const dir = fileURLToPath(new URL('../../models/', import.meta.url));
const cards = existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.json')) : [];

test('models/ ships at least one policy with a model card', () => {
  assert.ok(cards.length > 0, `no model cards (*.json) in ${dir}`);
});

for (const file of cards) {
  const card = JSON.parse(readFileSync(join(dir, file), 'utf8')) as CardData;
  test(`${card.name}: files match the card and the policy reaches the success it states`, async () => {
    for (const f of card.files) {
      const bytes = readFileSync(join(dir, f.file));
      assert.equal(bytes.length, f.bytes, `${f.file} size`);
      assert.equal(createHash('sha256').update(bytes).digest('hex'), f.sha256, `${f.file} sha256`);
    }
    const e = card.evaluation;
    const r = await evaluateExported(join(dir, card.files[0]!.file), card.env, e.episodesPerTask, e.seed);
    const one = 1 / e.episodesPerTask + 1e-9;
    r.tasks.forEach((t, i) =>
      assert.ok(Math.abs(t.success - e.tasks[i]!.success) <= one, `task ${t.task}: ${t.success} now, card says ${e.tasks[i]!.success}`),
    );
    assert.ok(Math.abs(r.success - e.success) <= one, `overall ${r.success} now, card says ${e.success}`);
  });
}
