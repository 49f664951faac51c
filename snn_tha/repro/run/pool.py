"""Training runs side by side: `jobs` worker processes of cpu_count // jobs threads each, one
(experiment, seed) run each, trained by `train` as in sequence (`train_runs`); and the same runs
as self-contained `snn-tha train` commands for other machines (`commands`, what `snn-tha runs`
prints). On the 2-core development machine two 1-thread runs finish a pair sooner than two
2-thread runs one after the other (measured in the README), so `make claims` trains two at a
time."""
import logging
import multiprocessing
import os
import shlex
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from snn_tha.repro import paths
from snn_tha.repro.yaml_config import ConfigError
from snn_tha.repro.data.common import DataError

log = logging.getLogger("snn_tha")


def each_seed(planned):
    """(config path, cfg, seed) of every run of [(config path, cfg)]: seeds cfg.seed + k for its
    `repeats`, the runs `train(cfg)` makes one after the other."""
    for path, cfg in planned:
        for k in range(cfg.repeats):
            yield path, cfg, cfg.seed + k


def commands(planned, overrides=()):
    """One self-contained command per (experiment, seed) run (`--set` overrides included)."""
    extra = "".join(f" --set {shlex.quote(o)}" for o in overrides)
    lines = []
    for path, cfg, seed in each_seed(planned):
        shown = Path(path).resolve().relative_to(paths.ROOT) if Path(path).is_absolute() else path
        lines.append(f"snn-tha train {shlex.quote(str(shown))} --profile {cfg.profile} "
                     f"--set seed={seed} --set repeats=1{extra} --resume")
    return lines


def threads_per_job(jobs):
    return max(1, (os.cpu_count() or 1) // jobs)


def _start_worker(threads):
    """A worker's share of the cores: torch's intra-op pool (OpenMP and MKL), which the fused
    kernels also take their thread count from."""
    import torch
    torch.set_num_threads(threads)


def _train_one(path, profile, seed, overrides):
    """One seed as `train` runs it in sequence (resume "auto": a finished run of these settings
    is left as it is, one of other settings moved aside), in a worker process."""
    from snn_tha.repro import schema
    from snn_tha.repro.run.train import train
    cfg = schema.load_config(path, profile, [*overrides, f"seed={seed}", "repeats=1"])
    return train(cfg, resume="auto", progress=False)["runs"][0]


def train_runs(runs, jobs):
    """Train `runs` [(config path, profile, seed, overrides)] `jobs` at a time, each worker with
    its share of the cores; returns their final results in order. The first failure is raised
    once the others have finished (their results are kept): a DataError as it is (the caller
    skips that data set), anything else as a ConfigError naming the run."""
    threads = threads_per_job(jobs)
    log.info("training %d runs, %d at a time with %d thread(s) each", len(runs), jobs, threads)
    failed = []
    with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn"),
                             initializer=_start_worker, initargs=(threads,)) as pool:
        futures = [pool.submit(_train_one, *run) for run in runs]
        for k, (run, future) in enumerate(zip(runs, futures)):
            error = future.exception()
            if error is not None:
                failed.append((run, error))
            if not isinstance(error, DataError):   # absent data: the caller's one line
                log.info("[%d/%d] %s seed %d: %s", k + 1, len(runs), Path(run[0]).stem,
                         run[2], "done" if error is None else f"failed ({error})")
    if failed:
        (path, _, seed, _), error = failed[0]
        if isinstance(error, DataError):
            raise error
        raise ConfigError(f"{len(failed)} of {len(runs)} runs failed; first: {Path(path).name} "
                          f"seed {seed}: {str(error).splitlines()[0] if str(error) else type(error).__name__}")
    return [future.result() for future in futures]
