#!/usr/bin/env bash
# Session 21, call 1 (session 20's call 1, which never ran): issue 12's joint model alone (session 19's call 2 trained it to the end, but its 520 s cap
# stopped it before the evaluation): fashion-joint-q128 with shift +-2, 6000 steps, the encoder on 512 images a
# step, the RF decoder on the first 256 (train.decoderBatch) learning the unshifted images (train.augment =
# encoder), no checkpoints. Writes $1/call1.tar.gz.
o=${1:?out dir}
mkdir -p "$o"
EV='"eval":{"reconstruction":{"images":256,"repeats":3},"generation":{"images":1000,"taus":[1]}}'
CAP=570 bash tasks/recipes/h200.sh "$o/f" 570 \
  "joint-q128-s2-6000=fashion-joint-q128:{\"data\":{\"shift\":2},\"train\":{\"steps\":6000,\"batchSize\":512,\"decoderBatch\":256,\"augment\":\"encoder\",\"checkpointEvery\":0},$EV}"
cat "$o"/f/summary.jsonl
cd "$o" && tar czf call1.tar.gz f && ls -la call1.tar.gz
