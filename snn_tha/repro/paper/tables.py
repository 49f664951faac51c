"""Tables 1-2 from run directories only: best / mean / sample std of the test accuracy over
the repeats of each (data set, variant), for one budget profile, with the paper's numbers beside."""
import json
import statistics
from pathlib import Path

from snn_tha.repro import catalogue, files, paths
from snn_tha.repro.paper import claim_stats, published as paper
from snn_tha.repro.run import records
from snn_tha.repro.data.common import DataError

ROOT = paths.ROOT
TITLES = {"table1": "Table 1: static data sets", "table2": "Table 2: event data sets"}
# name: (config prefixes, data sets, title, figure prefixes), all from the catalogue
TABLES = {name: (catalogue.table_prefixes(name), catalogue.table_datasets(name), title,
                 catalogue.table_prefixes(name)) for name, title in TITLES.items()}


def table_configs(name):
    """The experiment configs whose runs make table `name`: configs/<prefix>_*.yaml."""
    return sorted(p for prefix in TABLES[name][0] for p in paths.CONFIGS.glob(f"{prefix}_*.yaml"))


def build(name, profile, results=None):
    """Table `name` of `profile` with its figures and the dead-neuron table, from the run
    folders under `results/runs` only; returns the paths written (a DataError if none)."""
    _, datasets, title, prefixes = TABLES[name]
    results = Path(results) if results is not None else paths.results_root()
    runs_root, out_tables = Path(results) / "runs", Path(results) / "tables"
    finals = records.collect_runs(runs_root, profile)
    rows = write_table(name, f"{title} ({profile} profile)", datasets, profile, runs_root,
                       out_tables, finals=finals)
    if not rows:
        raise DataError(f"{name}: no finished run of profile {profile!r} for "
                        f"{', '.join(datasets)} under {runs_root}/ (data missing?): nothing written")
    written = [out_tables / f"{name}_{profile}.md"]
    for prefix in prefixes:
        written += activity_figures(profile, prefix, runs_root, Path(results) / "figures", finals)
    if write_dead_neurons(profile, runs_root, out_tables, finals=finals):
        written.append(out_tables / f"dead_neurons_{profile}.md")
    return written


def runs_frame(finals, datasets):
    """One row per finished run (final.json) of the given data sets and the table's variants."""
    import pandas as pd
    rows = []
    for f in finals:
        if f["dataset"] in datasets and f["variant"] in paper.VARIANTS:
            dead = {f"dead_{i}": 100 * d for i, d in enumerate(f.get("dead_fraction", []))}
            rows.append({"dataset": f["dataset"], "variant": f["variant"], "profile": f["profile"],
                         "acc": 100 * f["test_acc"], "epochs": f["epochs_run"],
                         "train_images": f["train_images"], "num_steps": f["num_steps"],
                         "selected_on": f["selected_on"], "train_seconds": f["train_seconds"],
                         **dead})
    return pd.DataFrame(rows)


def summarize(finals, datasets):
    """Best / mean / sample std of the test accuracy and mean dead % per layer for each
    (data set, variant): a pandas group-by over the run folders' final.json. Mean and sd are
    the `statistics` module's (exactly summed), as in the claims files: pandas' group-by sums in
    another order, and a mean such as 93.415 would print 93.42 here and 93.41 there."""
    runs = runs_frame(finals, datasets)
    if runs.empty:
        return []
    for (dataset, variant), group in runs.groupby(["dataset", "variant"], sort=False):
        records.check_same_settings([f for f in finals if (f["dataset"], f["variant"]) == (dataset, variant)],
                            f"{dataset} {variant}")
    dead_cols = sorted((c for c in runs.columns if c.startswith("dead_")), key=lambda c: int(c[5:]))
    stats = runs.groupby(["dataset", "variant"], sort=False).agg(
        profile=("profile", "first"), runs=("acc", "size"), best=("acc", "max"),
        mean=("acc", statistics.mean), std=("acc", claim_stats.sample_sd), epochs=("epochs", "max"),
        train_images=("train_images", "first"), num_steps=("num_steps", "first"),
        selected_on=("selected_on", "first"), train_seconds=("train_seconds", "sum"),
        **{c: (c, "mean") for c in dead_cols})
    rows = []
    for dataset in datasets:
        for variant in paper.VARIANTS:
            if (dataset, variant) not in stats.index:
                continue
            r = stats.loc[(dataset, variant)]
            paper_row = paper.TABLE1.get(dataset, {}).get(variant) or (None, None, None)
            dead = [r[c] for c in dead_cols if r[c] == r[c]]  # NaN: a net with fewer layers
            rows.append({
                "dataset": paper.DATASET_LABELS.get(dataset, dataset),
                "variant": paper.VARIANT_LABELS[variant], "profile": r["profile"],
                "runs": int(r["runs"]), "best": round(float(r["best"]), 2),
                "mean": round(float(r["mean"]), 2),
                "std": round(float(r["std"]), 2) if r["runs"] > 1 else None,
                "paper_best": paper_row[0], "paper_mean": paper_row[1], "paper_std": paper_row[2],
                "epochs": int(r["epochs"]), "train_images": int(r["train_images"]),
                "num_steps": int(r["num_steps"]), "selected_on": r["selected_on"],
                "dead_pct_per_layer": "/".join(f"{d:.0f}" for d in dead),
                "train_minutes": round(float(r["train_seconds"]) / 60, 1)})
    return rows


