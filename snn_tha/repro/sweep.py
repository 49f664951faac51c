"""Optuna TPE sweeps over an experiment's hyperparameters (paper App. D: 500 trials each).

`init` creates the study once (storage: `snn_tha.repro.sweep_storage`), storing the search space's
content and the git commit; any number of `work` processes join it (refused when their
checkout's space or commit differ) and stop when the study's total budget is used (counted in
the storage before every trial). The objective is validation accuracy; trials never evaluate
the test set. Dead networks cost a few batches: a trial whose output layer (or any layer) emits
no spike over its first K batches, or whose validation accuracy is at chance after its first
epoch, is pruned with the reason recorded. Optional multi-fidelity pruning (median, ASHA,
Hyperband) on per-epoch validation accuracy. The published configuration is enqueued first
(warm start), so a sweep never ends below it.
"""
import hashlib
import json
import logging
import os
import time
from pathlib import Path

import optuna

from snn_tha.repro import config, runio, schema, signals, sweep_scale
from snn_tha.repro.schema import ParamSpec, SearchSpace  # noqa: F401 (re-exported)
from snn_tha.repro.sweep_storage import load_study, open_storage, safe_url
from snn_tha.repro.train import train

COUNTED = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED,
           optuna.trial.TrialState.RUNNING, optuna.trial.TrialState.WAITING)
PRUNERS = ("none", "median", "asha", "hyperband")
WARM_STARTS = ("release", "paper", "none")
DEAD = "dead"   # prefix of the pruned_reason of a dead-network prune


log = logging.getLogger("snn_tha")


class OverBudget(Exception):
    """Another worker took the last trial of the budget first: this one is failed unrun."""


def counted_trials(study):
    """Trials that use the budget: finished, running or queued, not failed, not over budget."""
    return [t for t in study.get_trials(deepcopy=False, states=COUNTED)
            if not t.user_attrs.get("over_budget")]


def load_space(path):
    """A search space file over its shared base (configs/sweeps/bases/)."""
    space = config.build(SearchSpace, schema.read_with_base(path), str(path))
    check_order(space)
    return space


