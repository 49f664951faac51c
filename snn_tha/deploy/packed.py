"""The 1-bit export computed as what it is: sign bits and spike bits packed 8 per byte, integer
currents by popcount, the first layer's pixels (or event counts) as integers. No torch: the
popcounts and the LIF loop run compiled (`snn_tha.kernels.popcount`, built once per machine), or with
numpy's `bitwise_count` where no compiler is found; the same counts either way.

For +-1 weights w (sign bit b = 1 for +1) and binary spikes s over the same n inputs:
    sum_i w_i s_i = 2 * popcount(b AND s) - popcount(s)
exact in integers, so every layer's current equals `snn_tha.deploy.infer.current` (float32 sums
of integers below 2**24, also exact) and, with the same elementwise float32 LIF, every spike
does. A conv layer is the k x k stride-1 convolution of the signs followed by the 2x2 sum pooling
(the export folds both into one (k+1) x (k+1) stride-2 kernel of integer taps). The network is
feed-forward, so each layer runs over all T steps before the next one (one large batch of popcounts
per layer instead of T small ones).
"""
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from snn_tha.kernels import popcount
from snn_tha.kernels.popcount import pack_rows, pack_weights, patch_words
from snn_tha.deploy.onebit import check_input
from snn_tha.deploy.ops import channel_view, conv, lif_step

ROWS = 2048   # rows per pass: the [out, ROWS] scratch arrays stay in the cache


def popcount_current(patches, plus):
    """2 * popcount(plus AND patch) - popcount(patch): [rows, words] x [out, words] -> [rows, out].
    Per block of ROWS rows, one pass per word over [out, ROWS] into preallocated buffers."""
    rows, words = patches.shape
    out = plus.shape[0]
    columns = np.ascontiguousarray(patches.T)
    result = np.empty((out, rows), np.int32)
    both, ones = np.empty((out, ROWS), np.int32), np.empty(ROWS, np.int32)
    masked, counts = np.empty((out, ROWS), np.uint64), np.empty((out, ROWS), np.uint8)
    plus_columns = [np.ascontiguousarray(plus[:, w, None]) for w in range(words)]
    for start in range(0, rows, ROWS):
        n = min(ROWS, rows - start)
        both[:, :n] = 0
        ones[:n] = 0
        for w in range(words):
            block = columns[w, start:start + n]
            np.add(ones[:n], np.bitwise_count(block), out=ones[:n])
            np.bitwise_and(plus_columns[w], block[None, :], out=masked[:, :n])
            np.bitwise_count(masked[:, :n], out=counts[:, :n])
            np.add(both[:, :n], counts[:, :n], out=both[:, :n])
        np.subtract(2 * both[:, :n], ones[None, :n], out=result[:, start:start + n])
    return result.T


def pixel_words(spikes, k):
    """Each k x k patch of binary spikes [N, C, H, W] (C <= 64) as uint64 words: C bits per pixel
    (channel ch at bit ch), 64 // C pixels per word, pixels in row-major patch order."""
    n, c, h, w = spikes.shape
    if 64 % c:
        raise ValueError(f"{c} channels: the packed engine groups 64 // C pixels per word")
    pixels = np.zeros((n, h, w), np.uint64)
    for ch in range(c):
        pixels |= spikes[:, ch].astype(np.uint64) << np.uint64(ch)
    ho, wo, per_word = h - k + 1, w - k + 1, 64 // c
    words = np.zeros((n, ho, wo, patch_words(c, k)), np.uint64)
    for offset in range(k * k):
        dy, dx = divmod(offset, k)
        word, shift = divmod(offset, per_word)
        words[..., word] |= pixels[:, dy:dy + ho, dx:dx + wo] << np.uint64(shift * c)
    return words.reshape(n * ho * wo, -1)


def spike_conv(spikes, layer, plus):
    """Integer current of a conv layer for binary spikes [N, C, H, W]: k x k signs by popcount
    at every stride-1 position, then the 2x2 sum pooling."""
    n, _, h, w = spikes.shape
    k = layer["signs"].shape[-1]
    ho, wo = h - k + 1, w - k + 1
    cur = popcount_current(pixel_words(spikes, k), plus).reshape(n, ho, wo, -1)
    cur = cur[:, :ho - ho % 2, :wo - wo % 2]   # the pooling drops an odd last row / column
    pooled = cur[:, 0::2, 0::2] + cur[:, 1::2, 0::2] + cur[:, 0::2, 1::2] + cur[:, 1::2, 1::2]
    return pooled.transpose(0, 3, 1, 2)


def integer_current(layer, x):
    """The first layer's current for integer input (uint8 pixels or event counts), in int32."""
    if layer["kind"] == "conv":
        return conv(x.astype(np.int32), layer["weight"].astype(np.int32))
    return x.reshape(x.shape[0], -1).astype(np.int32) @ layer["signs"].astype(np.int32).T


