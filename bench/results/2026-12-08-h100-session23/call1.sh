#!/usr/bin/env bash
# Session 23, call 1 (issue 12): the LZN classifier against cross-entropy at long budgets. The joint model
# needs >= cross-entropy - 0.5 points; LZN classification rose 0.930 (6000 x 512) -> 0.9317 (12000 x 512)
# while cross-entropy stayed at 0.940 (6000 x 256, 12000 x 256, 6000 x 512). Does 4x the joint model's
# encoder budget (24000 x 512) bring LZN within 0.5 points? Cross-entropy at 12000 x 512 (its 24000 does not
# fit the call). Same encoder, shift +-2, q 128, label-anchor LR 1e-4, seed 0, cosine schedule (the default).
# Writes into $1 (give it a folder under $OUT: a call cut short still returns what is there).
o=${1:?out dir}
mkdir -p "$o"
E='"eval":{"batchSizes":[1000,2000],"taus":[0],"headline":{"tau":0,"batchSize":1000},"bank":0}'
ENC='"encoder":{"channels":[32,64,64,128],"strides":[1,2,2,1],"groups":8,"headChannels":8,"headHidden":256}'
CAP=330 bash tasks/recipes/h200.sh "$o/c" 580 \
  "c-s2-b512-24000=fashion-classification:{\"data\":{\"shift\":2},\"model\":{\"latentDim\":128,$ENC},\"train\":{\"steps\":24000,\"batchSize\":512,\"lr\":{\"encoder\":2e-3,\"anchors\":1e-4},\"checkpointEvery\":0},$E}"
CAP=230 bash tasks/recipes/h200.sh "$o/ce" 240 \
  "ce-s2-b512-12000=fashion-cross-entropy:{\"data\":{\"shift\":2},\"model\":{\"network\":\"encoder\",\"latentDim\":32,$ENC},\"train\":{\"steps\":12000,\"batchSize\":512,\"checkpointEvery\":0}}"
cat "$o"/c/summary.jsonl "$o"/ce/summary.jsonl
