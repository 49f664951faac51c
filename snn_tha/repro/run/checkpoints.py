"""Run folders that are safe to resume: checkpoints with a fallback, a resume key, one writer.

- `save`: the previous checkpoint is kept as `checkpoint.prev.pt`, the new one written
  atomically; `load` falls back to the previous one when the latest is unreadable.
- `resume_key`: every setting that changes results (the config without its budget keys, plus
  the values derived from the budget); a checkpoint written under another key is refused.
- `RunLock`: one process per run folder; a lock left by a dead process is taken over.
- `finished_run`, `move_aside`, `clean_temporaries`: a finished run is never deleted; a run
  folder is moved to `<experiment>/.replaced/` when a run must start again in it.
"""
import json
import logging
import os
import time
from datetime import datetime, timezone
from pathlib import Path

import torch
import yaml

from snn_tha.repro import files, yaml_config as config
from snn_tha.repro.run import records

log = logging.getLogger("snn_tha")

LATEST, PREVIOUS = "checkpoint.pt", "checkpoint.prev.pt"
CHECKPOINT_KEYS = {"resume_key", "model", "optimizer", "state", "best_model", "shuffle", "rng"}
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
    files.atomic_torch_save(latest, state)


def load_checkpoint(run_dir, wanted_key):
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
        if not isinstance(ckpt, dict) or not CHECKPOINT_KEYS <= set(ckpt):
            errors.append(f"{path} is not a checkpoint of snn-tha")
            log.warning("%s is not a checkpoint; trying the previous one", path)
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
                                      f"it or use another --out (if no training runs there, "
                                      f"delete {self.path})") from None
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
        return not self._pid_reused(pid)

    def _pid_reused(self, pid):
        """True when process `pid` started after the lock was written: the writer is gone and
        its pid belongs to another process now (Linux's /proc; elsewhere never assumed)."""
        try:
            ticks = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19])
            boot = next(int(l.split()[1]) for l in open("/proc/stat") if l.startswith("btime"))
            started = boot + ticks / os.sysconf("SC_CLK_TCK")
            return started > self.path.stat().st_mtime + 2   # /proc's start time is ~1 s coarse
        except (OSError, ValueError, IndexError, StopIteration):
            return False


REPLACED = ".replaced"   # <experiment>/.replaced/<run>-<UTC time>/: runs moved aside, kept


class Finished:
    """A run folder's finished result: `final` (validated final.json), `missing` (outputs that
    final.json lists but the folder lacks), `differences` ('key: saved -> wanted' settings)."""

    def __init__(self, final, missing, differences):
        self.final, self.missing, self.differences = final, missing, differences


def wanted_settings(cfg):
    """A config's settings as its run folder's config.yaml would record them."""
    flat = config.flatten(yaml.safe_load(config.dump(cfg)))
    return {k: v for k, v in flat.items() if k not in records.NOT_SETTINGS}


def finished_run(run_dir, cfg):
    """`Finished` for a folder holding a final.json (DataError if it is damaged), else None."""
    run_dir = Path(run_dir)
    if not (run_dir / "final.json").is_file():
        return None
    final = records.read_final(run_dir / "final.json")
    missing = [name for name in final.get("outputs", []) if not (run_dir / name).is_file()]
    saved = records.run_settings(run_dir) or {}
    return Finished(final, missing, records.setting_differences(saved, wanted_settings(cfg)))


def move_aside(run_dir, why):
    """Move every file of `run_dir` (its lock excepted) to <parent>/.replaced/<name>-<UTC>/."""
    run_dir = Path(run_dir)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    dest = run_dir.parent / REPLACED / f"{run_dir.name}-{stamp}"
    dest.mkdir(parents=True)
    for item in run_dir.iterdir():
        if item.name != ".lock":
            os.replace(item, dest / item.name)
    log.warning("%s: %s; moved it to %s", run_dir, why, dest)
    return dest


def clean_temporaries(run_dir):
    """Remove the `.<name>.*.tmp` files of atomic writes a killed process left behind (called
    under the run's lock, so no live writer owns them)."""
    for tmp in Path(run_dir).glob(".*.tmp"):
        tmp.unlink(missing_ok=True)
