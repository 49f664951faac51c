import pytest
import torch
import torch.nn.functional as F

from snn_tha.kernels import batch_norm, engine, fused, layout, low_precision
from snn_tha.models import ARCHITECTURES, NetConfig, build
from snn_tha.repro.schema import LAYERS
from snn_tha.nn.neurons import Leaky
from margins import assert_same_spikes, clear_inputs

pytestmark = pytest.mark.numerics   # also run under AVX2 / generic kernels and one thread (make test)

# Small inputs: every spike comparison below runs on inputs whose reference membranes stay
# margins.MARGIN from every threshold (`clear_inputs`), and fewer neuron-steps make such
# inputs common (about 1 seed in 20 for the float-weight nets at this size).
SMALL_T = 4


def net_pair(arch, binarize, batch_norm=True, dropout=None, **kw):
    """The same parameters run by the reference loop and by the engine."""
    n_drop = LAYERS[arch][1]
    cfg = NetConfig(arch=arch, binarize=binarize, beta=0.8, thresholds=(0.5,), slope=5.0,
                    batch_norm=batch_norm, dropout=dropout or (0.0,) * n_drop, **kw)
    torch.manual_seed(0)
    ref = build(cfg)
    ref.engine = "reference"
    torch.manual_seed(0)
    fast = build(cfg)
    fast.load_state_dict(ref.state_dict())
    return ref, fast


def inputs(arch, batch=2, spikes=True, seed=1):
    shape = ARCHITECTURES[arch].input_shape
    torch.manual_seed(seed)
    if ARCHITECTURES[arch].static:  # static: an image, shown at every step
        return torch.rand(batch, *shape), SMALL_T
    x = torch.rand(SMALL_T, batch, *shape)
    return ((x > 0.7).float() if spikes else x), None


def clear_pair(arch, binarize, spikes=True, zero_bias=False, **kw):
    """net_pair and inputs on which the loop's membranes are all margins.MARGIN clear of the
    threshold, so that no spike can flip between summation orders on any CPU."""
    ref, fast = net_pair(arch, binarize, **kw)
    if zero_bias:
        zero_biases(ref, fast)
    x, steps = clear_inputs(ref, lambda seed: inputs(arch, spikes=spikes, seed=seed))
    return ref, fast, x, steps


# Tolerances. Bit-equality of membranes is asserted only where algebra guarantees it: +-1
# weights on spike inputs give integer-valued sums, exact in any summation order, and the LIF
# recursion is the same elementwise op sequence. BatchNorm statistics (batched vs per step), a
# float bias (added once over [T*B, N] by the engine, per step by the loop) and float weights sum
# in other orders (AVX2 vs AVX-512, thread count): membranes then agree to rounding only,
# MEM_TOL (measured <= 1.2e-5 under AVX-512, AVX2 and the generic kernels).
MEM_TOL = dict(rtol=1e-5, atol=1e-4)


def zero_biases(*nets):
    with torch.no_grad():
        for net in nets:
            for name, p in net.named_parameters():
                if name.endswith("fc.bias"):
                    p.zero_()


@pytest.mark.parametrize("arch", list(ARCHITECTURES))
def test_engine_bit_equals_reference_on_binarized_nets_without_float_bias(arch):
    ref, fast, x, steps = clear_pair(arch, binarize=True, zero_bias=True)
    out_r, out_f = ref(x, steps), fast(x, steps)
    assert out_r.layer_spikes[0].sum() > 0
    assert_same_spikes(out_r.layer_spikes, out_f.layer_spikes, (out_r.membrane, out_f.membrane))
    if steps is None:  # spike inputs, integer-valued sums: membranes exact too
        assert torch.equal(out_r.membrane, out_f.membrane)
    else:  # float images into the first (static) layer: currents agree to rounding
        torch.testing.assert_close(out_r.membrane, out_f.membrane, **MEM_TOL)
    # batch-norm running statistics were updated as often as by the per-step loop
    for (n, a), (_, b) in zip(ref.state_dict().items(), fast.state_dict().items()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6, msg=n)


