#!/usr/bin/env bash
# Session 19, call 1: issue 12, does shift augmentation at longer budgets take LZN classification to 0.93?
# The classification recipe with what session 18's screening found (q 128, label-anchor LR 1e-4), shift +-2,
# at 6000 and 12000 steps x 256 and 6000 x 512; cross-entropy (same encoder) with shift at 6000 and 12000 x 256.
# Then issue 10's per-kernel split of the training steps (`bench/run_gpu.sh OUT profile`). Writes $1/call1.tar.gz.
o=${1:?out dir}
mkdir -p "$o"
E='"eval":{"batchSizes":[1000,2000],"taus":[1,0],"headline":{"tau":0,"batchSize":1000},"bank":0}'
ENC='"encoder":{"channels":[32,64,64,128],"strides":[1,2,2,1],"groups":8,"headChannels":8,"headHidden":256}'
A='"lr":{"encoder":2e-3,"anchors":1e-4}'
job() { CAP=$2 bash tasks/recipes/h200.sh "$o/c" "$2" "$1"; }
lzn() { job "$1=fashion-classification:{\"data\":{\"shift\":2},\"model\":{\"latentDim\":128,$ENC},\"train\":{\"steps\":$2,\"batchSize\":$3,$A},$E}" "$4"; }
ce() { job "$1=fashion-cross-entropy:{\"data\":{\"shift\":2},\"model\":{\"network\":\"encoder\",\"latentDim\":32,$ENC},\"train\":{\"steps\":$2,\"batchSize\":$3}}" "$4"; }
lzn c-s2-6000 6000 256 80
ce ce-s2-6000 6000 256 70
lzn c-s2-12000 12000 256 140
ce ce-s2-12000 12000 256 120
lzn c-s2-b512-6000 6000 512 140
cat "$o"/c/summary.jsonl
timeout 150 bash bench/run_gpu.sh "$o/p" profile
cd "$o" && tar czf call1.tar.gz --exclude='*.png' c p && ls -la call1.tar.gz
