"""The CPU fused LIF kernel (`lif_cpu.cpp`): built with the system C++ compiler at first use and
cached per source, flags and compiler, then called through a plain C ABI.

Why not `torch.utils.cpp_extension`: the kernel needs no torch headers, and compiling against
them takes ~1 minute on 2 cores where this takes ~1 second (a fresh CI machine builds it once
per test session). `torch.compile` was measured against it (`snn-tha bench`'s LIF table).
"""
import ctypes
import functools
import hashlib
import logging
import os
import platform
import shutil
import subprocess
import tempfile
from pathlib import Path

import torch

log = logging.getLogger("snn_tha")

SOURCE = Path(__file__).with_name("lif_cpu.cpp")
# -ffp-contract=off: no fused multiply-add, so membranes round exactly as torch's mul then add
# -march=native: this machine's vector width (the SSE2 baseline runs the forward 6x slower), so
# the cache key names the CPU too.
FLAGS = ("-O3", "-march=native", "-fopenmp", "-ffp-contract=off", "-fno-fast-math", "-shared", "-fPIC",
         "-std=c++17")


def cache_dir():
    root = os.environ.get("SNN_THA_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "snn_tha")
    return Path(root) / "kernels"


def compiler():
    return os.environ.get("CXX") or shutil.which("c++") or shutil.which("g++")


def _cpu_identity():
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return platform.processor() + platform.machine()
    return "".join(sorted({line for line in lines if line.startswith(("model name", "flags"))}))


def _library_path(cxx):
    version = subprocess.run([cxx, "--version"], capture_output=True, text=True).stdout
    key = hashlib.sha1(SOURCE.read_bytes() + " ".join(FLAGS).encode() + version.encode()
                       + _cpu_identity().encode())
    return cache_dir() / f"lif_cpu_{key.hexdigest()[:16]}.so"


def _build(cxx, target):
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        partial = Path(tmp) / target.name
        done = subprocess.run([cxx, *FLAGS, str(SOURCE), "-o", str(partial)],
                              capture_output=True, text=True)
        if done.returncode != 0:
            raise OSError(f"{cxx} failed: {done.stderr.strip().splitlines()[-1:]}")
        digest = Path(tmp) / "digest"
        digest.write_text(_sha256(partial))
        os.replace(partial, target)  # atomic: parallel workers never load half a file
        os.replace(digest, _digest_path(target))   # written last: the library is complete


def _sha256(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _digest_path(target):
    return target.with_name(target.name + ".sha256")


def _cache_is_whole(target):
    """The cached library is the file its build wrote (a truncated or damaged one would crash
    the process with a bus error when loaded, with no message)."""
    try:
        return _digest_path(target).read_text().strip() == _sha256(target)
    except OSError:
        return False


@functools.cache
def library():
    """The loaded kernel library; raises OSError when no compiler can build it."""
    cxx = compiler()
    if cxx is None:
        raise OSError("no C++ compiler found (set CXX)")
    target = _library_path(cxx)
    if target.exists() and not _cache_is_whole(target):
        log.warning("%s: the cached LIF kernel is damaged or incomplete (its hash differs from "
                    "its build's); building it again", target)
        target.unlink()
    if not target.exists():
        _build(cxx, target)
    lib = ctypes.CDLL(str(target))
    i64, f32, ptr = ctypes.c_int64, ctypes.c_float, ctypes.c_void_p
    lib.lif_forward.argtypes = [ptr, ptr, ptr, i64, i64, f32, f32, ctypes.c_int, ctypes.c_int]
    lib.lif_backward.argtypes = [ptr, ptr, ptr, ptr, i64, i64, f32, f32, f32, ctypes.c_int,
                                 ctypes.c_int]
    return lib


def _ptr(t):
    return None if t is None else ctypes.c_void_p(t.data_ptr())


def forward(current, mem, spk, steps, beta, theta, static):
    """Fill mem, spk `[T, *shape]` (float32, contiguous) from current `[T, *shape]` or `[*shape]`.
    Both kernels use torch's thread count, so the two OpenMP runtimes never oversubscribe."""
    n = mem[0].numel()
    library().lif_forward(_ptr(current), _ptr(mem), _ptr(spk), steps, n, beta, theta, int(static),
                          torch.get_num_threads())


def backward(mem, grad_spk, grad_mem, out, beta, centre, slope, sum_time):
    steps, n = mem.shape[0], mem[0].numel()
    library().lif_backward(_ptr(mem), _ptr(grad_spk), _ptr(grad_mem), _ptr(out), steps, n,
                           beta, centre, slope, int(sum_time), torch.get_num_threads())
