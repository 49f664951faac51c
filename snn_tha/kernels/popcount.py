"""Popcount currents of +-1 weights times binary spikes, and the deployment's LIF, compiled
(`popcount.cpp`, built once per machine through `snn_tha.kernels.native`), with the bit layout
they share (`pack_weights`). Used by the 1-bit engine (`snn_tha.deploy.packed`, which falls back to
numpy's `bitwise_count` where `library()` is None) and by the forward-only evaluation of the
PyTorch networks (`snn_tha.kernels.engine.binary_conv_pooled`). numpy and ctypes only, no torch."""
import ctypes
import functools
import logging
from pathlib import Path

import numpy as np

from snn_tha.kernels import native

log = logging.getLogger("snn_tha")


def pack_rows(bits):
    """[..., n] of 0/1 -> [..., words] uint64, zero-padded (padding bits are 0 in both operands,
    so they never count)."""
    packed = np.packbits(bits, axis=-1)
    pad = -packed.shape[-1] % 8
    if pad:
        packed = np.concatenate([packed, np.zeros(packed.shape[:-1] + (pad,), np.uint8)], axis=-1)
    return np.ascontiguousarray(packed).view(np.uint64)


def pack_weights(layer):
    """The layer's sign bits as rows of uint64 words, one row per output channel, in the bit
    order of the inputs they meet (a conv's patches as `popcount.cpp` and
    `snn_tha.deploy.packed.pixel_words` pack them, `pack_rows` of the flat input else)."""
    plus = (layer["signs"] > 0).astype(np.uint8)
    if layer["kind"] != "conv":
        return pack_rows(plus.reshape(plus.shape[0], -1))
    out, c, k, _ = plus.shape
    words = np.zeros((out, patch_words(c, k)), np.uint64)
    per_word = 64 // c
    for offset in range(k * k):
        dy, dx = divmod(offset, k)
        word, shift = divmod(offset, per_word)
        for ch in range(c):
            words[:, word] |= plus[:, ch, dy, dx].astype(np.uint64) << np.uint64(shift * c + ch)
    return words


