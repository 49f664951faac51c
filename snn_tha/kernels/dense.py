"""fp32 matrix products on the CPU through oneDNN, where torch has it.

torch.mm on the CPU calls MKL, which on AMD processors takes its AVX2 code even where the CPU
has AVX-512: on a 2-core AMD EPYC with full-width AVX-512 (2026-12-04) products of 2048 x 2048
matrices ran at 214-219 GFLOP/s through torch.mm and 465-487 through oneDNN's linear (the op
torch's compiler fuses into), the pooled convolution's input-gradient blocks ([2048, 64] x
[64, 400]) at 207 and 445. Under the AVX2 switches (`ONEDNN_MAX_CPU_ISA=AVX2`) oneDNN still
measured faster (240 against 212). Both are fp32 products with fp32 accumulation; only the order
of the sums may differ, as between any two BLAS libraries.
"""
import functools

import torch
import torch.nn.functional as F


@functools.cache
def onednn_linear():
    """torch's oneDNN linear op, or None where this torch build lacks it."""
    if not torch.backends.mkldnn.is_available():
        return None
    try:
        op = torch.ops.mkldnn._linear_pointwise
        probe = op(torch.ones(2, 3), torch.ones(4, 3), None, "none", [], "")
    except (AttributeError, RuntimeError):
        return None
    return op if probe.shape == (2, 4) and bool((probe == 3).all()) else None


def _onednn_for(*tensors):
    """oneDNN's linear where it applies to `tensors` (float32 on the CPU; None entries, an
    absent bias, pass), else None."""
    op = onednn_linear()
    given = [t for t in tensors if t is not None]
    if op is None or any(t.device.type != "cpu" or t.dtype != torch.float32 for t in given):
        return None
    return op


def rows_times(a, b_t):
    """a @ b_t.T for fp32 a `[M, K]` and b_t `[N, K]` (contiguous, or either one a transposed
    contiguous matrix, which oneDNN reads as it is): oneDNN's linear on the CPU where torch has
    it, else torch.mm."""
    op = _onednn_for(a, b_t)
    if op is None:
        return torch.mm(a, b_t.t())
    try:
        return op(a, b_t, None, "none", [], "")
    except RuntimeError:   # a layout oneDNN has no primitive for: torch's (or its shape error)
        return torch.mm(a, b_t.t())


class _Linear(torch.autograd.Function):
    """y = x W^T + b with the forward, dL/dx = (dL/dy) W and dL/dW = (dL/dy)^T x through oneDNN
    (`rows_times`; the weight gradient reads g and x transposed, as views: [12800, 1024] spikes
    of the static network, 3.0 ms against 5.8 ms for torch.mm)."""

    @staticmethod
    def forward(ctx, x, weight, bias):
        ctx.save_for_backward(x, weight)
        return onednn_linear()(x, weight, bias, "none", [], "")

    @staticmethod
    def backward(ctx, g):
        x, weight = ctx.saved_tensors
        need_x, need_w, need_b = ctx.needs_input_grad
        g = g.contiguous()
        grad_x = rows_times(g, weight.t().contiguous()) if need_x else None
        grad_w = rows_times(g.t(), x.t()) if need_w else None
        grad_b = g.sum(0) if need_b else None   # False for an absent bias
        return grad_x, grad_w, grad_b


def linear(x, weight, bias=None):
    """F.linear(x, weight, bias) for x `[..., K]`, the forward and both gradients through
    oneDNN on the CPU where torch has it (fp32: the same values up to the order of the sums;
    on spikes times +-1 weights the sums are integers, so the forward is the same bits)."""
    if _onednn_for(x, weight, bias) is None:
        return F.linear(x, weight, bias)
    rows = x.reshape(-1, x.shape[-1]).contiguous()
    y = _Linear.apply(rows, weight.contiguous(), bias)
    return y.reshape(*x.shape[:-1], weight.shape[0])
