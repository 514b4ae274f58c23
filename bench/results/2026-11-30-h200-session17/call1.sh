#!/usr/bin/env bash
# Session 17, call 1 (H200): issue 10's training-step peers (`steps`), then issue 12's joint model with the
# alignment on tau 0.25 latents (log loss) and the decoder on tau 1 latents, Fashion-MNIST, 3000 x 256.
# Run from the repository root after .gpu/setup.sh; writes under $1.
o=${1:?out dir}
mkdir -p "$o"
timeout 190 bash bench/run_gpu.sh "$o/s" steps
CAP=360 bash tasks/recipes/h200.sh "$o/f" 360 \
  'fashion-joint-split=fashion-joint:{"train":{"alignTau":0.25,"alignment":{"log":true}},"eval":{"reconstruction":{"images":256,"repeats":3},"generation":{"images":1000,"taus":[1]}}}'
