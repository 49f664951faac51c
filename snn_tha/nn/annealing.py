"""Threshold annealing (paper Eq. 4, written once in `snn_tha.functional.annealing`) applied to a
model: one schedule for every annealed layer.

The schedule's only state is the step count g. Two ways to compute theta(g):
- "release" (default): the authors' update, in place on the float32 threshold each step,
  `theta += alpha * (theta_inf - theta)`; `set_step(g)` replays the g updates, so a resumed
  run holds exactly the values an uninterrupted one would.
- "closed_form": the closed form in float64, stored as float32 (differs in the last bits).
"""
import warnings

import snntorch as snn
import torch

from snn_tha.functional.annealing import (LayerSchedule, anneal_step, anneal_step_,  # noqa: F401
                                          annealed_threshold, iterations_to_within)
from snn_tha.nn.neurons import Leaky
from snn_tha.nn.surrogate import FastSigmoid


UPDATES = ("release", "closed_form")


def leaky_layers(model):
    """This package's Leaky layers in definition order, found by type (works through wrappers)."""
    return [m for m in model.modules() if isinstance(m, Leaky)]


def spiking_layers(model):
    """Every snnTorch neuron with a threshold (Leaky, Synaptic, Alpha, Lapicque, RLeaky,
    RSynaptic, this package's Leaky, ...) in definition order, found by type."""
    return [m for m in model.modules()
            if isinstance(m, snn.SpikingNeuron) and torch.is_tensor(getattr(m, "threshold", None))]


def _select_layers(model, layers):
    if layers is None:
        return spiking_layers(model)
    by_name = dict(model.named_modules())
    chosen = []
    for item in layers:
        layer = by_name.get(item) if isinstance(item, str) else item
        if layer is None:
            names = [n for n, m in by_name.items() if m in spiking_layers(model)]
            raise ValueError(f"annealing: no module named {item!r}; spiking layers: {names}")
        if not any(layer is m for m in model.modules()) or layer not in spiking_layers(model):
            raise ValueError(f"annealing: {item!r} is not a spiking layer of this model")
        chosen.append(layer)
    return chosen


def _per_layer(values, n, name):
    """A single value for every layer, or one value per layer."""
    if isinstance(values, (int, float)):
        return [float(values)] * n
    values = [float(v) for v in values]
    if len(values) == 1 and n > 1:
        return values * n
    return values


