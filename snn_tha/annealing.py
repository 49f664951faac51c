"""Threshold annealing (paper Eq. 4): one schedule for every annealed layer of a model.

    theta[g+1] = theta[g] + alpha * (theta_inf - theta[g])          (Eq. 4, per optimizer step g)
    theta[g]   = theta_inf - (theta_inf - theta0) * (1 - alpha)**g   (its closed form)

The schedule's only state is the step count g. Two ways to compute theta(g):
- "release" (default): the authors' update, in place on the float32 threshold each step,
  `theta += alpha * (theta_inf - theta)`; `set_step(g)` replays the g updates, so a resumed
  run holds exactly the values an uninterrupted one would.
- "closed_form": the closed form in float64, stored as float32 (differs in the last bits).
"""
from dataclasses import dataclass

from snn_tha.neurons import Leaky


UPDATES = ("release", "closed_form")


def anneal_step(theta, theta_inf, alpha):
    """One iteration of Eq. 4: theta[g+1] = theta[g] + alpha * (theta_inf - theta[g])."""
    return theta + alpha * (theta_inf - theta)


def anneal_step_(threshold, theta_inf, alpha):
    """Eq. 4 in place on a float32 threshold tensor, in the release's operation order."""
    threshold += alpha * (theta_inf - threshold)


def annealed_threshold(theta0, theta_inf, alpha, step):
    """Closed form of Eq. 4 after `step` iterations."""
    return theta_inf - (theta_inf - theta0) * (1.0 - alpha) ** step


@dataclass(frozen=True)
class LayerSchedule:
    theta0: float
    theta_inf: float
    alpha: float

    def validate(self, layer):
        if not 0 < self.theta0 <= self.theta_inf:
            raise ValueError(f"annealing layer {layer}: need 0 < theta0 <= theta_inf, got "
                             f"theta0={self.theta0:g}, theta_inf={self.theta_inf:g}")
        if not 0 < self.alpha <= 1:
            raise ValueError(f"annealing layer {layer}: need 0 < alpha <= 1, got alpha={self.alpha:g}")

    def at(self, step):
        return annealed_threshold(self.theta0, self.theta_inf, self.alpha, step)


def leaky_layers(model):
    """The model's Leaky layers in definition order, found by type (works through wrappers)."""
    return [m for m in model.modules() if isinstance(m, Leaky)]


class ThresholdAnnealing:
    """Anneal the threshold of every Leaky layer of `model`; call `step()` after each
    optimizer step. Per-layer lists `theta0`, `theta_inf`, `alpha` have one value per layer.

    The surrogate centre of each layer (`initial_threshold`) is set to its theta0 (Eq. 8).
    """

    def __init__(self, model, theta0, theta_inf, alpha, update="release"):
        if update not in UPDATES:
            raise ValueError(f"annealing update must be one of {UPDATES}, got {update!r}")
        self.update = update
        self.layers = leaky_layers(model)
        lengths = {"theta0": len(theta0), "theta_inf": len(theta_inf), "alpha": len(alpha)}
        if set(lengths.values()) != {len(self.layers)}:
            raise ValueError(f"annealing: the model has {len(self.layers)} Leaky layers but the "
                             f"per-layer lists have lengths {lengths}; give one value per layer")
        self.schedules = [LayerSchedule(float(a), float(b), float(c))
                          for a, b, c in zip(theta0, theta_inf, alpha)]
        for i, schedule in enumerate(self.schedules):
            schedule.validate(i)
        for layer, schedule in zip(self.layers, self.schedules):
            layer.initial_threshold.fill_(schedule.theta0)
        self.step_count = 0
        self._apply()

    def _apply(self):
        """Set every layer's threshold to its value at `step_count`."""
        for layer, schedule in zip(self.layers, self.schedules):
            if self.update == "closed_form":
                layer.set_threshold(schedule.at(self.step_count))
            else:
                layer.set_threshold(schedule.theta0)
                for _ in range(self.step_count):
                    anneal_step_(layer.threshold, schedule.theta_inf, schedule.alpha)

    def step(self):
        """Advance one training iteration (Eq. 4) and update every layer's threshold."""
        self.step_count += 1
        if self.update == "closed_form":
            self._apply()
            return
        for layer, schedule in zip(self.layers, self.schedules):
            anneal_step_(layer.threshold, schedule.theta_inf, schedule.alpha)

    def set_step(self, step):
        """Jump to iteration `step`, e.g. to evaluate a model saved back then."""
        self.step_count = int(step)
        self._apply()

    def thresholds(self):
        """Current per-layer thresholds as floats (what the layers hold, float32)."""
        return [float(layer.threshold) for layer in self.layers]

    def log_dict(self):
        return {f"theta_{i}": value for i, value in enumerate(self.thresholds())}

    def state_dict(self):
        return {"step_count": self.step_count,
                "schedules": [vars(s).copy() for s in self.schedules]}

    def load_state_dict(self, state):
        saved = [LayerSchedule(**s) for s in state["schedules"]]
        if saved != self.schedules:
            raise ValueError(f"annealing: checkpoint schedule {saved} differs from the "
                             f"configured {self.schedules}")
        self.step_count = int(state["step_count"])
        self._apply()
