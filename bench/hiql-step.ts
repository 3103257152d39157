// HIQL update throughput at the `ogbench` (3 x 512, batch 1024) and `quick` (3 x 256, batch 256)
// configurations, and on pixels: `visual-ogbench` (64 x 64 frames, impala small 16/32/32, batch
// 256) and `visual-quick` (16 x 16 frames, 8/16/16, Dense 128, batch 64): the whole update (value +
// low actor + high actor + Adam + target EMA) is one graph, timed through StepRunner with a batch
// drawn by the real goal sampler, against the roof of a single large MatMul at the same thread
// count.
//
//   npm run bench -- hiql-step [--threads N] [--steps N] [--configs ogbench,quick,visual-quick,visual-ogbench] [--device cpu,webgpu]
//                              [--profile] [--parallel] [--no-spin] [--seeds 1,4,8] [--agent hiql|gcivl|gcbc|gciql|crl|qrl]
//
// --agent times another agent's update at the same preset sizes (pixels: hiql only).
//
// --seeds runs each configuration with N independent seeds in one step graph (hiql train --seeds N)
// and reports per-seed updates/s against one seed's.
//
// --profile records the timed steps with onnxruntime's profiler (a second pass, so the timing above it
// is unprofiled) and prints kernel time per op type and per part of the update: value, low actor,
// high actor, goal representation phi (forward and backward apart), Adam, the target update and
// parameter plumbing (flat views and the flat gradient). --parallel runs the graph with onnxruntime's
// parallel executor (independent branches at once, 2 inter-op threads); --no-spin stops the thread
// pool's spinning.
//
// --device runs every configuration on each execution provider in turn (state kept on the device
// between steps, as training does), each against its own roof: on the CPU a 2048^3 MatMul at the
// same thread count, on a GPU provider a 4096^3 MatMul of device-resident constants.
//
// FLOP counting: the matmul and convolution FLOPs of the step graph itself, 2 * M * K * N for every
// Gemm/MatMul node and 2 multiply-adds per kernel tap for Conv/ConvTranspose (forward and backward
// as emitted, from the graph's static shapes). Elementwise ops, LayerNorm and
// Adam are not counted. For comparison, the authors report 2-5 hours per 1M-step run on one A5000
// GPU (55-140 updates/s).
import { availableParallelism, cpus, loadavg } from 'node:os';
import { generateDataset } from '../envs/datasets.ts';
import { Graph, StepRunner } from '../onnx/index.ts';
import { batchFeeds, drawSeedBatches } from '../train/batch.ts';
import { buildAgentStep, initAgentState } from '../train/step.ts';
import { resolveConfig } from '../train/config.ts';
import { AGENT_NAMES, type AgentName } from '../train/agents/index.ts';
import { buildTrajectoryIndex, datasetFromGenerated } from '../train/data/dataset.ts';
import { Rng } from '../rng/rng.ts';
import { samplerFor } from '../train/trainer.ts';
import { datasetDims } from '../train/dims.ts';
import { getMaze } from '../envs/maze.ts';
import { renderPixelObservations } from '../envs/render.ts';

import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { profileTable, summariseProfile } from '../onnx/index.ts';
import { deviceMatmulRoof, matmulRoof, median } from './roof.ts';

/** The part of the HIQL update a step-graph node belongs to, from its scoped name. */
export function partOf(node: string): string {
  if (node.startsWith('views/') || node.startsWith('flat_grad')) return 'plumbing';
  if (node.startsWith('adam')) return 'adam';
  if (node.startsWith('target_update') || node.startsWith('ema')) return 'target update';
  const back = node.includes('_Grad') ? ' (backward)' : '';
  const head = node.split('/')[0]!;
  const part =
    head === 'value_loss' || head === 'value' || head === 'target_value'
      ? 'value'
      : head === 'low_actor_loss' || head === 'low_actor'
        ? 'low actor'
        : head === 'high_actor_loss' || head === 'high_actor'
          ? 'high actor'
          : head === 'phi'
            ? 'phi'
            : 'other';
  return part + back;
}