def _fmt(value):
    return "—" if value is None else f"{value:.2f}"


def run_settings(finals):
    """One line naming the paper-vs-release settings the runs were trained with, read from each
    run's config.yaml (old runs predate some keys: their value was the then default)."""
    import yaml
    seen = {"surrogate centre": set(), "evaluation thresholds": set(), "init": set(),
            "cosine period": set(), "commit": set()}
    for final in finals:
        path = Path(final["run_dir"]) / "config.yaml"
        if not path.is_file():
            continue
        cfg = yaml.safe_load(path.read_text())
        seen["surrogate centre"].add(cfg["net"].get("surrogate_centre", "initial"))
        seen["init"].add(cfg["net"].get("init", "fan_in"))
        if final.get("variant") in ("annealing", "annealing_budget"):
            seen["evaluation thresholds"].add(cfg.get("test_threshold", "theta_inf"))
        period = cfg["optim"].get("period_iterations")
        seen["cosine period"].add(f"{period} iterations" if period else
                                  f"{cfg['optim'].get('period_epochs', 10.0):g} epochs")
        seen["commit"].add(final.get("provenance", {}).get("git_commit", "unknown")[:12])
    if not any(seen.values()):
        return ""
    return "Run settings (from each run's config.yaml): " + "; ".join(
        f"{k} {', '.join(sorted(v))}" for k, v in seen.items() if v) + "."


def expected_runs(profile):
    """The number of seeds the profile asks for (configs/profiles/<profile>.yaml `repeats`)."""
    import yaml
    path = paths.CONFIGS / "profiles" / f"{profile}.yaml"
    if not path.is_file():
        return None
    return (yaml.safe_load(path.read_text()) or {}).get("repeats")


def markdown(rows, title, settings="", expected=None):
    lines = [f"# {title}", "",
             "Test accuracy (%) over the repeats of each experiment (dead %: neurons that never fired "
             "on the test set, per layer, mean over repeats); our budget is in the columns "
             "profile / runs / epochs / train images / T, the paper's (5 trials, up to 500 epochs, "
             "full data, T=100) is not. A reduced budget is not comparable to the paper's number.", "",
             "| data | variant | profile | runs | best | mean | std | paper best | paper mean | "
             "paper std | epochs | train images | T | model chosen on | dead % per layer | train min |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        runs = (f"{r['runs']} of {expected} (missing runs)" if expected and r["runs"] < expected
                else f"{r['runs']}")
        lines.append(f"| {r['dataset']} | {r['variant']} | {r['profile']} | {runs} | "
                     f"{_fmt(r['best'])} | {_fmt(r['mean'])} | {_fmt(r['std'])} | "
                     f"{_fmt(r['paper_best'])} | {_fmt(r['paper_mean'])} | {_fmt(r['paper_std'])} | "
                     f"{r['epochs']} | {r['train_images']} | {r['num_steps']} | {r['selected_on']} | "
                     f"{r['dead_pct_per_layer'] or '—'} | {r['train_minutes']} |")
    if settings:
        lines += ["", settings]
    return "\n".join(lines) + "\n"


def write_table(name, title, datasets, profile, runs_root, out_dir, finals=None):
    """Write results/tables/<name>_<profile>.{md,csv}; returns the rows (empty if no runs)."""
    finals = records.collect_runs(runs_root, profile) if finals is None else finals
    rows = summarize(finals, datasets)
    if rows:
        used = [f for f in finals if f["dataset"] in datasets and "run_dir" in f]
        files.atomic_write_csv(Path(out_dir) / f"{name}_{profile}.csv", rows)
        files.atomic_write_text(Path(out_dir) / f"{name}_{profile}.md",
                                markdown(rows, title, run_settings(used) if used else "",
                                         expected_runs(profile)))
    return rows


FIGURE_DATASETS = catalogue.PREFIX_LABELS


