#!/bin/bash
# issue 13: each bad input and what it gives (exit code, stderr), at the commit of this clone
cd /tmp/hold
R="deno run --allow-read --allow-write=.cache,runs --allow-env main.ts"
t() { echo "### $*"; timeout 300 $R "$@" > /tmp/bad/out.txt 2> /tmp/bad/err.txt; echo "exit $?"; grep -v "^\s*$" /tmp/bad/err.txt | grep -v "^Download\|^Task" | head -4; head -c 300 /tmp/bad/out.txt; echo; }
t classify --help
t embed --run runs/demo .cache/bad/one.npy --out runs/demo/state.json
t embed --run runs/demo .cache/bad/one.npy --out .cache/bad/one.npy
t sample --run runs/demo --out runs/demo/checkpoint-00000320.safetensors
t train --config runs/mnist-joint-holdout.json --run runs/mnist-joint-holdout
t demo --steps 0
t eval --run runs/demo-bad
t classify --run runs/demo .cache/bad/nan.npy
t classify --run runs/demo --tau=-1 .cache/bad/one.npy
t classify --run runs/demo .cache/bad/empty.npy
t classify --run runs/demo --batch-size 0 .cache/bad/one.npy
t eval --run runs/demo --batch-sizes 0
t train --config .cache/bad/notjson.json
t train --config .cache/bad/missing.json
t classify --run runs/demo .cache/bad/bad.npy
t classify --run runs/demo .cache/bad/trunc.png
t train --config runs/mnist-joint-holdout.json --run /tmp/foo
t classify --run runs/demo --json .cache/bad/p4_trns_i.png .cache/bad/g16.png .cache/bad/ga8.png .cache/bad/g8_i.png
t classify --run runs/demo --batch-size 1 .cache/bad/one.npy
