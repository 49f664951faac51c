"""Batch norm over time-first currents `[T, B, C, ...]`: per time step in one batched
computation (training), once for a current shown at every step (static input), and the running
statistics updated as T per-step calls update them. NCHW or channels-last storage
(`snn_tha.kernels.layout`). On channels-last float32 CPU storage the per-step computation runs
in `batch_norm.cpp` (one pass over memory each way, tested against the torch composition here,
which runs elsewhere and where no compiler builds the kernel)."""
import ctypes
import functools
from pathlib import Path

import torch

from snn_tha.kernels import native
from snn_tha.kernels.fused.cpu import FLAGS, pointer
from snn_tha.kernels.layout import is_channels_last_sequence

SOURCE = Path(__file__).with_name("batch_norm.cpp")


@functools.cache
def library():
    """The built per-step batch-norm kernels, or None where no compiler builds them."""
    i64, ptr, c_int, c_float = ctypes.c_int64, ctypes.c_void_p, ctypes.c_int, ctypes.c_float
    return native.load_optional(SOURCE, FLAGS, "batch-norm kernel", {
        "bn_rows_forward": [ptr] * 3 + [c_float] + [ptr] * 4 + [i64] * 3 + [c_int],
        "bn_rows_backward": [ptr] * 8 + [i64] * 3 + [c_int]})


def _kernel_for(rows, spatial, weight):
    """The C++ kernels where `rows` [T, M, C] are channels-last storage (`spatial` None),
    contiguous float32 on the CPU with float32 weights, else None (the torch composition)."""
    if (spatial is not None or rows.device.type != "cpu" or rows.dtype != torch.float32
            or weight.dtype != torch.float32 or not rows.is_contiguous()):
        return None
    return library()


def _sum_per_step_channel(v, spatial):
    """[T, B, C*spatial] -> [T, C]: sums over the batch, then over each channel's positions;
    `spatial` None: v is [T, M, C] (channels-last storage), summed over its rows."""
    if spatial is None:
        return v.sum(1)
    return v.sum(1).view(v.shape[0], -1, spatial).sum(-1)


def _spread(v, spatial):
    """[T, C] -> [T, 1, C*spatial]: a per-(step, channel) value at every position. Broadcasting
    over a contiguous last dim is several times faster than over [T, 1, C, 1]. `spatial` None:
    [T, 1, C] for channels-last rows."""
    if spatial is None:
        return v.unsqueeze(1)
    return v.repeat_interleave(spatial, dim=1).unsqueeze(1)


def _per_channel_rows(x):
    """(values with channels last or interleaved, `spatial` for the helpers above, n per (t, c)):
    [T, M, C] rows for channels-last storage, [T, B, C*S] else; both views, no copy."""
    steps, batch, channels = x.shape[:3]
    if is_channels_last_sequence(x):
        rows = x.movedim(2, -1).reshape(steps, -1, channels)
        return rows, None, rows.shape[1]
    spatial = x[0, 0, 0].numel()
    return x.reshape(steps, batch, -1), spatial, batch * spatial


def _as_input(values, x):
    """Per-channel rows (`_per_channel_rows`) back to x's shape and storage."""
    if is_channels_last_sequence(x):
        return values.view(x.movedim(2, -1).shape).movedim(-1, 2)
    return values.view_as(x)


class _BatchNormPerStep(torch.autograd.Function):
    """Training-mode BatchNorm of x `[T, B, C, *spatial]` with statistics per (step, channel),
    all steps in one computation:
        y = (x - mean_tc) / sqrt(var_tc + eps) * w_c + b_c,   mean, var over (B, spatial)
    Backward, per (t, c) with xhat = (x - mean) * rstd and n = B * spatial:
        dx = w * rstd * (dy - sum(dy) / n - xhat * sum(dy * xhat) / n)
        dw = sum over t of sum(dy * xhat),  db = sum of dy
    Same statistics as T per-step calls, to rounding (another reduction order); the variance
    is two-pass (centred), as torch's. Channels-last storage is kept (its output too), so the
    convolution before it reads and writes no reordered copy."""

    @staticmethod
    def forward(ctx, x, weight, bias, eps):
        xv, spatial, n = _per_channel_rows(x)
        lib = _kernel_for(xv, spatial, weight)
        if lib is not None:
            y, mean, var, rstd = _forward_rows(lib, xv, weight.detach(), bias.detach(), eps)
            ctx.save_for_backward(x, mean, rstd, weight)
            ctx.mark_non_differentiable(mean, var)
            return _as_input(y, x), mean, var
        mean = _sum_per_step_channel(xv, spatial) / n
        var = _sum_per_step_channel((xv - _spread(mean, spatial)).square_(), spatial) / n
        rstd = torch.rsqrt(var + eps)
        scale = rstd * weight
        shift = bias - mean * scale
        y = torch.addcmul(_spread(shift, spatial), xv, _spread(scale, spatial))
        ctx.save_for_backward(x, mean, rstd, weight)
        ctx.mark_non_differentiable(mean, var)
        return _as_input(y, x), mean, var

    @staticmethod
    def backward(ctx, grad_y, _grad_mean, _grad_var):
        x, mean, rstd, weight = ctx.saved_tensors
        xv, spatial, n = _per_channel_rows(x)
        dy = grad_y.movedim(2, -1).reshape(xv.shape) if spatial is None else grad_y.reshape(xv.shape)
        lib = _kernel_for(xv, spatial, weight)
        if lib is not None:
            grad_x, sum_dy, sum_dy_xhat = _backward_rows(lib, xv, dy.contiguous(), mean, rstd,
                                                         weight.detach())
            return _as_input(grad_x, x), sum_dy_xhat.sum(0), sum_dy.sum(0), None
        sum_dy = _sum_per_step_channel(dy, spatial)
        sum_dy_xhat = (_sum_per_step_channel(dy * xv, spatial) - mean * sum_dy) * rstd
        a = weight * rstd
        b = -a * rstd * sum_dy_xhat / n
        c = -a * sum_dy / n - mean * b
        grad_x = torch.addcmul(torch.addcmul(_spread(c, spatial), dy, _spread(a, spatial)),
                               xv, _spread(b, spatial))
        return _as_input(grad_x, x), sum_dy_xhat.sum(0), sum_dy.sum(0), None


