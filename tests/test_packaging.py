"""Issue 24: an installed package ships what its kernels are built from (not only the checkout)."""
import shutil
import subprocess
import sys
import zipfile

from snn_tha.repro import runio


def test_the_wheel_ships_the_cpu_kernel_source(tmp_path):
    # built from a copy: setuptools' build/ folder in the checkout would keep deleted modules
    src = tmp_path / "src"
    shutil.copytree(runio.ROOT / "snn_tha", src / "snn_tha",
                    ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(runio.ROOT / name, src / name)
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                           "-q", "-w", str(tmp_path), str(src)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    wheel, = tmp_path.glob("snn_tha-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "snn_tha/kernels/fused/lif_cpu.cpp" in names
    source = (runio.ROOT / "snn_tha" / "kernels" / "fused" / "lif_cpu.cpp").read_bytes()
    assert zipfile.ZipFile(wheel).read("snn_tha/kernels/fused/lif_cpu.cpp") == source
    assert "snn_tha/nn/annealing.py" in names and not any(n.startswith("tests/") for n in names)
