"""A kxk convolution followed by 2x2 average pooling, over time-first spikes `[T, B, C, H, W]`,
as the box mean of the input and then one stride-2 kxk convolution:
    avg_pool2(conv_k(x, w))[i, j] = sum_{a,b} w[a, b] * box(x)[2i + a, 2j + b],
    box(x)[i, j] = (x[i, j] + x[i, j+1] + x[i+1, j] + x[i+1, j+1]) / 4
(convolution and the box filter commute; pooling keeps every second position). That is k*k
multiplies per output and channel, against (k+1)^2 for one stride-2 convolution with the
pooling folded into its kernel (1.44x fewer for k = 5; the engine's path until 2026-12-04) and
4 k^2 for the per-step loop's convolution then pooling. On spikes (or spike counts) times +-1 weights every box value is a
multiple of 1/4 and every sum exact, so the currents are the per-step loop's to the bit; float
weights agree to rounding.

The box mean and its adjoint run in `pooled_conv.cpp` (torch's avg_pool2d and its backward where
no compiler builds it: the same values). The autograd function writes each chunk of time steps
straight into one output and, backward, into one input gradient, stored channels-last on the CPU
(what oneDNN's convolutions and the LIF after read without a reorder): no concatenation and no
layout copy of either. On spikes the forward may run in integers (`box_conv`, the same bits).
The input gradient on the CPU is convolution columns, then col2im and the box adjoint in one
C++ pass (`_input_grad_by_columns`): the columns by C++ register tiles image by image where the
build has AVX-512 or AVX2 with FMA, else one matmul per block of images. The weight gradient is
C++ register tiles on those builds too (`_weight_grad_into`), oneDNN's elsewhere. Either C++
gradient gives the same bits on AVX2 and AVX-512 machines.
"""
import ctypes
import functools
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.profiler import record_function

from snn_tha.kernels import box_conv, dense, native, sparse_linear
from snn_tha.kernels.fused.cpu import FLAGS, pointer
from snn_tha.kernels.layout import channels_first_view

SOURCE = Path(__file__).with_name("pooled_conv.cpp")
# torch.profiler names of the C++ parts (scripts/step_profile.py sorts them into its parts)
PROFILE_LABELS = {"forward": "convolution forward: pooled (C++ integers or oneDNN)",
                  "weight": "convolution backward: weight gradient (C++)",
                  "col2im": "convolution backward: col2im and box adjoint (C++)",
                  "input": "convolution backward: input gradient (C++)"}
COLUMN_BLOCK = 128   # images per matmul of the input gradient (64: 0.037, 256: 0.036, 128: 0.035 s)


def library():
    """The built box-filter kernels, or None where no compiler builds them (torch's ops then)."""
    return library_for(FLAGS)


@functools.cache
def library_for(flags):
    """The box-filter kernels built with compiler `flags` (tests build another -march)."""
    i64, ptr = ctypes.c_int64, ctypes.c_void_p
    types = [ptr, ptr, i64, i64, i64, i64, ctypes.c_int]
    lib = native.load_optional(SOURCE, flags, "box-filter kernel",
                               {"box_mean_forward": types, "box_mean_backward": types,
                                "cols_box_backward": [ptr, ptr] + [i64] * 5 + [ctypes.c_int],
                                "box_conv_weight_grad": [ptr] * 3 + [i64] * 6 + [ctypes.c_int],
                                "box_conv_weight_grad_outputs": [],
                                "box_conv_input_grad": [ptr] * 3 + [i64] * 6 + [ctypes.c_int],
                                "box_conv_input_grad_columns": []})
    if lib is not None:
        lib.box_conv_weight_grad_outputs.restype = i64
        lib.box_conv_input_grad_columns.restype = i64
    return lib


