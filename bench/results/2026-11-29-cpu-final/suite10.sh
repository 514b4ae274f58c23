#!/bin/bash
# issue 13: the suite ten times in a row from a fresh clone, a CPU hog beside it
cd /tmp/suite10
npm ci > /tmp/suite10-npm.log 2>&1 || { echo "npm ci failed"; exit 1; }
yes > /dev/null &
HOG=$!
for i in 1 2 3 4 5 6 7 8 9 10; do
  start=$(date +%s)
  RUST_BACKTRACE=1 npx deno task test > /tmp/suite10-run$i.log 2>&1
  rc=$?
  end=$(date +%s)
  echo "run $i rc=$rc seconds=$((end-start)) $(grep -E '[0-9]+ passed, [0-9]+ failed' /tmp/suite10-run$i.log | tail -1)" >> /tmp/suite10-summary.txt
done
kill $HOG
echo done >> /tmp/suite10-summary.txt
