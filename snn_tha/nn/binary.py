"""Binarized layers: sign weights with a straight-through estimator.

Float and binarized variants are the same class; `binarize=True` only changes which weight
the forward pass uses, so forward() exists once.
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

INITS = ("fan_in", "glorot")


class _SignSTE(torch.autograd.Function):
    @staticmethod
    def forward(ctx, weight):
        return torch.where(weight >= 0, 1.0, -1.0).to(weight.dtype)

    @staticmethod
    def backward(ctx, grad):
        return grad  # straight-through: the gradient passes unchanged


def sign_ste(weight):
    """w_b = sign(w) with sign(0) = +1; gradient passed unchanged (straight-through)."""
    return _SignSTE.apply(weight)


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
    """Shared by Linear and Conv2d: which weight the forward pass sees."""

    def _setup(self, binarize, init):
        self.binarize = bool(binarize)
        self.init_scheme = init
        init_weight_(self.weight, init)
        if init == "glorot" and self.bias is not None:
            nn.init.zeros_(self.bias)

    def effective_weight(self):
        return sign_ste(self.weight) if self.binarize else self.weight


class Linear(nn.Linear, _Binarizable):
    """nn.Linear whose weights are binarized with sign/STE when `binarize=True`."""

    def __init__(self, in_features, out_features, bias=True, binarize=False, init="fan_in"):
        super().__init__(in_features, out_features, bias=bias)
        self._setup(binarize, init)

    def forward(self, x):
        return F.linear(x, self.effective_weight(), self.bias)

    def extra_repr(self):
        return super().extra_repr() + f", binarize={self.binarize}"


class Conv2d(nn.Conv2d, _Binarizable):
    """nn.Conv2d whose weights are binarized with sign/STE when `binarize=True`."""

    def __init__(self, in_channels, out_channels, kernel_size, bias=True, binarize=False,
                 init="fan_in", **kwargs):
        super().__init__(in_channels, out_channels, kernel_size, bias=bias, **kwargs)
        self._setup(binarize, init)

    def forward(self, x):
        return self._conv_forward(x, self.effective_weight(), self.bias)

    def extra_repr(self):
        return super().extra_repr() + f", binarize={self.binarize}"
