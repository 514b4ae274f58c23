#!/usr/bin/env bash
# Session 17, call 4 (H200, the machine of call 3 still warm): the evaluation of call 3's joint run that its
# time cap cut (training had finished), then issue 10's classifier-step peers with CUDA graphs and lzn's steps.
o=${1:?out dir}
mkdir -p "$o"
timeout 110 deno run --allow-read --allow-write=.cache,runs --allow-env main.ts eval \
  --run runs/fashion-joint-split-5000 2>&1 | tee "$o/eval-split-5000.log"
cp runs/fashion-joint-split-5000/eval.json "$o/split-5000.eval.json" 2>/dev/null
python3 -c 'import json; c = json.load(open("tasks/recipes/fashion-classification.json")); c["name"] = "steps-bench"; c["train"]["steps"] = 500; json.dump(c, open("runs/steps-bench.json", "w"))'
timeout 40 deno run --allow-read --allow-write=.cache,runs --allow-env main.ts train --config runs/steps-bench.json \
  --run runs/steps-bench --fresh --no-eval 2>&1 | tee "$o/lzn_steps.log"
PYTHONUNBUFFERED=1 timeout 150 python3 bench/peers/torch_steps.py "$o/torch_steps.json" --modes eager,graphs 2>&1 | tee "$o/torch_steps.log"