def space_hash(path):
    """Content hash of a resolved search space (its base included)."""
    text = json.dumps(schema.read_with_base(path), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _net_so_far(base, values):
    """The trial's network settings once beta and batch norm are sampled (scaled thresholds)."""
    import dataclasses
    net = base.net_config
    return dataclasses.replace(net, beta=values.get("net.beta", net.beta),
                               batch_norm=values.get("net.batch_norm", net.batch_norm))


def sample_overrides(trial, space, base):
    """Sample every parameter; return the `key=value` overrides of the trial's config.
    A `scale: membrane` parameter is sampled as a multiple of its layer's membrane scale and
    written as the value (recorded in the trial's user attribute `value.<name>`)."""
    values, scales = {}, None
    for name, spec in space.params.items():
        if spec.type == "categorical":
            values[name] = trial.suggest_categorical(name, list(spec.choices))
        elif spec.type == "int":
            values[name] = trial.suggest_int(name, int(spec.low), int(spec.high), log=spec.log)
        else:
            values[name] = trial.suggest_float(name, spec.low, spec.high, log=spec.log)
        if spec.scale:  # beta and batch norm come first (check_order): one scale per trial
            scales = scales or sweep_scale.membrane_scales(
                _net_so_far(base, values), base.num_steps, space.input_mean_square)
            values[name] *= scales[sweep_scale.layer_of(name)]
            trial.set_user_attr(f"value.{name}", values[name])
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


def published_params(space, which, profile=None):
    """The published configuration in the space's parameters (warm start): `release` = the
    experiment config as it is (the release's exact values for the annealing variants, the
    paper's tables for the others), `paper` = with the rounded table values of
    configs/ablations/<experiment>.yaml where that file has them. Scaled thresholds are given
    as multiples of the membrane scale at the profile's number of steps."""
    overrides = []
    ablations = runio.ROOT / "configs" / "ablations" / f"{space.experiment}.yaml"
    if which == "paper" and ablations.is_file():
        rounded = config.read_yaml(ablations)["variants"].get("rounded_table_values", {})
        overrides = [f"{k}={json.dumps(v)}" for k, v in rounded.get("set", {}).items()]
    loaded = schema.load(space.config_path, profile, overrides)
    cfg = config.to_dict(loaded)
    scales = sweep_scale.membrane_scales(loaded.net_config, loaded.num_steps,
                                         space.input_mean_square)
    params = {}
    for name, spec in space.params.items():
        parts = name.split(".")
        if name.startswith("annealing.delta."):
            i = int(parts[-1])
            value = cfg["annealing"]["theta_inf"][i] - cfg["annealing"]["theta0"][i]
        else:
            value = cfg
            for part in parts:
                value = value[int(part)] if isinstance(value, list) else value[part]
            value = value[0] if isinstance(value, list) else value
        params[name] = value / scales[int(parts[-1])] if spec.scale else value
    return params


def check_order(space):
    """Scaled thresholds use beta and batch norm: those must be sampled first."""
    names = list(space.params)
    for name, spec in space.params.items():
        late = [n for n in ("net.beta", "net.batch_norm") if n in names
                and names.index(n) > names.index(name)]
        if spec.scale and late:
            raise config.ConfigError(f"search space: {name} (scale: membrane) must come after "
                                     f"{late[0]} in params")


def check_param_keys(space, base, where):
    """Every parameter of the space names a key of the experiment's config (ConfigError)."""
    data = config.to_dict(base)
    for name in space.params:
        key = name.replace("annealing.delta.", "annealing.theta_inf.")
        node = data
        for part in key.split("."):
            if isinstance(node, list) and part.isdigit() and int(part) < len(node):
                node = node[int(part)]
            elif isinstance(node, dict) and part in node and (node[part] is not None or part == key.split(".")[-1]):
                node = node[part]
            else:
                raise config.ConfigError(f"{where}: params.{name} is not a key of "
                                         f"{space.config_path} ({part!r} not found); fix the "
                                         f"name in the space or its base")


def make_pruner(name):
    """Multi-fidelity pruning on per-epoch validation accuracy (dead networks are pruned apart)."""
    return {"none": optuna.pruners.NopPruner, "median": optuna.pruners.MedianPruner,
            "asha": optuna.pruners.SuccessiveHalvingPruner,
            "hyperband": optuna.pruners.HyperbandPruner}[name]()


def dead_watch(trial, dead_batches, dead_layers):
    """(on_batch, on_epoch) callbacks that prune a dead network early, with the reason."""
    totals = []

    def prune(reason):
        trial.set_user_attr("pruned_reason", f"{DEAD}: {reason}")
        raise optuna.TrialPruned(reason)

    def on_batch(iteration, layer_spikes):
        if not totals:
            totals.extend([0.0] * len(layer_spikes))
        for j, s in enumerate(layer_spikes):
            totals[j] += s
        if iteration == dead_batches:
            watched = range(len(totals)) if dead_layers == "any" else [len(totals) - 1]
            silent = [j for j in watched if totals[j] == 0]
            if silent:
                prune(f"layer {silent[0]} emitted no spike in the first {dead_batches} batches")

    def on_epoch(row):
        if row["epoch"] == 0 and row["val_acc"] <= row["val_chance"] + 1e-9:
            prune(f"validation accuracy {row['val_acc']:.4f} at chance ({row['val_chance']:.4f}) "
                  f"after the first epoch")
    return on_batch, on_epoch


def make_objective(space, attrs, out_root, study_overrides=()):
    profile = attrs["profile"]
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
        on_batch, dead_epoch = dead_watch(trial, attrs.get("dead_batches", 0),
                                          attrs.get("dead_layers", "output"))

        def on_epoch(row):
            if attrs.get("dead_batches", 0):
                dead_epoch(row)
            trial.report(row["val_acc"], row["epoch"])
            if trial.should_prune():
                trial.set_user_attr("pruned_reason", f"fidelity: after epoch {row['epoch']}")
                raise optuna.TrialPruned(f"pruned after epoch {row['epoch']}")
        try:
            # a folder of this trial number can only be left from an earlier study of this
            # name (a deleted journal): it is moved aside, never mixed with this trial
            run = train(cfg, Path(out_root) / f"trial{trial.number:05d}", progress=False,
                        on_epoch=on_epoch, on_batch=on_batch if attrs.get("dead_batches") else None,
                        retrain=True)
        except signals.Terminated:
            return _terminated(trial, terminated)
        return run["runs"][0]["val_acc"]
    terminated = []   # set when a trial was stopped by SIGTERM: the worker then exits
    objective.terminated = terminated
    return objective


def _terminated(trial, terminated):
    """A trial stopped by SIGTERM is failed (a NaN value: Optuna records FAIL in one line, no
    traceback); the warm-start trial is queued again so that the study keeps it."""
    trial.set_user_attr("failed_reason", "terminated by SIGTERM")
    if "warm_start" in trial.user_attrs:
        trial.study.enqueue_trial(trial.params, user_attrs={"warm_start": trial.user_attrs["warm_start"]})
    log.warning("trial %d: terminated by SIGTERM; recorded as failed%s", trial.number,
                " (the warm-start trial is queued again)" if "warm_start" in trial.user_attrs else "")
    terminated.append(trial.number)
    return float("nan")


def make_sampler(preset, seed):
    if preset == "paper":  # the paper's Optuna 2.x behaviour (Optuna 5 changed these defaults)
        return optuna.samplers.TPESampler(multivariate=False, constant_liar=False,
                                          n_startup_trials=10, seed=seed)
    return optuna.samplers.TPESampler(seed=seed)


def init(space_path, storage_url, study_name, budget, profile, sampler="paper", seed=0,
         prune="none", overrides=(), warm_start="release", dead_batches=3, dead_layers="output"):
    if prune not in PRUNERS or warm_start not in WARM_STARTS:
        raise config.ConfigError(f"--prune must be one of {PRUNERS}, --warm-start one of {WARM_STARTS}")
    if budget < 1:
        raise config.ConfigError(f"--budget {budget}: a study needs at least 1 trial")
    space = load_space(space_path)
    # fail now on a bad space, not in every worker, and before the study exists
    check_param_keys(space, trial_config(space, profile, [], overrides), space_path)
    warm = published_params(space, warm_start, profile) if warm_start != "none" else None
    storage = open_storage(storage_url)
    if study_name in [s.study_name for s in optuna.get_all_study_summaries(storage)]:
        raise config.ConfigError(f"study {study_name!r} already exists in {safe_url(storage_url)}; "
                                 f"`snn-tha sweep work` joins it, or pick another --study")
    study = optuna.create_study(study_name=study_name, storage=storage, direction="maximize",
                                sampler=make_sampler(sampler, seed), pruner=make_pruner(prune))
    attrs = {"budget": budget, "space": str(space_path), "space_hash": space_hash(space_path),
             "space_content": schema.read_with_base(space_path), "profile": profile,
             "sampler": sampler, "overrides": list(overrides), "seed": seed, "prune": prune,
             "warm_start": warm_start, "dead_batches": dead_batches, "dead_layers": dead_layers,
             "objective": "validation accuracy", "packages": runio.package_versions(),
             "git_commit": runio.git_commit()}
    for key, value in attrs.items():
        study.set_user_attr(key, value)
    if warm is not None:
        study.enqueue_trial(warm, user_attrs={"warm_start": warm_start})
    return study


def check_same_checkout(attrs, allow_mismatch):
    """A worker joins only with the study's search space and code (else results would mix)."""
    differences = []
    if space_hash(attrs["space"]) != attrs.get("space_hash"):
        differences.append(f"search space {attrs['space']} (hash {space_hash(attrs['space'])} here, "
                           f"{attrs.get('space_hash')} in the study)")
    if runio.git_commit() != attrs.get("git_commit"):
        differences.append(f"code (commit {runio.git_commit()} here, {attrs.get('git_commit')} in the study)")
    if differences and not allow_mismatch:
        raise config.ConfigError(f"this checkout differs from the study's: {'; '.join(differences)}; "
                                 f"check out the study's commit, or pass --allow-mismatch")


def work(storage_url, study_name, worker_id=None, out_root=None, heartbeat=60, grace=120,
         device=None, allow_mismatch=False):
    """Run trials until the study's budget is used across all workers; returns trials run."""
    probe, storage = load_study(storage_url, study_name, heartbeat, grace)
    attrs = probe.user_attrs
    check_same_checkout(attrs, allow_mismatch)
    worker_id = os.getpid() if worker_id is None else worker_id
    prune = attrs["prune"] if isinstance(attrs["prune"], str) else ("median" if attrs["prune"] else "none")
    study = optuna.load_study(study_name=study_name, storage=storage, pruner=make_pruner(prune),
                              sampler=make_sampler(attrs["sampler"], attrs["seed"] * 1000 + worker_id))
    # where this worker computes is its own choice, not the study's (default: auto)
    overrides = list(attrs["overrides"]) + ([f"device={device}"] if device else [])
    out_root = Path(out_root) if out_root else runio.results_root() / "sweeps" / "trials"
    objective = make_objective(load_space(attrs["space"]), attrs, out_root / study_name, overrides)

    heartbeats = isinstance(storage, optuna.storages.RDBStorage)
    ran = 0
    with signals.sigterm_as_interrupt():
        while True:
            if heartbeats:  # fail (and re-queue) trials of workers that died
                optuna.storages.fail_stale_trials(study)
            trials = counted_trials(study)
            waiting = any(t.state == optuna.trial.TrialState.WAITING for t in trials)
            running = any(t.state == optuna.trial.TrialState.RUNNING for t in trials)
            if len(trials) < attrs["budget"] or waiting:
                study.optimize(objective, n_trials=1, gc_after_trial=True, catch=(OverBudget,))
                ran += 1
                if objective.terminated:
                    raise signals.Terminated("SIGTERM")
            elif heartbeats and running:  # a running trial may yet turn out dead and come back
                time.sleep(heartbeat)
            else:
                return ran
