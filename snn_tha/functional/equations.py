"""The paper's neuron equations, each written once; the per-step path (snnTorch calls, `lif_step`),
the fused sequence kernel (`engine`) and the surrogates all call these functions.

    Eq. 1-2 (LIF, reset by subtraction):  u[t] = beta*u[t-1] + I[t] - H(u[t-1] - theta)*theta
    Heaviside (strict, as snnTorch):      z[t] = H(u[t] - theta) = 1 if u[t] > theta else 0
    Eq. 8 (fast-sigmoid surrogate):       dz/du ~ 1 / (1 + k*|u - c|)^2,
                                          c = theta0 (paper) or the current theta (snnTorch)

The annealing rule (Eq. 4) is in `snn_tha.functional.annealing`, sign with straight-through in
`snn_tha.functional.binary`.
"""
from typing import NamedTuple

import torch


class LifParams(NamedTuple):
    """One Leaky layer's parameters for Eq. 1-2 and Eq. 8: beta (clamped to [0, 1]), the
    threshold theta and the surrogate's centre c (0-dim tensors), the slope k."""
    beta: torch.Tensor
    threshold: torch.Tensor
    centre: torch.Tensor
    slope: float


def heaviside(mem, threshold):
    """z = H(u - theta), strict: (u > theta). Equal to snnTorch's (u - theta > 0), since for
    IEEE floats u - theta > 0 exactly when u > theta."""
    return (mem > threshold).to(mem.dtype)


def lif_membrane(prev, current, beta, threshold, out=None):
    """Eq. 1-2: u[t] = (beta*u[t-1] + I[t]) - H(u[t-1] - theta)*theta, no gradient through the
    reset. The reset term is exactly 0 or theta, so subtracting it with `where` rounds exactly
    like snnTorch's `beta*mem + input - reset*threshold`. With `out` (no autograd) it is written
    in place: one pass over the membrane per step."""
    if out is None:
        mem = beta * prev + current
        return torch.where(prev > threshold, mem - threshold, mem)
    torch.mul(prev, beta, out=out)
    out.add_(current)
    return torch.where(prev > threshold, out - threshold, out, out=out)


def fast_sigmoid_grad(grad, mem, centre, slope, inplace=False):
    """Eq. 8's surrogate gradient, grad / (k*|u - c| + 1)^2, with snnTorch's operations
    (FastSigmoid.backward) in snnTorch's order; `inplace` saves passes over a [T, B, ...] record
    and gives the same bits."""
    if inplace:
        denom = torch.sub(mem, centre).abs_().mul_(slope).add_(1.0)
        return grad / denom.mul_(denom)
    return grad.clone() / (slope * torch.abs(mem - centre) + 1.0) ** 2
