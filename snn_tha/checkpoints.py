"""Run folders that are safe to resume: checkpoints with a fallback, a resume key, one writer.

- `save`: the previous checkpoint is kept as `checkpoint.prev.pt`, the new one written
  atomically; `load` falls back to the previous one when the latest is unreadable.
- `resume_key`: every setting that changes results (the config without its budget keys, plus
  the values derived from the budget); a checkpoint written under another key is refused.
- `RunLock`: one process per run folder; a lock left by a dead process is taken over.
"""
import json
import logging
import os
import time
from pathlib import Path

import torch

from snn_tha import config, runio

log = logging.getLogger("snn_tha")

LATEST, PREVIOUS = "checkpoint.pt", "checkpoint.prev.pt"
# keys that only set how long a run trains, where its data lie or where it computes: a resumed
# run may change them (a checkpoint written on a GPU continues on the CPU and back)
BUDGET_KEYS = ("epochs", "patience", "repeats", "profile", "data.data_dir", "device")


class ResumeError(config.ConfigError):
    """A run folder that cannot be resumed as asked; the message says what to do."""


def resume_key(cfg, derived):
    """The settings a checkpoint must have been trained under: the config minus BUDGET_KEYS,
    plus `derived` (values computed from the budget, e.g. budget-scaled alphas)."""
    data = config.to_dict(cfg)
    for dotted in BUDGET_KEYS:
        node, *rest = dotted.split(".")
        if rest:
            data.get(node, {}).pop(rest[0], None)
        else:
            data.pop(node, None)
    return {"config": data, "derived": derived}


def key_differences(saved, wanted):
    """'key: saved -> wanted' for every setting that differs."""
    a, b = config.flatten(saved), config.flatten(wanted)
    return [f"{k}: {a.get(k)!r} -> {b.get(k)!r}" for k in sorted(set(a) | set(b))
            if a.get(k) != b.get(k)]


def save(run_dir, state):
    run_dir = Path(run_dir)
    latest = run_dir / LATEST
    if latest.is_file():
        os.replace(latest, run_dir / PREVIOUS)
    runio.atomic_torch_save(latest, state)


def load(run_dir, wanted_key):
    """The newest readable checkpoint of `run_dir` whose resume key equals `wanted_key`."""
    run_dir = Path(run_dir)
    errors = []
    for name in (LATEST, PREVIOUS):
        path = run_dir / name
        if not path.is_file():
            continue
        try:
            ckpt = torch.load(path, weights_only=False, map_location="cpu")
        except Exception as err:  # truncated or corrupt: try the previous one
            errors.append(f"{path} unreadable ({type(err).__name__})")
            log.warning("%s is unreadable; trying the previous checkpoint", path)
            continue
        saved_key = ckpt.get("resume_key")
        if saved_key != wanted_key:
            diff = key_differences(saved_key or {}, wanted_key)
            raise ResumeError(f"{path}: trained with other settings ({'; '.join(diff[:4])}"
                              f"{' ...' if len(diff) > 4 else ''}); resume with the config it "
                              f"was trained with, or drop --resume / use another --out")
        return ckpt
    if errors:
        raise ResumeError("; ".join(errors) + ": no usable checkpoint; run without --resume "
                          "to start over")
    return None


class RunLock:
    """`with RunLock(run_dir):` one writer per run folder (refuses a live second writer)."""

    def __init__(self, run_dir):
        self.path = Path(run_dir) / ".lock"

    def __enter__(self):
        self.path.parent.mkdir(parents=True, exist_ok=True)
        while True:
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                if self._holder_alive():
                    raise ResumeError(f"{self.path.parent}: another training (pid "
                                      f"{self._holder()}) is writing this run folder; wait for "
                                      f"it or use another --out") from None
                self.path.unlink(missing_ok=True)  # stale: its process is gone
                continue
            with os.fdopen(fd, "w") as handle:
                json.dump({"pid": os.getpid()}, handle)
            return self

    def __exit__(self, *exc):
        self.path.unlink(missing_ok=True)

    def _holder(self):
        try:
            return int(json.loads(self.path.read_text())["pid"])
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def _holder_alive(self):
        pid = self._holder()
        if pid is None:  # being written this instant, or a crash before the pid was written
            try:
                return time.time() - self.path.stat().st_mtime < 10
            except FileNotFoundError:
                return False
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
