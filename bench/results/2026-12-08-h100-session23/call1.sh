#!/usr/bin/env bash
# Session 23, call 1 (issue 12): can LZN classification reach cross-entropy - 0.5 points (0.935; cross-entropy
# stays at 0.940 for 6000 x 256, 12000 x 256 and 6000 x 512) with more images per step or more steps?
# LZN rose 0.930 (6000 x 512) -> 0.9317 (12000 x 512); at 3000 steps batch 1024 gave +0.5 over 256 (session 18).
#   c-s2-b2048-3000:  the paper's batch size (2000) at the images of 6000 x 512;
#   c-s2-b512-24000:  4x the joint model's encoder budget at its batch.
# Same encoder, shift +-2, q 128, label-anchor LR 1e-4, seed 0, cosine schedule (the default).
# Writes into $1 (a folder under $OUT: a call cut short still returns what is there).
o=${1:?out dir}
mkdir -p "$o"
E='"eval":{"batchSizes":[1000,2000],"taus":[0],"headline":{"tau":0,"batchSize":1000},"bank":0}'
ENC='"encoder":{"channels":[32,64,64,128],"strides":[1,2,2,1],"groups":8,"headChannels":8,"headHidden":256}'
job() { # name, steps, batch
  echo "$1=fashion-classification:{\"data\":{\"shift\":2},\"model\":{\"latentDim\":128,$ENC},\"train\":{\"steps\":$2,\"batchSize\":$3,\"lr\":{\"encoder\":2e-3,\"anchors\":1e-4},\"checkpointEvery\":0},$E}"
}
CAP=250 bash tasks/recipes/h200.sh "$o/c" 250 "$(job c-s2-b2048-3000 3000 2048)"
CAP=330 bash tasks/recipes/h200.sh "$o/c" 330 "$(job c-s2-b512-24000 24000 512)"
cat "$o"/c/summary.jsonl
