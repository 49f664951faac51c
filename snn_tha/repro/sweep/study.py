"""Optuna TPE sweeps over an experiment's hyperparameters (paper App. D: 500 trials each).

`init` creates the study once (storage: `snn_tha.repro.sweep.storage`), storing the search space's
content and the git commit; any number of `work` processes join it (refused when their
checkout's space or commit differ) and stop when the study's total budget is used (counted in
the storage before every trial). The objective is validation accuracy; trials never evaluate
the test set. Dead networks cost a few batches: a trial whose output layer (or any layer) emits
no spike over its first K batches, or whose validation accuracy is at chance after its first
epoch, is pruned with the reason recorded. Optional multi-fidelity pruning (median, ASHA,
Hyperband) on per-epoch validation accuracy. The published configuration is enqueued first
(warm start), so a sweep never ends below it.
"""
import logging
import os
import time
import warnings
from pathlib import Path

import optuna

from snn_tha.repro import paths, provenance, schema, yaml_config as config
from snn_tha.repro.run import signals
from snn_tha.repro.sweep.space import (check_param_keys, load_space, published_params,
                                      sample_overrides, space_hash, trial_config)
from snn_tha.repro.sweep.storage import load_study, open_storage, safe_url
from snn_tha.repro.run.setup import prepare_data
from snn_tha.repro.run.train import train

# the journal storage and the paper's TPE options are marked experimental: one warning per
# trial and worker says nothing a user can act on
warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)

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
            prune(f"validation accuracy {row['val_acc']:.4f} at chance after the first epoch: "
                  f"not above {row['val_chance']:.4f}, the share of the validation split's most "
                  f"common class (what always answering that class scores)")
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
        try:   # SIGTERM while sampling (the membrane scales take a moment) fails it cleanly too
            cfg = trial_config(space, profile, sample_overrides(trial, space, base), study_overrides)
        except BaseException as err:
            if not signals.caused_by_sigterm(err):
                raise
            return _terminated(trial, terminated, frozen.system_attrs.get("fixed_params"))
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
        except BaseException as err:
            if not signals.caused_by_sigterm(err):
                raise
            return _terminated(trial, terminated, frozen.system_attrs.get("fixed_params"))
        return run["runs"][0]["val_acc"]
    terminated = []   # set when a trial was stopped by SIGTERM: the worker then exits
    objective.terminated = terminated
    return objective


def _terminated(trial, terminated, fixed_params=None):
    """A trial stopped by SIGTERM is failed (a NaN value: Optuna records FAIL in one line, no
    traceback); the warm-start trial is queued again, with all its enqueued values (it may have
    been stopped before every parameter was sampled), so that the study keeps it."""
    trial.set_user_attr("failed_reason", "terminated by SIGTERM")
    if "warm_start" in trial.user_attrs:
        trial.study.enqueue_trial(fixed_params or trial.params,
                                  user_attrs={"warm_start": trial.user_attrs["warm_start"]})
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
             "objective": "validation accuracy", "packages": provenance.package_versions(),
             "git_commit": provenance.git_commit()}
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
    if provenance.git_commit() != attrs.get("git_commit"):
        differences.append(f"code (commit {provenance.git_commit()} here, {attrs.get('git_commit')} in the study)")
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
    out_root = Path(out_root) if out_root else paths.results_root() / "sweeps" / "trials"
    space = load_space(attrs["space"])
    objective = make_objective(space, attrs, out_root / study_name, overrides)
    # the data every trial reads, found before a trial starts: a missing folder is one line
    # (a trial that fails on it would be logged by Optuna with a traceback first)
    prepare_data(trial_config(space, attrs["profile"], [], overrides))

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
