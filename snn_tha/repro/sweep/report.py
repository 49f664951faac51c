"""What a sweep found: status counts, the tuned config, trials CSV, plots, hyperparameter tables."""
import re
from pathlib import Path

import optuna

from snn_tha.repro import files, paths, schema, yaml_config as config
from snn_tha.repro.sweep.study import DEAD, load_space, sample_overrides, trial_config
from snn_tha.repro.sweep.storage import load_study


def trial_counts(study):
    """complete / pruned_dead / pruned_fidelity / failed / running / waiting (over-budget
    placeholders, failed unrun, are not counted)."""
    counts = {k: 0 for k in ("complete", "pruned_dead", "pruned_fidelity", "failed", "running",
                             "waiting")}
    for t in study.get_trials(deepcopy=False):
        if t.user_attrs.get("over_budget"):
            continue
        state = t.state.name
        if state == "PRUNED":
            dead = str(t.user_attrs.get("pruned_reason", "")).startswith(DEAD)
            counts["pruned_dead" if dead else "pruned_fidelity"] += 1
        elif state == "FAIL":
            counts["failed"] += 1
        else:
            counts[state.lower()] = counts.get(state.lower(), 0) + 1
    return counts


def status(storage_url, study_name, study=None):
    study = study or load_study(storage_url, study_name)[0]
    best = None
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    if complete:
        b = max(complete, key=lambda t: t.value)
        best = {"number": b.number, "val_acc": b.value, "params": b.params}
    attrs = {k: v for k, v in study.user_attrs.items() if k != "space_content"}
    return {"study": study_name, "budget": study.user_attrs.get("budget"),
            "trials": trial_counts(study), "best": best, "attrs": attrs}


def status_text(storage_url, study_name):
    """`sweep status` for people: counts, and the best trial's values as a run would use them
    (scaled thresholds as the value written, not the multiple of the membrane scale)."""
    study, _ = load_study(storage_url, study_name)
    s = status(storage_url, study_name, study)   # the study read once
    counts = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in s["trials"].items())
    lines = [f"study {study_name!r}: budget {s['budget']} trials at profile "
             f"{study.user_attrs.get('profile')}; {counts}"]
    if s["best"] is None:
        return "\n".join(lines + ["no completed trial yet"])
    best = study.trials[s["best"]["number"]]
    lines.append(f"best: trial {best.number}, validation accuracy {best.value:.4f}")
    for name, value in best.params.items():
        used = best.user_attrs.get(f"value.{name}")
        shown = f"{used:.6g} ({value:.4g} x the layer's membrane scale)" if used is not None else (
            f"{value:.6g}" if isinstance(value, float) else str(value))
        lines.append(f"  {name:<28} {shown}")
    for key, value in best.user_attrs.items():
        if key.startswith("annealing.theta_inf."):
            lines.append(f"  {key:<28} {value:.6g} (theta0 + delta)")
    return "\n".join(lines)


def tuned_overrides(study):
    """The best trial's parameters as config overrides (via a FixedTrial through the same code)."""
    space = load_space(study.user_attrs["space"])
    extra = study.user_attrs["overrides"]
    base = trial_config(space, study.user_attrs["profile"], [], extra)
    best = study.best_trial
    return space, sample_overrides(optuna.trial.FixedTrial(best.params), space, base)


TUNED_HEADER = re.compile(r"study '(?P<study>[^']*)': (?P<trials>\d+) trials.*best validation "
                          r"accuracy (?P<best>[0-9.]+)")


def check_replace(path, study_name, best, trials, force):
    """Refuse to replace a tuned config written by another study unless `force` (issue 24)."""
    if force or not path.is_file():
        return
    found = TUNED_HEADER.search(path.read_text().split("\n", 1)[0])
    if found and found["study"] == study_name:
        return   # the same study again, with its trials so far
    held = (f"study {found['study']!r} (best validation accuracy {float(found['best']):.4f}, "
            f"{found['trials']} trials)" if found else "a config not written by a sweep")
    raise config.ConfigError(
        f"{path} holds {held}; study {study_name!r} (best {best:.4f}, {trials} trials) would "
        f"replace it: pass --force to replace it, or --tuned-dir DIR to write beside it")


