"""Tables 1-2 from run directories only: best / mean / sample std of the test accuracy over
the repeats of each (data set, variant), for one budget profile, with the paper's numbers beside."""
import json
import statistics
from pathlib import Path

from snn_tha import paper, runio


def collect_runs(runs_root, profile):
    """final.json of every finished run of `profile` under runs_root/<experiment>/."""
    finals = []
    for path in sorted(Path(runs_root).glob(f"*/{profile}-seed*/final.json")):
        final = json.loads(path.read_text())
        final["run_dir"] = str(path.parent)
        finals.append(final)
    return finals


def summarize(finals, datasets):
    rows = []
    for dataset in datasets:
        for variant in paper.VARIANTS:
            runs = [f for f in finals if f["dataset"] == dataset and f["variant"] == variant]
            if not runs:
                continue
            accs = [100 * f["test_acc"] for f in runs]
            paper_row = paper.TABLE1.get(dataset, {}).get(variant)
            rows.append({
                "dataset": paper.DATASET_LABELS.get(dataset, dataset),
                "variant": paper.VARIANT_LABELS[variant], "profile": runs[0]["profile"],
                "runs": len(runs), "best": round(max(accs), 2),
                "mean": round(statistics.mean(accs), 2),
                "std": round(statistics.stdev(accs), 2) if len(accs) > 1 else None,
                "paper_best": paper_row[0] if paper_row else None,
                "paper_mean": paper_row[1] if paper_row else None,
                "paper_std": paper_row[2] if paper_row else None,
                "epochs": max(f["epochs_run"] for f in runs),
                "train_images": runs[0]["train_images"], "num_steps": runs[0]["num_steps"],
                "selected_on": runs[0]["selected_on"],
                "train_minutes": round(sum(f["train_seconds"] for f in runs) / 60, 1)})
    return rows


def _fmt(value):
    return "—" if value is None else f"{value:.2f}"


def markdown(rows, title):
    lines = [f"# {title}", "",
             "Test accuracy (%) over the repeats of each experiment; our budget is in the columns "
             "profile / runs / epochs / train images / T, the paper's (5 trials, up to 500 epochs, "
             "full data, T=100) is not. A reduced budget is not comparable to the paper's number.", "",
             "| data | variant | profile | runs | best | mean | std | paper best | paper mean | "
             "paper std | epochs | train images | T | model chosen on | train min |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['dataset']} | {r['variant']} | {r['profile']} | {r['runs']} | "
                     f"{_fmt(r['best'])} | {_fmt(r['mean'])} | {_fmt(r['std'])} | "
                     f"{_fmt(r['paper_best'])} | {_fmt(r['paper_mean'])} | {_fmt(r['paper_std'])} | "
                     f"{r['epochs']} | {r['train_images']} | {r['num_steps']} | {r['selected_on']} | "
                     f"{r['train_minutes']} |")
    return "\n".join(lines) + "\n"


def write_table(name, title, datasets, profile, runs_root="results/runs", out_dir="results/tables"):
    """Write results/tables/<name>.{md,csv}; returns the rows (empty if no runs)."""
    rows = summarize(collect_runs(runs_root, profile), datasets)
    if rows:
        runio.atomic_write_csv(Path(out_dir) / f"{name}.csv", rows)
        runio.atomic_write_text(Path(out_dir) / f"{name}.md", markdown(rows, title))
    return rows


def static_figures(profile, runs_root="results/runs", out_dir="results/figures", dataset="fmnist"):
    """Activity (Fig. 7 style) and training curves (Fig. 6 style) for one data set's runs."""
    import csv
    from snn_tha import plots
    labels = {f"{dataset}_bsnn": "BSNN fixed θ", f"{dataset}_annealing": "threshold annealing"}
    written = []
    activities, curves = {}, {}
    for experiment, label in labels.items():
        run = Path(runs_root) / experiment / f"{profile}-seed0"
        if (run / "activity.json").is_file():
            activities[label] = json.loads((run / "activity.json").read_text())
            curves[label] = list(csv.DictReader(open(run / "iterations.csv")))
    if len(activities) == len(labels):
        name = paper.DATASET_LABELS.get({"fmnist": "fashion_mnist"}.get(dataset, dataset), dataset)
        path = Path(out_dir) / f"{dataset}_activity_{profile}.png"
        plots.activity_figure(activities, path, f"{name}: spike activity over the test set "
                              f"({profile} profile, seed 0)")
        written.append(path)
        path = Path(out_dir) / f"{dataset}_training_{profile}.png"
        plots.training_curves(curves, path, f"{name}: training loss and thresholds "
                              f"({profile} profile, seed 0)")
        written.append(path)
    return written
