"""Provenance of a result: the code's git commit, package versions, machine, time, seed."""
import os
import platform
import subprocess
import sys
from datetime import datetime, timezone
from importlib import metadata

from snn_tha.repro.paths import ROOT

TRACKED_PACKAGES = ("torch", "torchvision", "snntorch", "numpy", "tonic", "optuna")

_COMMIT = None


def git_commit():
    """Full HEAD commit of the code this process runs, with '-dirty' when tracked source
    differed from it (files under results/, which the pipeline itself rewrites, do not count).
    Read once per process: the code that runs is the code imported at start, even if the
    files change while a long job runs."""
    global _COMMIT
    if _COMMIT is None:
        _COMMIT = _read_git_commit()
    return _COMMIT


def _read_git_commit():
    root = ROOT
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True,
                                text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--",
                                ".", ":(exclude)results"], cwd=root, capture_output=True,
                               text=True, check=True).stdout
        return commit + ("-dirty" if dirty.strip() else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def package_versions():
    versions = {}
    for name in TRACKED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def provenance(seed=None):
    """What a result needs to be traced back: code, packages, machine, time, seed."""
    return {
        "seed": seed,
        "git_commit": git_commit(),
        "packages": package_versions(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "created_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def cpu_instruction_set():
    """What the numbers were measured on: the CPU model, the vector instruction set PyTorch
    dispatches to (ATen's capability: DEFAULT, AVX2, AVX512, ...) and the AVX-512 / VNNI / AMX
    flags the kernel reports, and the instruction-set switches set in the environment."""
    import torch
    model, flags = platform.processor() or "unknown", set()
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name") and model in ("unknown", "x86_64", ""):
                model = line.split(":", 1)[1].strip()
            elif line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                break
    except OSError:
        pass
    wanted = ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile", "avx_vnni")
    return {"cpu": model, "aten_capability": torch.backends.cpu.get_cpu_capability(),
            "flags": [f for f in wanted if f in flags],
            "switches": {k: os.environ[k] for k in ISA_SWITCHES if k in os.environ}}


# the documented switches that make an AVX-512 machine compute as an AVX2 one (flags above are
# still the CPU's own: these say what PyTorch, oneDNN, MKL and the project's C++ kernels
# (snn_tha.kernels.native.MARCH_ENV) were allowed to use)
ISA_SWITCHES = ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA", "MKL_ENABLE_INSTRUCTIONS",
                "SNN_THA_MARCH")


def switch_words(isa):
    """"ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 ..." of a `cpu_instruction_set()` record
    (empty when none was set, or for a record written before the key)."""
    return " ".join(f"{k}={v}" for k, v in isa.get("switches", {}).items())