@pytest.mark.parametrize("arch", list(ARCHITECTURES))
def test_engine_equals_reference_with_float_bias_within_tolerance(arch):
    ref, fast, x, steps = clear_pair(arch, binarize=True)
    out_r, out_f = ref(x, steps), fast(x, steps)
    assert_same_spikes(out_r.layer_spikes, out_f.layer_spikes, (out_r.membrane, out_f.membrane))
    torch.testing.assert_close(out_r.membrane, out_f.membrane, **MEM_TOL)


@pytest.mark.parametrize("arch", list(ARCHITECTURES))
def test_engine_gradients_match_reference_on_binarized_nets(arch):
    """Straight-through gradients of the binarized nets, engine vs loop: within 1e-4 relative
    (the loop and the engine sum the same terms in different orders)."""
    assert_gradients_close(*clear_pair(arch, binarize=True))


@pytest.mark.parametrize("arch", list(ARCHITECTURES))
def test_engine_gradients_match_reference(arch):
    """Float weights: spikes compared on inputs clear of the threshold by margins.MARGIN (on
    the first inputs tried, one spike of static_conv flipped between AVX-512 and AVX2)."""
    assert_gradients_close(*clear_pair(arch, binarize=False, spikes=False))


def assert_gradients_close(ref, fast, x, steps, rel=1e-4):
    """Same spikes (inputs clear of the threshold), gradients within `rel` (L2)."""
    outs = []
    for net in (ref, fast):
        outs.append(net(x, steps))
        loss = (outs[-1].spikes.sum(0) - 2.0).pow(2).mean() + outs[-1].membrane.pow(2).mean()
        loss.backward()
    assert_same_spikes(outs[0].layer_spikes, outs[1].layer_spikes,
                       (outs[0].membrane, outs[1].membrane))
    for (name, a), (_, b) in zip(ref.named_parameters(), fast.named_parameters()):
        assert a.grad is not None and a.grad.abs().sum() > 0, name
        assert (b.grad - a.grad).norm() <= rel * a.grad.norm(), name


def test_fused_lif_static_current_equals_expanded():
    lif = Leaky(beta=0.9, threshold=1.0)
    cur = torch.rand(3, 5, requires_grad=True)
    spk_a, mem_a = lif.sequence(cur, num_steps=7)
    spk_b, mem_b = lif.sequence(cur.unsqueeze(0).expand(7, 3, 5))
    assert torch.equal(spk_a, spk_b) and torch.equal(mem_a, mem_b)
    g_a, = torch.autograd.grad(spk_a.sum() + mem_a.sum(), cur)
    g_b, = torch.autograd.grad(spk_b.sum() + mem_b.sum(), cur)
    torch.testing.assert_close(g_a, g_b)


def test_fused_lif_matches_python_loop_when_only_membrane_is_used():
    lif = Leaky(beta=0.3, threshold=0.7, surrogate_centre="initial")
    cur = torch.randn(20, 2, 4, requires_grad=True)
    _, mem_a = lif.sequence(cur)
    _, mem_b = lif.sequence_loop(cur)
    g_a, = torch.autograd.grad(mem_a.pow(2).sum(), cur)
    g_b, = torch.autograd.grad(mem_b.pow(2).sum(), cur)
    assert torch.equal(g_a, g_b)


@pytest.mark.parametrize("arch", list(ARCHITECTURES))
def test_fast_mode_forward_spikes_identical_on_binarized_nets(arch):
    ref, fast, x, steps = clear_pair(arch, binarize=True, engine="fast")
    out_r, out_f = ref(x, steps), fast(x, steps)
    assert_same_spikes(out_r.layer_spikes, out_f.layer_spikes, (out_r.membrane, out_f.membrane))
    # bf16 gradients: within 2% (relative L2) of the exact engine's, per parameter
    _, exact = net_pair(arch, binarize=True)
    exact.load_state_dict(fast.state_dict())
    for net in (fast, exact):
        out = net(x, steps)
        ((out.spikes.sum(0) - 2.0).pow(2).mean() + out.membrane.pow(2).mean()).backward()
    for (name, a), (_, b) in zip(exact.named_parameters(), fast.named_parameters()):
        assert torch.isfinite(b.grad).all(), name
        assert (b.grad - a.grad).norm() <= FAST_GRAD_TOL * a.grad.norm(), name


