#!/usr/bin/env bash
# Session 18, call 2: issue 12's screening, the latent dimension q (the release's case study 3 uses 200; ours 32),
# classification recipe at 3000 x 256, no shift; then issue 10's classifier-step peers (`steps`: lzn, then
# PyTorch eager / torch.compile / CUDA graphs in the same call). Writes $1/call2.tar.gz.
o=${1:?out dir}
mkdir -p "$o"
E='"eval":{"batchSizes":[1000,2000],"taus":[1,0],"headline":{"tau":0,"batchSize":1000},"bank":0}'
T='"steps":3000,"batchSize":256'
for q in 64 128 200; do
  CAP=60 bash tasks/recipes/h200.sh "$o/c" 60 \
    "c-q$q=fashion-classification:{\"data\":{\"shift\":0},\"model\":{\"latentDim\":$q,\"encoder\":{\"channels\":[32,64,64,128],\"strides\":[1,2,2,1],\"groups\":8,\"headChannels\":8,\"headHidden\":256}},\"train\":{$T},$E}"
done
CAP=60 bash tasks/recipes/h200.sh "$o/c" 60 \
  "c-q128-a1e-4=fashion-classification:{\"data\":{\"shift\":0},\"model\":{\"latentDim\":128,\"encoder\":{\"channels\":[32,64,64,128],\"strides\":[1,2,2,1],\"groups\":8,\"headChannels\":8,\"headHidden\":256}},\"train\":{$T,\"lr\":{\"encoder\":2e-3,\"anchors\":1e-4}},$E}"
cat "$o"/c/summary.jsonl
timeout 340 bash bench/run_gpu.sh "$o/s" steps
cd "$o" && tar czf call2.tar.gz --exclude='*.png' s c && ls -la call2.tar.gz
