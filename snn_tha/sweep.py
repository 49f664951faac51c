"""Optuna TPE sweeps over an experiment's hyperparameters (paper App. D: 500 trials each).

Scaling out uses Optuna's own storages only: a journal file under results/sweeps/ on one
machine; a database URL (PostgreSQL) for many, with heartbeats so that a killed worker's
trial is failed and re-queued. `init` creates the study once; any number of `work` processes
join it and stop when the study's total budget is used (counted in the storage before every
trial). The objective is validation accuracy; sweep trials never evaluate the test set.
"""
import os
import signal
import time
from pathlib import Path

import optuna

from snn_tha import config, runio, schema
from snn_tha.schema import ParamSpec, SearchSpace  # noqa: F401 (re-exported)
from snn_tha.train import train

COUNTED = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED,
           optuna.trial.TrialState.RUNNING, optuna.trial.TrialState.WAITING)


class TrialTerminated(Exception):
    """SIGTERM during a trial: the trial is recorded as failed, then the worker exits."""


class OverBudget(Exception):
    """Another worker took the last trial of the budget first: this one is failed unrun."""


def counted_trials(study):
    """Trials that use the budget: finished, running or queued, not failed, not over budget."""
    return [t for t in study.get_trials(deepcopy=False, states=COUNTED)
            if not t.user_attrs.get("over_budget")]


def load_space(path):
    """A search space file over its shared base (configs/sweeps/bases/)."""
    return config.build(SearchSpace, schema.read_with_base(path), str(path))


def sample_overrides(trial, space, base):
    """Sample every parameter; return the `key=value` overrides of the trial's config."""
    values = {}
    for name, spec in space.params.items():
        if spec.type == "categorical":
            values[name] = trial.suggest_categorical(name, list(spec.choices))
        elif spec.type == "int":
            values[name] = trial.suggest_int(name, int(spec.low), int(spec.high), log=spec.log)
        else:
            values[name] = trial.suggest_float(name, spec.low, spec.high, log=spec.log)
    overrides = []
    for name, value in values.items():
        spec = space.params[name]
        if name.startswith("annealing.delta."):  # release's reparameterisation: theta_inf >= theta0
            i = int(name.rsplit(".", 1)[1])
            theta0 = values.get(f"annealing.theta0.{i}", base.annealing.theta0[i])
            trial.set_user_attr(f"annealing.theta_inf.{i}", theta0 + value)
            overrides.append(f"annealing.theta_inf.{i}={theta0 + value!r}")
        elif spec.layers:
            overrides.append(f"{name}={[value] * spec.layers!r}")
        else:
            overrides.append(f"{name}={'null' if value is None else repr(value)}")
    return overrides


def trial_config(space, profile, overrides, study_overrides=()):
    extra = [*space.fixed, *study_overrides, *overrides, "protocol=validation", "repeats=1",
             "track_test=false"]
    return schema.load(space.config_path, profile, extra)


def make_objective(space, profile, out_root, prune, study_overrides=()):
    base = trial_config(space, profile, [], study_overrides)

    def objective(trial):
        study = trial.study
        frozen = next(t for t in study.get_trials(deepcopy=False) if t.number == trial.number)
        retried = optuna.storages.RetryHeartbeatStaleTrialCallback.retried_trial_number(frozen)
        ahead = sum(t.number < trial.number for t in counted_trials(study))
        if retried is None and ahead >= study.user_attrs["budget"]:
            trial.set_user_attr("over_budget", True)
            raise OverBudget(f"trial {trial.number}: the study's budget was already used")
        trial.set_user_attr("worker_pid", os.getpid())
        cfg = trial_config(space, profile, sample_overrides(trial, space, base), study_overrides)

        def report(row):
            trial.report(row["val_acc"], row["epoch"])
            if prune and trial.should_prune():
                raise optuna.TrialPruned(f"pruned after epoch {row['epoch']}")
        run = train(cfg, Path(out_root) / f"trial{trial.number:05d}", progress=False,
                    on_epoch=report)["runs"][0]
        return run["val_acc"]
    return objective


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


def make_sampler(preset, seed):
    if preset == "paper":  # the paper's Optuna 2.x behaviour (Optuna 5 changed these defaults)
        return optuna.samplers.TPESampler(multivariate=False, constant_liar=False,
                                          n_startup_trials=10, seed=seed)
    return optuna.samplers.TPESampler(seed=seed)