def _kernel_rows(images):
    """(lib, (n, h, w, c)) where the C++ box filter takes images `[N, C, H, W]`: float32 on the
    CPU, stored channels-last (rows of W*C) or NCHW (N*C images of one channel); else None,
    and torch's avg_pool2d and its backward run."""
    lib = library()
    if lib is None or images.device.type != "cpu" or images.dtype != torch.float32:
        return None
    n, c, h, w = images.shape
    if images.is_contiguous(memory_format=torch.channels_last):
        return lib, (n, h, w, c)
    if images.is_contiguous():
        return lib, (n * c, h, w, 1)
    return None


def box_mean(images):
    """2x2 box mean with stride 1, `[N, C, H, W]` -> `[N, C, H-1, W-1]` in the input's storage."""
    kernel = _kernel_rows(images)
    if kernel is None:
        return F.avg_pool2d(images, 2, stride=1)
    lib, rows = kernel
    shape = images.shape[:2] + (images.shape[2] - 1, images.shape[3] - 1)
    out = torch.empty(shape, memory_format=_format_of(images))
    lib.box_mean_forward(pointer(images), pointer(out), *rows, torch.get_num_threads())
    return out


def box_mean_backward_into(grad_box, out):
    """The adjoint of `box_mean`: the gradient of its input, written into `out` `[N, C, H, W]`
    (a view, stored as `grad_box`)."""
    kernel = _kernel_rows(out)
    grad_box = grad_box.contiguous(memory_format=_format_of(out))
    if kernel is None:
        torch.ops.aten.avg_pool2d_backward.grad_input(grad_box, out, [2, 2], [1, 1], [0, 0],
                                                      False, True, None, grad_input=out)
        return out
    lib, rows = kernel
    lib.box_mean_backward(pointer(grad_box), pointer(out), *rows, torch.get_num_threads())
    return out


def _format_of(images):
    cl = images.shape[1] > 1 and images.is_contiguous(memory_format=torch.channels_last)
    return torch.channels_last if cl else torch.contiguous_format


def _images(x):
    """`[t, B, C, H, W]` -> `[t*B, C, H, W]`, a view."""
    return x.reshape(-1, *x.shape[2:])


def _time_first(shape, channels_last, like):
    """An empty `[T, B, C, H, W]`, stored `[T, B, H, W, C]` when channels_last."""
    if channels_last:
        steps, batch, c, h, w = shape
        return channels_first_view(like.new_empty((steps, batch, h, w, c)))
    return like.new_empty(shape)