FAST_GRAD_TOL = 0.02   # bf16 has an 8-bit mantissa: ~0.4% per product, measured <= 1%


def test_int8_linear_exact_and_gradients_close():
    torch.manual_seed(0)
    x = (torch.rand(5, 3, 700) > 0.9).float().requires_grad_()
    w = torch.sign(torch.randn(20, 700)).requires_grad_()
    bias = torch.randn(20)
    out = low_precision.spike_linear_int8(x, w, bias)
    assert torch.equal(out, x @ w.t() + bias)
    g = torch.randn_like(out)
    gx, gw = torch.autograd.grad(out, (x, w), g)
    ex, ew = torch.autograd.grad(x @ w.t() + bias, (x, w), g)
    assert (gx - ex).norm() <= 1e-2 * ex.norm() and (gw - ew).norm() <= 1e-2 * ew.norm()


@pytest.mark.parametrize("arch", list(ARCHITECTURES))
@pytest.mark.parametrize("binarize", [False, True])
@pytest.mark.parametrize("engine_name", ["reference", "exact"])
def test_every_parameter_gets_a_gradient(arch, binarize, engine_name):
    ref, fast = net_pair(arch, binarize, batch_norm=True)
    net = ref if engine_name == "reference" else fast
    x, steps = inputs(arch)
    out = net(x, steps)
    (out.spikes.sum() + out.membrane.pow(2).mean()).backward()
    for name, p in net.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


@pytest.mark.skipif(not torch.cuda.is_available(),
                    reason="no CUDA device: GPU equivalence of the engine not checked here")
@pytest.mark.parametrize("arch", list(ARCHITECTURES))
def test_engine_equals_reference_on_gpu(arch):
    ref, fast, x, steps = clear_pair(arch, binarize=True)   # margin of the CPU loop
    ref, fast = ref.cuda(), fast.cuda()
    out_r, out_f = ref(x.cuda(), steps), fast(x.cuda(), steps)
    assert_same_spikes(out_r.layer_spikes, out_f.layer_spikes)


def test_training_mode_dropout_masks_match_the_loop():
    """One dropout site (static/DVS nets): per-step masks drawn in the loop's order."""
    ref, fast = net_pair("static_conv", binarize=True, dropout=(0.5,))
    ref.train(), fast.train()

    def masked_inputs(seed):   # the margin under the masks the runs below draw
        x, steps = inputs("static_conv", seed=seed)
        torch.manual_seed(5)
        return x, steps
    x, steps = clear_inputs(ref, masked_inputs)
    torch.manual_seed(5)
    out_r = ref(x, steps)
    torch.manual_seed(5)
    out_f = fast(x, steps)
    assert_same_spikes([out_r.spikes], [out_f.spikes], (out_r.membrane, out_f.membrane))
    torch.testing.assert_close(out_r.membrane, out_f.membrane, **MEM_TOL)


def _bn_pair(momentum):
    torch.manual_seed(3)
    a = torch.nn.BatchNorm2d(6, momentum=momentum)
    with torch.no_grad():
        a.weight.uniform_(0.5, 1.5)
        a.bias.normal_()
    b = torch.nn.BatchNorm2d(6, momentum=momentum)
    b.load_state_dict(a.state_dict())
    return a, b


def _assert_bn_close(a, b, tol=dict(rtol=1e-5, atol=1e-5)):
    for name in ("running_mean", "running_var"):
        torch.testing.assert_close(getattr(a, name), getattr(b, name), **tol)
    assert int(a.num_batches_tracked) == int(b.num_batches_tracked)
    torch.testing.assert_close(a.weight.grad, b.weight.grad, **tol)
    torch.testing.assert_close(a.bias.grad, b.bias.grad, **tol)