def _variant_runs(runs_root, prefix, profile, finals):
    """{label: [run folders of every seed]} of the tuned fixed θ and annealing, when both have runs."""
    labels = {f"{prefix}_bsnn": "BSNN fixed θ", f"{prefix}_annealing": "threshold annealing"}
    found = {}
    for experiment, label in labels.items():
        runs = sorted((Path(f["run_dir"]) for f in finals
                       if Path(f["run_dir"]).parent == Path(runs_root) / experiment),
                      key=lambda run: run.name)
        runs = [run for run in runs if (run / "activity.json").is_file()]
        if runs:
            found[label] = runs
    return found if len(found) == len(labels) else {}


def _dead_over_seeds(experiment_dir, finals):
    """Per layer: (mean %, sd %, n) of the dead fraction over the seeds of one experiment folder
    (from `collect_runs`, already read)."""
    mine = [f for f in finals if Path(f["run_dir"]).parent == experiment_dir]
    per_layer = list(zip(*(f["dead_fraction"] for f in mine)))
    return [(100 * statistics.mean(d), 100 * statistics.stdev(d) if len(d) > 1 else 0.0, len(d))
            for d in per_layer]


def activity_figures(profile, prefix, runs_root, out_dir, finals):
    """Activity (Figs. 5/7 style) and training curves (Fig. 6 style), fixed θ vs annealing."""
    import csv
    from snn_tha.repro.paper import plots
    runs = _variant_runs(runs_root, prefix, profile, finals)
    if not runs:
        return []
    name = FIGURE_DATASETS.get(prefix, prefix)
    activities = {label: [json.loads((run / "activity.json").read_text()) for run in seeds]
                  for label, seeds in runs.items()}
    curves = {label: [list(csv.DictReader(open(run / "iterations.csv"))) for run in seeds]
              for label, seeds in runs.items()}
    activity_path = Path(out_dir) / f"{prefix}_activity_{profile}.png"
    plots.activity_figure(activities, activity_path,
                          f"{name}: spike activity over the test set ({profile} profile; every seed, "
                          f"counts per seed; dead %: mean ± sd over seeds)",
                          {label: _dead_over_seeds(seeds[0].parent, finals) for label, seeds in runs.items()})
    curves_path = Path(out_dir) / f"{prefix}_training_{profile}.png"
    plots.training_curves(curves, curves_path,
                          f"{name}: training loss (seed mean ± 1 sd) and thresholds ({profile} profile)")
    return [activity_path, curves_path]


def _fmt_reduction(value):
    return "— (no dead neuron with a fixed θ)" if value is None else value


def write_dead_neurons(profile, runs_root, out_dir, finals=None):
    """Dead-neuron fraction per layer, fixed θ vs annealing, and the relative reduction
    (paper, SHD: 55% / 90% dead with a fixed θ, ~20% with annealing: 71% fewer)."""
    finals = records.collect_runs(runs_root, profile) if finals is None else finals
    datasets = ("mnist", "fashion_mnist", "dvs_gesture", "shd")   # the order of the committed table
    runs = runs_frame(finals, datasets)
    rows = []
    if not runs.empty:
        dead_cols = sorted((c for c in runs.columns if c.startswith("dead_")), key=lambda c: int(c[5:]))
        means = runs.groupby(["dataset", "variant"])[dead_cols].mean()   # % per layer
        for dataset in datasets:
            if (dataset, "bsnn") not in means.index or (dataset, "annealing") not in means.index:
                continue
            fixed, tha = means.loc[(dataset, "bsnn")], means.loc[(dataset, "annealing")]
            for layer, col in enumerate(c for c in dead_cols if fixed[c] == fixed[c]):
                d_fixed, d_tha = float(fixed[col]), float(tha[col])
                rows.append({"dataset": paper.DATASET_LABELS[dataset], "layer": layer + 1,
                             "profile": profile, "dead_pct_fixed_theta": round(d_fixed, 1),
                             "dead_pct_annealing": round(d_tha, 1),
                             "relative_reduction_pct": round(100 * (d_fixed - d_tha) / d_fixed, 1)
                             if d_fixed > 0 else None})
    if rows:
        files.atomic_write_csv(Path(out_dir) / f"dead_neurons_{profile}.csv", rows)
        lines = ["# Dead neurons (never fire on the test set)", "",
                 "| data | layer | profile | dead % fixed θ | dead % annealing | relative reduction % |",
                 "|---|---|---|---|---|---|"]
        lines += [f"| {r['dataset']} | {r['layer']} | {r['profile']} | {r['dead_pct_fixed_theta']} | "
                  f"{r['dead_pct_annealing']} | {_fmt_reduction(r['relative_reduction_pct'])} |" for r in rows]
        files.atomic_write_text(Path(out_dir) / f"dead_neurons_{profile}.md", "\n".join(lines) + "\n")
    return rows
