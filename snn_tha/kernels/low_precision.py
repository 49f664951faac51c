"""`fast` mode: exact forward on spike inputs with low-precision (int8 / bf16) operations, each
taken only where measured faster on this machine (`engine` re-exports these)."""
import time

import torch
import torch.nn.functional as F

# ---- `fast` mode: exact forward on spikes, bf16 gradients (never the default) ----

_measured = {}


def faster(key, exact, low_precision, *args, guard=None, margin=0.05):
    """Run `low_precision(*args)` where, on this machine and for this shape, its forward +
    backward measured at least `margin` faster than `exact(*args)`, else `exact`: so `fast` is
    never slower than `exact` beyond timing noise. Measured once per key per process (median of
    three runs after a warm-up, on detached copies of `args`), like cudnn's benchmark
    mode. `guard()` (e.g. "the input is spikes") must hold for low precision; it is evaluated
    only when low precision would run."""
    key = (key, *(tuple(a.shape) for a in args if torch.is_tensor(a)), torch.get_num_threads(),
           str(args[0].device), torch.is_grad_enabled())
    if _measured.get(key, True) and (guard is None or guard()):
        if key not in _measured:
            times = {fn: _time_forward_backward(fn, args) for fn in (exact, low_precision)}
            _measured[key] = times[low_precision] < (1 - margin) * times[exact]
        if _measured[key]:
            return low_precision(*args)
    return exact(*args)


def _time_forward_backward(fn, args, repeats=3):
    """Median time of fn's forward + backward on detached copies of the arguments, at their
    full size: on an eighth of the time steps (as until 2026-12-04) bf16 gradients measured
    faster for the static network's convolution and were 16% slower in the whole step."""
    copies = [a.detach().requires_grad_(a.requires_grad) if torch.is_tensor(a) else a
              for a in args]

    def forward_backward():
        out = fn(*copies)
        if out.requires_grad:
            out.sum().backward()
        if out.is_cuda:
            torch.cuda.synchronize()
    return median_seconds(forward_backward, repeats)


def median_seconds(run, repeats=3):
    """Median wall time of `run()` over `repeats` calls after one warm-up call."""
    run()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]


def is_spike_tensor(x):
    """True when x holds small non-negative integers (spikes or spike counts <= 127), which
    int8 represents exactly."""
    return bool(x.min() >= 0 and x.max() <= 127 and torch.equal(x, torch.floor(x)))


def _pad_to(t, dim, multiple):
    extra = (-t.shape[dim]) % multiple
    if extra == 0:
        return t
    pad = [0, 0] * (t.dim() - 1 - dim) + [0, extra]
    return F.pad(t, pad)


class _SpikeLinearInt8(torch.autograd.Function):
    """x @ sign(W)^T for spike (small non-negative integer) inputs and +-1 weights, with an
    int8 x int8 -> int32 forward (exact) and bf16 backward matmuls."""

    @staticmethod
    def forward(ctx, x, weight_b):
        rows = x.reshape(-1, x.shape[-1])
        a = _pad_to(rows.to(torch.int8), 1, 8)
        if a.shape[0] <= 16:  # _int_mm needs more than 16 rows
            a = _pad_to(a, 0, 32)
        b = _pad_to(_pad_to(weight_b.to(torch.int8).t(), 0, 8), 1, 8)
        out = torch._int_mm(a, b)[:rows.shape[0], :weight_b.shape[0]].float()
        ctx.save_for_backward(x, weight_b)
        return out.reshape(*x.shape[:-1], weight_b.shape[0])

    @staticmethod
    def backward(ctx, grad_out):
        x, weight_b = ctx.saved_tensors
        g = grad_out.reshape(-1, grad_out.shape[-1]).bfloat16()
        grad_x = grad_w = None
        if ctx.needs_input_grad[0]:
            grad_x = (g @ weight_b.bfloat16()).float().reshape(x.shape)
        if ctx.needs_input_grad[1]:
            grad_w = (g.t() @ x.reshape(-1, x.shape[-1]).bfloat16()).float()
        return grad_x, grad_w


def spike_linear_int8(x, weight_b, bias=None):
    """Binarized linear layer on spikes: exact int8 forward, bf16 gradients (`fast` mode)."""
    out = _SpikeLinearInt8.apply(x, weight_b)
    return out + bias if bias is not None else out
