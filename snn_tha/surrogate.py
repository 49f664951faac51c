"""Heaviside spike with the fast-sigmoid surrogate gradient (paper Eq. 8).

Forward:  z = H(u - theta), H strict (x > 0), as in snnTorch.
Backward: dz/du ~ 1 / (1 + k * |u - c|)^2 where the centre c is either the initial threshold
theta0 (the paper's Eq. 8 / Alg. 1: the surrogate stays put while theta anneals) or the
current threshold (what snnTorch, and so the authors' release, computes).
"""
import torch


class _FastSigmoidSpike(torch.autograd.Function):
    @staticmethod
    def forward(ctx, mem, threshold, centre, slope):
        ctx.save_for_backward(mem, centre)
        ctx.slope = slope
        return (mem - threshold > 0).float()

    @staticmethod
    def backward(ctx, grad_spike):
        mem, centre = ctx.saved_tensors
        # Same operations, in the same order, as snntorch.surrogate.FastSigmoid.backward,
        # so that centre == threshold gives bit-identical gradients.
        grad = grad_spike.clone() / (ctx.slope * torch.abs(mem - centre) + 1.0) ** 2
        return grad, None, None, None


def spike_fast_sigmoid(mem, threshold, centre, slope):
    """z = H(mem - threshold); gradient 1/(1 + slope*|mem - centre|)^2 (Eq. 8).

    `threshold` and `centre` are tensors (0-dim buffers) and receive no gradient.
    """
    return _FastSigmoidSpike.apply(mem, threshold, centre, float(slope))
