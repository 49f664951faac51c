"""Evaluation: accuracy and per-neuron activity at the configured thresholds, and the run's
final result (final.json, activity.json) for its chosen model."""
import copy
import logging
import time
from contextlib import contextmanager
from dataclasses import dataclass, fields
from pathlib import Path

import torch

from snn_tha.repro import files, provenance
from snn_tha.repro.run import timing
from snn_tha.nn.annealing import ThresholdAnnealing, leaky_layers
from snn_tha.repro.yaml_config import ConfigError
from snn_tha.repro.data import batches
from snn_tha.repro.run.device import describe as describe_device, on_device
from snn_tha.functional.losses import predict
from snn_tha.kernels.engine import neuron_counts
from snn_tha.models.networks import forward_only

log = logging.getLogger("snn_tha")


@contextmanager
def test_thresholds(annealing, mode="theta_inf"):
    """Evaluate with theta_inf (paper 5.2), then put the training thresholds back."""
    if annealing is None or mode == "current":
        yield
        return
    saved = annealing.thresholds()
    for layer, schedule in zip(annealing.layers, annealing.schedules):
        layer.set_threshold(schedule.theta_inf)
    try:
        yield
    finally:
        for layer, value in zip(annealing.layers, saved):
            layer.set_threshold(value)


@torch.no_grad()
def evaluate(model, split, cfg, to_input, annealing=None, activity=False, forward_only_path=None):
    """Accuracy on `split` (and per-layer, per-neuron spike counts when `activity`);
    `forward_only_path`: see `snn_tha.models.networks.forward_only` (None: its default)."""
    if len(split) == 0:
        return float("nan"), None
    was_training = model.training
    model.eval()
    correct, counts = 0, None
    device = next(model.parameters()).device
    with test_thresholds(annealing, cfg.test_threshold), forward_only(model, forward_only_path):
        for x, y in on_device(batches(split, cfg.batch_size, to_input=to_input), device):
            out = model(x, cfg.num_steps if cfg.data.is_static else None)
            correct += int((predict(out.spikes) == y).sum())
            if activity:
                layer_counts = [neuron_counts(s) for s in out.layer_spikes]
                counts = layer_counts if counts is None else [a + b for a, b in zip(counts, layer_counts)]
    model.train(was_training)
    return correct / len(split), counts


def dead_fractions(counts):
    """{"dead_<layer>": fraction of neurons that never fired} from per-neuron spike counts."""
    if counts is None:
        return {}
    return {f"dead_{j}": float((c == 0).float().mean()) for j, c in enumerate(counts)}


@dataclass(frozen=True)
class TrainedRun:
    """What the final evaluation reads of a finished training (the trainer's `Run` holds each
    under the same name): its config, folder, seed, the last and the chosen model, the
    training state (epochs, iterations, best epoch, seconds, parts), the annealing schedule,
    the three splits, the input transform, the device and the setup time."""
    cfg: object
    dir: Path
    seed: int
    model: torch.nn.Module
    best_model: dict
    state: dict
    annealing: object
    train_set: object
    val_set: object
    test_set: object
    to_input: object
    device: object
    setup_seconds: float

    @classmethod
    def of(cls, run):
        return cls(**{f.name: getattr(run, f.name) for f in fields(cls)})


