"""The box-mean-then-stride-2 convolution (`snn_tha.kernels.pooled_conv`) against the per-step
loop's convolution then average pooling: the same currents to the bit on spikes times +-1
weights, gradients to rounding, the C++ box filter against torch's avg_pool2d."""
import pytest
import torch
import torch.nn.functional as F

from snn_tha.kernels import pooled_conv
from snn_tha.kernels.layout import channels_first_view, channels_last_storage

pytestmark = pytest.mark.numerics   # also run under AVX2 / generic kernels and one thread (make test)


def spikes(*shape, seed=0, density=0.3):
    gen = torch.Generator().manual_seed(seed)
    return (torch.rand(*shape, generator=gen) < density).float()


def signs(out_ch, in_ch, k=5, seed=1):
    gen = torch.Generator().manual_seed(seed)
    return torch.where(torch.rand(out_ch, in_ch, k, k, generator=gen) < 0.5, -1.0, 1.0)


def loop_current(x, weight):
    """The per-step loop's operations: conv(k) then 2x2 average pooling, step by step."""
    return torch.stack([F.avg_pool2d(F.conv2d(x_t, weight), 2) for x_t in x])


def stored_channels_last(x):
    return channels_first_view(channels_last_storage(x))


@pytest.fixture(params=["cpp", "torch"])
def box_backend(request, monkeypatch):
    """Both box filters: the C++ kernel and torch's avg_pool2d fallback (no compiler)."""
    if request.param == "torch":
        monkeypatch.setattr(pooled_conv, "library", lambda: None)
    elif pooled_conv.library() is None:
        pytest.skip("no C++ compiler here")
    return request.param


@pytest.mark.parametrize("channels_last", [True, False])
@pytest.mark.parametrize("shape", [(6, 16, 12, 12), (3, 2, 9, 13), (2, 1, 7, 6)])
def test_box_mean_and_its_adjoint_equal_avg_pool2d(box_backend, channels_last, shape):
    x = spikes(*shape) * 3   # small integers (spike counts): every sum exact
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    ours = pooled_conv.box_mean(x)
    assert torch.equal(ours, F.avg_pool2d(x, 2, stride=1))
    assert ours.is_contiguous(memory_format=torch.channels_last if channels_last
                              else torch.contiguous_format)   # the input's storage
    grad_box = torch.randn(ours.shape).contiguous(memory_format=torch.channels_last
                                                  if channels_last else torch.contiguous_format)
    out = torch.full_like(x, float("nan"))   # every element must be written
    pooled_conv.box_mean_backward_into(grad_box, out)
    xr = x.clone().requires_grad_()
    expected, = torch.autograd.grad(F.avg_pool2d(xr, 2, stride=1), xr, grad_box)
    torch.testing.assert_close(out, expected, rtol=0, atol=1e-6)


@pytest.mark.parametrize("stored_cl", [True, False])
@pytest.mark.parametrize("chunk", [1, 3, 7])
def test_currents_equal_the_loops_to_the_bit_and_gradients_to_rounding(box_backend, stored_cl, chunk):
    x = spikes(7, 3, 16, 12, 12)
    if stored_cl:
        x = stored_channels_last(x)
    x.requires_grad_()
    w = signs(8, 16).requires_grad_()
    ours = pooled_conv.pooled_conv_over_time(x, w, chunk)
    theirs = loop_current(x, w)
    assert torch.equal(ours, theirs)
    assert ours.movedim(2, -1).is_contiguous()   # stored channels-last: what the LIF reads
    g = torch.randn(ours.shape)
    got = torch.autograd.grad(ours, (x, w), g)
    want = torch.autograd.grad(theirs, (x, w), g)
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("hw", [(13, 12), (14, 14)], ids=["4x4 outputs", "5x5 outputs"])
@pytest.mark.parametrize("route", ["cpp images", "matmul blocks of 4", "matmul one block",
                                   "8 channels (K = 200)"])
def test_input_gradient_by_columns_equals_the_loops(route, hw, monkeypatch):
    """The C++ paths of the input gradient against autograd through the loop's convolution then
    pooling: columns image by image in C++ (`box_conv_input_grad`, taken where k*k*C is a
    multiple of 80), or a matmul per block of images (several blocks and a partial one, or
    one), each then col2im and the box adjoint; 8 channels (K = 200) take the matmul. 16 or 25
    output positions per image: whole row tiles and a partial one on either build."""
    if pooled_conv.library() is None:
        pytest.skip("no C++ compiler here")
    channels, in_cpp = (8, False) if route.startswith("8") else (16, route == "cpp images")
    if route.startswith("matmul"):
        monkeypatch.setattr(pooled_conv, "_input_grad_in_cpp", lambda columns: False)
        monkeypatch.setattr(pooled_conv, "COLUMN_BLOCK", 4 if "of 4" in route else 128)
    elif in_cpp and not pooled_conv._input_grad_in_cpp(400):
        pytest.skip("the kernels build without AVX2 and FMA here")
    runs, cpp_runs = [], []
    by_columns, cpp = pooled_conv._input_grad_by_columns, pooled_conv.library().box_conv_input_grad
    monkeypatch.setattr(pooled_conv, "_input_grad_by_columns",
                        lambda *a: runs.append(1) or by_columns(*a))
    monkeypatch.setattr(pooled_conv.library(), "box_conv_input_grad",
                        lambda *a: cpp_runs.append(1) or cpp(*a))
    x = stored_channels_last(spikes(5, 3, channels, *hw)).requires_grad_()
    w = signs(32, channels).requires_grad_()
    g = torch.randn(5, 3, 32, (hw[0] - 6) // 2 + 1, (hw[1] - 6) // 2 + 1)
    got = torch.autograd.grad(pooled_conv.pooled_conv_over_time(x, w, 2), (x, w), g)
    want = torch.autograd.grad(loop_current(x, w), (x, w), g)
    assert len(runs) == 3   # one per chunk of 2 steps
    assert len(cpp_runs) == (3 if in_cpp else 0)
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-4)


