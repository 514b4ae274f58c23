#!/usr/bin/env bash
# The GPU runs of the configs in this folder, one after another on one lent GPU, within a time budget:
#
#   bash tasks/recipes/h200.sh OUTDIR BUDGET_S JOB...
#
# A JOB is a config name of this folder (`fashion-joint`), optionally with JSON overrides merged into it
# section by section (`fashion-joint:{"train":{"steps":1500}}`), and optionally renamed (`name=config:{...}`).
# Each job trains from scratch (`--fresh`), evaluates and samples; its log, config, eval.json and PNGs go to
# OUTDIR, its last JSON line to OUTDIR/summary.jsonl. A job is started only if the budget has CAP seconds left
# (CAP, default 240, is also each job's wall-clock limit), so the script ends inside the device tool's
# 10-minute call. After a reference-* job, its reference.safetensors is copied to metrics/reference/, so later
# generation jobs of the same call use it ("shipped"), and into OUTDIR to be committed.
# Needs deno on PATH and `.cache/data` (data/build_cache.ts).
set -uo pipefail
out=${1:?usage: tasks/recipes/h200.sh OUTDIR BUDGET_S JOB...}
budget=${2:?budget in seconds}
shift 2
mkdir -p "$out" runs metrics/reference
out=$(cd "$out" && pwd)
cap=${CAP:-240}
start=$SECONDS
# Jobs run `deno run ... main.ts`, not `deno task`, so that `timeout` stops the process that holds the GPU.
{ date -u +%FT%TZ; nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null
  deno --version | head -1; git rev-parse --short HEAD 2>/dev/null; } >"$out/machine.txt"

for job in "$@"; do
  left=$((budget - (SECONDS - start)))
  spec=${job#*=}; [[ $job == *=* ]] || spec=$job
  config=${spec%%:*}; overrides='{}'; [[ $spec == *:* ]] && overrides=${spec#*:}
  name=${job%%=*}; [[ $job == *=* ]] || name=$config
  if ((left < cap)); then echo "== $name: skipped ($left s of the budget left, cap $cap s)" | tee -a "$out/skipped.txt"; continue; fi
  python3 - "$config" "$name" "$overrides" "runs/$name.json" <<'PY' || { echo "== $name: bad job" >&2; continue; }
import json, sys
config, name, overrides, path = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), sys.argv[4]
c = json.load(open(f"tasks/recipes/{config}.json"))
c["name"] = name
for section, values in overrides.items():
    if isinstance(values, dict): c.setdefault(section, {}).update(values)
    else: c[section] = values
json.dump(c, open(path, "w"), indent=2)
PY
  t0=$SECONDS
  echo "== $name: start at $((SECONDS - start)) s"
  # Every line but the JSON result is stamped with the job's wall-clock seconds (where the cap goes).
  timeout "$cap" deno run --allow-read --allow-write=.cache,runs --allow-env main.ts train \
    --config "runs/$name.json" --run "runs/$name" --fresh 2>&1 |
    while IFS= read -r line; do
      if [[ $line == "{"* ]]; then printf '%s\n' "$line"; else printf '[%4d s] %s\n' $((SECONDS - t0)) "$line"; fi
    done >"$out/$name.log"
  code=${PIPESTATUS[0]}
  echo "== $name: exit $code, $((SECONDS - t0)) s wall" | tee -a "$out/$name.log"
  grep '^{' "$out/$name.log" | tail -n 1 | sed "s/^{/{\"job\":\"$name\",\"exit\":$code,/" >>"$out/summary.jsonl"
  cp "runs/$name.json" "$out/$name.config.json"
  [[ -f runs/$name/eval.json ]] && cp "runs/$name/eval.json" "$out/$name.eval.json"
  for png in runs/"$name"/*.png; do [[ -f $png ]] && cp "$png" "$out/$name.$(basename "$png")"; done
  if [[ $config == reference-* && -f runs/$name/reference.safetensors ]]; then
    cp "runs/$name/reference.safetensors" "metrics/reference/${config#reference-}.safetensors"
    cp "runs/$name/reference.safetensors" "$out/${config#reference-}.safetensors"
  fi
done
echo "total $((SECONDS - start)) s" >>"$out/machine.txt"
