#!/usr/bin/env bash
# The GPU runs of the recipes in this folder, on one lent GPU (see tasks/README.md, "GPU runs").
#
#   bash tasks/recipes/h200.sh OUTDIR train STEPS...   the runs, one after another, each evaluated; STEPS are
#                                                      recipe=steps pairs (e.g. fashion-mnist=4000), and
#                                                      reference=N trains the Fashion-MNIST reference classifier
#   bash tasks/recipes/h200.sh OUTDIR bench            the core and alignment benchmarks
#
# Every run logs to OUTDIR/<recipe>.log and ends with its JSON line; configs, eval.json files and sample grids
# are packed into OUTDIR/results.tar.gz. Each job has a wall-clock cap (CAP seconds, default 540) so that the
# script ends inside the device tool's 10-minute call. Needs deno on PATH and `.cache/data` (data/build_cache.ts).
set -uo pipefail
out=${1:?usage: tasks/recipes/h200.sh OUTDIR train|bench ...}
phase=${2:?phase: train or bench}
shift 2
mkdir -p "$out" runs
out=$(cd "$out" && pwd)
cap=${CAP:-540}
# Jobs run `deno run ... main.ts`, not `deno task`, so that `timeout` stops the process that holds the GPU.
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp/xdg-$(id -u)}"
mkdir -p "$XDG_RUNTIME_DIR"
{ date -u +%FT%TZ; nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null
  deno --version | head -1; git rev-parse --short HEAD 2>/dev/null; } >"$out/machine.txt"

# Writes runs/$2.json: recipe $1 with the JSON object $3 merged into it section by section.
derive() {
  python3 - "$1" "$2" "$3" <<'PY'
import json, sys
recipe, name, overrides = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
c = json.load(open(f"tasks/recipes/{recipe}.json"))
c["name"] = name
for section, values in overrides.items():
    c.setdefault(section, {}).update(values)
json.dump(c, open(f"runs/{name}.json", "w"), indent=2)
PY
}

# Runs recipe job $1 (runs/$1.json) with extra CLI args, logging to $out/$1.log. Jobs run one after another:
# on the H200, five recipe trainings next to the reference classifier each ran at 0.06-0.4 steps/s, against
# 24-40 steps/s alone (bench/results/2026-11-29-h200-train-profile), and one process keeps the GPU busy.
launch() {
  local name=$1; shift
  local task=train start=$SECONDS
  grep -q '"mode"' "runs/$name.json" && task=train-joint
  timeout "$cap" deno run --allow-read --allow-write=.cache,runs --allow-env main.ts "$task" \
    --config "runs/$name.json" --fresh "$@" >"$out/$name.log" 2>&1
  echo "== $name: exit $?, $((SECONDS - start))s wall" >>"$out/$name.log"
  tail -n 2 "$out/$name.log"
}

# The reference classifier of Fashion-MNIST (FID features, generation accuracy), unless already trained.
reference() {
  [[ -f runs/reference-fashion-mnist/state.json || -f runs/reference-fashion-mnist/reference.json ]] &&
    ls runs/reference-fashion-mnist/*.safetensors >/dev/null 2>&1 && return
  local start=$SECONDS
  timeout "$cap" deno run --allow-read --allow-write=.cache,runs --allow-env main.ts train-reference \
    --dataset fashion-mnist --out runs/reference-fashion-mnist --steps "${1:-3000}" --batch 128 --force \
    >"$out/reference.log" 2>&1
  echo "== reference: exit $?, $((SECONDS - start))s wall" >>"$out/reference.log"
  tail -n 2 "$out/reference.log"
}

case $phase in
  bench)
    deno run -A bench/gpu_core.ts "$out/core.json" 2>&1 | tee "$out/core.log"
    deno run -A bench/gpu_latent.ts "$out/latent.json" --only=align 2>&1 | tee "$out/latent.log"
    ;;
  train)
    for pair in "$@"; do
      if [[ $pair != *=* ]]; then echo "h200.sh: expected recipe=steps, got '$pair'" >&2; continue; fi
      r=${pair%=*} steps=${pair#*=}
      if [[ $r == reference ]]; then reference "$steps"; continue; fi
      overrides="{\"train\": {\"steps\": $steps}}"
      # With a trained reference classifier, joint and RF runs also report FID and generation accuracy.
      if [[ -f runs/reference-fashion-mnist/reference.json ]] && grep -q '"mode": "\(joint\|rf\)"' "tasks/recipes/$r.json"; then
        overrides="{\"train\": {\"steps\": $steps}, \"eval\": {\"reference\": \"runs/reference-fashion-mnist\", \"generationImages\": 2000}}"
      fi
      derive "$r" "$r" "$overrides" || { echo "h200.sh: cannot derive $r" >&2; continue; }
      launch "$r"
      if grep -q '"mode": "joint"\|"mode": "rf"' "runs/$r.json" && [[ -d runs/$r ]]; then
        timeout 120 deno run --allow-read --allow-write=.cache,runs --allow-env main.ts sample \
          --checkpoint "runs/$r" --out "runs/$r/samples.png" >>"$out/$r.log" 2>&1
      fi
    done
    tar czf "$out/results.tar.gz" runs/*.json runs/*/eval.json runs/*/state.json runs/*/samples.png \
      runs/*/predictions.png 2>/dev/null
    ;;
  *) echo "unknown phase $phase" >&2; exit 2 ;;
esac
for f in "$out"/*.log; do echo "--- $f"; tail -n 3 "$f"; done
