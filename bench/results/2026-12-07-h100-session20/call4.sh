#!/usr/bin/env bash
# Session 20, call 4 (the device time left after call 2): the LZN classifier with the release's latent size
# (q 200; label-anchor LR 1e-4) at the joint model's encoder budget, 6000 x 512, shift +-2 (session 19's q 128
# run of the same budget: 0.9301). Writes $1/call4.tar.gz.
o=${1:?out dir}
mkdir -p "$o"
E='"eval":{"batchSizes":[1000,2000],"taus":[1,0],"headline":{"tau":0,"batchSize":1000},"bank":0}'
ENC='"encoder":{"channels":[32,64,64,128],"strides":[1,2,2,1],"groups":8,"headChannels":8,"headHidden":256}'
CAP=140 bash tasks/recipes/h200.sh "$o/c" 140 \
  "c-q200-s2-b512-6000=fashion-classification:{\"data\":{\"shift\":2},\"model\":{\"latentDim\":200,$ENC},\"train\":{\"steps\":6000,\"batchSize\":512,\"lr\":{\"encoder\":2e-3,\"anchors\":1e-4},\"checkpointEvery\":0},$E}"
cat "$o"/c/summary.jsonl
cd "$o" && tar czf call4.tar.gz c && ls -la call4.tar.gz
