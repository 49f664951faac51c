"""One trainer: `train(cfg, out_dir) -> result`, used by the CLI, the sweeps, the experiments
and the tests. Setup lives in `run_setup`, evaluation and the final result in `evaluation`,
checkpoints, resume keys and locks in `checkpoints`.

Each repeat k (seed = cfg.seed + k) writes `<out_dir>/<profile>-seed<seed>/`: the resolved
config, `iterations.csv` (loss, lr, thresholds per optimizer step), `metrics.csv` (one row per
epoch), `activity.json` (per-neuron spike counts over the test set), `final.json` (results
with provenance) and `checkpoint.pt` (atomic, every epoch; `resume=True` continues from it).
"""
import copy
import logging
import math
import time
from pathlib import Path
from typing import NamedTuple

import torch
import torch.nn as nn
from tqdm import tqdm

from snn_tha.repro import files, paths
from snn_tha.repro.run import activation_memory, checkpoints
from snn_tha.nn.annealing import leaky_layers
from snn_tha.repro.yaml_config import dump
from snn_tha.repro.data import batches
from snn_tha.repro.data.common import DataError
from snn_tha.repro.paths import data_root
from snn_tha.repro.run.device import on_device, resolve as resolve_device
from snn_tha.repro.run.evaluation import (MODEL_OUTPUTS, TRAINING_OUTPUTS, TrainedRun,
                                          dead_fractions, evaluate, write_final)
from snn_tha.functional.losses import mse_count_loss, predict
from snn_tha.models import build
from snn_tha.repro.run.resume import keep_finished, try_load
from snn_tha.repro.run.setup import make_annealing, make_optimizer, prepare_data
from snn_tha.repro.run.timing import timed, timed_iter

log = logging.getLogger("snn_tha")


def default_out_dir(cfg):
    return paths.results_root() / "runs" / cfg.experiment


def _clip_gradients(cfg, model):
    if cfg.optim.grad_clip:
        nn.utils.clip_grad_norm_(model.parameters(), cfg.optim.grad_clip)


def _clamp_weights(cfg, model, when):
    if cfg.optim.weight_clip and cfg.optim.clamp == when:  # latent weights in [-c, c] (WC)
        with torch.no_grad():
            for p in model.parameters():
                p.clamp_(-cfg.optim.weight_clip, cfg.optim.weight_clip)


class StepResult(NamedTuple):
    loss: float
    spikes: torch.Tensor          # output spikes [T, B, C], detached
    lr: float                     # the learning rate the step used
    thresholds: list              # the thresholds the step used (before annealing's update)
    layer_spikes: list            # every layer's spikes [T, B, ...]


class NonFiniteError(RuntimeError):
    """Training diverged (NaN/inf loss or weights); str(err) is the one-line message."""


def _check_finite_weights(model, run_dir, iteration):
    for name, param in model.named_parameters():
        if not torch.isfinite(param).all():
            raise NonFiniteError(f"{run_dir}: parameter {name} became non-finite by iteration "
                                 f"{iteration}; lower optim.lr or enable optim.grad_clip "
                                 f"(no final result was written for this run)")


