#!/usr/bin/env bash
# A SLURM job array that trains every (experiment, seed) run of a profile, one GPU per task.
#   .venv/bin/snn-tha runs --profile paper --seeds 5 > runs.txt
#   sbatch --array=1-$(wc -l < runs.txt)%16 scripts/slurm_array.sh runs.txt
# Each line of runs.txt is one self-contained, resumable command (`--resume`): a preempted or
# requeued task continues from its last epoch checkpoint. Afterwards, on any machine holding
# results/runs/ (shared file system or copied back): `make figures PROFILE=paper`.
#SBATCH --job-name=snn-tha
#SBATCH --gres=gpu:1
#SBATCH --cpus-per-task=4
#SBATCH --time=48:00:00
#SBATCH --requeue
#SBATCH --output=logs/%A_%a.out
set -euo pipefail
cd "${SLURM_SUBMIT_DIR:-$(dirname "$0")/..}"
command=$(sed -n "${SLURM_ARRAY_TASK_ID}p" "$1")
echo "task ${SLURM_ARRAY_TASK_ID}: ${command}"
exec .venv/bin/${command} --device cuda
