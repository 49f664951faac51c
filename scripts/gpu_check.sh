#!/usr/bin/env bash
# The project's GPU check (run on a machine with CUDA, e.g. through the device tool): builds the
# venv if needed, then the CUDA tests: one smoke epoch on the GPU with a resume on the CPU, and
# the engine's GPU equivalence. Writes the pytest report to ${OUT:-/tmp}/gpu_check.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
make -s venv >/dev/null
.venv/bin/python -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else '')"
.venv/bin/python -m pytest -q -rs tests/test_device.py tests/test_engine.py -k "cuda or gpu" 2>&1 | tee "${OUT:-/tmp}/gpu_check.txt"
