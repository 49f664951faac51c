#!/usr/bin/env bash
# The claims series (issues 37 and 38): every run that decides the paper's claims, trained from ONE
# fixed commit so that one claims file holds runs of one engine revision. Two 1-thread jobs side by
# side (measured faster than one 2-thread job at a time on 2 cores), in the background, resumable:
# a run that was stopped continues from its last checkpoint, a finished one is left as it is.
#
#   scripts/claims_series.sh start     worktree of $SERIES_COMMIT + queue in the background (resumes)
#   scripts/claims_series.sh status    finished / in progress / waiting, and the log's last lines
#   scripts/claims_series.sh collect   copy the FINISHED run folders into this checkout's results/runs/
#   scripts/claims_series.sh stop      end the queue (the runs in progress resume at the next start)
#   scripts/claims_series.sh list      the queue, one `snn-tha train` command per run, in order
#
# The runs go to $SERIES_RESULTS (never into a checkout's results/: a committed folder of another
# revision would be taken as finished). Nothing here writes a tracked file except `collect`, which
# says what it replaces.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
SERIES_COMMIT="${SERIES_COMMIT:-079fb9e}"          # the engine revision every run of the series uses
SERIES_DIR="${SERIES_DIR:-/work/series-$SERIES_COMMIT}"
SERIES_RESULTS="${SERIES_RESULTS:-/work/series-results}"
PY="${SERIES_PYTHON:-$ROOT/.venv/bin/python}"
FULL_EPOCHS="${FULL_EPOCHS:-5}"                      # E of the full-data runs, the same for every variant
JOBS="${JOBS:-2}"

# One line per run: config, profile, seed, extra --set overrides. Order = priority: the parity
# pairs first, then the claims budget balanced by seed, then full data balanced by seed.
queue() {
  local s v
  for s in $(seq 0 9); do      # issue 37 part 1: exact and reference from the same seed
    echo "configs/fmnist_annealing.yaml claims $s"
    echo "configs/fmnist_annealing.yaml claims $s --set net.engine=reference --set experiment=fmnist_annealing_reference"
  done
  for s in $(seq 0 19); do     # part 2: >= 20 pairs of annealing / tuned / theta_inf, >= 8 of the rest
    echo "configs/fmnist_bsnn.yaml claims $s"
    echo "configs/fmnist_bsnn_theta_inf.yaml claims $s"
    [ "$s" -ge 10 ] && echo "configs/fmnist_annealing.yaml claims $s"
    if [ "$s" -lt 8 ]; then
      echo "configs/fmnist_flt32.yaml claims $s"
      echo "configs/fmnist_bsnn_theta1.yaml claims $s"
    fi
  done
  for s in $(seq 0 7); do      # the budget-scaled annealing variant of the claims file (8 seeds)
    echo "configs/fmnist_annealing_budget.yaml claims $s"
  done
  for s in $(seq 0 7); do      # issue 38: MNIST claims, >= 8 pairs (all of MNIST from make data)
    for v in annealing bsnn bsnn_theta_inf flt32 bsnn_theta1; do
      echo "configs/mnist_$v.yaml claims $s"
    done
  done
  for s in $(seq 0 7); do      # part 3: full data, E epochs, >= 8 pairs and >= 3 seeds; MNIST's
    for v in annealing bsnn bsnn_theta_inf; do   # Table 1 rows (issue 38): 3 seeds of its four
      echo "configs/fmnist_$v.yaml full $s --set epochs=$FULL_EPOCHS --set patience=$FULL_EPOCHS"
    done
    if [ "$s" -lt 3 ]; then
      for v in flt32 bsnn_theta1; do
        echo "configs/fmnist_$v.yaml full $s --set epochs=$FULL_EPOCHS --set patience=$FULL_EPOCHS"
      done
      for v in annealing bsnn flt32 bsnn_theta1; do
        echo "configs/mnist_$v.yaml full $s --set epochs=$FULL_EPOCHS --set patience=$FULL_EPOCHS"
      done
    fi
  done
  for s in 3 4; do             # part 4: MNIST's central pair at full data up to the 5 pairs the
    for v in annealing bsnn; do  # exact test needs (3 pairs decide nothing)
      echo "configs/mnist_$v.yaml full $s --set epochs=$FULL_EPOCHS --set patience=$FULL_EPOCHS"
    done
  done
}

command_of() {   # config profile seed [overrides...] -> the train command
  local config=$1 profile=$2 seed=$3; shift 3
  echo "snn-tha train $config --profile $profile --set seed=$seed --set repeats=1 $* --resume"
}

