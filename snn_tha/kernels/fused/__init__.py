"""Fused LIF kernels, one per device, and the choice between them.

Each `snn_tha.nn.Leaky` may choose its backend (`Leaky(..., backend="cpp")`, as SpikingJelly's
modules do); `SNN_THA_LIF_KERNEL` (environment) is the default for those that do not:
- `auto` (default): the C++ kernel on the CPU (`cpu.py`), the Triton kernel on CUDA
  (`triton_lif.py`), today's torch loop elsewhere or when neither can be built (one line says so);
- `torch`: always the torch loop (`snn_tha.functional.equations` per step), the reference the kernels are
  tested against and the "before" row of `make bench`;
- `cpp` / `triton`: that kernel; asked for by name and unavailable here (no compiler, another
  device; `triton` on CPU tensors needs TRITON_INTERPRET=1: tests only) it is an error, not a
  fallback.
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
_chosen = []   # the innermost `using` block's kernel, if any


def choice():
    """The kernel of modules without a backend of their own: the enclosing `using` block's, else
    $SNN_THA_LIF_KERNEL (default auto), the one place the environment is read."""
    if _chosen:
        return _chosen[-1]
    value = os.environ.get(KERNEL_ENV, "auto")
    if value not in CHOICES:
        raise KernelError(f"environment {KERNEL_ENV}={value!r}: use one of {', '.join(CHOICES)}")
    return value


def check_backend(backend):
    """A module's backend argument: None (the environment's choice) or one of CHOICES."""
    if backend is not None and backend not in CHOICES:
        raise KernelError(f"LIF backend {backend!r}: use one of {', '.join(CHOICES)} "
                          f"(or None for ${KERNEL_ENV}, default auto)")
    return backend


def _device_fits(wanted, tensor):
    if wanted == "cpp":
        return tensor.device.type == "cpu"
    return tensor.device.type == "cuda" or os.environ.get("TRITON_INTERPRET") == "1"


@contextlib.contextmanager
def using(kernel):
    """Run a block with `kernel` for the modules without a backend of their own (the bench's
    before/after rows); the environment is neither read nor written."""
    _chosen.append(check_backend(kernel))
    try:
        yield
    finally:
        _chosen.pop()


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


def kernel_for(tensor, backend=None):
    """The module (`forward`, `backward`) that runs the LIF over `tensor`, or None for the torch
    loop: `backend` (a module's own choice) or else $SNN_THA_LIF_KERNEL. Kernels take float32
    only. `auto` falls back to the torch loop with one line; a kernel asked for by name that
    cannot run here is a KernelError."""
    wanted = check_backend(backend) or choice()
    if wanted == "torch" or tensor.dtype != torch.float32:
        return None
    named = wanted != "auto"
    if not named:
        wanted = {"cpu": "cpp", "cuda": "triton"}.get(tensor.device.type)
        if wanted is None:
            return None
    elif not _device_fits(wanted, tensor):
        raise KernelError(f"LIF backend {wanted!r} cannot run on a {tensor.device.type} tensor; "
                          f"use 'auto' or 'torch'")
    try:
        return _cpp() if wanted == "cpp" else _triton()
    except (OSError, ImportError) as err:
        if named:
            raise KernelError(f"LIF backend {wanted!r} was asked for by name and is unavailable "
                              f"here ({err}); use 'auto' (the torch loop, with one line) or 'torch'") from None
        _fallback(f"{wanted}: {err}")
        return None
