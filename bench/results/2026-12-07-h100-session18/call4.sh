#!/usr/bin/env bash
# Session 18, call 4: issue 12's joint model (split: decoder on tau 1 latents, alignment on tau 0.25, log loss)
# with what the screening of calls 1-3 found: latent dimension 128 (then 200) and label-anchor LR 1e-4.
# Fashion-MNIST, 3000 x 256, as the earlier case-study-3 table. Writes $1/call4.tar.gz.
o=${1:?out dir}
mkdir -p "$o"
EV='"eval":{"reconstruction":{"images":256,"repeats":3},"generation":{"images":1000,"taus":[1]}}'
LR='"lr":{"decoder":2e-3,"encoder":2e-3,"anchors":1e-4}'
CAP=280 bash tasks/recipes/h200.sh "$o/f" 560 \
  "joint-split-q128=fashion-joint-split:{\"model\":{\"latentDim\":128},\"train\":{$LR},$EV}" \
  "joint-split-q200=fashion-joint-split:{\"model\":{\"latentDim\":200},\"train\":{$LR},$EV}"
cat "$o"/f/summary.jsonl
cd "$o" && tar czf call4.tar.gz f && ls -la call4.tar.gz
