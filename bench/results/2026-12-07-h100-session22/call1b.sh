#!/usr/bin/env bash
# Session 22, call 2 (what ran; made from call1.sh by the sed in COMMAND.md): the two jobs that call 1 did not
# finish: `c-base` (its 80 s cap, on a fresh machine, went to building pipelines) and the cross-entropy
# classifier `ce-3000`. Its last line lists call1.tar.gz by mistake (harmless: the tarball is call1b.tar.gz).
o=${1:?out dir}
mkdir -p "$o/m" "$o/p"
E='"eval":{"batchSizes":[1000,2000,5000],"taus":[0],"headline":{"tau":0,"batchSize":1000},"bank":0}'
ENC='"encoder":{"channels":[32,64,64,128],"strides":[1,2,2,1],"groups":8,"headChannels":8,"headHidden":256}'
job() { # name, extra train fields (a JSON fragment ending in a comma, or empty), encoder LR
  echo "$1=fashion-classification:{\"data\":{\"shift\":2},\"model\":{\"latentDim\":128,$ENC},\"train\":{$2\"steps\":3000,\"batchSize\":512,\"lr\":{\"encoder\":${3:-2e-3},\"anchors\":1e-4},\"checkpointEvery\":0},$E}"
}
CAP=75 bash tasks/recipes/h200.sh "$o/c" 190 \
  "$(job c-base '')" \
  "ce-3000=fashion-cross-entropy:{\"data\":{\"shift\":2},\"model\":{\"network\":\"encoder\",\"latentDim\":32,$ENC},\"train\":{\"steps\":3000,\"batchSize\":512,\"checkpointEvery\":0}}"
cat "$o"/c/summary.jsonl
cd "$o" && tar czf call1b.tar.gz c && ls -la call1.tar.gz
