"""Writing run outputs so that no reader ever sees a half-written file: atomic writes (a temp
file in the same folder, then a rename), sets of files replaced together, and the row logs a
resumed run truncates."""
import contextlib
import csv
import io
import json
import os
import shutil
import tempfile
from pathlib import Path


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


@contextlib.contextmanager
def staged(out, prefix):
    """A staging folder inside `out` (made if missing) for a set of files that must replace
    `out`'s together (`replace_set`); removed on the way out. On any exception (a refusal,
    Ctrl-C) an `out` this call made is removed too: nothing half-written is left behind."""
    out = Path(out)
    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    try:
        with tempfile.TemporaryDirectory(dir=out, prefix=prefix) as stage:
            yield Path(stage)
    except BaseException:
        if created:
            shutil.rmtree(out, ignore_errors=True)
        raise


def replace_set(stage, out, names):
    """Each of `names`, in order, moved from `stage` into `out` (renames: each file whole), or
    removed from `out` where the stage has none, so `out` never keeps a file of the set it
    replaced. Returns {name: path in out} of the files moved."""
    moved = {}
    for name in names:
        if (Path(stage) / name).is_file():
            os.replace(Path(stage) / name, Path(out) / name)
            moved[name] = Path(out) / name
        else:
            (Path(out) / name).unlink(missing_ok=True)
    return moved


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
