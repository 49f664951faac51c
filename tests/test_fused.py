"""The fused LIF kernels (snn_tha.kernels.fused) against the torch LIF path (`equations` per step).

Tolerances: spikes must be equal. Membranes are the same IEEE operations in the same order
(mul, add, conditional subtract; no fused multiply-add), so they come out bit-equal on the
machines we ran; we assert MEM_TOL to stay portable. Gradients: the kernels divide and sum in
the same order per step, but a static current's gradient is summed over time in double by the
kernels and by `torch.sum` (pairwise, float) in the torch path: GRAD_TOL.

`SNN_THA_TEST_KERNEL` picks the kernel under test (default `cpp`); the Triton kernel runs the
same cases in Triton's interpreter on this CPU (`test_triton_kernel_interpreted`), and on CUDA
in `scripts/gpu_check.sh`.
"""
import os
import subprocess
import sys

import pytest
import torch

from snn_tha.functional.equations import LifParams
from snn_tha.kernels import engine, fused
from snn_tha.kernels.fused import cpu

pytestmark = pytest.mark.numerics   # also run under AVX2 / generic kernels and one thread (make test)

KERNEL = os.environ.get("SNN_THA_TEST_KERNEL", "cpp")
DEVICE = os.environ.get("SNN_THA_TEST_DEVICE", "cpu")
MEM_TOL = dict(rtol=1e-6, atol=1e-6)
GRAD_TOL = dict(rtol=1e-5, atol=1e-5)
SHAPE = (3, 4, 5, 7)   # [B, C, H, W]: 420 neurons, not a multiple of any block size
# 4160 neurons: a 4096-neuron block and a partial one, every step's rows aligned for the
# training forward's streaming stores (420: only every fourth step's)
ALIGNED = (2, 2080)


def _run(kernel, current, steps, centre, monkeypatch, grad_mem=True):
    monkeypatch.setenv(fused.KERNEL_ENV, kernel)
    cur = current.clone().requires_grad_()
    beta, theta = torch.tensor(0.85, device=DEVICE), torch.tensor(0.6, device=DEVICE)
    params = LifParams(beta, theta, torch.tensor(centre, device=DEVICE), 5.0)
    spk, mem = engine.lif_sequence(cur, params, steps)
    torch.manual_seed(7)
    g_spk, g_mem = torch.randn_like(spk), torch.randn_like(mem)
    loss = (spk * g_spk).sum() + ((mem * g_mem).sum() if grad_mem else 0)
    loss.backward()
    return spk.detach(), mem.detach(), cur.grad


def _currents(kind, steps, shape=SHAPE):
    torch.manual_seed(0)
    if kind == "static":   # [B, ...], the same current at every step
        return torch.rand(shape, device=DEVICE) * 0.9, steps
    return torch.randn(steps, *shape, device=DEVICE) * 0.7 + 0.3, None


@pytest.mark.parametrize("kind", ["static", "time-varying"])
def test_streamed_rows_give_the_loops_spikes_and_membranes(kind, monkeypatch):
    current, num_steps = _currents(kind, 9, ALIGNED)
    want = _run("torch", current, num_steps, 0.6, monkeypatch)
    got = _run(KERNEL, current, num_steps, 0.6, monkeypatch)
    assert want[0].sum() > 0 and want[0].mean() < 1
    assert torch.equal(got[0], want[0])
    torch.testing.assert_close(got[1], want[1], **MEM_TOL)


@pytest.mark.skipif(KERNEL != "cpp", reason="the C++ kernel's byte spikes")
@pytest.mark.parametrize("shape", [SHAPE, ALIGNED], ids=["420 neurons", "4160 neurons"])
@pytest.mark.parametrize("kind", ["static", "time-varying"])
def test_evaluations_byte_spikes_are_the_trainings_spikes(kind, shape, monkeypatch):
    """`engine.lif_spikes` (uint8, no membranes: 32 neurons per store, the rest one by one)
    against the torch LIF's spikes."""
    current, num_steps = _currents(kind, 9, shape)
    want = _run("torch", current, num_steps, 0.6, monkeypatch)[0]
    beta, theta = torch.tensor(0.85), torch.tensor(0.6)
    with torch.no_grad():
        got = engine.lif_spikes(current, LifParams(beta, theta, torch.tensor(0.6), 5.0),
                                num_steps, backend="cpp")
    assert got.dtype == torch.uint8 and 0 < want.mean() < 1
    assert torch.equal(got.float(), want)