@pytest.mark.parametrize("stored", ["nchw", "channels_last"])
@pytest.mark.parametrize("momentum", [0.1, None], ids=["momentum", "cumulative"])
def test_batched_batch_norm_equals_per_step_calls(momentum, stored, monkeypatch):
    """Per-step statistics in one computation (batch_norm._BatchNormPerStep: the torch
    composition on NCHW storage, the C++ kernel on channels-last) against T module calls:
    outputs and gradients to rounding (another reduction order), T running-stat updates."""
    loop, batched = _bn_pair(momentum)
    torch.manual_seed(4)
    x = torch.randn(7, 5, 6, 3, 3) * torch.arange(1, 8).view(7, 1, 1, 1, 1) + 2.0
    kernel_calls = []
    if stored == "channels_last":
        if batch_norm.library() is None:
            pytest.skip("no C++ compiler here")
        kernel_for = batch_norm._kernel_for
        monkeypatch.setattr(batch_norm, "_kernel_for",
                            lambda *args: kernel_calls.append(1) or kernel_for(*args))
    x_loop = x.clone().requires_grad_()
    x_batched = (x.clone() if stored == "nchw" else
                 layout.channels_first_view(layout.channels_last_storage(x))).requires_grad_()
    want = torch.stack([loop(x_t) for x_t in x_loop])
    got = batch_norm.batch_norm_per_step(batched, x_batched)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
    grad = torch.randn_like(want)
    (want * grad).sum().backward()
    (got * grad).sum().backward()
    torch.testing.assert_close(x_batched.grad, x_loop.grad, rtol=1e-4, atol=1e-5)
    _assert_bn_close(loop, batched)
    assert len(kernel_calls) == (2 if stored == "channels_last" else 0)   # forward, backward
    loop.eval(), batched.eval()   # evaluation: running statistics, one call for all steps
    torch.testing.assert_close(batch_norm.batch_norm_per_step(batched, x),
                               torch.stack([loop(x_t) for x_t in x]), rtol=1e-5, atol=1e-5)


def test_static_batch_norm_makes_the_running_updates_of_t_calls():
    loop, once = _bn_pair(0.1)
    torch.manual_seed(5)
    cur = torch.randn(4, 6, 3, 3) + 1.5
    c_loop, c_once = cur.clone().requires_grad_(), cur.clone().requires_grad_()
    outs = [loop(c_loop) for _ in range(9)]
    got = batch_norm.batch_norm_static(once, c_once, 9)
    assert torch.equal(got, outs[-1])   # the same call on the same input
    sum(outs).sum().backward()
    (9 * got).sum().backward()
    _assert_bn_close(loop, once)


def test_dropout_per_step_draws_the_masks_of_t_calls():
    drop = torch.nn.Dropout(0.4).train()
    cur = torch.rand(5, 8, 30) + 0.1
    torch.manual_seed(9)
    want = torch.stack([drop(c) for c in cur])
    torch.manual_seed(9)
    got = engine.dropout_per_step(drop, cur)
    assert torch.equal(got, want)   # the same draws and the same multiply
    assert 0.3 < (got == 0).float().mean() < 0.5




@pytest.mark.parametrize("batch_norm", [True, False])
@pytest.mark.parametrize("binarize", [True, False])
@pytest.mark.parametrize("arch", list(ARCHITECTURES))
def test_forward_only_evaluation_gives_the_same_spikes(arch, binarize, batch_norm):
    """`forward_only` (uint8 hidden spikes from the C++ forward, binary convolutions by popcount)
    computes the same floats in the same operations as the usual evaluation: equal spikes in
    every layer and an equal output membrane, on any CPU (no margin needed)."""
    from snn_tha.models.networks import forward_only
    _, net = net_pair(arch, binarize, batch_norm=batch_norm)
    x, steps = inputs(arch, batch=6)
    steps = steps and 12
    net.train()
    with torch.no_grad():
        net(x, steps)              # batch-norm running statistics away from their start
    net.eval()
    with torch.no_grad():
        plain = net(x, steps)
    with forward_only(net):
        fast = net(x, steps)
    assert any(s.sum() > 0 for s in plain.layer_spikes[:-1])
    for a, b in zip(plain.layer_spikes, fast.layer_spikes):
        assert torch.equal(a, b.float())
    assert torch.equal(plain.membrane, fast.membrane)
    if fused.kernel_for(x.float()) is not None and len(net.blocks) > 1:
        assert fast.layer_spikes[0].dtype == torch.uint8   # the fast path ran


