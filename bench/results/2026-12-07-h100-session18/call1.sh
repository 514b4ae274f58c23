#!/usr/bin/env bash
# Session 18, call 1: issue 10's step rates after the bind-group change (lzn only; 500 classifier steps at
# batch 512, 300 joint steps at 256), then issue 12's screening of the LZN classifier's gap to cross-entropy:
# the classification recipe at 3000 x 256, no shift, one change per job, every job evaluated at eval batches
# 256 / 1000 / 2000 and tau 1 / 0. Run from the repository root after .gpu/setup.sh; writes $1/call1.tar.gz.
o=${1:?out dir}
mkdir -p "$o/s" runs
python3 -c 'import json; c = json.load(open("tasks/recipes/fashion-classification.json")); c["name"] = "steps-bench"; c["train"]["steps"] = 500; json.dump(c, open("runs/steps-bench.json", "w"))'
python3 -c 'import json; c = json.load(open("tasks/recipes/fashion-joint.json")); c["name"] = "steps-joint"; c["train"]["steps"] = 300; json.dump(c, open("runs/steps-joint.json", "w"))'
for r in steps-bench steps-joint; do
  timeout 90 deno run --allow-read --allow-write=.cache,runs --allow-env main.ts train \
    --config runs/$r.json --run runs/$r --fresh --no-eval >"$o/s/$r.log" 2>&1
  echo "== $r exit $?"; grep -E "^step|steps/s" "$o/s/$r.log" | tail -6
done
E='"eval":{"batchSizes":[256,1000,2000],"taus":[1,0],"headline":{"tau":0,"batchSize":1000},"bank":0}'
T='"steps":3000,"batchSize":256'
CAP=95 bash tasks/recipes/h200.sh "$o/c" 380 \
  "c-base=fashion-classification:{\"data\":{\"shift\":0},\"train\":{$T},$E}" \
  "c-anchors1e-4=fashion-classification:{\"data\":{\"shift\":0},\"train\":{$T,\"lr\":{\"encoder\":2e-3,\"anchors\":1e-4}},$E}" \
  "c-shift2=fashion-classification:{\"data\":{\"shift\":2},\"train\":{$T},$E}" \
  "c-tau0.5=fashion-classification:{\"data\":{\"shift\":0},\"train\":{$T,\"tau\":0.5},$E}"
CAP=110 bash tasks/recipes/h200.sh "$o/b" 110 \
  "c-b1024=fashion-classification:{\"data\":{\"shift\":0},\"train\":{\"steps\":3000,\"batchSize\":1024},$E}"
cat "$o"/c/summary.jsonl "$o"/b/summary.jsonl 2>/dev/null
cd "$o" && tar czf call1.tar.gz --exclude='*.png' s c b && ls -la call1.tar.gz
