#!/usr/bin/env bash
# Kill a training run with SIGKILL in the middle of an epoch, resume it, and compare its final
# metrics with an uninterrupted run of the same config and seed (CPU). Prints both final.json
# excerpts and exits non-zero if they differ.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-/tmp/snn-tha-kill-resume}
rm -rf "$OUT"
ARGS=(train configs/fmnist_bsnn.yaml --profile smoke --set epochs=3 --set patience=3
      --set max_batches_per_epoch=12 --set num_steps=50 --set batch_size=128
      --set data.train_subset=4000 --set data.validation_size=1000 --set data.test_subset=1000)
BIN=.venv/bin/snn-tha
$BIN "${ARGS[@]}" --out "$OUT/whole" 2>/dev/null
$BIN "${ARGS[@]}" --out "$OUT/killed" 2>/dev/null & pid=$!
run="$OUT/killed/smoke-seed0"
until [ -f "$run/metrics.csv" ] && [ "$(wc -l < "$run/metrics.csv")" -ge 2 ]; do sleep 0.2; done
sleep 2   # well inside the second epoch
kill -9 $pid; wait $pid 2>/dev/null || true
echo "killed during epoch $(($(wc -l < "$run/metrics.csv"))) (epochs finished: $(($(wc -l < "$run/metrics.csv") - 1)))"
test ! -f "$run/final.json"
$BIN "${ARGS[@]}" --out "$OUT/killed" --resume 2>/dev/null
.venv/bin/python - "$OUT" <<'PY'
import json, sys, csv
out = sys.argv[1]
keys = ("test_acc", "val_acc", "best_epoch", "epochs_run", "dead_fraction")
a, b = (json.load(open(f"{out}/{d}/smoke-seed0/final.json")) for d in ("whole", "killed"))
rows = lambda d: [{k: v for k, v in r.items() if k != "seconds"} for r in csv.DictReader(open(f"{out}/{d}/smoke-seed0/metrics.csv"))]
print("uninterrupted:", {k: a[k] for k in keys})
print("killed+resumed:", {k: b[k] for k in keys})
same = all(a[k] == b[k] for k in keys) and rows("whole") == rows("killed")
print("identical final metrics and per-epoch metrics:", same)
sys.exit(0 if same else 1)
PY
