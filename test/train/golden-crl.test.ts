// Golden parity of CRL with the authors' implementation (OGBench impls/agents/crl.py, JAX): the
// fixture holds parameters, one batch, and what the reference computed from them (the contrastive
// critic's loss and figures, the DDPG+BC actor's, every gradient, one Adam step, the actions).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CRL_DEFAULTS, type CrlConfig } from '../../train/agents/crl.ts';
import { EP, camel, checkFourSeeds, checkOneStep, configFor, load, type Arr, type Golden, type GoldenCase } from './golden.ts';

/**
 * flax paths -> our parameter names. The critic's ensemble (phi and psi, each vmapped over 2
 * members, stacked on axis 0) becomes `critic/{phi,psi}/{member}/mlp/{layer}/...`; OGBench's MLP
 * has LayerNorm_k right after Dense_k, which is our `mlp/k/ln`. The actor is `actor/mlp/k` and
 * `actor/mean`.
 */
function mapCrlParams(flax: Record<string, Arr>): Map<string, Float32Array> {
  const out = new Map<string, Float32Array>();
  for (const [path, arr] of Object.entries(flax)) {
    const critic = /^modules_critic\/(phi|psi)\/(Dense|LayerNorm)_(\d+)\/(kernel|bias|scale)$/.exec(path);
    const actor = /^modules_actor\/(?:actor_net\/Dense_(\d+)|mean_net)\/(kernel|bias)$/.exec(path);
    if (critic) {
      const [, net, kind, idx, leaf] = critic;
      const per = arr.data.length / 2;
      assert.equal(arr.shape[0], 2, `${path}: ensemble of 2 on axis 0`);
      const local = kind === 'LayerNorm' ? `mlp/${idx}/ln/${leaf}` : `mlp/${idx}/${leaf}`;
      for (let e = 0; e < 2; e++) out.set(`critic/${net}/${e}/${local}`, Float32Array.from(arr.data.slice(e * per, (e + 1) * per)));
    } else if (actor) {
      const [, idx, leaf] = actor;
      out.set(idx === undefined ? `actor/mean/${leaf}` : `actor/mlp/${idx}/${leaf}`, Float32Array.from(arr.data));
    } else assert.fail(`unexpected fixture parameter ${path}`);
  }
  return out;
}

/** Our config for the fixture's: its sizes, alpha 0.03 (PointMaze) and latent_dim 64. */
function crlConfig(gold: Golden): CrlConfig {
  return { ...(configFor('crl', gold) as CrlConfig), latentDim: gold.config['latent_dim'] as number };
}

const crl = (): GoldenCase => {
  const gold = load('crl');
  return { agent: 'crl', gold, config: crlConfig(gold), map: mapCrlParams };
};

test("crl: the fixture's resolved config is our defaults with its sizes, alpha and latent_dim", () => {
  const gold = load('crl');
  const gc = gold.config;
  // What this implementation covers: DDPG+BC with constant std, continuous actions, states.
  assert.equal(gc['actor_loss'], 'ddpgbc');
  assert.equal(gc['const_std'], true);
  assert.equal(gc['discrete'], false);
  assert.equal(gc['encoder'], null);
  const c = crlConfig(gold) as unknown as Record<string, unknown>;
  let compared = 0;
  for (const [k, v] of Object.entries(gc)) {
    if (!(camel(k) in CRL_DEFAULTS)) continue;
    assert.deepEqual(c[camel(k)], v, k);
    compared++;
  }
  assert.ok(compared >= 16, `compared ${compared} keys`);
});

test(`crl (${EP}): loss, per-part figures, gradients, one update and actions equal the reference`, (t) => checkOneStep(t, crl()));

// Seeds 1 and 3 get the batch's rows in another order, which permutes the contrastive pairs too
// (each row keeps its own positive).
test(`crl (${EP}), 4 seeds in one graph: seeds given the reference's inputs reproduce it, others their one-seed step`, (t) =>
  checkFourSeeds(t, crl()));
