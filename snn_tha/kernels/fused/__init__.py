"""Fused LIF kernels, one per device, and the choice between them.

`SNN_THA_LIF_KERNEL` (environment) picks the kernel of `engine.lif_sequence`:
- `auto` (default): the C++ kernel on the CPU (`cpu.py`), the Triton kernel on CUDA
  (`triton_lif.py`), today's torch loop elsewhere or when neither can be built (one line says so);
- `torch`: always the torch loop (`snn_tha.functional.equations` per step), the reference the kernels are
  tested against and the "before" row of `make bench`;
- `cpp` / `triton`: force one (`triton` on CPU tensors needs TRITON_INTERPRET=1: tests only).
"""
import contextlib
import os
import sys

import torch


class KernelError(ValueError):
    """A kernel choice that cannot be honoured (one line; the command line prints it)."""


KERNEL_ENV = "SNN_THA_LIF_KERNEL"
CHOICES = ("auto", "torch", "cpp", "triton")
_warned = set()


def choice():
    value = os.environ.get(KERNEL_ENV, "auto")
    if value not in CHOICES:
        raise KernelError(f"environment {KERNEL_ENV}={value!r}: use one of {', '.join(CHOICES)}")
    return value


@contextlib.contextmanager
def using(kernel):
    """Run a block with `SNN_THA_LIF_KERNEL=kernel` (the bench's before/after rows), then
    restore what was set."""
    before = os.environ.get(KERNEL_ENV)
    os.environ[KERNEL_ENV] = kernel
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(KERNEL_ENV)
        else:
            os.environ[KERNEL_ENV] = before


def _fallback(reason):
    if reason not in _warned:
        _warned.add(reason)
        print(f"snn-tha: fused LIF kernel unavailable ({reason}); using the torch loop",
              file=sys.stderr)


def _cpp():
    from snn_tha.kernels.fused import cpu
    cpu.library()  # build or load now, so a failure falls back here and not mid-step
    return cpu


def _triton():
    from snn_tha.kernels.fused import triton_lif
    return triton_lif


def kernel_for(tensor):
    """The module (`forward`, `backward`) that runs the LIF over `tensor`, or None for the torch
    loop. Kernels take float32 only."""
    wanted = choice()
    if wanted == "torch" or tensor.dtype != torch.float32:
        return None
    if wanted == "auto":
        wanted = {"cpu": "cpp", "cuda": "triton"}.get(tensor.device.type)
        if wanted is None:
            return None
    try:
        return _cpp() if wanted == "cpp" else _triton()
    except (OSError, ImportError) as err:
        _fallback(f"{wanted}: {err}")
        return None