def init(space_path, storage_url, study_name, budget, profile, sampler="paper", seed=0,
         prune=False, overrides=()):
    space = load_space(space_path)
    trial_config(space, profile, [], overrides)  # fail now on a bad space, not in every worker
    storage = open_storage(storage_url)
    if study_name in [s.study_name for s in optuna.get_all_study_summaries(storage)]:
        raise config.ConfigError(f"study {study_name!r} already exists in {safe_url(storage_url)}; "
                                 f"`snn-tha sweep work` joins it, or pick another --study")
    pruner = optuna.pruners.MedianPruner() if prune else optuna.pruners.NopPruner()
    study = optuna.create_study(study_name=study_name, storage=storage, direction="maximize",
                                sampler=make_sampler(sampler, seed), pruner=pruner)
    attrs = {"budget": budget, "space": str(space_path), "profile": profile, "sampler": sampler,
             "overrides": list(overrides),
             "seed": seed, "prune": prune, "objective": "validation accuracy",
             "packages": runio.package_versions(), "git_commit": runio.git_commit()}
    for key, value in attrs.items():
        study.set_user_attr(key, value)
    return study


def work(storage_url, study_name, worker_id=None, out_root="results/sweeps/trials",
         heartbeat=60, grace=120, device=None):
    """Run trials until the study's budget is used across all workers; returns trials run."""
    probe, storage = load_study(storage_url, study_name, heartbeat, grace)
    attrs = probe.user_attrs
    worker_id = os.getpid() if worker_id is None else worker_id
    pruner = optuna.pruners.MedianPruner() if attrs["prune"] else optuna.pruners.NopPruner()
    study = optuna.load_study(study_name=study_name, storage=storage, pruner=pruner,
                              sampler=make_sampler(attrs["sampler"], attrs["seed"] * 1000 + worker_id))
    # where this worker computes is its own choice, not the study's (default: auto)
    overrides = list(attrs["overrides"]) + ([f"device={device}"] if device else [])
    objective = make_objective(load_space(attrs["space"]), attrs["profile"],
                               Path(out_root) / study_name, attrs["prune"], overrides)

    def on_sigterm(signum, frame):
        raise TrialTerminated("SIGTERM")
    previous = signal.signal(signal.SIGTERM, on_sigterm)
    heartbeats = isinstance(storage, optuna.storages.RDBStorage)
    ran = 0
    try:
        while True:
            if heartbeats:  # fail (and re-queue) trials of workers that died
                optuna.storages.fail_stale_trials(study)
            trials = counted_trials(study)
            waiting = any(t.state == optuna.trial.TrialState.WAITING for t in trials)
            running = any(t.state == optuna.trial.TrialState.RUNNING for t in trials)
            if len(trials) < attrs["budget"] or waiting:
                study.optimize(objective, n_trials=1, gc_after_trial=True, catch=(OverBudget,))
                ran += 1
            elif heartbeats and running:  # a running trial may yet turn out dead and come back
                time.sleep(heartbeat)
            else:
                return ran
    finally:
        signal.signal(signal.SIGTERM, previous)


def status(storage_url, study_name):
    study, _ = load_study(storage_url, study_name)
    counts = {}
    for t in study.get_trials(deepcopy=False):
        counts[t.state.name] = counts.get(t.state.name, 0) + 1
    best = None
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    if complete:
        b = max(complete, key=lambda t: t.value)
        best = {"number": b.number, "val_acc": b.value, "params": b.params}
    return {"study": study_name, "budget": study.user_attrs.get("budget"), "states": counts,
            "best": best, "attrs": study.user_attrs}


def _flat(data, prefix=""):
    out = {}
    for key, value in data.items():
        if isinstance(value, dict):
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def tuned_overrides(study):
    """The best trial's parameters as config overrides (via a FixedTrial through the same code)."""
    space = load_space(study.user_attrs["space"])
    extra = study.user_attrs["overrides"]
    base = trial_config(space, study.user_attrs["profile"], [], extra)
    best = study.best_trial
    return space, sample_overrides(optuna.trial.FixedTrial(best.params), space, base)