def export_study(storage_url, study_name, configs_dir=None, out_dir=None, command="",
                 tables_path=None, force=False):
    """configs/tuned/<experiment>.yaml, trials CSV, history/importance plots, hyperparameter tables.
    A tuned config of another study is never replaced without `force`; with another
    `configs_dir` the hyperparameter table and the study's files go beside it, not into
    results/ (a scratch export leaves the committed tree as it is)."""
    import matplotlib
    matplotlib.use("Agg")
    from snn_tha.repro.paper import plots
    default_dir = paths.CONFIGS / "tuned"
    configs_dir = Path(configs_dir or default_dir)
    elsewhere = configs_dir.resolve() != default_dir.resolve()
    out_dir = Path(out_dir or (configs_dir if elsewhere else paths.results_root() / "sweeps"))
    tables_path = Path(tables_path or (configs_dir / "hyperparameters.md" if elsewhere
                                       else paths.results_root() / "tables" / "hyperparameters.md"))
    study, _ = load_study(storage_url, study_name)
    if not any(t.state == optuna.trial.TrialState.COMPLETE for t in study.get_trials(deepcopy=False)):
        raise config.ConfigError(f"study {study_name!r} has no completed trial yet: nothing to "
                                 f"export (`snn-tha sweep status --study {study_name}`)")
    space, overrides = tuned_overrides(study)
    raw = config.read_yaml(space.config_path)  # the experiment with the tuned values, no budget
    for assignment in overrides:
        config.apply_override(raw, assignment)
    config.build(schema.TrainConfig, raw, f"tuned {space.experiment}")  # trainable as is
    counts = trial_counts(study)
    total = sum(counts.values())
    header = (f"# {space.experiment} tuned by `snn-tha sweep` study {study_name!r}: "
              f"{total} trials at profile {study.user_attrs['profile']} with "
              f"{study.user_attrs['overrides'] or 'no overrides'}; best validation accuracy "
              f"{study.best_value:.4f} (trial {study.best_trial.number}); "
              f"{counts['pruned_dead']} of {total} trials pruned as dead networks.\n"
              f"# Train it with a budget profile: snn-tha train THIS_FILE --profile paper\n")
    tuned_path = Path(configs_dir) / f"{space.experiment}.yaml"
    check_replace(tuned_path, study_name, study.best_value, total, force)
    import yaml
    files.atomic_write_text(tuned_path, header + yaml.safe_dump(raw, sort_keys=False))
    out = Path(out_dir) / study_name
    rows = [{"number": t.number, "state": t.state.name, "val_acc": t.value,
             "seconds": t.duration.total_seconds() if t.duration else None,
             **{f"param:{k}": v for k, v in t.params.items()},
             **{f"attr:{k}": v for k, v in t.user_attrs.items()}} for t in study.trials]
    keys = sorted({k for r in rows for k in r}, key=lambda k: (k.count(":"), k))
    files.atomic_write_csv(out / "trials.csv", [{k: r.get(k) for k in keys} for r in rows], keys)
    ax = optuna.visualization.matplotlib.plot_optimization_history(study)
    plots.save_figure(ax.figure, out / "history.png")
    written = [tuned_path, out / "trials.csv", out / "history.png"]
    if len([t for t in study.trials if t.state.name == "COMPLETE"]) > 1:
        ax = optuna.visualization.matplotlib.plot_param_importances(study)
        plots.save_figure(ax.figure, out / "importance.png")
        written.append(out / "importance.png")
    written.append(hyperparameter_tables(configs_dir, tables_path))
    complete = [t for t in study.trials if t.state.name == "COMPLETE"]
    files.atomic_write_json(out / "summary.json", {
        "study": study_name, "space": study.user_attrs["space"],
        "profile": study.user_attrs["profile"], "overrides": study.user_attrs["overrides"],
        "complete": len(complete), "trials": len(study.trials), "counts": counts,
        "dead_fraction": counts["pruned_dead"] / max(1, total),
        "best_val_acc": study.best_value, "best_trial": study.best_trial.number,
        "best_params": study.best_params,   # scaled thresholds: multiples of the membrane scale
        "best_values": {k.split(".", 1)[1]: v for k, v in study.best_trial.user_attrs.items()
                        if k.startswith("value.")},
        "seconds_per_trial": _mean_seconds(complete),
        "seconds_per_dead_trial": _mean_seconds(
            [t for t in study.trials if str(t.user_attrs.get("pruned_reason", "")).startswith(DEAD)]),
        "workers": len({t.user_attrs.get("worker_pid") for t in complete}),
        "command": command,
        "attrs": {k: v for k, v in study.user_attrs.items() if k != "space_content"}})
    written.append(out / "summary.json")
    return written