def patch_words(channels, k):
    """64-bit words per k x k patch of `channels` bits per pixel (64 // channels pixels a word)."""
    return -(-(k * k) // (64 // channels))


SOURCE = Path(__file__).with_name("popcount.cpp")
# -march: the CPU's popcount and vector width (popcount.cpp picks AVX-512, AVX2 or plain code);
# -ffp-contract=off -fno-fast-math: the LIF rounds as numpy's float32 multiply then add
FLAGS = ("-O3", "-ffp-contract=off", "-fno-fast-math", "-shared", "-fPIC", "-std=c++17")


@functools.cache
def library(march=None):
    """The loaded kernels built for `march` (tests build the lower instruction sets too; None:
    `native.march()`), or None (one line says why) when they cannot be built here."""
    try:
        lib = native.load(SOURCE, (f"-march={march or native.march()}",) + FLAGS, "popcount kernel")
    except OSError as err:
        log.warning("snn-tha: the compiled popcount kernel is unavailable (%s); the packed engine "
                    "uses numpy's bitwise_count, evaluation the float convolution", err)
        return None
    i64, ptr = ctypes.c_int64, ctypes.c_void_p
    lib.popcount_dense.argtypes = [ptr, i64, i64, ptr, i64, i64, ptr]
    lib.popcount_conv_pool.argtypes = [ptr, i64, i64, i64, i64, i64, ptr, i64, i64, ptr]
    lib.popcount_conv_pool_float.argtypes = [ptr, i64, i64, i64, i64, i64, ptr, i64, i64, ptr,
                                             ctypes.c_int, ctypes.c_float]
    lib.lif_spikes.argtypes = [ptr, i64, i64, i64, i64, ctypes.c_int, ptr, i64, ptr, i64,
                               ctypes.c_float, ptr]
    for kernel in (lib.popcount_dense, lib.popcount_conv_pool, lib.popcount_conv_pool_float,
                   lib.lif_spikes):
        kernel.restype = ctypes.c_int   # -1: the two sides' sizes disagree, nothing touched
    return lib


def _checked(status, kernel, sizes):
    """A kernel's return code: -1 when the sizes it was given from both sides disagree."""
    if status != 0:
        raise ValueError(f"popcount kernel {kernel}: the input and the weights disagree ({sizes}); "
                         f"nothing was computed")


def _ptr(a):
    return ctypes.c_void_p(a.ctypes.data)


def _columns(plus):
    """`pack_weights`' rows [out, words] as the kernels read them: [words, out], contiguous."""
    return np.ascontiguousarray(plus.T)


def dense(lib, packed_rows, plus):
    """[rows, words] uint64 inputs x `pack_weights` rows [out, words] -> [rows, out] int32."""
    rows, words = packed_rows.shape
    columns = _columns(plus)   # held here: ctypes keeps only its address
    out = np.empty((rows, plus.shape[0]), np.int32)
    _checked(lib.popcount_dense(_ptr(packed_rows), rows, words, _ptr(columns), plus.shape[1],
                                out.shape[1], _ptr(out)),
             "dense", f"{words} input words a row, {plus.shape[1]} weight words a row")
    return out


def conv_pool(lib, spikes, k, plus):
    """Binary spikes [N, C, H, W] (uint8) by `pack_weights` rows [out, words] -> pooled integer
    current [N, out, Ho/2, Wo/2] int32."""
    spikes = np.ascontiguousarray(spikes, np.uint8)
    columns = _columns(plus)   # held here: ctypes keeps only its address
    n, c, h, w = spikes.shape
    out = np.empty((n, plus.shape[0], max(0, (h - k + 1) // 2), max(0, (w - k + 1) // 2)), np.int32)
    _checked(lib.popcount_conv_pool(_ptr(spikes), n, c, h, w, k, _ptr(columns), plus.shape[1],
                                    out.shape[1], _ptr(out)),
             "conv_pool", f"{c} x {h} x {w} input, {k} x {k} kernel, {plus.shape[1]} weight words a patch")
    return out


def conv_pool_float_into(lib, images, channels_last, k, plus, scale, out):
    """`conv_pool`'s sums times `scale` as float32, written into `out` [N, out, Ho/2, Wo/2]
    (contiguous numpy); images uint8 [N, C, H, W], or [N, H, W, C] when channels_last."""
    images = np.ascontiguousarray(images, np.uint8)
    n, c, h, w = (images.shape[0], images.shape[3], *images.shape[1:3]) if channels_last \
        else images.shape
    columns = _columns(plus)   # held here: ctypes keeps only its address
    _checked(lib.popcount_conv_pool_float(_ptr(images), n, c, h, w, k, _ptr(columns), plus.shape[1],
                                          out.shape[1], _ptr(out), int(channels_last), float(scale)),
             "conv_pool_float", f"{c} x {h} x {w} input, {k} x {k} kernel, {plus.shape[1]} weight words a patch")
    return out


def lif_spikes(lib, currents, steps, static, offset, theta, beta):
    """int32 currents [T, B, C, ...] (or [B, C, ...] when `static`) -> spikes [T, B, C, ...] uint8,
    per-channel float32 offset and theta."""
    currents = np.ascontiguousarray(currents, np.int32)
    shape = currents.shape if static else currents.shape[1:]
    spatial = int(np.prod(shape[2:], dtype=np.int64))
    offset, theta = (np.ascontiguousarray(a, np.float32) for a in (offset, theta))
    spikes = np.empty((steps,) + tuple(shape), np.uint8)
    _checked(lib.lif_spikes(_ptr(currents), steps, shape[0], shape[1], spatial, int(static),
                            _ptr(offset), offset.size, _ptr(theta), theta.size, np.float32(beta),
                            _ptr(spikes)),
             "lif_spikes", f"{shape[1]} channels, {offset.size} offsets, {theta.size} thresholds")
    return spikes
