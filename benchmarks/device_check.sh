#!/usr/bin/env bash
# The GPU checks of the performance issue, as one script for the device tool:
#   CUDA tests, the SVD/Gram-route table, training steps per route, factored vs full at 512,
#   a quick reproduction on CUDA. Decides whether route="auto" should take the Gram route on CUDA.
set -uo pipefail
export PYTHONPATH=src PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
nvidia-smi -L
python3 -c "import torch; print(torch.__version__, torch.cuda.get_device_name())"
python3 -m pytest -q -p no:cacheprovider -o addopts="" tests/test_cuda.py 2>&1 | tee "$OUT/cuda_tests.txt"
python3 benchmarks/gpu_svd.py ${SVD_ARGS:-} 2>&1 | tee "$OUT/gpu_svd.txt"
timeout 200 python3 -m spectralnn reproduce fig2 --quick --device cuda --out "$OUT/r" 2>&1 | tail -3
python3 benchmarks/run.py --quick --device cuda 2>&1 | tee "$OUT/bench_cuda.txt"
