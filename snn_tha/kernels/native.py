"""Small C/C++ kernels built with the system compiler at first use, cached per source, flags,
compiler and CPU, and loaded through a plain C ABI (ctypes). Imports neither torch nor numpy: the
fused LIF kernel (`fused/cpu.py`) and the popcount kernels of the torch-free deployment engine
(`popcount.py`, used by `deploy/packed.py`) both build through here.

Why not `torch.utils.cpp_extension`: the kernels need no torch headers, and compiling against
them takes ~1 minute on 2 cores where this takes ~1 second (a fresh CI machine builds once per
test session).
"""
import ctypes
import hashlib
import logging
import os
import platform
import shutil
import subprocess
import tempfile
from pathlib import Path

log = logging.getLogger("snn_tha")

# -march of every C++ kernel of the project (default: this CPU). `x86-64-v3` builds them as for
# an AVX2 CPU: with PyTorch's, oneDNN's and MKL's switches (snn_tha.repro.provenance.ISA_SWITCHES)
# an AVX-512 machine then computes as an AVX2 one throughout, kernels included.
MARCH_ENV = "SNN_THA_MARCH"


def march():
    return os.environ.get(MARCH_ENV) or "native"


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


def _library_path(cxx, source, flags):
    version = subprocess.run([cxx, "--version"], capture_output=True, text=True).stdout
    key = hashlib.sha1(source.read_bytes() + " ".join(flags).encode() + version.encode()
                       + _cpu_identity().encode())
    return cache_dir() / f"{source.stem}_{key.hexdigest()[:16]}.so"


def _build(cxx, source, flags, target):
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        partial = Path(tmp) / target.name
        done = subprocess.run([cxx, *flags, str(source), "-o", str(partial)],
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


def load(source, flags, what):
    """The built library of `source` (ctypes.CDLL); OSError when no compiler can build it.
    `what` names it in the warning about a damaged cached copy."""
    cxx = compiler()
    if cxx is None:
        raise OSError("no C++ compiler found (set CXX)")
    target = _library_path(cxx, Path(source), flags)
    if target.exists() and not _cache_is_whole(target):
        log.warning("%s: the cached %s is damaged or incomplete (its hash differs from "
                    "its build's); building it again", target, what)
        target.unlink()
    if not target.exists():
        _build(cxx, Path(source), flags, target)
    return ctypes.CDLL(str(target))


def load_optional(source, flags, what, argtypes):
    """`load`, with each function's ctypes argument types set from `argtypes` ({name: [...]});
    None where no compiler builds it (the caller then takes its torch path)."""
    try:
        lib = load(source, flags, what)
    except OSError:
        return None
    for name, types in argtypes.items():
        getattr(lib, name).argtypes = types
    return lib
