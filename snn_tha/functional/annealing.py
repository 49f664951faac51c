"""Threshold annealing, paper Eq. 4, and its closed form:

    theta[g+1] = theta[g] + alpha * (theta_inf - theta[g])          (per optimizer step g)
    theta[g]   = theta_inf - (theta_inf - theta0) * (1 - alpha)**g

`snn_tha.nn.ThresholdAnnealing` applies them to a model's neurons.
"""
import math
from dataclasses import dataclass


def anneal_step(theta, theta_inf, alpha):
    """One iteration of Eq. 4: theta[g+1] = theta[g] + alpha * (theta_inf - theta[g])."""
    return theta + alpha * (theta_inf - theta)


def anneal_step_(threshold, theta_inf, alpha):
    """Eq. 4 in place on a float32 threshold tensor, in the release's operation order."""
    threshold += alpha * (theta_inf - threshold)


def annealed_threshold(theta0, theta_inf, alpha, step):
    """Closed form of Eq. 4 after `step` iterations."""
    return theta_inf - (theta_inf - theta0) * (1.0 - alpha) ** step


def iterations_to_within(theta0, theta_inf, alpha, fraction):
    """Eq. 4's closed form solved for g: the first iteration with theta_inf - theta(g) <=
    fraction * theta_inf, i.e. g = ceil(log(fraction*theta_inf / (theta_inf - theta0)) / log(1 - alpha))."""
    if theta_inf == theta0:
        return 0
    return math.ceil(math.log(fraction * theta_inf / (theta_inf - theta0)) / math.log(1.0 - alpha))


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
