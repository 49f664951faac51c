"""The integer arithmetic both numpy engines share (`infer`: float32 products, `packed`:
popcounts): the pooling folded into the convolution's taps, the stride-2 convolution, and the
per-channel broadcast. numpy only."""
import numpy as np


def fold_pool(signs):
    """conv(k) -> 2x2 sum pooling as one (k+1)x(k+1) stride-2 kernel of integer taps."""
    out, cin, k, _ = signs.shape
    taps = np.zeros((out, cin, k + 1, k + 1), np.float32)
    for i in (0, 1):
        for j in (0, 1):
            taps[:, :, i:i + k, j:j + k] += signs
    return taps


def conv(x, taps, stride=2):
    """Valid stride-2 convolution of [N, C, H, W] by integer taps: float32 sums of integers
    below 2**24, so exact."""
    n, c, h, w = x.shape
    k = taps.shape[-1]
    windows = np.lib.stride_tricks.sliding_window_view(x, (k, k), axis=(2, 3))[:, :, ::stride, ::stride]
    ho, wo = windows.shape[2:4]
    cols = windows.transpose(0, 2, 3, 1, 4, 5).reshape(n * ho * wo, c * k * k)
    out = cols @ taps.reshape(taps.shape[0], -1).T
    return out.reshape(n, ho, wo, -1).transpose(0, 3, 1, 2)


def channel_view(values, cur):
    """Per-channel values broadcast against a current [B, C] or [B, C, H, W]."""
    return values.reshape((1, -1) + (1,) * (cur.ndim - 2))


def lif_step(prev, drive, beta, theta, dtype=np.float32, out=None, fired=None):
    """Eq. 1-2 in units of the integer current, elementwise in `dtype`:
    v[t] = beta*v[t-1] + drive[t] - H(v[t-1] - theta)*theta; the spikes are H(v[t] - theta).
    `out` (a buffer for v[t]) and `fired` (H(v[t-1] - theta), where the caller kept it) only
    save allocations and a pass; the result is the same."""
    mem = np.multiply(prev, dtype(beta), out=out)
    np.add(mem, drive, out=mem)
    np.subtract(mem, theta, out=mem, where=prev > theta if fired is None else fired)
    return mem.astype(dtype, copy=False)
