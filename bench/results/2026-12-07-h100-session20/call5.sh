#!/usr/bin/env bash
# Session 20, call 5 (the last device time, on call 4's warm machine): a second seed of session 19's best LZN
# classifier (q 128, label-anchor LR 1e-4, shift +-2, 6000 x 512; seed 0 gave 0.9301). Writes $1/call5.tar.gz.
o=${1:?out dir}
mkdir -p "$o"
E='"eval":{"batchSizes":[1000],"taus":[0],"headline":{"tau":0,"batchSize":1000},"bank":0}'
ENC='"encoder":{"channels":[32,64,64,128],"strides":[1,2,2,1],"groups":8,"headChannels":8,"headHidden":256}'
CAP=125 bash tasks/recipes/h200.sh "$o/c" 125 \
  "c-s2-b512-6000-seed1=fashion-classification:{\"data\":{\"shift\":2},\"model\":{\"latentDim\":128,$ENC},\"train\":{\"steps\":6000,\"batchSize\":512,\"seed\":1,\"lr\":{\"encoder\":2e-3,\"anchors\":1e-4},\"checkpointEvery\":0},$E}"
cat "$o"/c/summary.jsonl
cd "$o" && tar czf call5.tar.gz c && ls -la call5.tar.gz