/** Frame size of each pixel configuration. */
const FRAME_SIZE: Record<string, number> = { 'visual-quick': 16, 'visual-ogbench': 64 };

const size = (shape: readonly (number | string)[]) => shape.reduce((p: number, d) => p * (d as number), 1);

/** Matmul and convolution FLOPs of one run of a serialised graph, from its static shapes. */
export function matmulFlops(model: Uint8Array): number {
  const { graph } = Graph.fromBytes(model);
  let flops = 0;
  for (const n of graph.nodes) {
    if (n.opType === 'Conv' || n.opType === 'ConvTranspose') {
      // Conv: each output element sums Cin/group x kH x kW taps (kernel [Cout, Cin/g, kH, kW]).
      // ConvTranspose: each input element feeds Cout/group x kH x kW outputs (kernel [Cin, Cout/g, kH, kW]).
      const w = graph.tensor(n.inputs[1]!).shape as number[];
      const per = w[1]! * w[2]! * w[3]!;
      flops += 2 * per * size(graph.tensor(n.opType === 'Conv' ? n.outputs[0]! : n.inputs[0]!).shape);
      continue;
    }
    if (n.opType !== 'Gemm' && n.opType !== 'MatMul') continue;
    const y = graph.tensor(n.outputs[0]!);
    const a = graph.tensor(n.inputs[0]!);
    const transA = n.attrs['transA'];
    const k = transA && transA.type === 'int' && transA.value === 1 ? a.shape[a.shape.length - 2] : a.shape[a.shape.length - 1];
    const out = y.shape.reduce((p: number, d) => p * (d as number), 1);
    flops += 2 * out * (k as number);
  }
  return flops;
}