@pytest.mark.parametrize("kind", ["static", "time-varying"])
@pytest.mark.parametrize("steps", [1, 9])
@pytest.mark.parametrize("centre", [0.6, 1.0], ids=["centre=current", "centre=initial"])
@pytest.mark.parametrize("grad_mem", [True, False], ids=["spk+mem grads", "spk grads"])
def test_kernel_matches_torch_lif(kind, steps, centre, grad_mem, monkeypatch):
    current, num_steps = _currents(kind, steps)
    want = _run("torch", current, num_steps, centre, monkeypatch, grad_mem)
    got = _run(KERNEL, current, num_steps, centre, monkeypatch, grad_mem)
    assert want[0].sum() > 0 and want[0].mean() < 1   # some neurons fire, not all
    assert torch.equal(got[0], want[0])
    torch.testing.assert_close(got[1], want[1], **MEM_TOL)
    torch.testing.assert_close(got[2], want[2], **GRAD_TOL)
    assert got[2].shape == current.shape


@pytest.mark.skipif(KERNEL != "cpp", reason="the kernel choice itself is checked once, on cpp")
def test_auto_picks_the_cpp_kernel_on_cpu(monkeypatch):
    monkeypatch.setenv(fused.KERNEL_ENV, "auto")
    assert fused.kernel_for(torch.zeros(2)) is cpu
    assert fused.kernel_for(torch.zeros(2, dtype=torch.float64)) is None   # float32 only
    monkeypatch.setenv(fused.KERNEL_ENV, "torch")
    assert fused.kernel_for(torch.zeros(2)) is None


@pytest.mark.skipif(KERNEL != "cpp", reason="checked once")
def test_without_a_compiler_the_torch_loop_runs_and_one_line_says_so(tmp_path, monkeypatch,
                                                                     capsys):
    monkeypatch.setenv("SNN_THA_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("CXX", str(tmp_path / "no-such-compiler"))
    monkeypatch.setenv(fused.KERNEL_ENV, "auto")
    monkeypatch.setattr(fused, "_warned", set())
    cpu.library.cache_clear()
    try:
        assert fused.kernel_for(torch.zeros(2)) is None
        assert fused.kernel_for(torch.zeros(2)) is None
    finally:
        cpu.library.cache_clear()
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "using the torch loop" in lines[0]


@pytest.mark.skipif(KERNEL != "cpp", reason="checked once")
def test_kernel_library_is_cached_per_source_and_cpu(tmp_path, monkeypatch):
    monkeypatch.setenv("SNN_THA_CACHE", str(tmp_path))
    cpu.library.cache_clear()
    try:
        cpu.library()
        built = sorted((tmp_path / "kernels").glob("*"))   # the library and its hash
        assert [p.suffix for p in built] == [".so", ".sha256"]
        stamp = built[0].stat().st_mtime_ns
        cpu.library.cache_clear()
        cpu.library()   # a second process loads the cached file, builds nothing
        assert sorted((tmp_path / "kernels").glob("*")) == built
        assert built[0].stat().st_mtime_ns == stamp
    finally:
        cpu.library.cache_clear()


def test_bad_kernel_choice_is_one_line(monkeypatch, capsys):
    from snn_tha.repro.cli.main import main
    monkeypatch.setenv(fused.KERNEL_ENV, "gpu-please")
    assert main(["runs"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "SNN_THA_LIF_KERNEL='gpu-please'" in err


@pytest.mark.skipif(KERNEL != "cpp", reason="runs the interpreter once, from the cpp session")
def test_triton_kernel_interpreted(tmp_path):
    """Every case above, with the Triton kernel in Triton's interpreter (CPU tensors)."""
    pytest.importorskip("triton")
    env = {**os.environ, "TRITON_INTERPRET": "1", "SNN_THA_TEST_KERNEL": "triton"}
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           __file__, "-k", "kernel_matches_torch"],
                          env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "16 passed" in done.stdout, done.stdout[-500:]
