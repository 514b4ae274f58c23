#!/usr/bin/env bash
# Session 17, call 2 (H200): issue 10's matmul sweep (tile128 variants, 4096^3 and 1000^3), then issue 12's
# split-tau joint model (alignment on tau 0.25 latents, log loss; decoder on tau 1) with shift augmentation 2.
o=${1:?out dir}
mkdir -p "$o/m"
timeout 150 deno run -A bench/gpu_core.ts "$o/m/core_sweep.json" --sweep-matmul --skip-8192 2>&1 | tee "$o/m/core_sweep.log"
CAP=380 bash tasks/recipes/h200.sh "$o/f" 380 \
  'fashion-joint-split-shift=fashion-joint:{"data":{"shift":2},"train":{"alignTau":0.25,"alignment":{"log":true}},"eval":{"reconstruction":{"images":256,"repeats":3},"generation":{"images":1000,"taus":[1]}}}'
# The run itself (EMA weights and state), for evaluations on another machine.
tar czf "$o/run.tar.gz" -C runs fashion-joint-split-shift fashion-joint-split-shift.json
