"""Training runs side by side: `jobs` worker processes of cpu_count // jobs threads each, one
`snn-tha train ... --set seed=k --set repeats=1 --resume` per (experiment, seed), the commands
`snn-tha runs` prints. On the 2-core development machine two 1-thread runs finish a pair sooner
than two 2-thread runs one after the other (PyTorch's threads scale below 2x on the small
per-step tensors; measured in the README), so `make claims` trains two at a time."""
import logging
import os
import shlex
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

from snn_tha.repro import paths
from snn_tha.repro.config import ConfigError

log = logging.getLogger("snn_tha")


def threads_per_job(jobs):
    return max(1, (os.cpu_count() or 1) // jobs)


def _argv(command):
    """`snn-tha train ...` as this interpreter's module call (no reliance on PATH)."""
    words = shlex.split(command)
    return [sys.executable, "-m", "snn_tha.repro.cli", *words[1:]]


def train_commands(commands, jobs):
    """Run the `snn-tha train` commands `jobs` at a time; a failed run is a ConfigError naming
    its command and its last line, after the others have finished (their results are kept)."""
    threads = threads_per_job(jobs)
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    log.info("training %d runs, %d at a time with %d thread(s) each", len(commands), jobs, threads)

    def run(indexed):
        k, command = indexed
        done = subprocess.run(_argv(command), env=env, cwd=paths.ROOT, capture_output=True,
                              text=True)   # the commands name configs/ relative to the checkout
        log.info("[%d/%d] %s: %s", k + 1, len(commands), command,
                 "done" if done.returncode == 0 else f"failed (exit {done.returncode})")
        return command, done

    with ThreadPoolExecutor(jobs) as pool:
        failed = [(c, d) for c, d in pool.map(run, enumerate(commands)) if d.returncode != 0]
    if failed:
        command, done = failed[0]
        last = (done.stderr.strip().splitlines() or ["no message"])[-1]
        raise ConfigError(f"{len(failed)} of {len(commands)} runs failed; first: `{command}`: {last}")
