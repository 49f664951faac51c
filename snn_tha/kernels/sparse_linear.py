"""A linear layer on sparse spike inputs (SHD's input: ~3% ones): the forward adds the weight
rows of each input's nonzeros, the weight gradient adds the output gradients of each input's
nonzeros (`sparse_linear.cpp`), so both cost the nonzeros times the outputs instead of every
input times the outputs:
    y = x W^T + b,   dL/dW = (dL/dy)^T x,   dL/dx = (dL/dy) W   (dense: x's gradient is dense)
On spikes (or spike counts) times +-1 weights the forward is exact in any order, so the currents
equal the dense matmul's; gradients agree to rounding (another summation order). Taken where the
input is sparse enough (`MAX_DENSITY`, measured) and the layer wide enough; `dense.linear`
(oneDNN's, or F.linear) elsewhere.
"""
import ctypes
import functools
from contextlib import contextmanager
from pathlib import Path

import torch

from snn_tha.kernels import dense, native
from snn_tha.kernels.fused.cpu import FLAGS, pointer as _p

SOURCE = Path(__file__).with_name("sparse_linear.cpp")
MAX_DENSITY = 0.1   # fraction of nonzero inputs up to which the sparse kernels run
MIN_OUTPUTS = 64    # narrower layers: a row of outputs is too short to pay for the gathers


@functools.cache
def library():
    i64, ptr, c_int = ctypes.c_int64, ctypes.c_void_p, ctypes.c_int
    return native.load_optional(SOURCE, FLAGS, "sparse linear kernel", {
        "sparse_rows_count": [ptr, i64, i64, ptr, c_int],
        "sparse_rows_fill": [ptr, i64, i64, ptr, ptr, ptr, c_int],
        "sparse_linear_forward": [ptr, ptr, ptr, ptr, ptr, ptr, i64, i64, c_int],
        "sparse_linear_weight_grad": [ptr, ptr, ptr, ptr, ptr, i64, i64, i64, c_int]})


_tally = None   # [FLOPs] while `counting_flops` is active


@contextmanager
def counting_flops():
    """Count the multiply-adds (x2) the project's C++ kernels run inside the block, which
    torch's FlopCounterMode cannot see: here 2 * nonzeros * outputs per forward and per weight
    gradient; `box_conv` counts its integer convolution as the float one it replaces."""
    global _tally
    before, _tally = _tally, [0]
    try:
        yield _tally
    finally:
        _tally = before


def count_flops(flops):
    """Add `flops` to the active `counting_flops` tally, if any."""
    if _tally is not None:
        _tally[0] += flops


def compressed_rows(lib, rows, max_density=MAX_DENSITY):
    """(row_start [R+1] int64, index int32, value float32) of rows [R, K], or None where more
    than max_density of the entries are nonzero."""
    count = torch.empty(rows.shape[0], dtype=torch.int64)
    threads = torch.get_num_threads()
    lib.sparse_rows_count(_p(rows), rows.shape[0], rows.shape[1], _p(count), threads)
    row_start = torch.zeros(rows.shape[0] + 1, dtype=torch.int64)
    torch.cumsum(count, 0, out=row_start[1:])
    nnz = int(row_start[-1])
    if nnz > max_density * rows.numel():
        return None
    index, value = torch.empty(nnz, dtype=torch.int32), torch.empty(nnz)
    lib.sparse_rows_fill(_p(rows), rows.shape[0], rows.shape[1], _p(row_start), _p(index),
                         _p(value), threads)
    return row_start, index, value


class _SparseLinear(torch.autograd.Function):
    @staticmethod
    def forward(ctx, rows, compressed, weight, bias):
        wt = weight.detach().t().contiguous()   # [K, N]: each input's row of weights
        y = rows.new_empty((rows.shape[0], weight.shape[0]))
        b = None if bias is None else bias.detach().contiguous()
        library().sparse_linear_forward(*map(_p, compressed), _p(wt), _p(b), _p(y), rows.shape[0],
                                        weight.shape[0], torch.get_num_threads())
        ctx.save_for_backward(weight, *compressed)
        ctx.inputs = rows.shape[1]
        count_flops(2 * len(compressed[1]) * weight.shape[0])
        return y

    @staticmethod
    def backward(ctx, grad_y):
        weight, *compressed = ctx.saved_tensors
        g = grad_y.contiguous()
        need_x, _, need_w, need_b = ctx.needs_input_grad
        grad_x = dense.rows_times(g, weight.t().contiguous()) if need_x else None
        grad_w = None
        if need_w:
            gwt = g.new_empty((ctx.inputs, weight.shape[0]))
            library().sparse_linear_weight_grad(*map(_p, compressed), _p(g), _p(gwt), g.shape[0],
                                                ctx.inputs, weight.shape[0],
                                                torch.get_num_threads())
            grad_w = gwt.t()
            count_flops(2 * len(compressed[1]) * weight.shape[0])
        return grad_x, None, grad_w, (g.sum(0) if need_b else None)


def spike_linear(x, weight, bias=None):
    """F.linear(x, weight, bias) for x `[..., K]`, through the sparse kernels where x is sparse
    (at most MAX_DENSITY nonzero), the layer has MIN_OUTPUTS outputs or more and the kernels
    build here (CPU, float32)."""
    lib = library()
    if (lib is None or x.device.type != "cpu" or x.dtype != torch.float32
            or weight.dtype != torch.float32 or weight.shape[0] < MIN_OUTPUTS):
        return dense.linear(x, weight, bias)
    rows = x.reshape(-1, x.shape[-1]).contiguous()
    compressed = compressed_rows(lib, rows)
    if compressed is None:
        return dense.linear(x, weight, bias)
    y = _SparseLinear.apply(rows, compressed, weight, bias)
    return y.reshape(*x.shape[:-1], weight.shape[0])
