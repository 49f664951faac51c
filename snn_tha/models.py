"""Spiking network architectures, built from the core layers and run layer by layer over
time-first input ``[T, B, ...]`` (feed-forward nets need no step-interleaving: each layer
sees its whole input sequence, which is exact and lets a layer batch its synaptic work).
"""
from typing import NamedTuple

import torch
import torch.nn as nn

from snn_tha.binary import Linear
from snn_tha.neurons import Leaky


class SNNOutput(NamedTuple):
    spikes: torch.Tensor          # output layer spikes  [T, B, C]
    membrane: torch.Tensor        # output layer membrane [T, B, C]
    layer_spikes: list            # spikes of every Leaky layer, in order (for activity analysis)


def per_layer(values, n_layers, name):
    """Accept one value for all layers or a list with one value per layer."""
    values = tuple(values) if isinstance(values, (list, tuple)) else (values,) * n_layers
    if len(values) != n_layers:
        raise ValueError(f"{name}: expected {n_layers} per-layer values, got {len(values)}")
    return values


class DenseSNN(nn.Module):
    """Fully connected SNN `sizes[0]-sizes[1]-...-sizes[-1]`: per layer Linear -> Dropout ->
    Leaky (dropout acts on the synaptic current, as in the authors' code).

    Used for the temporal-coding task (100-1000-1) and SHD (700-3000-20).
    """

    def __init__(self, sizes, beta, thresholds, slope, surrogate_centre="initial",
                 binarize=False, init="fan_in", bias=True, dropout=0.0):
        super().__init__()
        n = len(sizes) - 1
        thresholds = per_layer(thresholds, n, "thresholds")
        dropout = per_layer(dropout, n, "dropout")
        self.fcs = nn.ModuleList(Linear(a, b, bias=bias, binarize=binarize, init=init)
                                 for a, b in zip(sizes[:-1], sizes[1:]))
        self.drops = nn.ModuleList(nn.Dropout(p) for p in dropout)
        self.lifs = nn.ModuleList(Leaky(beta, th, slope, surrogate_centre) for th in thresholds)

    def forward(self, x):
        layer_spikes = []
        for fc, drop, lif in zip(self.fcs, self.drops, self.lifs):
            spikes, mem = lif.sequence(drop(fc(x)))
            layer_spikes.append(spikes)
            x = spikes
        return SNNOutput(spikes, mem, layer_spikes)
