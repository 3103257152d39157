#!/usr/bin/env bash
# The GPU checks of the project, in one script for a machine with a GPU (issue: "Train and run on
# the GPU"). Needs node and the project's node_modules; writes its logs to OUT_DIR.
#
#   bash bench/gpu-check.sh [OUT_DIR] [STEPS]
#
# 1. the card, driver and onnxruntime version;
# 2. where onnxruntime places every node of the training steps and shipped policies on WebGPU;
# 3. the golden fixtures (losses, gradients, one update, actions) on WebGPU, state on the device;
# 4. HIQL updates per second on WebGPU and on the CPU of the same machine (quick and ogbench);
# DEVICE=cuda (or cpu, to try the script without a GPU) replaces webgpu throughout; STAGES picks
# stages (default: "placement golden bench train"; "pixels" adds the pixel steps, "pixeltrain" a short
# pixel run, "ops" the op-by-op agreement of the pixel encoder's ops with the CPU).
# 5. a HIQL run on pointmaze-medium-navigate trained on WebGPU (quick preset, STEPS updates), its
#    policy exported and evaluated through the runtime on WebGPU and on the CPU.
set -u -o pipefail
out=${1:-gpu-check}
steps=${2:-10000}
device=${DEVICE:-webgpu}
mkdir -p "$out"
log() { echo "=== $* ($(date +%T))"; }
stages=" ${STAGES:-placement golden bench train} "
want() { [[ "$stages" == *" $1 "* ]]; }

log "machine"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || echo "no nvidia-smi"
node -e "console.log('node', process.version, 'onnxruntime-node', require('onnxruntime-node/package.json').version)"
nproc

if want placement; then
log "placement on $device"
timeout 90 node --import tsx bench/index.ts placement --device "$device" --log-dir "$out" 2>&1 | tee "$out/placement.txt"
fi

if want golden; then
log "golden fixtures on $device"
HIQL_TEST_EP="$device" timeout 90 node --import tsx --test test/train/golden.test.ts test/onnx/providers.test.ts 2>&1 | tee "$out/golden-$device.txt" | grep -E '^(not ok|ok|# (pass|fail))|error:' | cut -c1-400 | head -40
fi

if want bench; then
log "HIQL update throughput"
timeout 120 node --import tsx bench/index.ts hiql-step --device "$device",cpu --configs quick,ogbench --steps 30 2>&1 | tee "$out/hiql-step.txt"
fi

if want pixels; then
log "HIQL update throughput on 16 x 16 pixels"
timeout 150 node --import tsx bench/index.ts hiql-step --device "$device",cpu --configs visual-quick,visual-ogbench --steps 10 2>&1 | tee "$out/hiql-step-pixels.txt"
fi

if want ops; then
log "op-by-op agreement with the CPU"
timeout 60 node --import tsx bench/index.ts op-parity --device "$device" 2>&1 | tee "$out/op-parity.txt"
fi

if want pixeltrain; then
log "train on 16 x 16 pixels on $device (short)"
node bin/hiql.js data generate --env visual-pointmaze-medium-navigate --frame-size 16 --episodes 200 --out data/visual-medium-16-small.npz 2>&1 | tail -1 | cut -c1-300
timeout "${PIXEL_TIMEOUT:-90}" node bin/hiql.js train --env visual-pointmaze-medium-navigate --dataset data/visual-medium-16-small.npz --preset quick \
  --steps "${PIXEL_STEPS:-1000}" --device "$device" --run-dir runs/gpu-visual --evalEvery 0 --evalEpisodes 2 --logEvery 250 --saveEvery 500 2>&1 | tee "$out/train-pixels-$device.txt" | grep -v '^\s*$' | tail -8 | cut -c1-300
fi

if want train; then
log "train on $device"
node bin/hiql.js data generate --env pointmaze-medium-navigate --out data/pointmaze-medium-navigate.npz 2>&1 | tail -2
timeout "${TRAIN_TIMEOUT:-300}" node bin/hiql.js train --env pointmaze-medium-navigate --dataset data/pointmaze-medium-navigate.npz --preset quick \
  --steps "$steps" --device "$device" --run-dir runs/gpu-medium-hiql --evalEvery 0 --evalEpisodes 20 --logEvery 500 --saveEvery 2000 2>&1 | tee "$out/train-$device.txt" | grep -v '^\s*$' | tail -25
cp runs/gpu-medium-hiql/metrics.jsonl runs/gpu-medium-hiql/eval.jsonl runs/gpu-medium-hiql/curves.svg "$out/" 2>/dev/null

log "export and evaluate the exported policy (runtime: $device, then cpu)"
# The same file twice (export is deterministic): once evaluated on the device, once on the CPU.
for b in "$device" cpu; do
  timeout 90 node bin/hiql.js export runs/gpu-medium-hiql --out runs/gpu-medium-hiql/policy.onnx --no-validate --card --episodes 20 --backend "$b" 2>&1 | tail -2 | cut -c1-400
  cp runs/gpu-medium-hiql/policy.md "$out/card-$b.md" 2>/dev/null
done
fi
log "done"
