"""Heaviside spike with the fast-sigmoid surrogate gradient (paper Eq. 8).

Forward:  z = H(u - theta), H strict (x > 0), as in snnTorch.
Backward: dz/du ~ 1 / (1 + k * |u - c|)^2 where the centre c is either the initial threshold
theta0 (the paper's Eq. 8 / Alg. 1: the surrogate stays put while theta anneals) or the
current threshold (what snnTorch, and so the authors' release, computes).
"""
import torch

from snn_tha.functional.equations import fast_sigmoid_grad, heaviside


class _FastSigmoidSpike(torch.autograd.Function):
    @staticmethod
    def forward(ctx, mem, threshold, centre, slope):
        ctx.save_for_backward(mem, centre)
        ctx.slope = slope
        return heaviside(mem, threshold)

    @staticmethod
    def backward(ctx, grad_spike):
        mem, centre = ctx.saved_tensors
        # centre == threshold gives snnTorch's gradient bit for bit
        return fast_sigmoid_grad(grad_spike, mem, centre, ctx.slope), None, None, None


def spike_fast_sigmoid(mem, threshold, centre, slope):
    """z = H(mem - threshold); gradient 1/(1 + slope*|mem - centre|)^2 (Eq. 8).

    `threshold` and `centre` are tensors (0-dim buffers) and receive no gradient.
    """
    return _FastSigmoidSpike.apply(mem, threshold, centre, float(slope))


class _ShiftedFastSigmoid(torch.autograd.Function):
    """H(x) with the fast-sigmoid gradient evaluated at x + offset (offset None: at x)."""

    @staticmethod
    def forward(ctx, x, offset, slope):
        ctx.save_for_backward(x if offset is None else x + offset)
        ctx.slope = slope
        return heaviside(x, 0.0)

    @staticmethod
    def backward(ctx, grad_spike):
        at, = ctx.saved_tensors  # x (+ theta - theta0): the centre is 0 in these shifted units
        return fast_sigmoid_grad(grad_spike, at, 0.0, ctx.slope), None, None


class FastSigmoid:
    """A `spike_grad` for any snnTorch neuron (`snn.Leaky(..., spike_grad=FastSigmoid(5.0))`).

    snnTorch calls it with the shifted membrane x = u - theta. Backward:
    1/(1 + k*|u - c|)^2 with the centre c the current threshold (`centre="current"`, exactly
    snnTorch's `surrogate.fast_sigmoid`) or the initial threshold theta0 (`centre="initial"`,
    the paper's Eq. 8): `ThresholdAnnealing` binds each layer's threshold and theta0, so
    u - theta0 = x + (theta - theta0) while theta anneals.
    """

    def __init__(self, slope=25.0, centre="current"):
        if centre not in ("current", "initial"):
            raise ValueError(f"centre must be 'current' or 'initial', got {centre!r}")
        self.slope, self.centre = float(slope), centre
        self.threshold, self.theta0 = None, None

    def bound(self, threshold, theta0):
        """A copy tied to one layer's threshold tensor and its theta0 (for centre="initial")."""
        copy = FastSigmoid(self.slope, self.centre)
        copy.threshold, copy.theta0 = threshold, float(theta0)
        return copy

    def __call__(self, mem_shift):
        offset = None
        if self.centre == "initial" and self.threshold is not None:
            offset = (self.threshold - self.theta0).detach()
        return _ShiftedFastSigmoid.apply(mem_shift, offset, self.slope)

    def __repr__(self):
        return f"FastSigmoid(slope={self.slope:g}, centre={self.centre!r})"
