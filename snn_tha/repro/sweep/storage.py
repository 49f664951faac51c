"""Where a sweep lives: a journal file on one machine, or a database (PostgreSQL) for many.

The URL comes from --storage, else $SNN_THA_STORAGE, else results/sweeps/<study>.journal. A
database password is never printed: every message and every file shows `safe_url(url)`.
"""
import json
import os
from pathlib import Path

import optuna

from snn_tha.repro import paths, yaml_config as config


def storage_url(given, study_name):
    """--storage, else $SNN_THA_STORAGE, else the study's journal file under results/sweeps/."""
    return given or os.environ.get("SNN_THA_STORAGE") or str(
        paths.results_root() / "sweeps" / f"{study_name}.journal")


def safe_url(url):
    """The storage URL with any password masked, for messages."""
    if "://" not in url:
        return url
    try:
        from sqlalchemy.engine import make_url
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not a URL sqlalchemy can parse: show only its scheme
        return url.split("://", 1)[0] + "://***"


def open_storage(url, heartbeat=60, grace=120):
    """A journal file path, or a database URL (with heartbeats and re-queueing of stale trials)."""
    if "://" not in url:
        Path(url).parent.mkdir(parents=True, exist_ok=True)
        check_journal(Path(url))
        backend = optuna.storages.journal.JournalFileBackend(str(url))
        return optuna.storages.journal.JournalStorage(backend)
    try:
        return optuna.storages.RDBStorage(
            url, heartbeat_interval=heartbeat, grace_period=grace,
            heartbeat_stale_trial_callback=optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=3))
    except Exception as err:  # sqlalchemy's connection errors are long; the user needs one line
        reason = str(getattr(err, "orig", None) or err).strip().splitlines()[0]
        raise config.ConfigError(f"cannot open the sweep storage {safe_url(url)}: {reason}; check "
                                 f"the host, port, user and that the database runs") from None


def check_journal(path):
    """Every complete line of a journal file is one JSON operation (a line a writer was killed
    in the middle of, the last one, is Optuna's to skip); otherwise one line naming it."""
    if not path.is_file():
        return
    with open(path, "rb") as handle:
        for number, line in enumerate(handle, 1):
            if not line.endswith(b"\n"):
                break
            try:
                if not isinstance(json.loads(line), dict):
                    raise ValueError("not an operation")
            except ValueError:
                raise config.ConfigError(
                    f"{path}: line {number} is not a journal operation (the file was edited or "
                    f"damaged); restore it from a copy, or start a new study") from None


def load_study(storage_url, study_name, heartbeat=60, grace=120, **kwargs):
    """An existing study, or one line listing the studies the storage holds."""
    if "://" not in storage_url and not Path(storage_url).is_file():
        raise config.ConfigError(f"no sweep storage at {storage_url}: create the study with "
                                 f"`snn-tha sweep init --study {study_name} --space ...` (or pass --storage)")
    storage = open_storage(storage_url, heartbeat, grace)
    names = [s.study_name for s in optuna.get_all_study_summaries(storage)]
    if study_name not in names:
        raise config.ConfigError(f"no study {study_name!r} in {safe_url(storage_url)} (it has: "
                                 f"{', '.join(names) or 'none'}); create it with `snn-tha sweep init`")
    return optuna.load_study(study_name=study_name, storage=storage, **kwargs), storage