def _mean_seconds(trials):
    timed = [t.duration.total_seconds() for t in trials if t.duration is not None]
    return sum(timed) / len(timed) if timed else None


def _short(value):
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list):
        return "[" + ", ".join(_short(v) for v in value) + "]"
    return str(value)


TABLE_OF = {("static", False): "Table 4", ("static", True): "Table 5",
            ("event", False): "Table 6", ("event", True): "Table 7"}


def hyperparameter_tables(configs_dir, path):
    """Tables 3-7: every tuned config's values beside the paper's (the untuned configs)."""
    lines = ["# Hyperparameters: tuned here vs the paper", "",
             "Table 3 (temporal coding) is not swept: the paper set it by hand; "
             "`configs/temporal_coding.yaml` holds its values.", ""]
    for tuned_path in sorted(Path(configs_dir).glob("*.yaml")):
        experiment = tuned_path.stem
        paper_cfg = config.flatten(config.read_yaml(paths.CONFIGS / f"{experiment}.yaml"))
        tuned = config.flatten(config.read_yaml(tuned_path))
        kind = "static" if "mnist" in experiment else "event"
        keys = [k for k in tuned if k.startswith(("net.", "optim.", "annealing."))
                and tuned[k] != paper_cfg.get(k)]
        tables = sorted({TABLE_OF[(kind, k.startswith("annealing."))] for k in keys})
        origin = tuned_path.read_text().splitlines()[0].lstrip("# ")
        lines += [f"## {experiment} ({', '.join(tables) or 'no change'})", "", origin, "",
                  "| key | published (configs/) | tuned |", "|---|---|---|"]
        lines += [f"| {k} | {_short(paper_cfg.get(k, 'off'))} | {_short(tuned[k])} |" for k in keys]
        lines.append("")
    files.atomic_write_text(path, "\n".join(lines))
    return Path(path)


def fidelity_comparison(studies, path, header=()):
    """The same sweep under different multi-fidelity pruners, side by side: trials by outcome,
    the trial-seconds spent (sum of trial durations), the wall time (first start to last
    finish) and the best validation accuracy. `studies`: (storage URL, study name) pairs; each
    saving is against the latest `--prune none` study before it (else the first). Writes
    `header` lines and a Markdown table; returns the rows."""
    rows = []
    for storage_url, name in studies:
        study, _ = load_study(storage_url, name)
        trials = [t for t in study.trials if not t.user_attrs.get("over_budget")]
        finished = [t for t in trials if t.datetime_complete is not None]
        wall = (max(t.datetime_complete for t in finished)
                - min(t.datetime_start for t in finished)).total_seconds()
        rows.append({"study": name, "prune": study.user_attrs["prune"], **trial_counts(study),
                     "trial_seconds": round(sum(t.duration.total_seconds() for t in finished), 1),
                     "wall_seconds": round(wall, 1), "best_val_acc": study.best_value})
    lines = ["| study | --prune | complete | pruned dead | pruned by fidelity | trial-seconds | "
             "wall s | best val acc |", "|---|---|---|---|---|---|---|---|"]
    base = rows[0]
    for r in rows:
        if r["prune"] == "none":   # savings against the latest study without a pruner
            base = r
        saving = 1 - r["trial_seconds"] / base["trial_seconds"]
        lines.append(f"| {r['study']} | {r['prune']} | {r['complete']} | {r['pruned_dead']} | "
                     f"{r['pruned_fidelity']} | {r['trial_seconds']:.1f} ({100 * saving:.0f}% saved) | "
                     f"{r['wall_seconds']:.0f} | {100 * r['best_val_acc']:.1f}% |")
    files.atomic_write_text(path, "\n".join([*header, *lines]) + "\n")
    return rows
