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
    else data/ in the working directory (where `make data` puts it)."""
    return Path(given or os.environ.get("SNN_THA_DATA") or "data")
