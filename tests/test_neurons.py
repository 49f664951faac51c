import pytest
import snntorch as snn
import torch
from snntorch import surrogate

from snn_tha.nn.neurons import Leaky

pytestmark = pytest.mark.numerics   # also run under AVX2 / generic kernels and one thread (make test)


def snntorch_loop(lif, current):
    """T calls of snnTorch's per-step forward, as the authors' code runs it."""
    mem = lif.init_leaky()
    spikes, mems = [], []
    for cur in current:
        spk, mem = lif(cur, mem)
        spikes.append(spk)
        mems.append(mem)
    return torch.stack(spikes), torch.stack(mems)


def test_is_an_snntorch_leaky_with_float32_threshold():
    lif = Leaky(beta=0.9, threshold=2)
    assert isinstance(lif, snn.Leaky)
    assert lif.threshold.dtype == torch.float32 and lif.threshold.dim() == 0
    lif.threshold += 0.5  # how the release anneals: must work in place
    assert float(lif.threshold) == 2.5
    assert lif not in snn.SpikingNeuron.instances  # no global list keeping models alive


def test_hand_computed_membrane_trace():
    # beta=0.5, theta=1, input 0.6 each step:
    # u1 = 0.6 (no spike); u2 = 0.3 + 0.6 = 0.9; u3 = 0.45 + 0.6 = 1.05 -> spike;
    # u4 = 0.525 + 0.6 - 1 = 0.125 (reset uses u3 > theta); u5 = 0.0625 + 0.6 = 0.6625
    lif = Leaky(beta=0.5, threshold=1.0)
    spk, mem = lif.sequence(torch.full((5, 1), 0.6))
    expected = torch.tensor([0.6, 0.9, 1.05, 0.125, 0.6625])
    torch.testing.assert_close(mem.flatten(), expected, rtol=0, atol=1e-6)
    assert spk.flatten().tolist() == [0, 0, 1, 0, 0]


def test_threshold_is_strict():
    lif = Leaky(beta=0.0, threshold=1.0)
    spk, _ = lif.sequence(torch.tensor([[1.0], [1.0 + 1e-6]]))
    assert spk.flatten().tolist() == [0.0, 1.0]  # u == theta does not fire (H(x) is x > 0)


def test_multistep_bit_identical_to_snntorch_per_step():
    torch.manual_seed(0)
    current = (torch.randn(50, 4, 30) * 1.5).requires_grad_()
    ours = Leaky(beta=0.8, threshold=1.3, slope=5.0, surrogate_centre="current")
    ref = snn.Leaky(beta=0.8, threshold=1.3, spike_grad=surrogate.fast_sigmoid(slope=5.0))
    spk_a, mem_a = ours.sequence(current)
    spk_b, mem_b = snntorch_loop(ref, current)
    assert spk_a.sum() > 0 and torch.equal(spk_a, spk_b) and torch.equal(mem_a, mem_b)
    weights = torch.randn_like(mem_a)
    grad_a, = torch.autograd.grad((spk_a * weights).sum() + (mem_a ** 2).sum(), current)
    grad_b, = torch.autograd.grad((spk_b * weights).sum() + (mem_b ** 2).sum(), current)
    assert torch.equal(grad_a, grad_b)


def test_initial_centre_equals_snntorch_until_threshold_moves():
    torch.manual_seed(1)
    current = torch.randn(20, 3, 8, requires_grad=True)
    ours = Leaky(beta=0.5, threshold=1.0, surrogate_centre="initial")
    ref = snn.Leaky(beta=0.5, threshold=1.0, spike_grad=surrogate.fast_sigmoid(slope=5.0))
    spk_a, _ = ours.sequence(current)
    spk_b, _ = snntorch_loop(ref, current)
    g_a, = torch.autograd.grad(spk_a.sum(), current)
    g_b, = torch.autograd.grad(spk_b.sum(), current)
    assert torch.equal(g_a, g_b)
    ours.set_threshold(3.0)  # annealed: forward follows theta, gradient stays at theta0
    ref.threshold.fill_(3.0)
    spk_a, _ = ours.sequence(current)
    spk_b, _ = snntorch_loop(ref, current)
    assert torch.equal(spk_a, spk_b)
    g_a, = torch.autograd.grad(spk_a.sum(), current)
    g_b, = torch.autograd.grad(spk_b.sum(), current)
    assert not torch.equal(g_a, g_b)


def test_per_step_call_uses_configured_surrogate():
    lif = Leaky(beta=0.5, threshold=1.0, slope=2.0, surrogate_centre="initial")
    lif.set_threshold(4.0)
    cur = torch.tensor([3.0], requires_grad=True)
    spk, mem = lif(cur, torch.zeros(1))
    spk.sum().backward()
    # d spk / d cur = 1/(1 + 2*|3 - 1|)^2 at the initial threshold 1, not at 4
    torch.testing.assert_close(cur.grad, torch.tensor([1 / 25.0]))


def test_each_leaky_chooses_its_backend(monkeypatch):
    """Issue 21: the kernel is a per-module argument; the environment is only the default."""
    from snn_tha.kernels import fused
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    monkeypatch.setenv(fused.KERNEL_ENV, "torch")      # the default for modules without a choice
    torch.manual_seed(3)
    current = torch.rand(6, 4, 50) * 0.8
    outs = {b: Leaky(0.9, 0.6, backend=b).sequence(current) for b in (None, "torch", "cpp", "auto")}
    for spikes, mems in outs.values():   # the same elementwise operations in every backend
        assert torch.equal(spikes, outs["torch"][0]) and torch.equal(mems, outs["torch"][1])
    with pytest.raises(ValueError, match="backend must be None or one of"):
        Leaky(0.9, backend="gpu")
    with pytest.raises(fused.KernelError, match="'triton' cannot run on a cpu tensor"):
        Leaky(0.9, backend="triton").sequence(current)   # asked for by name: an error, no fallback
