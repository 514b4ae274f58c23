#!/usr/bin/env bash
# Session 23, call 2 (issue 10): the latent kernels' tunings again, now with pipelined times in the sweep lines
# (session 18's sweep printed times that include Deno's ~11 ms completion wait): the velocity forward's q-chunk
# and accumulation chunk (session 18: bk 16 beat the planner's bk 32 at n = 8192 by 8 %), the per-row
# preparation's rows per workgroup (1, 2, 4, 8, 16 = default, 32), and PyTorch's forms in the same call.
# Writes into $1.
o=${1:?out dir}
mkdir -p "$o/r"
timeout 330 deno run -A bench/gpu_latent.ts "$o/r/latent.json" --sweep --sweep-bwd >"$o/r/latent.log" 2>&1
grep -v "^sweep" "$o/r/latent.log" | tail -16; grep "^sweep" "$o/r/latent.log" | sed 's/ms (pipelined/ms (p/'
timeout 120 python3 bench/peers/torch_lzn.py "$o/r/torch_lzn.json" --budget 90 >"$o/r/torch_lzn.log" 2>&1
tail -12 "$o/r/torch_lzn.log"