def _input_grad(threads=2):
    """The static layer 2's input gradient (70 images, 16 -> 64 channels, k = 5) by
    `_input_grad_by_columns` on `threads` threads."""
    g = stored_channels_last(torch.randn(70, 64, 4, 4, generator=torch.Generator().manual_seed(4)))
    w = stored_channels_last(signs(64, 16))
    out = stored_channels_last(torch.full((70, 16, 12, 12), float("nan")))
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(threads)
        pooled_conv._input_grad_by_columns(g, w, out)
    finally:
        torch.set_num_threads(before)
    return out


def test_input_gradient_in_cpp_writes_every_element_and_not_by_thread_count():
    if pooled_conv.library() is None or not pooled_conv._input_grad_in_cpp(400):
        pytest.skip("the C++ input gradient is built only with AVX2 and FMA or AVX-512")
    one, two, three = (_input_grad(t) for t in (1, 2, 3))
    assert not one.isnan().any()
    assert torch.equal(one, two) and torch.equal(one, three)


def test_float_weights_and_a_first_layer_without_input_gradient():
    x = spikes(5, 2, 2, 14, 11, density=0.1)        # DVS-like: NCHW, no gradient wanted
    w = torch.randn(4, 2, 5, 5, requires_grad=True)
    ours = pooled_conv.pooled_conv_over_time(x, w, 2)
    theirs = loop_current(x, w)
    torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-5)
    g = torch.randn(ours.shape)
    torch.testing.assert_close(torch.autograd.grad(ours, w, g)[0],
                               torch.autograd.grad(theirs, w, g)[0], rtol=1e-5, atol=1e-4)


def test_low_precision_gradients_keep_the_exact_forward():
    x = stored_channels_last(spikes(4, 2, 16, 12, 12)).requires_grad_()
    w = signs(8, 16).requires_grad_()
    ours = pooled_conv.pooled_conv_over_time(x, w, 2, low_precision_grad=True)
    theirs = loop_current(x, w)
    assert torch.equal(ours, theirs)
    g = torch.randn(ours.shape)
    for a, b in zip(torch.autograd.grad(ours, (x, w), g), torch.autograd.grad(theirs, (x, w), g)):
        assert a.dtype == torch.float32
        torch.testing.assert_close(a, b, rtol=0.05, atol=0.05 * b.abs().max().item())


def test_inputs_too_small_or_not_time_first_are_refused():
    with pytest.raises(ValueError, match=r"\[T, B, C, H, W\]"):
        pooled_conv.pooled_conv_over_time(torch.zeros(3, 16, 12, 12), signs(8, 16), 2)
    with pytest.raises(ValueError, match="H, W > 5"):
        pooled_conv.pooled_conv_over_time(torch.zeros(2, 1, 16, 5, 12), signs(8, 16), 2)


@pytest.mark.parametrize("out_ch", [64, 32, 16, 8])
@pytest.mark.parametrize("float_input", [False, True], ids=["spikes", "floats"])
def test_weight_gradient_in_cpp_equals_the_loops(out_ch, float_input, monkeypatch):
    """The C++ weight gradient (register tiles over passes of images; 45 images = one pass and a
    partial one per chunk, 400 columns = tiles of 6 and one of 4) against autograd through the
    loop's convolution then pooling; outputs its tile does not divide, and builds without
    AVX-512, take oneDNN's."""
    if pooled_conv.library() is None:
        pytest.skip("no C++ compiler here")
    runs = []
    into = pooled_conv._weight_grad_into
    monkeypatch.setattr(pooled_conv, "_weight_grad_into", lambda *a: runs.append(1) or into(*a))
    x = spikes(6, 15, 16, 12, 12) * (torch.rand(6, 15, 16, 12, 12) if float_input else 1.0)
    x = stored_channels_last(x).requires_grad_()
    w = signs(out_ch, 16).requires_grad_()
    g = torch.randn(6, 15, out_ch, 4, 4)
    got = torch.autograd.grad(pooled_conv.pooled_conv_over_time(x, w, 3), (x, w), g)
    want = torch.autograd.grad(loop_current(x, w), (x, w), g)
    tile = pooled_conv.library().box_conv_weight_grad_outputs()
    assert len(runs) == (2 if tile and out_ch % tile == 0 else 0)   # one per chunk of 3 steps
    assert got[1].shape == w.shape
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-4)


