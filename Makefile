# snn-tha: every job a user runs is a target here; `make help` lists them.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
# PROFILE: budget profile (configs/profiles/) of reproduce, claims, ablate, tables, figures;
# SWEEP_PROFILE: the budget of each sweep trial
PROFILE ?= claims
SWEEP_PROFILE ?= quick

.DEFAULT_GOAL := help
.PHONY: help venv test test-full reproduce temporal report figures runs bench bench-deps nir-jax data reproduce-table1 reproduce-table2 claims ablate deployment gpu-check parity sweep sweep-silence clean

help: ## list the targets
	@grep -E '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN{FS=":.*## "}{printf "  make %-18s %s\n", $$1, $$2}'

# The venv is rebuilt whenever requirements*.txt or pyproject.toml is newer than the stamp.
$(STAMP): requirements.txt requirements-nodeps.txt pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check -r requirements.txt
	$(BIN)/python -m pip install -q --disable-pip-version-check --no-deps -r requirements-nodeps.txt
	$(BIN)/python -m pip install -q --disable-pip-version-check --no-deps -e .
	@touch $(STAMP)

venv: $(STAMP) ## build .venv from requirements.txt (done automatically by every target)

# The numerics tests run again under emulated lower instruction sets (PyTorch's, oneDNN's and
# MKL's documented switches, and the project's C++ kernels built for AVX2), so an AVX-512
# machine also computes what AVX2 and generic CPUs do; each run prints its spike comparisons,
# flips, smallest margin and largest difference.
LOWER_ISA := ONEDNN_MAX_CPU_ISA=AVX2 MKL_ENABLE_INSTRUCTIONS=AVX2 SNN_THA_MARCH=x86-64-v3
numerics_log = SNN_THA_NUMERICS_LOG=$$(mktemp -u /tmp/snn_tha_numerics.XXXXXX)
test: $(STAMP) ## the test suite (what CI runs; ~3.5 min on 2 idle cores after the venv), the numerics tests under AVX2 and generic kernels, and on one thread
	$(numerics_log) $(BIN)/python -m pytest -q
	for isa in avx2 default; do \
	  $(numerics_log) ATEN_CPU_CAPABILITY=$$isa $(LOWER_ISA) $(BIN)/python -m pytest -q \
	    -m "numerics and not slow" -k "not interpreted" || exit 1; done
	$(numerics_log) OMP_NUM_THREADS=1 $(BIN)/python -m pytest -q -m "numerics and not slow" -k "not interpreted"

test-full: $(STAMP) ## run every test, the slow ones too
	$(BIN)/python -m pytest -q -m "slow or not slow"