def _forward_rows(lib, xv, weight, bias, eps):
    """`_BatchNormPerStep.forward` on rows [T, M, C] in C++: (y, mean, var, rstd)."""
    steps, rows, channels = xv.shape
    y = torch.empty_like(xv)
    mean, var, rstd = (xv.new_empty((steps, channels)) for _ in range(3))
    lib.bn_rows_forward(pointer(xv), pointer(weight.contiguous()), pointer(bias.contiguous()),
                        float(eps), pointer(y), pointer(mean), pointer(var), pointer(rstd),
                        steps, rows, channels, torch.get_num_threads())
    return y, mean, var, rstd


def _backward_rows(lib, xv, dy, mean, rstd, weight):
    """`_BatchNormPerStep.backward` on rows [T, M, C] in C++: (grad_x, sum_dy, sum_dy_xhat)."""
    steps, rows, channels = xv.shape
    grad_x = torch.empty_like(xv)
    sum_dy, sum_dy_xhat = xv.new_empty((steps, channels)), xv.new_empty((steps, channels))
    lib.bn_rows_backward(pointer(xv), pointer(dy), pointer(mean), pointer(rstd),
                         pointer(weight.contiguous()), pointer(grad_x), pointer(sum_dy),
                         pointer(sum_dy_xhat), steps, rows, channels, torch.get_num_threads())
    return grad_x, sum_dy, sum_dy_xhat


def _update_running_stats(bn, mean, var, count):
    """The T running-statistics updates that T per-step calls make, in their order."""
    with torch.no_grad():
        unbiased = var * (count / max(count - 1, 1))
        for mean_t, var_t in zip(mean, unbiased):
            bn.num_batches_tracked.add_(1)
            m = bn.momentum if bn.momentum is not None else 1.0 / float(bn.num_batches_tracked)
            bn.running_mean.mul_(1 - m).add_(mean_t, alpha=m)
            bn.running_var.mul_(1 - m).add_(var_t, alpha=m)


def batch_norm_static(bn, cur, num_steps):
    """BatchNorm of a current shown at every one of `num_steps` steps: every step has the same
    batch statistics, so one call normalises it; the running statistics then get the other
    T-1 updates that T per-step calls make (first: the call saves the running statistics for
    its backward, so they must not change after it; the updates are identical, so order is free)."""
    if bn.training and bn.track_running_stats and num_steps > 1:
        with torch.no_grad():
            dims = [0, *range(2, cur.dim())]
            var, mean = torch.var_mean(cur, dim=dims, unbiased=False)
        count = cur.numel() // cur.shape[1]
        _update_running_stats(bn, mean.expand(num_steps - 1, -1), var.expand(num_steps - 1, -1),
                              count)
    return bn(cur)


def batch_norm_per_step(bn, x):
    """BatchNorm with statistics per time step, as T per-step calls compute them, in one
    batched computation (`_BatchNormPerStep`); running statistics updated T times too. In
    evaluation every step uses the same running statistics, so it is one plain call."""
    if not bn.training and bn.track_running_stats:
        return bn(x.flatten(0, 1)).view_as(x)
    if not bn.affine:
        return torch.stack([bn(x_t) for x_t in x])
    y, mean, var = _BatchNormPerStep.apply(x, bn.weight, bn.bias, bn.eps)
    if bn.track_running_stats:
        _update_running_stats(bn, mean, var, x.shape[1] * x[0, 0, 0].numel())
    return y