def test_weight_gradient_does_not_depend_on_the_thread_count():
    if pooled_conv.library() is None or not pooled_conv.library().box_conv_weight_grad_outputs():
        pytest.skip("the C++ weight gradient is built only with AVX2 and FMA or AVX-512 "
                    "(oneDNN's else)")
    x = stored_channels_last(spikes(4, 40, 16, 12, 12))
    w = signs(64, 16).requires_grad_()
    g = torch.randn(4, 40, 64, 4, 4)
    grads = []
    before = torch.get_num_threads()
    try:
        for threads in (1, 2, 3):
            torch.set_num_threads(threads)
            grads.append(torch.autograd.grad(pooled_conv.pooled_conv_over_time(x, w, 4), w, g)[0])
    finally:
        torch.set_num_threads(before)
    assert all(torch.equal(grads[0], other) for other in grads[1:])


def _library_for_march(march):
    """pooled_conv.cpp built for `march` (None where it does not build here)."""
    from snn_tha.kernels.fused.cpu import FLAGS
    return pooled_conv.library_for(
        tuple(f"-march={march}" if f.startswith("-march=") else f for f in FLAGS))


@pytest.fixture
def both_builds():
    """pooled_conv.cpp built for this CPU's AVX-512 and for AVX2 (x86-64-v3)."""
    from snn_tha.repro import provenance
    if "avx512f" not in provenance.cpu_instruction_set().get("flags", []):
        pytest.skip("this CPU runs no AVX-512 build")
    wide, narrow = _library_for_march("native"), _library_for_march("x86-64-v3")
    if wide is None or narrow is None:
        pytest.skip("no C++ compiler here")
    return wide, narrow


def test_weight_gradient_is_the_same_bits_on_avx2_and_avx512_builds(both_builds):
    """Both builds' tiles (6 x 16 in ymm, 6 x 64 in zmm) sum every output's products in the same
    order with one FMA each: a run's weight gradients do not depend on the machine's vector
    width."""
    from snn_tha.kernels.fused.cpu import pointer
    wide, narrow = both_builds
    assert wide.box_conv_weight_grad_outputs() == narrow.box_conv_weight_grad_outputs() == 64
    box = pooled_conv.box_mean(stored_channels_last(spikes(70, 16, 12, 12)))
    g = channels_first_view(channels_last_storage(torch.randn(70, 64, 4, 4)))
    grads = []
    for lib in both_builds:
        gw = torch.randn(5 * 5 * 16, 64, generator=torch.Generator().manual_seed(3))
        lib.box_conv_weight_grad(pointer(box), pointer(g), pointer(gw), 70, 11, 11, 16, 5, 64, 2)
        grads.append(gw)
    assert torch.equal(*grads)
    assert not torch.equal(grads[0], torch.randn(5 * 5 * 16, 64,
                                                 generator=torch.Generator().manual_seed(3)))


def test_input_gradient_is_the_same_bits_on_avx2_and_avx512_builds(both_builds):
    """Columns of 4 rows x 80 (zmm) or 6 rows x 16 (ymm): every column sums over the outputs
    in order from zero, so both builds give the same input gradient."""
    from snn_tha.kernels.fused.cpu import pointer
    assert [lib.box_conv_input_grad_columns() for lib in both_builds] == [80, 80]
    g = stored_channels_last(torch.randn(70, 64, 4, 4))
    wm = signs(64, 16).permute(0, 2, 3, 1).reshape(64, -1).contiguous()
    outs = []
    for lib in both_builds:
        out = stored_channels_last(torch.full((70, 16, 12, 12), float("nan")))
        lib.box_conv_input_grad(pointer(g), pointer(wm), pointer(out), 70, 12, 12, 16, 5, 64, 2)
        outs.append(out)
    assert not outs[0].isnan().any()
    assert torch.equal(*outs)


@pytest.mark.parametrize("route", ["weight", "input"])
def test_the_bench_counts_the_cpp_gradients_as_onednns(route, monkeypatch):
    from snn_tha.repro.bench.flops import executed_flops
    x = stored_channels_last(spikes(2, 8, 16, 12, 12)).requires_grad_()
    w = signs(64, 16).requires_grad_()
    g = torch.randn(2, 8, 64, 4, 4)

    def step():
        torch.autograd.grad(pooled_conv.pooled_conv_over_time(x, w, 2), (x, w), g)
    ours = executed_flops(step)
    if route == "weight":
        monkeypatch.setattr(pooled_conv, "_weight_grad_applies", lambda *a: False)
    else:
        monkeypatch.setattr(pooled_conv, "_input_grad_in_cpp", lambda columns: False)
    assert ours == executed_flops(step)
