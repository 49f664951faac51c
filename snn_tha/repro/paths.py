"""Where the repository's files are: its root, the configs, the results (paths never depend
on the working directory)."""
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]   # the repository
CONFIGS = ROOT / "configs"


def results_root():
    """Where runs, tables and figures go: $SNN_THA_RESULTS, default <repository>/results."""
    return Path(os.environ.get("SNN_THA_RESULTS") or ROOT / "results")
