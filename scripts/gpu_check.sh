#!/usr/bin/env bash
# The project's GPU check (under 8 minutes on one GPU; run through the device tool when a session
# is lent one): the CUDA tests (a smoke epoch on the GPU with a resume on the CPU, the engine's GPU
# equivalence), the Triton LIF kernel against the torch LIF on CUDA (every case of
# tests/test_fused.py), then the bench on CUDA -> results/bench/bench_cuda.{csv,md}.
# Reports go to ${OUT:-/tmp}.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp}
if [ -x .venv/bin/python ]; then PY=.venv/bin/python
elif python3 -c "import torch, snntorch" 2>/dev/null; then PY=python3; export PYTHONPATH=$PWD
else make -s venv >/dev/null; PY=.venv/bin/python; fi
$PY -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else '')"
$PY -m pytest -q -rs tests/test_device.py tests/test_engine.py -k "cuda or gpu" 2>&1 | tee "$OUT/gpu_check.txt"
SNN_THA_TEST_KERNEL=triton SNN_THA_TEST_DEVICE=cuda \
  $PY -m pytest -q -rs tests/test_fused.py -k kernel_matches_torch 2>&1 | tee -a "$OUT/gpu_check.txt"
timeout 360 $PY -m snn_tha.repro.bench.steps --device cuda --repeats 3 --out results/bench 2>&1 | tee -a "$OUT/gpu_check.txt"
cp results/bench/bench_cuda* "$OUT/"
