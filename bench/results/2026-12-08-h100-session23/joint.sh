#!/usr/bin/env bash
# Issue 12 (prepared in session 23, not run): the joint model (fashion-joint-q128, shift +-2 on the encoder's
# images, the decoder on the first 256 unshifted, split tau, log loss) with the encoder on BATCH images a step
# for STEPS steps, trained across device calls on one warm machine (runs/ stays between calls while the
# machine is held): each call trains until SIGINT at LIMIT seconds (the trainer then writes a checkpoint at
# the step in flight); the call that reaches STEPS evaluates as session 21's table.
#   bash joint.sh OUT BATCH STEPS LIMIT      (e.g. OUT 512 24000 560, three times)
o=${1:?out dir}; batch=${2:?encoder batch}; steps=${3:?steps}; limit=${4:?seconds}
name=joint-q128-s2-b$batch-$steps
mkdir -p "$o" runs
python3 - "$name" "$batch" "$steps" <<'PY'
import json, sys
name, batch, steps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
c = json.load(open("tasks/recipes/fashion-joint-q128.json"))
c["name"] = name
c["data"]["shift"] = 2
c["train"].update({"steps": steps, "batchSize": batch, "decoderBatch": 256, "augment": "encoder", "checkpointEvery": 500})
c["eval"].update({"reconstruction": {"images": 256, "repeats": 3}, "generation": {"images": 1000, "taus": [1]}})
json.dump(c, open(f"runs/{name}.json", "w"), indent=2)
PY
cp "runs/$name.json" "$o/$name.config.json"
{ date -u +%FT%TZ; nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>/dev/null; } >>"$o/machine.txt"
t0=$SECONDS
fresh=--fresh; [[ -d runs/$name ]] && fresh=
timeout -s INT "$limit" deno run --allow-read --allow-write=.cache,runs --allow-env main.ts train \
  --config "runs/$name.json" --run "runs/$name" $fresh 2>&1 |
  while IFS= read -r line; do printf '[%4d s] %s\n' $((SECONDS - t0)) "$line"; done >>"$o/$name.log"
echo "== exit ${PIPESTATUS[0]}, $((SECONDS - t0)) s" >>"$o/$name.log"
tail -n 14 "$o/$name.log"
[[ -f runs/$name/eval.json ]] && cp "runs/$name/eval.json" "$o/$name.eval.json"
for png in runs/"$name"/*.png; do [[ -f $png ]] && cp "$png" "$o/$name.$(basename "$png")"; done
true
