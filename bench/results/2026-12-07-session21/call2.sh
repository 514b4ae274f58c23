#!/usr/bin/env bash
# Session 21, call 2 (session 20's call 3, which never ran): call 1's
# class-conditional RF baseline at the decoder's budget (6000 x 256, no shift), then `bench/run_gpu.sh OUT
# winograd` (Winograd F(2x2,3x3) as composite ops against conv2d on the RF decoder's 3x3 shapes). Writes
# $1/call2.tar.gz.
o=${1:?out dir}
mkdir -p "$o"
EV='"eval":{"reconstruction":{"images":256,"repeats":3},"generation":{"images":1000,"taus":[1]}}'
CAP=420 bash tasks/recipes/h200.sh "$o/f" 420 \
  "rf-cond-6000=fashion-rf-conditional:{\"train\":{\"steps\":6000,\"checkpointEvery\":0},$EV}"
timeout $((570 - SECONDS)) bash bench/run_gpu.sh "$o/p" winograd
cat "$o"/f/summary.jsonl
cd "$o" && tar czf call2.tar.gz p f && ls -la call2.tar.gz
