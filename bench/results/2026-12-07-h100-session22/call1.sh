#!/usr/bin/env bash
# Session 22, call 1.
# (c) A screen of the LZN classifier's remaining training knobs at half the joint model's encoder budget
#     (3000 x 512, shift +-2, q 128, label-anchor LR 1e-4, seed 0), one change per job against `c-base`, each
#     evaluated at τ 0 in eval batches of 1000, 2000 and 5000; the cross-entropy classifier at the same budget
#     last. Issue 12 needs the joint model at >= cross-entropy - 0.5 points.
# (m) The matmul tile sweep at 1000^3 with forced K splits (issue 10: 1000^3 >= 30 TFLOP/s; the planner's
#     tile64 gave 24.4 on the H100).
# (p) bench/winograd.ts again, now timed like bench/gpu_conv.ts (bench/timing.ts).
# Writes $1/call1.tar.gz.
o=${1:?out dir}
mkdir -p "$o/m" "$o/p"
E='"eval":{"batchSizes":[1000,2000,5000],"taus":[0],"headline":{"tau":0,"batchSize":1000},"bank":0}'
ENC='"encoder":{"channels":[32,64,64,128],"strides":[1,2,2,1],"groups":8,"headChannels":8,"headHidden":256}'
job() { # name, extra train fields (a JSON fragment ending in a comma, or empty), encoder LR
  echo "$1=fashion-classification:{\"data\":{\"shift\":2},\"model\":{\"latentDim\":128,$ENC},\"train\":{$2\"steps\":3000,\"batchSize\":512,\"lr\":{\"encoder\":${3:-2e-3},\"anchors\":1e-4},\"checkpointEvery\":0},$E}"
}
CAP=80 bash tasks/recipes/h200.sh "$o/c" 450 \
  "$(job c-base '')" \
  "$(job c-tau0.1 '"tau":0.1,')" \
  "$(job c-nolog '"alignment":{"log":false},')" \
  "$(job c-enc1e-3 '' 1e-3)" \
  "$(job c-noweights '"classWeights":false,')" \
  "$(job c-cutoff0 '"alignment":{"cutoff":0},')" \
  "$(job c-tau0 '"tau":0,')" \
  "$(job c-enc4e-3 '' 4e-3)" \
  "ce-3000=fashion-cross-entropy:{\"data\":{\"shift\":2},\"model\":{\"network\":\"encoder\",\"latentDim\":32,$ENC},\"train\":{\"steps\":3000,\"batchSize\":512,\"checkpointEvery\":0}}"
cat "$o"/c/summary.jsonl
timeout 60 deno run -A bench/gpu_core.ts "$o/m/sweep1000.json" --sweep-matmul --sweep-sizes 1000 \
  --variants 1x1x16,1x1x16k2,1x1x16k4,1x2x16,1x2x16k2,1x2x16k4,2x1x16,2x1x16k2,2x2x16,2x2x16k2,2x2x8k4 \
  >"$o/m/sweep1000.log" 2>&1
tail -14 "$o/m/sweep1000.log"
timeout 70 deno run -A bench/winograd.ts "$o/p/winograd.json" >"$o/p/winograd.log" 2>&1
tail -13 "$o/p/winograd.log"
cd "$o" && tar czf call1.tar.gz c m p && ls -la call1.tar.gz