def write_final(run):
    """Evaluate the run's chosen model (at the thresholds of its iteration, or theta_inf) on
    the validation and test sets; write activity.json, the model files, then final.json last
    with the list of the run's outputs (a run is finished when final.json and every output it
    lists exist: a kill before the end leaves no final.json); return final. `run`: a
    `TrainedRun`."""
    cfg = run.cfg
    started = time.perf_counter()
    final_model = copy.deepcopy(run.model)
    final_model.load_state_dict(run.best_model)
    annealing = None
    if run.annealing:  # the chosen model at the thresholds of its epoch (or theta_inf)
        annealing = ThresholdAnnealing(final_model, *(
            [s_.theta0 for s_ in run.annealing.schedules],
            [s_.theta_inf for s_ in run.annealing.schedules],
            [s_.alpha for s_ in run.annealing.schedules]), update=run.annealing.update,
            warn_replaced=False)
        annealing.set_step(run.state.get("best_iteration", run.state["iteration"]))
    with test_thresholds(annealing, cfg.test_threshold):  # what evaluate() will use
        eval_thresholds = [float(l.threshold) for l in leaky_layers(final_model)]
    val_acc, _ = evaluate(final_model, run.val_set, cfg, run.to_input, annealing)
    if not cfg.track_test:  # a sweep trial: validation only, no test-set numbers at all
        final = {"experiment": cfg.experiment, "seed": run.seed, "val_acc": val_acc,
                 "test_threshold": cfg.test_threshold,
                 "best_epoch": run.state["best_epoch"], "epochs_run": run.state["epoch"],
                 "train_seconds": round(run.state["seconds"], 1),
                 "outputs": [name for name in TRAINING_OUTPUTS if (run.dir / name).is_file()]}
        files.atomic_write_json(run.dir / "final.json", final)
        return final
    test_acc, counts = evaluate(final_model, run.test_set, cfg, run.to_input, annealing,
                                activity=True)
    activity = {"test_images": len(run.test_set), "num_steps": cfg.num_steps,
                "layers": [{"neurons": int(c.numel()), "dead_fraction": float((c == 0).float().mean()),
                            "spikes_per_neuron_per_image": (c / len(run.test_set)).tolist()}
                           for c in counts]}
    files.atomic_write_json(run.dir / "activity.json", activity, compact=True)
    final = {"experiment": cfg.experiment, "variant": cfg.variant, "dataset": cfg.data.name,
             "profile": cfg.profile, "protocol": cfg.protocol, "seed": run.seed,
             "selected_on": "test accuracy (paper protocol)" if cfg.protocol == "paper"
             else "validation accuracy",
             "best_epoch": run.state["best_epoch"], "epochs_run": run.state["epoch"],
             "test_acc": test_acc, "val_acc": val_acc,
             "dead_fraction": [l["dead_fraction"] for l in activity["layers"]],
             "train_images": len(run.train_set), "test_images": len(run.test_set),
             "num_steps": cfg.num_steps, "engine": cfg.net.engine,
             "device": describe_device(run.device),
             "threads": torch.get_num_threads(),   # of the process that finished the run
             "iterations": run.state["iteration"],
             "alpha": [s_.alpha for s_ in run.annealing.schedules] if run.annealing else None,
             "theta_inf": list(cfg.annealing.theta_inf) if cfg.annealing else None,
             "final_thresholds": [float(l.threshold) for l in leaky_layers(run.model)],
             "test_threshold": cfg.test_threshold if run.annealing else "fixed",
             "eval_thresholds": eval_thresholds,
             "train_seconds": round(run.state["seconds"], 1),
             "provenance": provenance.provenance(run.seed)}
    keep_chosen_model(run, eval_thresholds, final)
    final["seconds_by_part"] = timing.rounded({
        "setup (data, model)": run.setup_seconds, **run.state.get("parts", {}),
        "final evaluation and export": time.perf_counter() - started})
    final["outputs"] = [name for name in TRAINING_OUTPUTS + MODEL_OUTPUTS
                        if (run.dir / name).is_file()]
    files.atomic_write_json(run.dir / "final.json", final)
    return final


# what a run writes besides final.json (final.json lists those it wrote, so a resume can tell
# a finished run from one killed between its last files)
TRAINING_OUTPUTS = ("config.yaml", "metrics.csv", "iterations.csv", "activity.json")
MODEL_OUTPUTS = ("model.pt", "model.1bit.npz", "model.1bit.json")


def keep_chosen_model(run, eval_thresholds, final):
    """model.pt (the chosen model's state, when under 1 MB) and, for a binarized network, its
    1-bit export."""
    from snn_tha.deploy.onebit import ExportError
    from snn_tha.repro.export.run_export import export, keep_model
    keep_model(run.dir, run.best_model, run.state["best_iteration"], eval_thresholds)
    if not run.cfg.net.binarize:  # full-precision weights have no 1-bit form
        return
    try:
        export(run.dir, best_model=(run.best_model, run.state["best_iteration"], eval_thresholds),
               final=final)
    except (ConfigError, ExportError) as err:  # e.g. a BN channel with scale 0: the run stays valid
        log.warning("%s: no 1-bit export (%s)", run.dir, err)
