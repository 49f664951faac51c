"""The CPU fused LIF kernel (`lif_cpu.cpp`): built with the system C++ compiler at first use and
cached per source, flags, compiler and CPU (`snn_tha.kernels.native`), then called through a plain
C ABI. `torch.compile` was measured against it (`snn-tha bench`'s LIF table).
"""
import ctypes
import functools
from pathlib import Path

import torch

from snn_tha.kernels import native

SOURCE = Path(__file__).with_name("lif_cpu.cpp")
# -ffp-contract=off: no fused multiply-add, so membranes round exactly as torch's mul then add
# -march=native: this machine's vector width (the SSE2 baseline runs the forward 6x slower), so
# the cache key names the CPU too ($SNN_THA_MARCH chooses another: `native.march`).
FLAGS = ("-O3", f"-march={native.march()}", "-fopenmp", "-ffp-contract=off", "-fno-fast-math", "-shared", "-fPIC",
         "-std=c++17")


@functools.cache
def library():
    """The loaded kernel library; raises OSError when no compiler can build it."""
    lib = native.load(SOURCE, FLAGS, "LIF kernel")
    i64, f32, ptr = ctypes.c_int64, ctypes.c_float, ctypes.c_void_p
    lib.lif_forward.argtypes = [ptr, ptr, ptr, i64, i64, f32, f32, ctypes.c_int, ctypes.c_int]
    lib.lif_forward_spikes.argtypes = [ptr, ptr, i64, i64, f32, f32, ctypes.c_int, ctypes.c_int]
    lib.lif_backward.argtypes = [ptr, ptr, ptr, ptr, i64, i64, f32, f32, f32, ctypes.c_int,
                                 ctypes.c_int]
    return lib


def pointer(t):
    """A tensor's data address for the C kernels (None for None); every torch-side caller of
    the project's C++ kernels passes tensors through here."""
    return None if t is None else ctypes.c_void_p(t.data_ptr())


def forward(current, mem, spk, steps, beta, theta, static):
    """Fill mem, spk `[T, *shape]` (float32, contiguous) from current `[T, *shape]` or `[*shape]`.
    Both kernels use torch's thread count, so the two OpenMP runtimes never oversubscribe."""
    n = mem[0].numel()
    library().lif_forward(pointer(current), pointer(mem), pointer(spk), steps, n, beta, theta,
                          int(static), torch.get_num_threads())


def forward_spikes(current, spk, steps, beta, theta, static):
    """`forward` writing only the spikes, into uint8 `spk` [T, *shape] (evaluation)."""
    n = spk[0].numel()
    library().lif_forward_spikes(pointer(current), pointer(spk), steps, n, beta, theta,
                                 int(static), torch.get_num_threads())


def backward(mem, grad_spk, grad_mem, out, beta, centre, slope, sum_time):
    steps, n = mem.shape[0], mem[0].numel()
    library().lif_backward(pointer(mem), pointer(grad_spk), pointer(grad_mem), pointer(out),
                           steps, n, beta, centre, slope, int(sum_time), torch.get_num_threads())
