"""Where the repository's files are: its root, the configs, the results (paths never depend
on the working directory)."""
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]   # the repository
CONFIGS = ROOT / "configs"


def results_root():
    """Where runs, tables and figures go: $SNN_THA_RESULTS, default <repository>/results."""
    return Path(os.environ.get("SNN_THA_RESULTS") or ROOT / "results")


def data_root(given=None):
    """The data folder every command reads: the one given (--data-dir), else $SNN_THA_DATA,
    else <repository>/data (where `make data` puts it), whatever the working directory."""
    return Path(given or os.environ.get("SNN_THA_DATA") or ROOT / "data")


DEFAULT_PROFILE = "claims"   # the budget of every command that trains the paper's runs


def profile_names():
    """The budget profiles there are: configs/profiles/<name>.yaml."""
    return sorted(p.stem for p in (CONFIGS / "profiles").glob("*.yaml"))


def shown(path):
    """A path as a user of this checkout types it (relative to the repository when inside)."""
    path = Path(path).resolve()
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def run_name(run_dir):
    """A run folder as <experiment>/<run-id>: what names it on any machine (an absolute path
    means nothing elsewhere)."""
    return f"{Path(run_dir).resolve().parent.name}/{Path(run_dir).name}"
