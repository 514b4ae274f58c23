#!/usr/bin/env bash
# Session 18, call 5: issue 10's kernel tables on this call's GPU with their PyTorch peers (fp32, TF32 off):
# lzn core (matmul, the new default tile) and PyTorch's, then lzn's latent kernels and PyTorch's. jax-js left out
# (97 s). Writes $1/call5.tar.gz.
o=${1:?out dir}
mkdir -p "$o/r"
timeout 60 bash bench/run_gpu.sh "$o/r" core
timeout 40 python3 bench/peers/torch_core.py "$o/r/torch_core.json" 2>&1 | tee "$o/r/torch_core.log"
timeout 100 python3 bench/peers/torch_lzn.py "$o/r/torch_lzn.json" 2>&1 | tee "$o/r/torch_lzn.log"
timeout 120 bash bench/run_gpu.sh "$o/r" latent
cd "$o" && tar czf call5.tar.gz r && ls -la call5.tar.gz
