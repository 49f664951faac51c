"""avg_pool2(conv_k(s, w)) of binary spikes s by weights in {-1, 0, +1}, exactly, in 16-bit
integers (`box_conv.cpp`: the stride-2 convolution of the 2x2 box sum, as in `pooled_conv`,
by VPMADDUBSW with AVX2). Every sum is an integer, so the result is the float the box-mean
convolution computes, bit for bit: a faster route to the same current, for training's forward
(spikes of a hidden layer) and evaluation (`engine.binary_conv_pooled`). None where it does
not apply (no compiler, not the CPU, weights not in {-1, 0, 1}, outputs not a multiple of 32,
storage not channels-last); callers then take their float or popcount path.
"""
import ctypes
import functools
from pathlib import Path

import torch

from snn_tha.kernels import native, sparse_linear
from snn_tha.kernels.fused.cpu import FLAGS, pointer
from snn_tha.kernels.low_precision import median_seconds

SOURCE = Path(__file__).with_name("box_conv.cpp")
MAX_INPUTS = 8191   # k * k * C: 4 * inputs must stay below 2^15 (the 16-bit sums)


@functools.cache
def library():
    """The built kernel, or None where no compiler builds it."""
    i64, ptr = ctypes.c_int64, ctypes.c_void_p
    types = [ptr, i64, i64, i64, i64, i64, ptr, i64, i64, ptr, ctypes.c_int]
    return native.load_optional(SOURCE, FLAGS, "box-convolution kernel",
                                {"box_conv_u8": types, "box_conv_f32": types})


def weight_pairs(signs):
    """Weights `[O, C, k, k]` in {-1, 0, 1} as int8 pairs `[K/2, O, 2]`, K = k*k*C in (a, b, c)
    order padded to even; None when a weight is outside {-1, 0, 1}."""
    w = signs.detach()
    if not bool(((w == 1) | (w == -1) | (w == 0)).all()):
        return None
    flat = w.permute(0, 2, 3, 1).reshape(w.shape[0], -1).to(torch.int8)   # [O, K]
    if flat.shape[1] % 2:
        flat = torch.cat([flat, flat.new_zeros(flat.shape[0], 1)], 1)
    return flat.t().reshape(-1, 2, w.shape[0]).transpose(1, 2).contiguous()


def applies(images, signs):
    """Whether `box_conv` runs for images `[N, C, H, W]` and weights `[O, C, k, k]`."""
    out_ch, c, k = signs.shape[0], signs.shape[1], signs.shape[-1]
    return (library() is not None and images.device.type == "cpu"
            and images.dtype in (torch.uint8, torch.float32) and out_ch % 32 == 0
            and k * k * c <= MAX_INPUTS and min(images.shape[-2:]) > k
            and (c == 1 or images.is_contiguous(memory_format=torch.channels_last)))


def box_conv_into(images, pairs, k, out):
    """Fill `out` `[N, O, H', W']` (channels-last storage) from binary spike images
    `[N, C, H, W]` (channels-last, uint8 or float32) and `weight_pairs(signs)`."""
    n, c, h, w = images.shape
    sparse_linear.count_flops(2 * out.numel() * c * k * k)   # as the convolution it replaces
    fn = library().box_conv_u8 if images.dtype == torch.uint8 else library().box_conv_f32
    fn(pointer(images), n, h, w, c, k, pointer(pairs), pairs.shape[0] * 2, pairs.shape[1],
       pointer(out), torch.get_num_threads())
    return out


_faster = {}


def faster_of(key, first, second, repeats=3):
    """The result of `first()` or `second()`, two routes to the same bits, by whichever measured
    faster on this machine for `key` (median of `repeats` after a warm-up, once per key and
    thread count per process; both run while measuring, their results are the same)."""
    key = (key, torch.get_num_threads())
    if key not in _faster:
        times = [median_seconds(fn, repeats) for fn in (first, second)]
        _faster[key] = 0 if times[0] <= times[1] else 1
    return (first, second)[_faster[key]]()
