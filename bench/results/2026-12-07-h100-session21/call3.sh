#!/usr/bin/env bash
# Session 21, call 3: the LZN classifier (q 128, label-anchor LR 1e-4, the joint model's encoder, shift +-2,
# batch 512, seed 0) at twice the steps of session 19's 0.930 (6000 -> 12000): does more training reach the
# 0.935 that "joint >= cross-entropy - 0.5" needs? Writes $1/call3.tar.gz.
o=${1:?out dir}
mkdir -p "$o"
E='"eval":{"batchSizes":[1000],"taus":[0],"headline":{"tau":0,"batchSize":1000},"bank":0}'
ENC='"encoder":{"channels":[32,64,64,128],"strides":[1,2,2,1],"groups":8,"headChannels":8,"headHidden":256}'
CAP=330 bash tasks/recipes/h200.sh "$o/c" 330 \
  "c-s2-b512-12000=fashion-classification:{\"data\":{\"shift\":2},\"model\":{\"latentDim\":128,$ENC},\"train\":{\"steps\":12000,\"batchSize\":512,\"lr\":{\"encoder\":2e-3,\"anchors\":1e-4},\"checkpointEvery\":0},$E}"
cat "$o"/c/summary.jsonl
cd "$o" && tar czf call3.tar.gz c && ls -la call3.tar.gz
