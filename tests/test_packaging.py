"""Issue 24: an installed package ships what its kernels are built from (not only the checkout)."""
import os
import shutil
import subprocess
import sys
import zipfile

from snn_tha.repro import paths


def _source_copy(tmp_path):
    """What a wheel is built from, copied: setuptools' build/ folder in the checkout would
    keep modules deleted since."""
    src = tmp_path / "src"
    shutil.copytree(paths.ROOT / "snn_tha", src / "snn_tha",
                    ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(paths.ROOT / name, src / name)
    return src


def test_the_wheel_ships_the_cpu_kernel_source(tmp_path):
    src = _source_copy(tmp_path)
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                           "-q", "-w", str(tmp_path), str(src)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    wheel, = tmp_path.glob("snn_tha-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    kernels = sorted(str(p.relative_to(paths.ROOT / "snn_tha")) for p in
                     (paths.ROOT / "snn_tha").rglob("*.cpp"))
    assert {"kernels/fused/lif_cpu.cpp", "kernels/popcount.cpp"} <= set(kernels)   # and the rest
    for kernel in kernels:
        assert f"snn_tha/{kernel}" in names
        source = (paths.ROOT / "snn_tha" / kernel).read_bytes()
        assert zipfile.ZipFile(wheel).read(f"snn_tha/{kernel}") == source
    assert "snn_tha/nn/annealing.py" in names and not any(n.startswith("tests/") for n in names)


def test_an_installed_wheel_builds_its_cpu_kernels(tmp_path):
    """Installed (not the checkout): the package found is the wheel's, and its C++ kernels
    build: the LIF, the deployment's popcount, the box filter, the Bernoulli masks, the
    sparse linear layer, the per-step batch norm and the integer box convolution."""
    src = _source_copy(tmp_path)
    site = tmp_path / "site"
    done = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation",
                           "-q", "--target", str(site), str(src)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    code = ("import snn_tha.kernels.fused.cpu as cpu, torch; print(cpu.__file__); cpu.library(); "
            "from snn_tha.kernels import fused; print(fused.kernel_for(torch.zeros(2), 'cpp') is cpu); "
            "from snn_tha.kernels import popcount; print(popcount.library() is not None); "
            "from snn_tha.kernels import batch_norm, box_conv, pooled_conv, random_masks, sparse_linear; "
            "assert None not in (pooled_conv.library(), random_masks.library(), "
            "sparse_linear.library(), batch_norm.library(), box_conv.library())")
    env = {**os.environ, "PYTHONPATH": str(site), "SNN_THA_CACHE": str(tmp_path / "cache")}
    ran = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         cwd=tmp_path)
    assert ran.returncode == 0, ran.stderr[-2000:]
    where, found, popcount = ran.stdout.split()
    assert where.startswith(str(site)) and found == "True" and popcount == "True"
    built = sorted(p.name.split("_")[0] for p in (tmp_path / "cache" / "kernels").glob("*.so"))
    assert built == ["batch", "box", "lif", "pooled", "popcount", "random", "sparse"]   # from the shipped sources
