#!/usr/bin/env bash
# The GPU benchmark runner: lzn's kernels and the peers (PyTorch fp32 with TF32 off, jax-js on Deno WebGPU)
# in one call on one GPU. Each part writes JSON into OUTDIR and prints a table; a failing part is recorded
# and the rest still run.
#   usage: bash bench/run_gpu.sh OUTDIR [core|latent|conv|conv-tiles|winograd|peers|steps|steps-joint|profile|pipelines ...]
#   (default: core conv latent peers)
# `steps` is issue 10's training-step comparison: lzn's Fashion classifier recipe (batch 512) for 500 steps,
# its steps/s read from the last progress line (a window of 100 steps), then bench/peers/torch_steps.py (the
# same step ported to PyTorch: eager, torch.compile, CUDA graphs; first checked against lzn's latents and loss
# on bench/step_reference.ts's input). It needs Fashion-MNIST's `.cache/data`. `steps-joint` is the same for the
# joint recipe (tasks/recipes/fashion-joint.json, batch 256, 300 steps; torch_steps.py --recipe joint, whose
# parameter counts are checked against lzn's model). `profile` is bench/train_profile.ts at batch 512 with
# --kernels: GPU and record time of each piece of the two steps, and the slowest kernels of the RF decoder's,
# the image encoder's and the reference classifier's steps (where a step's GPU time goes, kernel by kernel).
# `pipelines` is bench/pipeline_count.ts on the joint q128 recipe: the pipelines its first two steps build and
# what creating them cost (run it first in a fresh machine's first call, before the driver's cache is warm).
# `conv-tiles` times the RF decoder's convolutions (bench/gpu_conv.ts --decoder) under the default tiles and
# under each tile of CONV_TILES forced by LZN_CONV_TILE, then PyTorch (cuDNN) on the same shapes. `winograd`
# is bench/winograd.ts: Winograd F(2x2,3x3) written with the library's ops against conv2d on those 3x3 shapes.
# On the lent H200: bash .gpu/setup.sh && bash bench/run_gpu.sh "$OUT"   (carry .gpu, bench/peers/node_modules)
set -uo pipefail
out=${1:?usage: bench/run_gpu.sh OUTDIR [parts...]}
shift
parts=${*:-core conv latent peers}
mkdir -p "$out" runs
out=$(cd "$out" && pwd)
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp/xdg-$(id -u)}"
mkdir -p "$XDG_RUNTIME_DIR"
export PYTHONUNBUFFERED=1
{ date -u +%FT%TZ; nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null;
  deno --version | head -1; } | tee "$out/machine.txt"
step() { # name, command...
  local name=$1; shift
  echo "== $name: $*"
  local t0=$SECONDS
  "$@" 2>&1 | tee "$out/$name.log"
  echo "== $name: exit ${PIPESTATUS[0]}, ${SECONDS}s wall" | tee -a "$out/$name.log"
}
for p in $parts; do
  case $p in
    core) step core deno run -A bench/gpu_core.ts "$out/core.json" ;;
    conv) step conv deno run -A bench/gpu_conv.ts "$out/conv.json" ;;
    latent) step latent deno run -A bench/gpu_latent.ts "$out/latent.json" --sweep --sweep-bwd ;;
    peers)
      step torch_core python3 bench/peers/torch_core.py "$out/torch_core.json"
      step torch_lzn python3 bench/peers/torch_lzn.py "$out/torch_lzn.json"
      (cd bench/peers && step jax deno run -A --cached-only jax_matmul.ts "$out/jax.json") ;;
    steps)
      python3 -c 'import json; c = json.load(open("tasks/recipes/fashion-classification.json")); c["name"] = "steps-bench"; c["train"]["steps"] = 500; json.dump(c, open("runs/steps-bench.json", "w"))'
      step lzn_steps deno run --allow-read --allow-write=.cache,runs --allow-env main.ts train \
        --config runs/steps-bench.json --run runs/steps-bench --fresh --no-eval
      deno run -A bench/step_reference.ts "$out/step_reference.json"
      step torch_steps python3 bench/peers/torch_steps.py "$out/torch_steps.json" --against "$out/step_reference.json" ;;
    steps-joint)
      python3 -c 'import json; c = json.load(open("tasks/recipes/fashion-joint.json")); c["name"] = "steps-joint"; c["train"]["steps"] = 300; json.dump(c, open("runs/steps-joint.json", "w"))'
      step lzn_steps_joint deno run --allow-read --allow-write=.cache,runs --allow-env main.ts train \
        --config runs/steps-joint.json --run runs/steps-joint --fresh --no-eval
      step torch_steps_joint python3 bench/peers/torch_steps.py "$out/torch_steps_joint.json" --recipe joint ;;
    profile) step train_profile deno run -A bench/train_profile.ts "$out/train_profile.json" --batch 512 --kernels ;;
    conv-tiles)
      # The RF decoder's convolutions (b256, fwd and fwd+bwd) under the default tiles and under each forced
      # tile, then cuDNN on the same shapes: which tile each shape wants (issue 10's joint step).
      step conv_tiles_default deno run -A bench/gpu_conv.ts "$out/conv_tiles_default.json" --decoder --target-ms 100 --samples 5
      for t in ${CONV_TILES:-128x32x16x8x8 64x32x16x4x4 256x32x16x16x4 128x32x8x8x4 64x64x16x8x8 128x64x32x8x8}; do
        step "conv_tiles_$t" env LZN_CONV_TILE="$t" deno run -A bench/gpu_conv.ts "$out/conv_tiles_$t.json" --decoder --target-ms 100 --samples 5
      done
      step torch_conv_decoder python3 bench/peers/torch_core.py "$out/torch_conv_decoder.json" --decoder ;;
    winograd) step winograd deno run -A bench/winograd.ts "$out/winograd.json" ;;
    pipelines) step pipelines deno run -A bench/pipeline_count.ts tasks/recipes/fashion-joint-q128.json --steps 2 ;;
    *) echo "unknown part $p" ;;
  esac
done
