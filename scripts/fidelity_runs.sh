#!/usr/bin/env bash
# Issue 10's long runs, one after the other (resumable: run again after a kill):
# the claims at PROFILE (6 FashionMNIST variants x SEEDS), then the FashionMNIST fidelity ablation.
set -euo pipefail
cd "$(dirname "$0")/.."
PROFILE=${PROFILE:-claims}
SEEDS=${SEEDS:-3}
.venv/bin/snn-tha claims --profile "$PROFILE" --seeds "$SEEDS" --datasets fashion_mnist
.venv/bin/snn-tha ablate configs/fmnist_annealing.yaml --profile "$PROFILE" --seeds "$SEEDS"
.venv/bin/snn-tha claims --profile "$PROFILE" --seeds "$SEEDS" --datasets fashion_mnist --no-train