@pytest.mark.parametrize("stored_channels_last", [False, True])
def test_popcount_conv_equals_the_loops_float_conv_then_pooling(stored_channels_last):
    gen = torch.Generator().manual_seed(2)
    signs = torch.where(torch.rand(32, 16, 5, 5, generator=gen) < 0.5, -1.0, 1.0)
    spikes = (torch.rand(3, 4, 16, 11, 12, generator=gen) < 0.3)
    stored = spikes.to(torch.uint8)
    if stored_channels_last:   # as evaluation's LIF stores the spikes a convolution reads
        stored = layout.channels_first_view(layout.channels_last_storage(stored))
        assert layout.is_channels_last_sequence(stored)
    ours = engine.binary_conv_pooled(stored, signs)
    if ours is None:
        pytest.skip("no C++ compiler here")
    # 7 conv rows: pooling drops one
    theirs = F.avg_pool2d(F.conv2d(spikes.float().flatten(0, 1), signs), 2).view(3, 4, 32, 3, 4)
    assert torch.equal(ours, theirs)


def test_spikes_a_convolution_reads_are_stored_channels_last():
    """The engine keeps layer 1's spikes (and layer 2's current) channels-last on the CPU, so
    oneDNN reorders no activation; the reference loop's spikes are unchanged by it (the other
    tests compare them)."""
    _, net = net_pair("static_conv", True)
    x, steps = inputs("static_conv", batch=3)
    out = net(x, steps)
    assert layout.is_channels_last_sequence(out.layer_spikes[0])
    assert layout.is_channels_last_sequence(out.layer_spikes[1])
    assert out.layer_spikes[2].is_contiguous()


def test_batch_norm_per_step_on_channels_last_storage_equals_nchw():
    torch.manual_seed(7)
    x = torch.randn(6, 5, 4, 3, 3) * torch.arange(1, 7).view(6, 1, 1, 1, 1) + 1.5
    w, b = torch.randn(4).requires_grad_(), torch.randn(4).requires_grad_()
    grad = torch.randn_like(x)
    results = []
    for stored in (x, layout.channels_first_view(layout.channels_last_storage(x))):
        xi = stored.detach().clone() if stored.is_contiguous() else stored.detach()
        xi.requires_grad_()
        y, mean, var = batch_norm._BatchNormPerStep.apply(xi, w, b, 1e-5)
        assert layout.is_channels_last_sequence(y) == layout.is_channels_last_sequence(xi)
        results.append((y, mean, var, *torch.autograd.grad((y * grad).sum(), (xi, w, b))))
    assert layout.is_channels_last_sequence(layout.channels_first_view(layout.channels_last_storage(x)))
    for nchw, last in zip(*results):
        torch.testing.assert_close(last, nchw, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("dtype", [torch.float32, torch.uint8])
def test_neuron_counts_of_channels_last_spikes_are_in_channel_height_width_order(dtype):
    spikes = (torch.rand(5, 3, 4, 6, 7) < 0.3).to(dtype)
    stored = layout.channels_first_view(layout.channels_last_storage(spikes))
    assert layout.is_channels_last_sequence(stored)
    expected = spikes.float().sum(dim=(0, 1)).flatten()
    assert torch.equal(engine.neuron_counts(stored), expected)
    assert torch.equal(engine.neuron_counts(spikes), expected)