def spike_current(layer, plus, spikes, lib=None):
    """A binary layer's integer current: compiled popcount kernels where `lib` (the loaded
    `snn_tha.kernels.popcount` library) is given, numpy's bitwise_count else; the same integers."""
    if lib is not None:
        if layer["kind"] == "conv":
            return popcount.conv_pool(lib, spikes, layer["signs"].shape[-1], plus)
        return popcount.dense(lib, pack_rows(spikes.reshape(spikes.shape[0], -1)), plus)
    if layer["kind"] == "conv":
        return spike_conv(spikes, layer, plus)
    packed = pack_rows(spikes.reshape(spikes.shape[0], -1))
    return popcount_current(packed, plus)


def lif_over_time(layer, currents, static_steps=None, lib=None):
    """float32 LIF of `snn_tha.deploy.infer.run` over T steps: currents [T, B, ...] (or one
    [B, ...] shown at each of `static_steps`); returns the spikes [T, B, ...] as uint8.
    `snn_tha.deploy.ops.lif_step` into preallocated buffers, with the last step's spikes as its
    reset: four passes per step, no allocations. `lib`: the compiled loop of
    `snn_tha.kernels.popcount` (the same float32 operations; a test compares the spikes)."""
    steps = static_steps or currents.shape[0]
    if lib is not None:
        return popcount.lif_spikes(lib, currents, steps, bool(static_steps), layer["offset"],
                                 layer["threshold"], layer["beta"])
    first = currents if static_steps else currents[0]
    theta = channel_view(layer["threshold"].astype(np.float32), first)
    offset = channel_view(layer["offset"].astype(np.float32), first)
    beta = np.float32(layer["beta"])
    drive = currents.astype(np.float32) + offset if static_steps else np.empty(first.shape, np.float32)
    state, new = np.zeros(first.shape, np.float32), np.empty(first.shape, np.float32)
    spikes = np.empty((steps,) + first.shape, bool)
    fired = np.broadcast_to(np.float32(0) > theta, first.shape)   # H(v[-1] - theta), v[-1] = 0
    for t in range(steps):
        if not static_steps:
            np.add(currents[t].astype(np.float32), offset, out=drive)
        lif_step(state, drive, beta, theta, out=new, fired=fired)
        np.greater(new, theta, out=spikes[t])
        state, new, fired = new, state, spikes[t]
    return spikes.view(np.uint8)


def kernels(compiled=True):
    """The compiled kernels of `snn_tha.kernels.popcount` (built for that -march; True:
    $SNN_THA_MARCH or "native"), or None: numpy only (`compiled=False`, or no compiler here)."""
    return popcount.library(None if compiled is True else compiled) if compiled else None


def run(manifest, layers, inputs, compiled=True, lib=None):
    """Output spike counts [B, classes], equal to `snn_tha.deploy.infer.run`'s (float32): uint8
    images [B, H, W] (static) or time-first integer input [T, B, ...], checked against the layers
    (`check_input`). `lib`: the loaded kernels (`kernels(compiled)` when not given)."""
    check_input(manifest, layers, inputs)
    return _run(manifest, layers, inputs, lib if lib is not None else kernels(compiled))


def _run(manifest, layers, inputs, lib):
    static = manifest["input"]["kind"] == "image_uint8"
    steps = manifest["num_steps"] if static else inputs.shape[0]
    if static:
        spikes = lif_over_time(layers[0], integer_current(layers[0], inputs[:, None]), steps, lib)
    else:
        t, b = inputs.shape[:2]
        cur = integer_current(layers[0], inputs.reshape(t * b, *inputs.shape[2:]))
        spikes = lif_over_time(layers[0], cur.reshape(t, b, *cur.shape[1:]), lib=lib)
    for layer in layers[1:]:
        t, b = spikes.shape[:2]
        cur = spike_current(layer, pack_weights(layer), spikes.reshape(t * b, *spikes.shape[2:]), lib)
        spikes = lif_over_time(layer, cur.reshape(t, b, *cur.shape[1:]), lib=lib)
    return spikes.sum(axis=0, dtype=np.int64).astype(np.float32)


def spike_counts(manifest, layers, inputs, batch=100, threads=None, compiled=True):
    """`run` in batches of images (the batch axis: 0 for static images, 1 for time-first input),
    `threads` batches at a time (default: every CPU; numpy's element-wise loops release the GIL
    but run on one core each). The input is checked and the kernels loaded once, before the
    pool starts (one warning, if any; never two threads at a damaged cached library)."""
    inputs = check_input(manifest, layers, inputs)
    lib = kernels(compiled)
    axis = 0 if manifest["input"]["kind"] == "image_uint8" else 1
    parts = [inputs[s:s + batch] if axis == 0 else inputs[:, s:s + batch]
             for s in range(0, inputs.shape[axis], batch)]
    with ThreadPoolExecutor(threads or os.cpu_count() or 1) as pool:
        return np.concatenate(list(pool.map(lambda part: _run(manifest, layers, part, lib), parts)))
