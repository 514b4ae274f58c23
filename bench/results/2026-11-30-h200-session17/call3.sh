#!/usr/bin/env bash
# Session 17, call 3 (H200): issue 12 at a longer equal budget, 5000 steps x 256: the cross-entropy baseline,
# then the split-tau joint model (alignment on tau 0.25 latents, log loss; decoder on tau 1 latents).
o=${1:?out dir}
CAP=420 bash tasks/recipes/h200.sh "$o/f" 520 \
  'fashion-cross-entropy:{"data":{"shift":0},"train":{"steps":5000,"batchSize":256}}' \
  'fashion-joint-split-5000=fashion-joint:{"train":{"steps":5000,"alignTau":0.25,"alignment":{"log":true}},"eval":{"reconstruction":{"images":256,"repeats":3},"generation":{"images":1000,"taus":[1]}}}'
# The joint run's last checkpoint and state, for evaluations on another machine.
r=runs/fashion-joint-split-5000
tar czf "$o/run.tar.gz" "$r.json" "$r/state.json" "$r/bank.safetensors" $(ls "$r"/checkpoint-*.safetensors | tail -1)