export async function main(argv: readonly string[]): Promise<void> {
  let threads = availableParallelism();
  let steps = 30;
  let configs = ['ogbench', 'quick'];
  let devices = ['cpu'];
  let profile = false;
  let parallel = false;
  let spinning: boolean | undefined;
  let seedCounts = [1];
  let agent: AgentName = 'hiql';
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--threads') threads = Number(argv[++i]);
    else if (argv[i] === '--steps') steps = Number(argv[++i]);
    else if (argv[i] === '--configs') configs = argv[++i]!.split(',');
    else if (argv[i] === '--device') devices = argv[++i]!.split(',');
    else if (argv[i] === '--profile') profile = true;
    else if (argv[i] === '--parallel') parallel = true;
    else if (argv[i] === '--no-spin') spinning = false;
    else if (argv[i] === '--seeds') seedCounts = argv[++i]!.split(',').map(Number);
    else if (argv[i] === '--agent') {
      const a = argv[++i] as AgentName;
      if (!AGENT_NAMES.includes(a)) throw new RangeError(`--agent must be one of ${AGENT_NAMES.join(', ')}, got '${a}'`);
      agent = a;
    } else
      throw new RangeError(
        `unknown option ${argv[i]}; options: --threads N, --steps N, ` +
          `--configs ogbench,quick,visual-quick,visual-ogbench, --device cpu,webgpu,cuda, --profile, --parallel, --no-spin, --seeds 1,4,8`,
      );
  }
  for (const c of configs)
    if (!(c in FRAME_SIZE) && c !== 'ogbench' && c !== 'quick')
      throw new RangeError(`unknown config '${c}'; configs: ogbench, quick, visual-quick, visual-ogbench`);
  const gen = generateDataset('pointmaze-medium-navigate', { seed: 0, episodes: 100 });
  const state = datasetFromGenerated(gen);
  const maze = getMaze('medium');
  const dataFor = (config: string) => {
    const frame = FRAME_SIZE[config];
    if (frame === undefined) return { ds: state, env: 'pointmaze-medium-navigate', preset: config };
    // 10 episodes of frames are enough to sample batches from (10k frames, 120 MB at 64 x 64).
    const n = 10 * gen.episodeLength;
    const frames = renderPixelObservations(maze, gen.observations, n, frame);
    const sub = {
      ...gen,
      observations: gen.observations.subarray(0, 2 * n),
      actions: gen.actions.subarray(0, 2 * n),
      terminals: gen.terminals.subarray(0, n),
      qpos: gen.qpos.subarray(0, 2 * n),
      qvel: gen.qvel.subarray(0, 2 * n),
    };
    return {
      ds: datasetFromGenerated(sub, { data: frames, size: frame }),
      env: 'visual-pointmaze-medium-navigate',
      preset: config.replace('visual-', ''),
    };
  };
  console.log(
    `HIQL update, whole step in one onnxruntime-node graph; ${threads} threads; ${cpus()[0]?.model ?? '?'}; load ${loadavg()
      .map((x) => x.toFixed(2))
      .join(' ')}`,
  );
  const results: Record<string, unknown>[] = [];
  const roofs: Record<string, number> = {};
  /** One seed's steps/s per configuration, on the current device. */
  const oneSeed = new Map<string, number>();
  for (const device of devices) {
    const roof = device === 'cpu' ? await matmulRoof({ threads, reps: 10 }) : await deviceMatmulRoof({ provider: device, reps: 10 });
    roofs[device] = roof.gflops;
    oneSeed.clear();
    console.log(`[${device}] roof: ${device === 'cpu' ? '2048' : '4096'}^3 float32 MatMul ${roof.gflops.toFixed(1)} GFLOP/s`);
    for (const config of configs)
      for (const seeds of seedCounts) {
        const { ds, env, preset } = dataFor(config);
        const traj = buildTrajectoryIndex(ds.terminals);
        const dims = datasetDims(ds);
        const cfg = resolveConfig({ agent, preset, env, dataset: '' });
        const c = cfg.agentConfig;
        const step = buildAgentStep(agent, c, dims, { seeds });
        // One batch per seed, drawn one after another from the bench's generator.
        const draw = (rng: Rng) =>
          batchFeeds(
            step.batchKeys,
            drawSeedBatches(seeds, () => sampler.sample(rng)),
            dims,
            c.batchSize,
            seeds,
          );
        const flops = matmulFlops(step.spec.model);
        const cpuOpts = { threads, spinning, ...(parallel ? { executionMode: 'parallel' as const, interOpThreads: 2 } : {}) };
        const runner = await StepRunner.create(
          step.spec,
          initAgentState(step, 0),
          device === 'cpu' ? cpuOpts : { executionProviders: [device], deviceResident: true },
        );
        const sampler = samplerFor(agent, c, ds, traj);
        const rng = new Rng(1);
        let parity: { loss: number; state: number } | null = null;
        if (device !== 'cpu') {
          // Agreement with the CPU on one step from the same state and batch: relative loss difference
          // and the relative norm of the difference of the whole updated state.
          const feeds = draw(rng);
          const cpu = await StepRunner.create(step.spec, initAgentState(step, 0), { threads });
          const [a, b] = [await cpu.step(feeds), await runner.step(feeds)];
          const [sa, sb] = [await cpu.snapshot(), await runner.snapshot()];
          let num = 0;
          let den = 0;
          for (const [k, v] of sa) v.forEach((x, i) => ((num += (x - sb.get(k)![i]!) ** 2), (den += x * x)));
          parity = { loss: Math.abs(a['loss']! - b['loss']!) / Math.abs(a['loss']!), state: Math.sqrt(num / den) };
          await cpu.release();
        }
        const times: number[] = [];
        for (let s = 0; s < steps + 3; s++) {
          const feeds = draw(rng);
          const t0 = performance.now();
          await runner.step(feeds);
          if (s >= 3) times.push(performance.now() - t0);
        }
        await runner.release();
        const ms = median(times);
        const nodes = Graph.fromBytes(step.spec.model).graph.nodes.length;
        let prof: ReturnType<typeof summariseProfile> | null = null;
        if (profile) {
          const dir = mkdtempSync(join(tmpdir(), 'hiql-profile-'));
          const opts = device === 'cpu' ? cpuOpts : { executionProviders: [device], deviceResident: true };
          const p = await StepRunner.create(step.spec, initAgentState(step, 0), { ...opts, profileFilePrefix: join(dir, 'step') });
          const prng = new Rng(1);
          for (let s = 0; s < steps; s++) await p.step(draw(prng));
          p.session.endProfiling();
          await p.release();
          const file = readdirSync(dir).find((f) => f.endsWith('.json'));
          if (!file) throw new Error(`onnxruntime wrote no profile under ${dir}`);
          prof = summariseProfile(join(dir, file), steps, partOf);
          rmSync(dir, { recursive: true, force: true });
        }
        const gflops = flops / (ms * 1e6);
        const r = {
          device,
          config,
          seeds,
          frames: dims.obsShape ? dims.obsShape.join('x') : null,
          hidden: ((c as { valueHiddenDims?: number[] }).valueHiddenDims ?? (c as { actorHiddenDims: number[] }).actorHiddenDims).join('x'),
          batch: c.batchSize,
          msPerStep: ms,
          stepsPerSec: 1000 / ms,
          // Updates of one seed's agent per second, and against one seed's steps/s in this run.
          seedUpdatesPerSec: (1000 * seeds) / ms,
          perSeedVsOne: oneSeed.has(config) ? (1000 * seeds) / ms / oneSeed.get(config)! : null,
          gflopPerStep: flops / 1e9,
          gflops,
          ratioToRoof: gflops / roof.gflops,
          hoursPer1M: 1e6 / (1000 / ms) / 3600,
          parityWithCpu: parity,
          nodes,
          profile: prof && {
            kernelsPerRun: prof.kernelsPerRun,
            msKernelPerRun: prof.usPerRun / 1000,
            byOp: prof.byOp.slice(0, 8),
            byPart: prof.byPart,
          },
        };
        results.push(r);
        if (seeds === 1) oneSeed.set(config, r.stepsPerSec);
        console.log(
          `[${device}] ${config.padEnd(14)} ${seeds > 1 ? `${seeds} seeds ` : ''}${r.frames ? `${r.frames} frames ` : ''}` +
            `${r.hidden} batch ${String(r.batch).padEnd(5)} ` +
            `${ms.toFixed(1).padStart(7)} ms/step  ${r.stepsPerSec.toFixed(1).padStart(6)} steps/s  ` +
            `${r.gflopPerStep.toFixed(2)} GFLOP/step  ${gflops.toFixed(1)} GFLOP/s  ${(100 * r.ratioToRoof).toFixed(0)}% of roof  ` +
            `${r.hoursPer1M.toFixed(1)} h per 1M steps  ${nodes} nodes` +
            `${r.perSeedVsOne !== null && seeds > 1 ? `  ${r.seedUpdatesPerSec.toFixed(1)} updates/s per seed` : ''}` +
            `${r.perSeedVsOne !== null && seeds > 1 ? `, ${r.perSeedVsOne.toFixed(2)}x one seed's` : ''}` +
            `${parity ? `  (vs CPU, one step: loss ${parity.loss.toExponential(1)}, state ${parity.state.toExponential(1)})` : ''}`,
        );
        if (prof) {
          console.log(
            `  profile over ${steps} steps: ${prof.kernelsPerRun.toFixed(0)} kernels per step, ` +
              `${(prof.usPerRun / 1000).toFixed(1)} ms of kernel time per step`,
          );
          console.log(
            `  by op type:\n${profileTable(prof.byOp, steps)}\n  by part:\n${profileTable(prof.byPart, steps, 20)}\n` +
              `  slowest nodes:\n${profileTable(prof.byNode, steps, 10)}`,
          );
        }
      }
  }
  console.log(JSON.stringify({ bench: 'hiql-step', threads, roofGflops: roofs, results }));
}