class _PooledConvOverTime(torch.autograd.Function):
    """See the module docstring; `chunk` time steps per convolution call."""

    @staticmethod
    def forward(ctx, x, weight, chunk, low_precision_grad, binary_input):
        steps, batch, _, h, w = x.shape
        k = weight.shape[-1]
        out_hw = ((h - 1 - k) // 2 + 1, (w - 1 - k) // 2 + 1)
        channels_last = x.device.type == "cpu"
        weight = weight.contiguous(memory_format=torch.channels_last) if channels_last else weight
        out = _time_first((steps, batch, weight.shape[0], *out_hw), channels_last, x)
        pairs = _integer_weights(x, weight) if binary_input else None
        boxes = []
        for t0 in range(0, steps, chunk):
            images, target = _images(x[t0:t0 + chunk]), _images(out[t0:t0 + chunk])
            box = box_mean(images)
            float_conv = functools.partial(_float_conv_into, box, weight, target)
            with record_function(PROFILE_LABELS["forward"]):
                if pairs is None:
                    float_conv()
                else:   # the same bits either way: the faster here
                    box_conv.faster_of(("pooled conv forward", tuple(images.shape), k),
                                       float_conv, functools.partial(
                                           box_conv.box_conv_into, images, pairs, k, target))
            boxes.append(box)
        ctx.save_for_backward(weight, *boxes)
        ctx.chunk, ctx.low_precision_grad, ctx.channels_last = chunk, low_precision_grad, channels_last
        ctx.x_shape = x.shape
        return out

    @staticmethod
    def backward(ctx, grad_out):
        weight, *boxes = ctx.saved_tensors
        need_x, need_w = ctx.needs_input_grad[:2]
        grad_x = _time_first(ctx.x_shape, ctx.channels_last, grad_out) if need_x else None
        grad_w, rows_w = None, None   # rows_w: the C++ weight gradient's [(a, b, c), O]
        for box, t0 in zip(boxes, range(0, ctx.x_shape[0], ctx.chunk)):
            g = _images(grad_out[t0:t0 + ctx.chunk]).contiguous(memory_format=_format_of(box))
            target = _images(grad_x[t0:t0 + ctx.chunk]) if need_x else None
            full = not ctx.low_precision_grad
            by_columns = need_x and full and _columns_apply(g, box, target)
            w_in_cxx = need_w and full and _weight_grad_applies(g, box)
            if (need_x and not by_columns) or (need_w and not w_in_cxx):
                g_box, g_w = _conv_backward(g, box, weight, need_x and not by_columns,
                                            need_w and not w_in_cxx, ctx.low_precision_grad)
            if w_in_cxx:
                with record_function(PROFILE_LABELS["weight"]):
                    rows_w = _weight_grad_into(g, box, weight.shape[-1], rows_w)
            elif need_w:
                grad_w = g_w if grad_w is None else grad_w.add_(g_w)
            if by_columns:
                _input_grad_by_columns(g, weight, target)
            elif need_x:
                box_mean_backward_into(g_box, target)
        if rows_w is not None:
            grad_w = _weight_from_rows(rows_w, weight.shape, grad_w)
        return grad_x, grad_w, None, None, None


def _cpp_reads(*images):
    """The C++ kernels build and read `images` as they are: float32 CPU tensors stored
    channels-last."""
    return library() is not None and all(
        t.device.type == "cpu" and t.dtype == torch.float32
        and t.is_contiguous(memory_format=torch.channels_last) for t in images)


def _columns_apply(g, box, target):
    """Whether `_input_grad_by_columns` runs."""
    return box.dtype == torch.float32 and _cpp_reads(g, target)


def _weight_grad_applies(g, box):
    """Whether `box_conv_weight_grad` (C++) takes the weight gradient: the kernels build with
    AVX-512 or AVX2 and FMA and read g and box, outputs a multiple of 64 (whole register tiles
    on either build); oneDNN's convolution backward else."""
    return (_cpp_reads(g, box) and (tile := library().box_conv_weight_grad_outputs()) > 0
            and g.shape[1] % tile == 0)


def _weight_grad_into(g, box, k, rows_w):
    """Add this chunk's weight gradient into rows_w `[k*k*C, O]` ((a, b, c) rows; zeros when
    None): register tiles of 6 weights x 64 outputs (AVX-512; 6 x 16 on AVX2) over passes of 32
    images, every image's box means read in place, no im2col. One chunk of 3,200 images of the
    static network's layer 2: 7.3 ms against 10.7 ms for oneDNN's backward-weights convolution
    (Zen 5, AVX-512); on a Zen 4, 15.4 against 24-27 ms (AVX-512), and under the AVX2 switches
    18-24 ms against 19-29 ms over several readings: no faster there, but the same bits as the
    AVX-512 build."""
    n, c, hb, wb = box.shape
    sparse_linear.count_flops(2 * g.numel() * k * k * c)   # the bench's tally: as oneDNN's
    if rows_w is None:
        rows_w = g.new_zeros((k * k * c, g.shape[1]))
    library().box_conv_weight_grad(pointer(box), pointer(g), pointer(rows_w), n, hb, wb, c, k,
                                   g.shape[1], torch.get_num_threads())
    return rows_w


def _weight_from_rows(rows_w, shape, other=None):
    """rows_w `[(a, b, c), O]` as the weight's gradient `[O, C, k, k]` (plus `other`'s)."""
    out_ch, c, k, _ = shape
    grad = rows_w.view(k, k, c, out_ch).permute(3, 2, 0, 1).contiguous()
    return grad if other is None else other.add_(grad)


def _input_grad_by_columns(g, weight, out):
    """The input gradient of box mean then stride-2 convolution, into `out` `[N, C, H, W]`
    (channels-last): the columns g_rows @ W (`[rows, k*k*C]`), then col2im and the box mean's
    adjoint in one C++ pass. Where the kernels build with AVX2 or AVX-512 and k*k*C is a multiple
    of 80, all in C++ image by image (`box_conv_input_grad`: each image's columns computed into
    a buffer that stays in L1, every column a sum over the outputs in order, the same bits on
    either build); else per block of COLUMN_BLOCK images, the columns by one matmul (through
    oneDNN where torch has it: `dense`) while the block is in cache (`cols_box_backward`)."""
    n, out_ch, oh, ow = g.shape
    rows = g.permute(0, 2, 3, 1).reshape(n * oh * ow, out_ch)            # a view: channels-last
    _, c, h, w = out.shape
    k, per_image = weight.shape[-1], oh * ow
    wm = weight.permute(0, 2, 3, 1).reshape(out_ch, -1)                  # [O, (a, b, c)]
    if _input_grad_in_cpp(k * k * c):
        wm = wm.contiguous()
        sparse_linear.count_flops(2 * rows.shape[0] * out_ch * wm.shape[1])   # as the matmul's
        with record_function(PROFILE_LABELS["input"]):
            library().box_conv_input_grad(pointer(rows), pointer(wm), pointer(out), n, h, w, c,
                                          k, out_ch, torch.get_num_threads())
        return
    wm_t = wm.t().contiguous()                                            # [(a, b, c), O]
    for s in range(0, n, COLUMN_BLOCK):
        e = min(n, s + COLUMN_BLOCK)
        block = dense.rows_times(rows[s * per_image:e * per_image], wm_t)
        with record_function(PROFILE_LABELS["col2im"]):
            library().cols_box_backward(pointer(block), pointer(out[s:e]), e - s, h, w, c, k,
                                        torch.get_num_threads())


def _input_grad_in_cpp(columns):
    """Whether `box_conv_input_grad` takes an input gradient of `columns` = k*k*C columns."""
    multiple = library().box_conv_input_grad_columns()
    return multiple > 0 and columns % multiple == 0


def _float_conv_into(box, weight, target):
    return target.copy_(F.conv2d(box, weight, stride=2))


def _integer_weights(x, weight):
    """`box_conv.weight_pairs` where the integer kernel applies to spikes x `[T, B, C, H, W]`
    (binary: the caller knows), else None."""
    if not box_conv.applies(_images(x[:1]), weight):
        return None
    return box_conv.weight_pairs(weight)


def _conv_backward(g, box, weight, need_input, need_weight, low_precision):
    """Gradients of the stride-2 convolution; in bf16 for `fast` mode (box values and +-1
    weights are exact in bf16, the incoming gradient is rounded)."""
    if low_precision:
        g, box, weight = g.bfloat16(), box.bfloat16(), weight.bfloat16()
    g_in, g_w, _ = torch.ops.aten.convolution_backward(
        g, box, weight, None, [2, 2], [0, 0], [1, 1], False, [0, 0], 1,
        [need_input, need_weight, False])
    return (None if g_in is None else g_in.float()), (None if g_w is None else g_w.float())


def pooled_conv_over_time(x, weight, chunk, low_precision_grad=False, binary_input=False):
    """avg_pool2(conv_k(x_t, weight)) for every step of x `[T, B, C, H, W]` -> `[T, B, O, H', W']`
    (channels-last storage on the CPU), `chunk` steps per call. `low_precision_grad`: bf16
    convolution gradients (`fast` mode); the forward is fp32 either way. `binary_input`: x holds
    only 0 and 1 (a hidden layer's spikes), so with weights in {-1, 0, 1} the forward may run in
    integers (`box_conv`: the same bits), where that measured faster here."""
    if x.dim() != 5 or min(x.shape[-2:]) < weight.shape[-1] + 1:
        raise ValueError(f"pooled_conv_over_time needs [T, B, C, H, W] with H, W > "
                         f"{weight.shape[-1]}, got {tuple(x.shape)}")
    return _PooledConvOverTime.apply(x, weight, max(1, min(int(chunk), x.shape[0])),
                                     bool(low_precision_grad), bool(binary_input))
