"""Numbers read back from a run folder, validated before any table, claim or resume uses them.

`read_final(path)` parses `final.json` and checks its schema, types and ranges (accuracies and
dead fractions in [0, 1], counts >= 0, thresholds finite and > 0); anything else is a DataError
whose one line names the file and the key. A run folder's final.json is the only source of the
numbers in Tables 1-2 and the claims, so nothing reaches them unchecked.
"""
import json
import math
from pathlib import Path

from snn_tha.repro import catalogue, yaml_config as config
from snn_tha.repro.data.common import DataError


def _fraction(v):
    return _number(v) and 0.0 <= v <= 1.0


def _number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _count(v):
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


def _positive_list(v):
    return isinstance(v, list) and all(_number(x) and x > 0 for x in v)


def _text(v):
    return isinstance(v, str) and v != ""


# key: (rule, what the rule says, required in a run with test results: what tables and claims read)
FIELDS = {
    "experiment": (_text, "a name", False),
    "variant": (_text, "a variant name", True),
    "dataset": (_text, "a data set name", True),
    "profile": (_text, "a profile name", True),
    "seed": (_count, "an integer >= 0", False),
    "test_acc": (_fraction, "a fraction in [0, 1]", True),
    "val_acc": (lambda v: _fraction(v) or (isinstance(v, float) and math.isnan(v)),
                "a fraction in [0, 1]", False),
    "dead_fraction": (lambda v: isinstance(v, list) and v != [] and all(_fraction(x) for x in v),
                      "a list of fractions in [0, 1], one per layer", True),
    "epochs_run": (_count, "an integer >= 0", True),
    "best_epoch": (lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= -1,
                   "an integer >= -1", False),
    "train_images": (lambda v: _count(v) and v >= 1, "an integer >= 1", True),
    "test_images": (lambda v: _count(v) and v >= 1, "an integer >= 1", False),
    "num_steps": (lambda v: _count(v) and v >= 1, "an integer >= 1", True),
    "train_seconds": (lambda v: _number(v) and v >= 0, "a number >= 0", True),
    "selected_on": (_text, "a text", True),
    "iterations": (_count, "an integer >= 0", False),
    "final_thresholds": (_positive_list, "a list of finite thresholds > 0", False),
    "eval_thresholds": (_positive_list, "a list of finite thresholds > 0", False),
    "theta_inf": (lambda v: v is None or _positive_list(v), "null or a list of thresholds > 0", False),
    "alpha": (lambda v: v is None or (isinstance(v, list) and all(_number(a) and 0 < a <= 1 for a in v)),
              "null or a list of alphas in (0, 1]", False),
    "outputs": (lambda v: isinstance(v, list) and all(_text(x) and "/" not in x for x in v),
                "a list of file names in the run folder", False),
}
# a sweep trial's final.json holds validation numbers only
TRIAL_FIELDS = ("experiment", "seed", "val_acc", "best_epoch", "epochs_run", "train_seconds")


def check_final(final, where):
    """Raise DataError (one line naming `where` and the key) unless `final` is a valid result."""
    if not isinstance(final, dict):
        raise DataError(f"{where}: not a run result (a JSON object is expected); retrain the run")
    required = [k for k, (_, _, req) in FIELDS.items() if req] if "test_acc" in final else TRIAL_FIELDS
    for key in required:
        if key not in final:
            raise DataError(f"{where}: key '{key}' is missing; the run folder is not a finished "
                            f"run of this version: retrain it (snn-tha train ... --retrain)")
    for key, (rule, what, _) in FIELDS.items():
        if key in final and not rule(final[key]):
            raise DataError(f"{where}: key '{key}' must be {what}, got {final[key]!r}; the file is "
                            f"damaged or edited: retrain the run or restore the file")
    return final


def read_final(path):
    """final.json at `path`, parsed and validated (DataError with one line otherwise)."""
    path = Path(path)
    try:
        final = json.loads(path.read_text())
    except UnicodeDecodeError:
        raise DataError(f"{path}: not a text file; retrain the run or restore the file") from None
    except json.JSONDecodeError as err:
        raise DataError(f"{path}: invalid JSON at line {err.lineno} ({err.msg}): truncated or "
                        f"damaged; retrain the run or restore the file") from None
    return check_final(final, str(path))


# keys that say where or how often a run ran, or how its work was split, not what it computed:
# runs differing only in these are repeats of one setting (the seed is in the run folder's
# name). net.conv_chunk (time steps per convolution call) changes the order in which weight
# gradients are summed, as the thread count or the CPU does, and no value
NOT_SETTINGS = ("seed", "repeats", "device", "data.data_dir", "net.conv_chunk")


# keys added after runs were recorded, with the value every run made before them used: a
# run folder whose config.yaml lacks one of them computed with that value
BEFORE_THE_KEY = {"net.init_order": "torch_first"}


