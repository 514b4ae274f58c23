#!/usr/bin/env bash
# Session 20, call 2 (issue 10): first, on the fresh machine, the pipelines the joint q128 recipe's first two
# steps build and what creating them costs (`bench/run_gpu.sh OUT pipelines`); then the RF decoder's 13
# convolution shapes at batch 256 under the default tiles and six forced ones, and cuDNN on the same shapes
# (`conv-tiles`); then, if the call has room, cross-entropy at the joint model's encoder budget (6000 x 512,
# shift +-2). Writes $1/call2.tar.gz.
o=${1:?out dir}
mkdir -p "$o"
timeout 80 bash bench/run_gpu.sh "$o/p" pipelines
timeout 300 bash bench/run_gpu.sh "$o/p" conv-tiles
ENC='"encoder":{"channels":[32,64,64,128],"strides":[1,2,2,1],"groups":8,"headChannels":8,"headHidden":256}'
left=$((500 - SECONDS))
((left >= 110)) && CAP=110 bash tasks/recipes/h200.sh "$o/f" "$left" \
  "ce-s2-b512-6000=fashion-cross-entropy:{\"data\":{\"shift\":2},\"model\":{\"network\":\"encoder\",\"latentDim\":32,$ENC},\"train\":{\"steps\":6000,\"batchSize\":512,\"checkpointEvery\":0}}"
cat "$o"/f/summary.jsonl 2>/dev/null
cd "$o" && tar czf call2.tar.gz p f 2>/dev/null; ls -la call2.tar.gz
