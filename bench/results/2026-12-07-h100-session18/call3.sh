#!/usr/bin/env bash
# Session 18, call 3: issue 12's screening around q 128 and label-anchor LR 1e-4 (classification recipe,
# 3000 x 256 unless said), a wider encoder for LZN and cross-entropy alike; then issue 10's joint-step peers
# (`steps-joint`: lzn 300 steps, then PyTorch eager / torch.compile / CUDA graphs). Writes $1/call3.tar.gz.
o=${1:?out dir}
mkdir -p "$o"
E='"eval":{"batchSizes":[1000,2000],"taus":[1,0],"headline":{"tau":0,"batchSize":1000},"bank":0}'
T='"steps":3000,"batchSize":256'
ENC='"encoder":{"channels":[32,64,64,128],"strides":[1,2,2,1],"groups":8,"headChannels":8,"headHidden":256}'
WIDE='"encoder":{"channels":[64,128,128,256],"strides":[1,2,2,1],"groups":8,"headChannels":8,"headHidden":256}'
A='"lr":{"encoder":2e-3,"anchors":1e-4}'
job() { CAP=${2:-60} bash tasks/recipes/h200.sh "$o/c" "${2:-60}" "$1"; }
job "c-q200-a1e-4=fashion-classification:{\"data\":{\"shift\":0},\"model\":{\"latentDim\":200,$ENC},\"train\":{$T,$A},$E}"
job "c-q128-a1e-5=fashion-classification:{\"data\":{\"shift\":0},\"model\":{\"latentDim\":128,$ENC},\"train\":{$T,\"lr\":{\"encoder\":2e-3,\"anchors\":1e-5}},$E}"
job "c-q128-a1e-4-shift2=fashion-classification:{\"data\":{\"shift\":2},\"model\":{\"latentDim\":128,$ENC},\"train\":{$T,$A},$E}"
job "c-q128-a1e-4-wide=fashion-classification:{\"data\":{\"shift\":0},\"model\":{\"latentDim\":128,$WIDE},\"train\":{$T,$A},$E}" 90
job "ce-wide=fashion-cross-entropy:{\"data\":{\"shift\":0},\"model\":{\"network\":\"encoder\",\"latentDim\":32,$WIDE},\"train\":{$T}}" 90
job "c-q128-a1e-4-6000=fashion-classification:{\"data\":{\"shift\":0},\"model\":{\"latentDim\":128,$ENC},\"train\":{\"steps\":6000,\"batchSize\":256,$A},$E}" 70
cat "$o"/c/summary.jsonl
timeout 330 bash bench/run_gpu.sh "$o/s" steps-joint
cd "$o" && tar czf call3.tar.gz --exclude='*.png' s c && ls -la call3.tar.gz