def export(storage_url, study_name, configs_dir="configs/tuned", out_dir="results/sweeps",
           command="", tables_path="results/tables/hyperparameters.md"):
    """configs/tuned/<experiment>.yaml, trials CSV, history/importance plots, hyperparameter tables."""
    import matplotlib
    matplotlib.use("Agg")
    from snn_tha import plots
    study, _ = load_study(storage_url, study_name)
    if not any(t.state == optuna.trial.TrialState.COMPLETE for t in study.get_trials(deepcopy=False)):
        raise config.ConfigError(f"study {study_name!r} has no completed trial yet: nothing to "
                                 f"export (`snn-tha sweep status --study {study_name}`)")
    space, overrides = tuned_overrides(study)
    raw = config.read_yaml(space.config_path)  # the experiment with the tuned values, no budget
    for assignment in overrides:
        config.apply_override(raw, assignment)
    config.build(schema.TrainConfig, raw, f"tuned {space.experiment}")  # trainable as is
    header = (f"# {space.experiment} tuned by `snn-tha sweep` study {study_name!r}: "
              f"{len(study.trials)} trials at profile {study.user_attrs['profile']} with "
              f"{study.user_attrs['overrides'] or 'no overrides'}; best validation accuracy "
              f"{study.best_value:.4f} (trial {study.best_trial.number}).\n"
              f"# Train it with a budget profile: snn-tha train THIS_FILE --profile paper\n")
    tuned_path = Path(configs_dir) / f"{space.experiment}.yaml"
    import yaml
    runio.atomic_write_text(tuned_path, header + yaml.safe_dump(raw, sort_keys=False))
    out = Path(out_dir) / study_name
    rows = [{"number": t.number, "state": t.state.name, "val_acc": t.value,
             "seconds": t.duration.total_seconds() if t.duration else None,
             **{f"param:{k}": v for k, v in t.params.items()},
             **{f"attr:{k}": v for k, v in t.user_attrs.items()}} for t in study.trials]
    keys = sorted({k for r in rows for k in r}, key=lambda k: (k.count(":"), k))
    runio.atomic_write_csv(out / "trials.csv", [{k: r.get(k) for k in keys} for r in rows], keys)
    ax = optuna.visualization.matplotlib.plot_optimization_history(study)
    plots.save_figure(ax.figure, out / "history.png")
    written = [tuned_path, out / "trials.csv", out / "history.png"]
    if len([t for t in study.trials if t.state.name == "COMPLETE"]) > 1:
        ax = optuna.visualization.matplotlib.plot_param_importances(study)
        plots.save_figure(ax.figure, out / "importance.png")
        written.append(out / "importance.png")
    written.append(hyperparameter_tables(configs_dir, tables_path))
    complete = [t for t in study.trials if t.state.name == "COMPLETE"]
    runio.atomic_write_json(out / "summary.json", {
        "study": study_name, "space": study.user_attrs["space"],
        "profile": study.user_attrs["profile"], "overrides": study.user_attrs["overrides"],
        "complete": len(complete), "trials": len(study.trials),
        "best_val_acc": study.best_value, "best_trial": study.best_trial.number,
        "best_params": study.best_params,
        "seconds_per_trial": sum(t.duration.total_seconds() for t in complete) / len(complete),
        "workers": len({t.user_attrs.get("worker_pid") for t in complete}),
        "command": command, "attrs": study.user_attrs})
    written.append(out / "summary.json")
    return written


def _short(value):
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list):
        return "[" + ", ".join(_short(v) for v in value) + "]"
    return str(value)


TABLE_OF = {("static", False): "Table 4", ("static", True): "Table 5",
            ("event", False): "Table 6", ("event", True): "Table 7"}


def hyperparameter_tables(configs_dir="configs/tuned", path="results/tables/hyperparameters.md"):
    """Tables 3-7: every tuned config's values beside the paper's (the untuned configs)."""
    lines = ["# Hyperparameters: tuned here vs the paper", "",
             "Table 3 (temporal coding) is not swept: the paper set it by hand; "
             "`configs/temporal_coding.yaml` holds its values.", ""]
    for tuned_path in sorted(Path(configs_dir).glob("*.yaml")):
        experiment = tuned_path.stem
        paper_cfg = _flat(config.read_yaml(Path("configs") / f"{experiment}.yaml"))
        tuned = _flat(config.read_yaml(tuned_path))
        kind = "static" if "mnist" in experiment else "event"
        keys = [k for k in tuned if k.startswith(("net.", "optim.", "annealing."))
                and tuned[k] != paper_cfg.get(k)]
        tables = sorted({TABLE_OF[(kind, k.startswith("annealing."))] for k in keys})
        provenance = tuned_path.read_text().splitlines()[0].lstrip("# ")
        lines += [f"## {experiment} ({', '.join(tables) or 'no change'})", "", provenance, "",
                  "| key | paper | tuned |", "|---|---|---|"]
        lines += [f"| {k} | {_short(paper_cfg.get(k, 'off'))} | {_short(tuned[k])} |" for k in keys]
        lines.append("")
    runio.atomic_write_text(path, "\n".join(lines))
    return Path(path)
