#!/usr/bin/env bash
# Session 20, call 3 (if device time is left): first, on the fresh machine, the pipelines the joint q128 recipe's first two steps build
# and what creating them costs (`bench/run_gpu.sh OUT pipelines`). Then call 1's baselines at its budgets:
# class-conditional RF at the decoder's (6000 x 256, no shift) and cross-entropy with the same encoder at the
# encoder's (6000 x 512, shift +-2). Writes $1/call3.tar.gz.
o=${1:?out dir}
mkdir -p "$o"
timeout 90 bash bench/run_gpu.sh "$o/p" pipelines
EV='"eval":{"reconstruction":{"images":256,"repeats":3},"generation":{"images":1000,"taus":[1]}}'
ENC='"encoder":{"channels":[32,64,64,128],"strides":[1,2,2,1],"groups":8,"headChannels":8,"headHidden":256}'
left=$((565 - SECONDS))
CAP=420 bash tasks/recipes/h200.sh "$o/f" "$left" \
  "rf-cond-6000=fashion-rf-conditional:{\"train\":{\"steps\":6000,\"checkpointEvery\":0},$EV}"
left=$((575 - SECONDS))
CAP=$((left < 120 ? left : 120)) bash tasks/recipes/h200.sh "$o/f" "$left" \
  "ce-s2-b512-6000=fashion-cross-entropy:{\"data\":{\"shift\":2},\"model\":{\"network\":\"encoder\",\"latentDim\":32,$ENC},\"train\":{\"steps\":6000,\"batchSize\":512,\"checkpointEvery\":0}}"
cat "$o"/f/summary.jsonl
cd "$o" && tar czf call3.tar.gz p f && ls -la call3.tar.gz