SEEDS ?= 3
# make reproduce trains into its own results root: the committed run folders stay the reference
REPRODUCED ?= results/reproduced
reproduce: data ## the main job, into results/reproduced/ (REPRODUCED=): temporal task, experiments/*.py (PROFILE=claims, SEEDS=3, data present), REPORT.md, your numbers beside the committed ones
	SNN_THA_RESULTS=$(REPRODUCED) $(BIN)/python experiments/temporal_coding.py --resume
	for script in $(filter-out experiments/temporal_coding.py,$(wildcard experiments/*.py)); do \
	  SNN_THA_RESULTS=$(REPRODUCED) $(BIN)/python $$script --profile $(PROFILE) --seeds $(SEEDS) --resume --skip-missing || exit 1; done
	$(BIN)/snn-tha report --results $(REPRODUCED)
	$(BIN)/python -m snn_tha.repro.paper.compare results $(REPRODUCED) $(PROFILE)

temporal: $(STAMP) ## temporal-coding task (Sec. 4.1, Figure 4) at full paper scale
	@echo "make: rewrites results/temporal_coding/ (committed files: git diff shows what changed, git checkout restores them)"
	$(BIN)/python experiments/temporal_coding.py --resume

data: $(STAMP) ## prepare offline data: FashionMNIST (Debian package, as root) and the mnist5k sample
	@if [ ! -d /usr/share/datasets/fashion-mnist ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  apt-get install -y -q dataset-fashion-mnist || { apt-get update -q && apt-get install -y -q dataset-fashion-mnist; } || true; fi
	$(BIN)/snn-tha data

reproduce-table1: $(STAMP) ## Table 1 + figures at PROFILE=smoke|claims|quick|paper (data sets present)
	@echo "make: rewrites results/tables/table1_$(PROFILE).* and its figures (committed files: git diff shows what changed, git checkout restores them)"
	$(BIN)/snn-tha table1 --profile $(PROFILE)

reproduce-table2: $(STAMP) ## Table 2 + figures at PROFILE=smoke|quick|paper (DVS/SHD data present)
	@echo "make: rewrites results/tables/table2_$(PROFILE).* and its figures (committed files: git diff shows what changed, git checkout restores them)"
	$(BIN)/snn-tha table2 --profile $(PROFILE)

# JOBS: runs trained side by side, each with (cores / JOBS) threads; 2 measured faster than 1 on
# the 2-core machine (README, "Time to a result")
JOBS ?= 2
claims: $(STAMP) ## the paper's claims decided by numbers: PROFILE=claims SEEDS=3 JOBS=2 -> results/claims_<profile>.md
	@echo "make: rewrites results/claims_$(PROFILE).md, claims_by_budget.md, the tables and figures of $(PROFILE) (committed files: git diff shows what changed, git checkout restores them)"
	$(BIN)/snn-tha claims --profile $(PROFILE) --seeds $(SEEDS) --jobs $(JOBS)

CONFIG ?= configs/fmnist_annealing.yaml
ablate: $(STAMP) ## fidelity ablation: CONFIG=configs/fmnist_annealing.yaml PROFILE=claims SEEDS=3
	@echo "make: rewrites results/tables/ablation_*_$(PROFILE).* (committed files: git diff shows what changed, git checkout restores them)"
	$(BIN)/snn-tha ablate $(CONFIG) --profile $(PROFILE) --seeds $(SEEDS)

figures: $(STAMP) ## rebuild the tables, figures, claims and REPORT.md of PROFILE from the run folders (no training)
	@echo "make: rewrites the tables, figures, claims of $(PROFILE) and results/REPORT.md (committed files: git diff shows what changed, git checkout restores them)"
	$(BIN)/snn-tha claims --no-train --profile $(PROFILE)
	$(BIN)/snn-tha report

runs: $(STAMP) ## print one training command per (experiment, seed) of PROFILE (default paper): fan out on GPUs
	@$(BIN)/snn-tha runs --profile $(if $(filter command line,$(origin PROFILE)),$(PROFILE),paper) --seeds $(if $(filter command line,$(origin SEEDS)),$(SEEDS),5)

deployment: $(STAMP) ## results/tables/deployment.md: 1-bit vs fp32 memory per network
	@echo "make: rewrites results/tables/deployment.md (committed files: git diff shows what changed, git checkout restores them)"
	$(BIN)/snn-tha export --table results/tables/deployment.md

gpu-check: ## on a CUDA machine (< 8 min): GPU tests (smoke epoch, engine and Triton kernel vs the torch loop on CUDA), then the bench on CUDA
	scripts/gpu_check.sh

report: $(STAMP) ## rebuild results/REPORT.md from the recorded runs
	@echo "make: rewrites results/REPORT.md (committed files: git diff shows what changed, git checkout restores them)"
	$(BIN)/snn-tha report

bench: $(STAMP) ## time a training step per network (loop, engine, fused LIF, fast, SpikingJelly if installed) -> results/bench/local/ (not committed)
	$(BIN)/snn-tha bench

bench-deps: $(STAMP) ## optional: SpikingJelly 2.0 for the bench's peer rows (requirements-bench.txt)
	$(BIN)/pip install --no-deps -r requirements-bench.txt

nir-jax: $(STAMP) ## optional: Spyx 1.0 (JAX, ~0.8 GB) for the NIR consumers check's Spyx row
	$(BIN)/pip install -q --disable-pip-version-check spyx==1.0.0 -c requirements.txt

PARITY_SEEDS ?= 10
parity: $(STAMP) ## exact engine vs reference loop, paired by seed at the claims budget (PARITY_SEEDS=10, ~15 min a reference run) -> results/bench/parity.md
	@echo "make: rewrites results/bench/parity.{md,json} (committed files: git diff shows what changed, git checkout restores them)"
	$(BIN)/snn-tha parity --seeds $(PARITY_SEEDS) --jobs $(JOBS)

SPACE ?= configs/sweeps/fmnist_annealing.yaml
BUDGET ?= 30
WORKERS ?= 2
STUDY ?= $(basename $(notdir $(SPACE)))-$(SWEEP_PROFILE)
sweep: $(STAMP) ## Optuna sweep on this machine: SPACE=... BUDGET=30 WORKERS=2 SWEEP_PROFILE=quick [SET="k=v ..."]
	$(BIN)/snn-tha sweep init --study $(STUDY) --space $(SPACE) --budget $(BUDGET) --profile $(SWEEP_PROFILE) $(foreach s,$(SET),--set $(s)) || true
	for i in $$(seq $(WORKERS)); do OMP_NUM_THREADS=1 $(BIN)/snn-tha sweep work --study $(STUDY) --worker-id $$i & done; wait
	$(BIN)/snn-tha sweep export --study $(STUDY)

sweep-silence: $(STAMP) ## silent-trial fraction per search space at the smoke profile (20 trials each; old ranges beside changed spaces)
	$(BIN)/python -m snn_tha.repro.sweep.silence --profile smoke --trials 20 --before c9ad8e0~1

clean: ## remove the venv and caches (keeps results/)
	rm -rf $(VENV) .pytest_cache snn_tha.egg-info
