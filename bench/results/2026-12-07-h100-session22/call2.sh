#!/usr/bin/env bash
# Session 22, call 2: session 21's joint model (session 20's call1.sh: fashion-joint-q128, shift +-2, 6000 steps,
# encoder batch 512, decoder batch 256, split τ: decoder 1, alignment 0.25, log loss) with one change that call
# 1's classifier screen favoured, given as a JSON fragment of train fields ($2, ending in a comma) and a job
# name ($3); eval batch $4 (default the config's 1000). Writes $1/call2.tar.gz.
o=${1:?out dir}; extra=${2:-}; name=${3:-joint-q128-s2-6000}; eb=${4:-1000}
mkdir -p "$o"
EV="\"eval\":{\"batchSize\":$eb,\"reconstruction\":{\"images\":256,\"repeats\":3},\"generation\":{\"images\":1000,\"taus\":[1]}}"
CAP=570 bash tasks/recipes/h200.sh "$o/f" 570 \
  "$name=fashion-joint-q128:{\"data\":{\"shift\":2},\"train\":{$extra\"steps\":6000,\"batchSize\":512,\"decoderBatch\":256,\"augment\":\"encoder\",\"checkpointEvery\":0},$EV}"
cat "$o"/f/summary.jsonl
cd "$o" && tar czf call2.tar.gz f && ls -la call2.tar.gz
