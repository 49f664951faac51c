"""Threshold search ranges in units of each layer's membrane scale (sweep spaces, `scale:`).

A fixed interval such as theta in [0.5, 20] is silent at one end for a layer with batch norm
(unit current) and at the other for a 1024-input dense layer (current ~10): most trials then
train a dead network. A threshold parameter with `scale: membrane` is sampled as a multiple c of
its layer's membrane scale and written to the config as c * s_l, where

    s_l     = sigma_l * (1 - beta^T) / (1 - beta)    the membrane after T steps of a steady
              current of one standard deviation (a static image at every step, and the
              near-periodic spike trains it drives, keep currents correlated over time);
    sigma_l = 1                                       with batch norm (its initial scale 1);
            = sqrt(fan_in_l * rho_l * E[w^2])         without: E[w^2] = 1 for +-1 weights, the
              initial mean square for float weights; rho_l = the input's mean square: the data's
              (images; the space's `input_mean_square`) or the assumed firing rate SPIKE_RATE.

Pooling is ignored (neighbouring inputs are correlated). The rule sets the scale, not the
answer: the space's low/high (multiples) still leave TPE a wide range around it.
"""
import dataclasses
import functools
import math

import torch

from snn_tha.models import ARCHITECTURES, build

SPIKE_RATE = 0.1         # assumed firing rate of spiking inputs (hidden layers, events)
SCALED_PREFIXES = ("annealing.theta0.", "annealing.delta.", "net.thresholds")


def current_std(net_cfg, input_mean_square):
    """sigma_l of every LIF layer for this network configuration."""
    return list(_current_std(net_cfg, input_mean_square))


@functools.lru_cache(maxsize=64)
def _current_std(net_cfg, input_mean_square):
    """Cached: it builds the network to read fan-ins and initial weights."""
    with torch.random.fork_rng():
        torch.manual_seed(0)
        net = build(dataclasses.replace(net_cfg, engine="exact"))
    stds = []
    for i, block in enumerate(net.blocks):
        if getattr(block, "bn", None) is not None:
            stds.append(1.0)
            continue
        layer = block.conv if hasattr(block, "conv") else block.fc
        fan_in = layer.weight[0].numel()
        weight_ms = 1.0 if layer.binarize else float(layer.weight.detach().pow(2).mean())
        rho = input_mean_square if i == 0 and _first_input_is_analog(net_cfg) else SPIKE_RATE
        stds.append(math.sqrt(fan_in * rho * weight_ms))
    return tuple(stds)


def _first_input_is_analog(net_cfg):
    return ARCHITECTURES[net_cfg.arch].static   # static images; event and spike data are spikes


def membrane_scales(net_cfg, num_steps, input_mean_square):
    """s_l of every LIF layer (see the module docstring)."""
    beta = float(net_cfg.beta)
    steps = num_steps if beta >= 1 else (1 - beta ** num_steps) / (1 - beta)
    return [s * steps for s in current_std(net_cfg, input_mean_square)]


def is_threshold_param(name):
    return name.startswith(SCALED_PREFIXES)


def layer_of(name):
    """Layer index of `annealing.theta0.<i>` / `annealing.delta.<i>`; None for a value shared by
    every layer (`net.thresholds` with `layers:`)."""
    last = name.rsplit(".", 1)[-1]
    return int(last) if last.isdigit() else None
