"""Binarized layers: sign weights with a straight-through estimator.

Float and binarized variants are the same class; `binarize=True` only changes which weight
the forward pass uses, so forward() exists once.
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from snn_tha.functional.binary import sign_ste

INITS = ("fan_in", "glorot")
# the order of the random draws that make a layer's latent weights (same seed, same weights):
# "release": as the authors' nets, which hold a binarized copy (Glorot, drawn first) and an
#            unused float copy (PyTorch's default init, drawn next) of every layer;
# "torch_first": PyTorch's default draw first, then the scheme's (runs before 2026-12-03).
INIT_ORDERS = ("release", "torch_first")


def init_weight_(weight, scheme):
    """Uniform init of the latent weights.

    "fan_in": U(+-sqrt(1/N_in)), the paper's Appendix D (equal to PyTorch's default bound).
    "glorot": U(+-sqrt(1.5/(N_in + N_out))), the authors' released code (which also zeroes
              the bias of its binarized layers; `_setup` does that for this scheme).
    """
    fan_in, fan_out = nn.init._calculate_fan_in_and_fan_out(weight)
    if scheme == "fan_in":
        bound = math.sqrt(1.0 / fan_in)
    elif scheme == "glorot":
        bound = math.sqrt(1.5 / (fan_in + fan_out))
    else:
        raise ValueError(f"init must be one of {INITS}, got {scheme!r}")
    with torch.no_grad():
        weight.uniform_(-bound, bound)


class _Binarizable:
    """Shared by Linear and Conv2d: the latent weights' init and which weight the forward
    pass sees."""

    def _setup(self, binarize, init, init_order, rng_before):
        """`rng_before`: the CPU generator's state before the parent constructor drew
        PyTorch's default init (weight, then bias)."""
        if init not in INITS:
            raise ValueError(f"init must be one of {INITS}, got {init!r}")
        if init_order not in INIT_ORDERS:
            raise ValueError(f"init_order must be one of {INIT_ORDERS}, got {init_order!r}")
        self.binarize = bool(binarize)
        self.init_scheme = init
        if init_order == "release":
            self._init_release_order(init, rng_before)
        else:
            init_weight_(self.weight, init)
        if init == "glorot" and self.bias is not None:
            nn.init.zeros_(self.bias)

    def _init_release_order(self, init, rng_before):
        """Draw the Glorot copy, then PyTorch's default init (the float copy): the same draws
        and the same generator state afterwards as the release's pair of layers. "glorot"
        keeps the first, "fan_in" (U(+-sqrt(1/N_in)), PyTorch's default) the second."""
        torch.random.set_rng_state(rng_before)
        glorot = torch.empty_like(self.weight)
        init_weight_(glorot, "glorot")
        self.reset_parameters()   # PyTorch's default: weight, then bias
        if init == "glorot":
            with torch.no_grad():
                self.weight.copy_(glorot)

    def effective_weight(self):
        return sign_ste(self.weight) if self.binarize else self.weight


class Linear(nn.Linear, _Binarizable):
    """nn.Linear whose weights are binarized with sign/STE when `binarize=True`."""

    def __init__(self, in_features, out_features, bias=True, binarize=False, init="fan_in",
                 init_order="release"):
        rng_before = torch.random.get_rng_state()
        super().__init__(in_features, out_features, bias=bias)
        self._setup(binarize, init, init_order, rng_before)

    def forward(self, x):
        return F.linear(x, self.effective_weight(), self.bias)

    def extra_repr(self):
        return super().extra_repr() + f", binarize={self.binarize}"


class Conv2d(nn.Conv2d, _Binarizable):
    """nn.Conv2d whose weights are binarized with sign/STE when `binarize=True`."""

    def __init__(self, in_channels, out_channels, kernel_size, bias=True, binarize=False,
                 init="fan_in", init_order="release", **kwargs):
        rng_before = torch.random.get_rng_state()
        super().__init__(in_channels, out_channels, kernel_size, bias=bias, **kwargs)
        self._setup(binarize, init, init_order, rng_before)

    def forward(self, x):
        return self._conv_forward(x, self.effective_weight(), self.bias)

    def extra_repr(self):
        return super().extra_repr() + f", binarize={self.binarize}"