class Run:
    """The state of one training run (one seed), checkpointed every epoch."""

    def __init__(self, cfg, seed, run_dir):
        self.cfg, self.seed, self.dir = cfg, seed, Path(run_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        torch.manual_seed(seed)
        self.train_set, self.val_set, self.test_set, self.to_input = prepare_data(cfg)
        # the accuracy of always answering the validation split's most common class
        labels = self.val_set.labels
        self.val_chance = float(labels.bincount().max()) / len(labels) if len(labels) else float("nan")
        self.device = resolve_device(cfg.device)
        self.model = build(cfg.net_config).to(self.device)
        self.iters_per_epoch = -(-len(self.train_set) // cfg.batch_size)
        if cfg.max_batches_per_epoch:
            self.iters_per_epoch = min(self.iters_per_epoch, cfg.max_batches_per_epoch)
        self.annealing = make_annealing(cfg, self.model, cfg.epochs * self.iters_per_epoch)
        self.optimizer, self.scheduler = make_optimizer(cfg, self.model, self.iters_per_epoch)
        self.shuffle = torch.Generator().manual_seed(seed)
        self.state = {"epoch": 0, "iteration": 0, "best": float("-inf"), "best_epoch": -1,
                      "best_iteration": 0,
                      "bad_epochs": 0, "history": [], "seconds": 0.0}
        self.best_model = copy.deepcopy(self.model.state_dict())
        self.setup_seconds = time.perf_counter() - started   # data, model (this process)

    # --- checkpoints -------------------------------------------------------------------
    def resume_key(self):
        derived = {"iterations_per_epoch": self.iters_per_epoch,
                   "alpha": [s.alpha for s in self.annealing.schedules] if self.annealing else None,
                   "cosine_t_max": self.scheduler.T_max if self.scheduler else None}
        return checkpoints.resume_key(self.cfg, derived)

    def save(self):
        checkpoints.save(self.dir, {
            "resume_key": self.resume_key(),
            "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict() if self.scheduler else None,
            "annealing": self.annealing.state_dict() if self.annealing else None,
            "shuffle": self.shuffle.get_state(), "rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state(self.device) if self.device.type == "cuda" else None,
            "state": self.state, "best_model": self.best_model})

    def load(self):
        """Continue from the newest usable checkpoint; False when there is none."""
        ckpt = checkpoints.load_checkpoint(self.dir, self.resume_key())
        if ckpt is None:
            return False
        self.model.load_state_dict(ckpt["model"])
        self.optimizer.load_state_dict(ckpt["optimizer"])
        if self.scheduler:
            self.scheduler.load_state_dict(ckpt["scheduler"])
        if self.annealing:
            self.annealing.load_state_dict(ckpt["annealing"])
        self.shuffle.set_state(ckpt["shuffle"])
        torch.set_rng_state(ckpt["rng"])
        if self.device.type == "cuda" and ckpt.get("cuda_rng") is not None:
            torch.cuda.set_rng_state(ckpt["cuda_rng"], self.device)
        self.state, self.best_model = ckpt["state"], ckpt["best_model"]
        files.truncate_rows(self.dir / "iterations.csv", self.state["iteration"])
        return True

    # --- training ----------------------------------------------------------------------
    def train_step(self, x, y):
        """One iteration in the release's order: forward, loss, zero_grad, backward, clip,
        clamp (before_step), step, (clamp after_step), scheduler, annealing.
        Returns (loss, output spikes, lr used, thresholds used)."""
        cfg, model = self.cfg, self.model
        out = model(x, cfg.num_steps if cfg.data.is_static else None)
        loss = mse_count_loss(out.spikes, y, cfg.correct_rate, cfg.incorrect_rate)
        value = loss.item()
        if not math.isfinite(value):
            raise NonFiniteError(f"{self.dir}: the loss became {value} at iteration "
                                 f"{self.state['iteration'] + 1}; lower optim.lr or enable "
                                 f"optim.grad_clip (no final result was written for this run)")
        self.optimizer.zero_grad()
        loss.backward()
        _clip_gradients(cfg, model)
        _clamp_weights(cfg, model, "before_step")
        self.optimizer.step()
        _clamp_weights(cfg, model, "after_step")
        lr = self.optimizer.param_groups[0]["lr"]
        if self.scheduler:
            self.scheduler.step()
        thresholds = [float(l.threshold) for l in leaky_layers(model)]
        if self.annealing:
            self.annealing.step()
        self.state["iteration"] += 1
        return StepResult(value, out.spikes.detach(), lr, thresholds, out.layer_spikes)

    def train_epoch(self, epoch, progress, on_batch=None):
        cfg = self.cfg
        self.model.train()
        rows, losses, correct, seen = [], [], 0, 0
        # disable=None: no bar when stderr is not a terminal (logs, batch jobs, pipes)
        with tqdm(total=self.iters_per_epoch, desc=f"{cfg.experiment} s{self.seed} ep{epoch}",
                  disable=None if progress else True, leave=False, mininterval=2.0) as bar:
            parts = self.state.setdefault("parts", {})   # a checkpoint from before had none
            for i, (x, y) in enumerate(timed_iter(on_device(batches(
                    self.train_set, cfg.batch_size, self.shuffle, self.to_input), self.device),
                    parts, "data")):
                if i >= self.iters_per_epoch:
                    break
                with timed(parts, "training steps"):
                    loss, spikes, lr, thresholds, layer_spikes = self.train_step(x, y)
                if on_batch is not None:  # e.g. a sweep pruning a network that stays silent
                    on_batch(self.state["iteration"], [float(s.detach().sum()) for s in layer_spikes])
                losses.append(loss)
                correct += int((predict(spikes) == y).sum())
                seen += len(y)
                rows.append({"iteration": self.state["iteration"], "epoch": epoch, "loss": loss,
                             "lr": lr, **{f"theta_{j}": t for j, t in enumerate(thresholds)}})
                bar.update()
                bar.set_postfix(loss=f"{loss:.3f}", acc=f"{correct / seen:.3f}",
                                theta="/".join(f"{t:.2f}" for t in thresholds), refresh=False)
        files.append_rows(self.dir / "iterations.csv", rows)
        return sum(losses) / len(losses), correct / max(seen, 1)

    def finished(self):
        return self.state["epoch"] >= self.cfg.epochs or self.state["bad_epochs"] >= self.cfg.patience

    def fit(self, progress=True, on_epoch=None, on_batch=None):
        cfg, st = self.cfg, self.state
        while st["epoch"] < cfg.epochs and st["bad_epochs"] < cfg.patience:
            t0 = time.perf_counter()
            train_loss, train_acc = self.train_epoch(st["epoch"], progress, on_batch)
            parts = st["parts"]
            with timed(parts, "validation"):
                val_acc, val_counts = evaluate(self.model, self.val_set, cfg, self.to_input,
                                               self.annealing, activity=True)
            test_acc = float("nan")
            if cfg.track_test:
                with timed(parts, "test each epoch"):
                    test_acc, _ = evaluate(self.model, self.test_set, cfg, self.to_input,
                                           self.annealing)
            chosen = test_acc if cfg.protocol == "paper" else val_acc
            row = {"epoch": st["epoch"], "train_loss": train_loss, "train_acc": train_acc,
                   "val_acc": val_acc, "val_chance": self.val_chance, "test_acc": test_acc,
                   "lr": self.optimizer.param_groups[0]["lr"],
                   **{f"theta_{j}": float(l.threshold) for j, l in enumerate(leaky_layers(self.model))},
                   **dead_fractions(val_counts),
                   "seconds": time.perf_counter() - t0}
            if chosen > st["best"]:
                st.update(best=chosen, best_epoch=st["epoch"], best_iteration=st["iteration"],
                          bad_epochs=0)
                self.best_model = copy.deepcopy(self.model.state_dict())
            else:
                st["bad_epochs"] += 1
            _check_finite_weights(self.model, self.dir, st["iteration"])
            st["history"].append(row)
            st["epoch"] += 1
            st["seconds"] += row["seconds"]
            with timed(parts, "checkpoints and logs"):
                files.atomic_write_csv(self.dir / "metrics.csv", st["history"])
                self.save()
            if on_epoch is not None:
                on_epoch(row)

    def finish(self):
        """The chosen model's final result (see `evaluation.write_final`)."""
        return write_final(TrainedRun.of(self))

def train_one(cfg, seed, run_dir, resume=False, progress=True, on_epoch=None, on_batch=None,
              retrain=False):
    run_dir = Path(run_dir)
    created = [d for d in (run_dir, *run_dir.parents) if not d.exists()]
    try:
        return _train_one(cfg, seed, run_dir, resume, progress, on_epoch, on_batch, retrain)
    except BaseException:
        for folder in created:   # a run refused before its first file leaves no empty folders
            try:
                folder.rmdir()
            except OSError:
                break
        raise


def _train_one(cfg, seed, run_dir, resume, progress, on_epoch, on_batch, retrain):
    with checkpoints.RunLock(run_dir):
        checkpoints.clean_temporaries(run_dir)
        kept = keep_finished(cfg, run_dir, resume, retrain)
        if kept is not None:
            return kept
        run = Run(cfg, seed, run_dir)
        if not (resume and try_load(run, resume)):
            if (run.dir / checkpoints.LATEST).is_file():
                log.info("%s: starting afresh over an unfinished run (--resume continues it)", run.dir)
            for stale in ("final.json", *TRAINING_OUTPUTS, *MODEL_OUTPUTS,
                          checkpoints.LATEST, checkpoints.PREVIOUS):
                (run.dir / stale).unlink(missing_ok=True)
        files.atomic_write_text(run.dir / "config.yaml", dump(cfg))
        run.fit(progress, on_epoch, on_batch)
        return run.finish()


def check_data_root(cfg):
    """The data folder must exist: only `make data` (snn_tha.repro.data.prepare) creates it, so a
    mistyped --data-dir is an error, not an empty folder silently filled."""
    root = data_root(cfg.data.data_dir)
    if not root.is_dir():
        raise DataError(f"data folder {root} does not exist: run `make data`, or pass an existing "
                        f"--data-dir (or set SNN_THA_DATA)")


def train(cfg, out_dir=None, resume=False, progress=True, on_epoch=None, on_batch=None,
          retrain=False):
    """Train `cfg.repeats` runs (seeds cfg.seed + k); returns their final results.
    resume: False (a folder holding a finished run is refused), True (continue from
    checkpoints; a finished run is left as it is, its missing files written) or "auto" (as
    True, but a run of other settings is moved aside and trained afresh). retrain: move any
    run already there to `.replaced/` and train again."""
    check_data_root(cfg)
    activation_memory.check(cfg, resolve_device(cfg.device))   # before any data is read
    out_dir = Path(out_dir) if out_dir else default_out_dir(cfg)
    run_dirs = [out_dir / f"{cfg.profile}-seed{cfg.seed + k}" for k in range(cfg.repeats)]
    runs = [train_one(cfg, cfg.seed + k, run_dir, resume, progress, on_epoch, on_batch, retrain)
            for k, run_dir in enumerate(run_dirs)]
    result = {"experiment": cfg.experiment, "profile": cfg.profile, "runs": runs,
              "run_dirs": run_dirs}
    if cfg.track_test:
        accs = torch.tensor([r["test_acc"] for r in runs])
        result.update(test_acc_best=float(accs.max()), test_acc_mean=float(accs.mean()),
                      test_acc_std=float(accs.std()) if len(runs) > 1 else 0.0)
    return result
