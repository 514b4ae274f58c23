#!/usr/bin/env bash
# Session 19, call 2: issue 12's joint model at the budget where call 1's LZN classifier reached 0.93
# (6000 steps, the encoder on 512 images per step with shift +-2), the RF decoder on the first 256 of them
# (train.decoderBatch) learning the unshifted images (train.augment = encoder): the decoder's budget is then the
# class-conditional RF baseline's at 6000 x 256 (call 3). Then cross-entropy at the encoder's budget (6000 x 512,
# shift +-2). Writes $1/call2.tar.gz.
o=${1:?out dir}
mkdir -p "$o"
EV='"eval":{"reconstruction":{"images":256,"repeats":3},"generation":{"images":1000,"taus":[1]}}'
ENC='"encoder":{"channels":[32,64,64,128],"strides":[1,2,2,1],"groups":8,"headChannels":8,"headHidden":256}'
CAP=520 bash tasks/recipes/h200.sh "$o/f" 520 \
  "joint-q128-s2-6000=fashion-joint-q128:{\"data\":{\"shift\":2},\"train\":{\"steps\":6000,\"batchSize\":512,\"decoderBatch\":256,\"augment\":\"encoder\"},$EV}"
# Only if the call's 10 minutes leave room (its setup took ~15 s before this script).
((SECONDS + 115 < 565)) && CAP=115 bash tasks/recipes/h200.sh "$o/f" 115 \
  "ce-s2-b512-6000=fashion-cross-entropy:{\"data\":{\"shift\":2},\"model\":{\"network\":\"encoder\",\"latentDim\":32,$ENC},\"train\":{\"steps\":6000,\"batchSize\":512}}"
cat "$o"/f/summary.jsonl
cd "$o" && tar czf call2.tar.gz f && ls -la call2.tar.gz
