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
from pathlib import Path

from snn_tha.repro import paths
from snn_tha.repro.config import ConfigError

log = logging.getLogger("snn_tha")


def commands(planned, overrides=()):
    """One self-contained command per (experiment, seed) run (`--set` overrides included)."""
    extra = "".join(f" --set {shlex.quote(o)}" for o in overrides)
    lines = []
    for path, cfg in planned:
        for k in range(cfg.repeats):
            shown = Path(path).resolve().relative_to(paths.ROOT) if Path(path).is_absolute() else path
            lines.append(f"snn-tha train {shlex.quote(str(shown))} --profile {cfg.profile} "
                         f"--set seed={cfg.seed + k} --set repeats=1{extra} --resume")
    return lines


def threads_per_job(jobs):
    return max(1, (os.cpu_count() or 1) // jobs)


def _argv(command):
    """`snn-tha train ...` as this interpreter's module call (no reliance on PATH)."""
    words = shlex.split(command)
    return [sys.executable, "-m", "snn_tha.repro.cli", *words[1:]]


def train_commands(to_run, jobs):
    """Run the `snn-tha train` commands `jobs` at a time; a failed run is a ConfigError naming
    its command and its last line, after the others have finished (their results are kept)."""
    threads = threads_per_job(jobs)
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    log.info("training %d runs, %d at a time with %d thread(s) each", len(to_run), jobs, threads)

    def run(indexed):
        k, command = indexed
        done = subprocess.run(_argv(command), env=env, cwd=paths.ROOT, capture_output=True,
                              text=True)   # the commands name configs/ relative to the checkout
        log.info("[%d/%d] %s: %s", k + 1, len(to_run), command,
                 "done" if done.returncode == 0 else f"failed (exit {done.returncode})")
        return command, done

    with ThreadPoolExecutor(jobs) as pool:
        failed = [(c, d) for c, d in pool.map(run, enumerate(to_run)) if d.returncode != 0]
    if failed:
        command, done = failed[0]
        last = (done.stderr.strip().splitlines() or ["no message"])[-1]
        raise ConfigError(f"{len(failed)} of {len(to_run)} runs failed; first: `{command}`: {last}")