run_one() {      # one queue line, in the worktree, one thread
  local config=$1 profile=$2 seed=$3; shift 3
  cd "$SERIES_DIR"
  echo "$(date -u +%FT%TZ) start $config $profile seed=$seed $*"
  local started=$SECONDS log
  log="$(basename "$config" .yaml)-$profile-$seed$(echo "$*" | tr -c 'A-Za-z0-9_=.\n' '_' | sed 's/^/_/;s/_*$//')"
  if OMP_NUM_THREADS=1 PYTHONPATH="$SERIES_DIR" SNN_THA_RESULTS="$SERIES_RESULTS" \
     SNN_THA_DATA="${SNN_THA_DATA:-$ROOT/data}" \
     "$PY" -m snn_tha.repro.cli train "$config" --profile "$profile" --set "seed=$seed" \
       --set repeats=1 "$@" --resume >>"$SERIES_RESULTS/logs/${log%_}.log" 2>&1; then
    echo "$(date -u +%FT%TZ) done  $config $profile seed=$seed $* ($((SECONDS - started)) s)"
  else
    echo "$(date -u +%FT%TZ) FAILED $config $profile seed=$seed $* (see logs/)"
  fi
}

start() {
  if [ ! -d "$SERIES_DIR" ]; then
    git -C "$ROOT" worktree add --detach "$SERIES_DIR" "$SERIES_COMMIT"
  fi
  [ "$(git -C "$SERIES_DIR" rev-parse --short=7 HEAD)" = "${SERIES_COMMIT:0:7}" ] \
    || { echo "claims_series: $SERIES_DIR is not at $SERIES_COMMIT; remove it (git worktree remove)" >&2; exit 2; }
  mkdir -p "$SERIES_RESULTS/logs"
  if [ -f "$SERIES_RESULTS/queue.pid" ] && kill -0 "$(cat "$SERIES_RESULTS/queue.pid")" 2>/dev/null; then
    echo "claims_series: already running (pid $(cat "$SERIES_RESULTS/queue.pid"))"; return
  fi
  export -f run_one; export SERIES_DIR SERIES_RESULTS PY ROOT
  queue >"$SERIES_RESULTS/queue.txt"
  nohup setsid bash -c "xargs -P $JOBS -L 1 bash -c 'run_one \"\$@\"' _ <'$SERIES_RESULTS/queue.txt'" \
    >>"$SERIES_RESULTS/series.log" 2>&1 &
  echo $! >"$SERIES_RESULTS/queue.pid"
  echo "claims_series: started (pid $!, $JOBS jobs); log $SERIES_RESULTS/series.log"
}

status() {
  local finished=0 total=0
  finished=$(find "$SERIES_RESULTS/runs" -name final.json 2>/dev/null | wc -l)
  total=$(queue | wc -l)
  echo "finished $finished of $total runs; results in $SERIES_RESULTS/runs"
  tail -n 6 "$SERIES_RESULTS/series.log" 2>/dev/null || true
}

collect() {      # finished folders only (final.json written last), replacing the checkout's copy
  local final run rel
  find "$SERIES_RESULTS/runs" -name final.json | sort | while read -r final; do
    run=$(dirname "$final"); rel=${run#"$SERIES_RESULTS/"}
    if [ -d "$ROOT/results/$rel" ] && diff -rq -x 'checkpoint*' -x '.lock' "$run" "$ROOT/results/$rel" >/dev/null 2>&1; then
      continue
    fi
    [ -d "$ROOT/results/$rel" ] && echo "replacing results/$rel (an older run of these settings)"
    rm -rf "$ROOT/results/$rel"; mkdir -p "$ROOT/results/$rel"
    cp -a "$run/." "$ROOT/results/$rel/"; rm -f "$ROOT/results/$rel/.lock"
    echo "collected results/$rel"
  done
}

stop() {
  local pid
  pid=$(cat "$SERIES_RESULTS/queue.pid" 2>/dev/null) || { echo "claims_series: not running"; return; }
  kill -- "-$pid" 2>/dev/null || kill "$pid" 2>/dev/null || true
  echo "claims_series: stopped (the runs in progress resume at the next start)"
}

case "${1:-status}" in
  start) start ;;
  status) status ;;
  collect) collect ;;
  stop) stop ;;
  list) queue | while read -r line; do command_of $line; done ;;
  *) echo "usage: $0 start|status|collect|stop|list" >&2; exit 2 ;;
esac
