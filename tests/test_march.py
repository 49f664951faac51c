"""$SNN_THA_MARCH builds every C++ kernel for another instruction set (AVX2 emulated on an
AVX-512 machine), recorded with the other switches."""
import subprocess
import sys

from snn_tha.kernels import native


def test_march_default_and_override(monkeypatch):
    monkeypatch.delenv(native.MARCH_ENV, raising=False)
    assert native.march() == "native"
    monkeypatch.setenv(native.MARCH_ENV, "x86-64-v3")
    assert native.march() == "x86-64-v3"


def test_kernels_build_for_the_chosen_march_and_the_switch_is_recorded(tmp_path):
    code = ("from snn_tha.kernels import fused, pooled_conv, random_masks, sparse_linear\n"
            "from snn_tha.kernels.fused import cpu\n"
            "from snn_tha.repro import provenance\n"
            "assert '-march=x86-64-v3' in cpu.FLAGS\n"
            "libs = [cpu.library(), pooled_conv.library(), random_masks.library(), sparse_linear.library()]\n"
            "assert all(lib is not None for lib in libs)\n"
            "assert random_masks._matches_torch()\n"
            "print(provenance.cpu_instruction_set()['switches'])\n")
    env = {"SNN_THA_MARCH": "x86-64-v3", "SNN_THA_CACHE": str(tmp_path), "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    assert "'SNN_THA_MARCH': 'x86-64-v3'" in done.stdout
    assert any(p.name.startswith("lif_cpu_") for p in (tmp_path / "kernels").iterdir())
