"""Dropout's Bernoulli masks, the numbers torch's CPU `bernoulli_(p)` would draw from the default
generator, about 10x faster (`random_masks.cpp`: torch draws them one by one on one thread).

The generator's state (`torch.get_rng_state()`: MT19937's 624 words, `left` and `next`, in
torch's CPUGeneratorImplState) is read, advanced in C++ exactly as torch's draws advance it, and
set back, so everything drawn after is unchanged too. Where that layout or torch's sampling
differs from what the kernel assumes (another torch release), a check made once per process on a
forked generator finds it, and the masks come from torch's own `bernoulli_`.
"""
import ctypes
import functools
from pathlib import Path

import numpy as np
import torch

from snn_tha.kernels import native
from snn_tha.kernels.fused.cpu import FLAGS, pointer

SOURCE = Path(__file__).with_name("random_masks.cpp")
STATE_BYTES = 5056            # sizeof(CPUGeneratorImplState) in torch 2.x
LEFT, NEXT, WORDS = 8, 16, 24   # byte offsets of left (int32), next (uint64), state (uint64[624])


@functools.cache
def library():
    ptr = ctypes.c_void_p
    return native.load_optional(SOURCE, FLAGS, "Bernoulli kernel", {
        "bernoulli_masks": [ptr, ptr, ptr, ptr, ctypes.c_int64, ctypes.c_double]})


def _draw(lib, shape, p):
    state = torch.get_rng_state()
    raw = state.numpy()
    words = raw[WORDS:WORDS + 624 * 8].view(np.uint64).astype(np.uint32)
    left = np.array([raw[LEFT:LEFT + 4].view(np.int32)[0]], dtype=np.int64)
    nxt = np.array([raw[NEXT:NEXT + 8].view(np.uint64)[0]], dtype=np.int64)
    out = torch.empty(shape, dtype=torch.float32)
    lib.bernoulli_masks(words.ctypes.data, left.ctypes.data, nxt.ctypes.data,
                        pointer(out), out.numel(), float(p))
    raw[WORDS:WORDS + 624 * 8].view(np.uint64)[:] = words
    raw[LEFT:LEFT + 4].view(np.int32)[0] = left[0]
    raw[NEXT:NEXT + 8].view(np.uint64)[0] = nxt[0]
    torch.set_rng_state(state)
    return out


@functools.cache
def _matches_torch():
    """The kernel draws torch's numbers here, and leaves the generator where torch's draws do."""
    lib = library()
    if lib is None or torch.get_rng_state().numel() != STATE_BYTES:
        return False
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(12345)
        torch.rand(7)   # start mid-block
        start = torch.get_rng_state()
        theirs = torch.empty(3, 1001).bernoulli_(0.35)
        after = torch.rand(5)
        torch.set_rng_state(start)
        ours = _draw(lib, (3, 1001), 0.35)
        return torch.equal(ours, theirs) and torch.equal(torch.rand(5), after)


def bernoulli_masks(shape, p):
    """float32 0/1 `shape` with P(1) = p, equal to `torch.empty(shape).bernoulli_(p)` on the CPU,
    the default generator advanced as that call advances it."""
    if _matches_torch():
        return _draw(library(), shape, p)
    return torch.empty(shape).bernoulli_(p)
