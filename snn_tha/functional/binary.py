"""Binarized weights: w_b = sign(w), sign(0) = +1, with a straight-through gradient."""
import torch


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