class ThresholdAnnealing:
    """Anneal the threshold of spiking layers (Eq. 4); call `step()` after each optimizer step.

    Works on any snnTorch neuron with a threshold, per-step or `init_hidden=True`, through
    wrappers (DataParallel, torch.compile): layers are found by type in definition order, or
    given as `layers=[module or name, ...]`. `theta0`, `theta_inf`, `alpha` are one value for
    every layer or one per layer. Thresholds change in place (dtype and device kept). A
    learnable threshold (`learn_threshold=True`) is refused unless `allow_learned_threshold`
    (the optimiser and the schedule would both move it). A layer built with a threshold other
    than theta0 gets theta0, with one warning naming it (`warn_replaced=False`: silent).

    Surrogate centre (Eq. 8): this package's `Leaky` gets `initial_threshold = theta0`; a plain
    snnTorch neuron gets it when its `spike_grad` is `snn_tha.FastSigmoid(k, centre="initial")`.
    """

    def __init__(self, model, theta0, theta_inf, alpha, update="release", layers=None,
                 allow_learned_threshold=False, warn_replaced=True):
        if update not in UPDATES:
            raise ValueError(f"annealing update must be one of {UPDATES}, got {update!r}")
        self.update = update
        self.layers = _select_layers(model, layers)
        n = len(self.layers)
        lists = {k: _per_layer(v, n, k) for k, v in
                 (("theta0", theta0), ("theta_inf", theta_inf), ("alpha", alpha))}
        if n == 0:
            raise ValueError("annealing: found no spiking layer in this model (an snnTorch neuron "
                             "with a threshold tensor: snn.Leaky, snn.Synaptic, snn_tha.Leaky, ...); "
                             "add one, or pass layers=[...]")
        if {len(v) for v in lists.values()} != {n}:
            raise ValueError(f"annealing: the model has {n} spiking layers but the per-layer lists "
                             f"have lengths { {k: len(v) for k, v in lists.items()} }; give one "
                             f"value per layer (or a single value for all)")
        self.schedules = [LayerSchedule(*values) for values in zip(*lists.values())]
        for i, (layer, schedule) in enumerate(zip(self.layers, self.schedules)):
            schedule.validate(i)
            _check_layer(i, layer, allow_learned_threshold)
            if isinstance(layer, Leaky):
                layer.initial_threshold.fill_(schedule.theta0)
            if isinstance(getattr(layer, "spike_grad", None), FastSigmoid):
                layer.spike_grad = layer.spike_grad.bound(layer.threshold, schedule.theta0)
        self.step_count = 0
        if warn_replaced:   # off where a trained model's schedule is rebuilt (evaluation, export)
            self._say_replaced([float(layer.threshold.detach()) for layer in self.layers])
        self._apply()

    def _say_replaced(self, before):
        """One warning naming each layer whose own threshold annealing replaces with theta0."""
        changed = [f"layer {i} ({type(layer).__name__}): {old:g} -> theta0 {sched.theta0:g}"
                   for i, (layer, sched, old) in enumerate(zip(self.layers, self.schedules, before))
                   if old != float(torch.tensor(sched.theta0, dtype=layer.threshold.dtype))]
        if changed:
            warnings.warn("ThresholdAnnealing set the thresholds the neurons were built with to "
                          "theta0 (Eq. 4 starts there): " + "; ".join(changed), stacklevel=3)

    def __repr__(self):
        layers = ", ".join(f"{i}: {type(l).__name__} {s.theta0:g} -> {s.theta_inf:g} (alpha {s.alpha:g})"
                           for i, (l, s) in enumerate(zip(self.layers, self.schedules)))
        return f"ThresholdAnnealing({len(self.layers)} spiking layers, step {self.step_count}; {layers})"

    def _apply(self):
        """Set every layer's threshold to its value at `step_count`."""
        with torch.no_grad():
            for layer, schedule in zip(self.layers, self.schedules):
                if self.update == "closed_form":
                    layer.threshold.fill_(schedule.at(self.step_count))
                else:
                    layer.threshold.fill_(schedule.theta0)
                    for _ in range(self.step_count):
                        anneal_step_(layer.threshold, schedule.theta_inf, schedule.alpha)

    def step(self):
        """Advance one training iteration (Eq. 4) and update every layer's threshold."""
        self.step_count += 1
        if self.update == "closed_form":
            self._apply()
            return
        with torch.no_grad():
            for layer, schedule in zip(self.layers, self.schedules):
                anneal_step_(layer.threshold, schedule.theta_inf, schedule.alpha)

    def set_step(self, step):
        """Jump to iteration `step`, e.g. to evaluate a model saved back then."""
        self.step_count = int(step)
        self._apply()

    def thresholds(self):
        """Current per-layer thresholds as floats (what the layers hold)."""
        return [float(layer.threshold) for layer in self.layers]

    def log_dict(self):
        return {f"theta_{i}": value for i, value in enumerate(self.thresholds())}

    def state_dict(self):
        return {"step_count": self.step_count, "update": self.update,
                "schedules": [vars(s).copy() for s in self.schedules]}

    def load_state_dict(self, state):
        saved = [LayerSchedule(**s) for s in state["schedules"]]
        if saved != self.schedules:
            raise ValueError(f"annealing: checkpoint schedule {saved} differs from the "
                             f"configured {self.schedules}")
        self.step_count = int(state["step_count"])
        self._apply()


def _check_layer(i, layer, allow_learned_threshold):
    threshold = layer.threshold
    if not threshold.is_floating_point():
        raise ValueError(f"annealing layer {i} ({type(layer).__name__}): its threshold is "
                         f"{threshold.dtype}; build it with a float, e.g. threshold=1.0")
    if threshold.numel() != 1:
        raise ValueError(f"annealing layer {i} ({type(layer).__name__}): one shared threshold "
                         f"per layer is annealed, this one has {threshold.numel()} values")
    if isinstance(threshold, torch.nn.Parameter) and not allow_learned_threshold:
        raise ValueError(f"annealing layer {i} ({type(layer).__name__}) has learn_threshold=True: "
                         f"the optimiser and the schedule would both move it; build it with "
                         f"learn_threshold=False, or pass allow_learned_threshold=True")
