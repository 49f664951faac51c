"""Which seed of a series to ship (`snn-tha ship EXPERIMENT_DIR --choose PROFILE`): the finished
`<profile>-seed<k>` run with the highest validation accuracy, never the test accuracy (choosing on
test would make the shipped figure an optimistic one), beside the test accuracy over every seed
so that a card says how typical the shipped seed is. Only repeats of one setting are compared:
runs whose config differs beyond the seed, or that another commit trained, are refused."""
import statistics
from pathlib import Path

from snn_tha.repro import yaml_config as config
from snn_tha.repro.run import records


def finished_runs(experiment_dir, profile):
    """{run folder: final.json} of the finished `<profile>-seed<k>` runs, or a ConfigError."""
    folder = Path(experiment_dir)
    runs = {p.parent: records.read_final(p) for p in sorted(folder.glob(f"{profile}-seed*/final.json"))}
    if not runs:
        raise config.ConfigError(f"{folder}: no finished {profile}-seed<k> run (no final.json); "
                                 f"give an experiment folder of results/runs/ and a profile it was "
                                 f"trained at")
    return runs


def setting(run_dir, final):
    """What must be equal for two runs to be repeats: the settings (`records.run_settings`: the
    config less the seed and where it ran) and the commit that trained it."""
    return records.run_settings(run_dir), final["provenance"]["git_commit"]


def choose(experiment_dir, profile):
    """(the chosen run folder, the series' summary for its card)."""
    runs = finished_runs(experiment_dir, profile)
    first = next(iter(runs))
    for run, final in runs.items():
        if setting(run, final) != setting(first, runs[first]):
            raise config.ConfigError(f"{run}: not a repeat of {first} (its config beyond the seed, "
                                     f"or its commit, differs); ship chooses among repeats of one "
                                     f"setting: move the other runs out of {Path(experiment_dir)}")
    chosen = min(runs, key=lambda r: (-runs[r]["val_acc"], runs[r]["seed"]))
    test = [runs[r]["test_acc"] for r in runs]
    return chosen, {
        "profile": profile, "seeds": sorted(f["seed"] for f in runs.values()),
        "chosen_on": "validation accuracy (the highest; ties: the lowest seed)",
        "val_acc": runs[chosen]["val_acc"], "test_acc_mean": statistics.fmean(test),
        "test_acc_sd": statistics.stdev(test) if len(test) > 1 else None}


def card_line(series):
    """The card's line on the series the shipped seed was chosen from."""
    if not series:
        return []
    n, pct = len(series["seeds"]), lambda x: f"{100 * x:.2f}%"
    spread = f" ± {100 * series['test_acc_sd']:.2f}" if series["test_acc_sd"] is not None else ""
    return [f"- chosen from {n} seed{'s' * (n > 1)} of the `{series['profile']}` series "
            f"({', '.join(map(str, series['seeds']))}) on {series['chosen_on']}: "
            f"{pct(series['val_acc'])}; test accuracy over all {n}: "
            f"{100 * series['test_acc_mean']:.2f}{spread}%"]
