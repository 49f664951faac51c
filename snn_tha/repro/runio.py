"""Run outputs: atomic writes and provenance (git commit, package versions)."""
import csv
import io
import json
import os
import platform
import subprocess
import sys
import tempfile
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]   # the repository (paths never depend on the cwd)
CONFIGS = ROOT / "configs"


def results_root():
    """Where runs, tables and figures go: $SNN_THA_RESULTS, default <repository>/results."""
    return Path(os.environ.get("SNN_THA_RESULTS") or ROOT / "results")


TRACKED_PACKAGES = ("torch", "torchvision", "snntorch", "numpy", "tonic", "optuna")


def atomic_write_bytes(path, data):
    """Write to a temp file in the same folder, then rename: never a half-written file."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as err:  # read-only or missing folder: name the file we wanted to write
        raise OSError(err.errno, err.strerror, str(path)) from None
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; results are meant to be shared
        os.replace(tmp, path)
    except BaseException as err:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(err, OSError) and not err.filename:  # e.g. ENOSPC: say which file
            raise OSError(err.errno, err.strerror, str(path)) from None
        raise


def atomic_write_text(path, text):
    atomic_write_bytes(path, text.encode())


def atomic_write_json(path, obj, compact=False):
    """JSON, indented for summaries a person reads; `compact` for bulky traces."""
    text = json.dumps(obj, separators=(",", ":")) if compact else json.dumps(obj, indent=2)
    atomic_write_text(path, text + "\n")


def atomic_write_csv(path, rows, fieldnames=None):
    """Write a list of dicts as CSV (columns from the first row unless given)."""
    rows = list(rows)
    if fieldnames is None:  # every column of every row, in order of appearance (a run resumed
        fieldnames = []     # by a newer version may have rows with more columns)
        for row in rows:
            fieldnames += [k for k in row if k not in fieldnames]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=fieldnames, lineterminator="\n", restval="")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(path, buffer.getvalue())


def atomic_torch_save(path, obj):
    import torch
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    atomic_write_bytes(path, buffer.getvalue())


_COMMIT = None


def git_commit():
    """Full HEAD commit of the code this process runs, with '-dirty' when tracked source
    differed from it (files under results/, which the pipeline itself rewrites, do not count).
    Read once per process: the code that runs is the code imported at start, even if the
    files change while a long job runs."""
    global _COMMIT
    if _COMMIT is None:
        _COMMIT = _read_git_commit()
    return _COMMIT


def _read_git_commit():
    root = ROOT
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True,
                                text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--",
                                ".", ":(exclude)results"], cwd=root, capture_output=True,
                               text=True, check=True).stdout
        return commit + ("-dirty" if dirty.strip() else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def package_versions():
    versions = {}
    for name in TRACKED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def provenance(seed=None):
    """What a result needs to be traced back: code, packages, machine, time, seed."""
    return {
        "seed": seed,
        "git_commit": git_commit(),
        "packages": package_versions(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "created_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def append_rows(path, rows):
    if not rows:
        return
    new = not path.exists()
    with open(path, "a", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        if new:
            writer.writeheader()
        writer.writerows(rows)


def truncate_rows(path, keep):
    """Drop iteration rows written after the checkpoint a resumed run starts from."""
    if path.exists():
        lines = path.read_text().splitlines(keepends=True)
        atomic_write_text(path, "".join(lines[:keep + 1]))