def run_settings(run_dir):
    """The resolved settings of a run folder (its config.yaml, flattened, less NOT_SETTINGS,
    BEFORE_THE_KEY filled in for a run recorded before the key), or None for a folder without
    config.yaml."""
    import yaml
    path = Path(run_dir) / "config.yaml"
    if not path.is_file():
        return None
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError:
        raise DataError(f"{path}: invalid YAML; restore the file or retrain the run") from None
    if not isinstance(data, dict):
        raise DataError(f"{path}: not a run config (a mapping is expected); retrain the run")
    flat = config.flatten(data)
    if "net" in data:
        flat = {**BEFORE_THE_KEY, **flat}
    return {k: v for k, v in flat.items() if k not in NOT_SETTINGS}


def setting_differences(saved, wanted):
    """'key: saved -> wanted' for every key both settings have and that differs."""
    return [f"{k}: {saved[k]!r} -> {wanted[k]!r}" for k in sorted(wanted)
            if k in saved and saved[k] != wanted[k]]


def read_metrics(run_dir):
    """metrics.csv of a run folder, one dict per epoch, every accuracy and dead fraction checked
    to be a number in [0, 1] (a NaN or an edit: DataError naming the file, the epoch and the column)."""
    import csv
    path = Path(run_dir) / "metrics.csv"
    try:
        rows = list(csv.DictReader(path.open()))
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise DataError(f"{path}: unreadable ({type(err).__name__}); retrain the run or restore "
                        f"the file") from None
    for row in rows:
        for column, text in row.items():
            if column and (column.endswith("_acc") or column.startswith("dead_")):
                try:
                    value = float(text)
                except (TypeError, ValueError):
                    value = math.nan
                if not 0.0 <= value <= 1.0:
                    raise DataError(f"{path}: epoch {row.get('epoch')}, column {column} must be a "
                                    f"fraction in [0, 1], got {text!r}; retrain the run or restore the file")
    return rows


def collect_runs(runs_root, profile, experiment=None):
    """final.json of every finished run of `profile` under runs_root/<experiment>/<folder>/, each
    run identified by what it recorded (experiment, seed, settings), never by its folder's name:
    a copy of a run (a backup folder) counts once, two different results of one experiment, seed
    and settings are refused, and a run without config.yaml (whose settings cannot be compared
    with the other seeds') is refused. Only the catalogue's experiment of each (data set, variant)
    is a paper run: a side experiment (a parity run, say) is never a repeat of it. `experiment`:
    that experiment's runs instead, side experiment or not. Each final carries the settings it
    was compared by (`settings`), read once."""
    found = {}
    for path in sorted(Path(runs_root).glob(f"{experiment or '*'}/*/final.json")):
        final = read_final(path)
        wanted = experiment or catalogue.experiment_of(final["dataset"], final["variant"])
        if final.get("profile") != profile or final.get("experiment") != wanted:
            continue
        final["run_dir"] = str(path.parent)
        final["settings"] = recorded = run_settings(path.parent)
        if recorded is None:
            raise DataError(f"{path.parent}: no config.yaml, so its settings cannot be checked "
                            f"against the other seeds'; restore the file or move the folder aside")
        key = (final["experiment"], final.get("seed"), json.dumps(recorded, sort_keys=True, default=str))
        found.setdefault(key, []).append(final)
    return [_one_run(copies, profile) for copies in found.values()]


def _one_run(copies, profile):
    """One run from the folders that recorded the same experiment, seed and settings: copies of
    one result count once (the folder named <profile>-seed<k> if there is one), anything else
    is a DataError naming two folders."""
    same = lambda f: {k: v for k, v in f.items() if k not in ("run_dir", "settings")}   # noqa: E731
    for other in copies[1:]:
        if same(other) != same(copies[0]):
            raise DataError(f"{copies[0]['run_dir']} and {other['run_dir']} hold two different "
                            f"results of {copies[0]['experiment']} seed {copies[0].get('seed')} with "
                            f"the same settings: a seed is counted once; move one folder aside")
    named = [f for f in copies if Path(f["run_dir"]).name == f"{profile}-seed{f.get('seed')}"]
    return (named or copies)[0]


def settings(final):
    """The resolved settings of a table row's run (see `records.run_settings`): those
    `collect_runs` read, else its folder's config.yaml."""
    if "settings" in final:
        return final["settings"]
    return run_settings(final["run_dir"]) if "run_dir" in final else None


def init_orders(finals):
    """The orders in which these runs drew their initial weights (`net.init_order`), sorted."""
    return sorted({str((settings(f) or {}).get("net.init_order")) for f in finals})


def check_same_settings(finals, what):
    """Refuse (one line naming two folders and the keys) to treat runs of different resolved
    settings as repeats of one setting. Keys one config lacks (runs made before the key existed)
    are not compared."""
    first, first_settings = None, None
    for final in finals:
        found = settings(final)
        if found is None:
            continue
        if first is None:
            first, first_settings = final, found
            continue
        differ = [f"{k}: {first_settings[k]!r} vs {found[k]!r}" for k in sorted(found)
                  if k in first_settings and first_settings[k] != found[k]]
        if differ:
            raise DataError(f"{what}: {first['run_dir']} and {final['run_dir']} were trained with "
                            f"different settings ({'; '.join(differ[:4])}{' ...' if len(differ) > 4 else ''}), "
                            f"so they are not repeats of one experiment: move one aside or "
                            f"rerun it with the other's settings")
