"""The integer box convolution (`snn_tha.kernels.box_conv`) against the per-step loop's
convolution then average pooling: the same floats to the bit on binary spikes times weights in
{-1, 0, 1}, whichever input type, shape or remainder of the 4-row tiles; where it refuses; and
the training and evaluation paths that may take it give the same bits as without it."""
import pytest
import torch
import torch.nn.functional as F

from snn_tha.kernels import box_conv, engine, pooled_conv
from snn_tha.kernels.layout import channels_first_view, channels_last_storage

pytestmark = [pytest.mark.numerics,
              pytest.mark.skipif(box_conv.library() is None, reason="no C++ compiler here")]


def spikes(*shape, seed=0, density=0.3):
    gen = torch.Generator().manual_seed(seed)
    return (torch.rand(*shape, generator=gen) < density).float()


def ternary(out_ch, in_ch, k=5, seed=1, zeros=False):
    gen = torch.Generator().manual_seed(seed)
    u = torch.rand(out_ch, in_ch, k, k, generator=gen)
    w = torch.where(u < 0.5, -1.0, 1.0)
    return torch.where(u > 0.9, 0.0, w) if zeros else w


def loop_current(images, weight):
    return F.avg_pool2d(F.conv2d(images, weight), 2)


def run(images, weight):
    assert box_conv.applies(images, weight)
    k = weight.shape[-1]
    out = torch.empty(loop_current(images.float(), weight).shape, memory_format=torch.channels_last)
    return box_conv.box_conv_into(images, box_conv.weight_pairs(weight), k, out)


@pytest.mark.parametrize("dtype", [torch.float32, torch.uint8])
@pytest.mark.parametrize("shape", [(7, 16, 64, 12, 12), (5, 16, 32, 14, 14), (3, 2, 32, 11, 13),
                                   (2, 1, 32, 12, 12)],
                         ids=["static-conv2", "dvs-conv2", "odd", "one-channel"])
def test_the_same_floats_as_the_loops_conv_then_pooling(shape, dtype):
    n, c, o, h, w = shape
    x = spikes(n, c, h, w, density=0.4)
    weight = ternary(o, c, zeros=(c == 2))
    want = loop_current(x, weight)
    images = x.to(dtype).contiguous(memory_format=torch.channels_last)
    got = run(images, weight)
    assert got.is_contiguous(memory_format=torch.channels_last)
    assert torch.equal(got, want)


def test_all_ones_reach_the_largest_sum():
    """Every input and weight 1: the sums reach 4 * k * k * C, the 16-bit lanes' worst case."""
    x = torch.ones(2, 16, 12, 12).contiguous(memory_format=torch.channels_last)
    weight = torch.ones(32, 16, 5, 5)
    got = run(x, weight)
    assert torch.equal(got, loop_current(x, weight))
    assert got.max().item() == 16 * 25


def test_where_it_does_not_apply():
    x = spikes(2, 16, 12, 12).contiguous(memory_format=torch.channels_last)
    assert box_conv.weight_pairs(ternary(32, 16) * 0.5) is None           # not in {-1, 0, 1}
    assert not box_conv.applies(x, ternary(16, 16))                       # 16 outputs
    assert not box_conv.applies(x.contiguous(), ternary(32, 16))          # NCHW storage
    assert not box_conv.applies(x.double(), ternary(32, 16))


def test_faster_of_returns_the_chosen_routes_result_and_remembers_it():
    calls = []
    key = ("test route", 1)
    first = box_conv.faster_of(key, lambda: calls.append("a") or 1, lambda: calls.append("b") or 1)
    assert first == 1 and {"a", "b"} <= set(calls)
    calls.clear()
    box_conv.faster_of(key, lambda: calls.append("a") or 1, lambda: calls.append("b") or 1)
    assert len(calls) == 1   # measured once per key


def test_training_forward_with_integer_products_equals_the_float_path(monkeypatch):
    """pooled_conv_over_time(binary_input=True) on a hidden layer's spikes: currents equal to
    the bit, gradients equal too (the backward is the same code on the same saved boxes)."""
    x = channels_first_view(channels_last_storage(spikes(6, 4, 16, 12, 12)))
    weight = ternary(64, 16)
    results = []
    for binary in (False, True):
        xi, wi = x.detach().requires_grad_(), weight.clone().requires_grad_()
        if binary:   # make sure the integer route is the one measured and taken
            monkeypatch.setattr(box_conv, "faster_of", lambda key, a, b: b())
        out = pooled_conv.pooled_conv_over_time(xi, wi, chunk=4, binary_input=binary)
        grad = torch.randn(out.shape, generator=torch.Generator().manual_seed(3))
        results.append((out, *torch.autograd.grad((out * grad).sum(), (xi, wi))))
    for a, b in zip(*results):
        assert torch.equal(a, b)


def test_evaluations_conv_takes_either_route_with_the_same_floats(monkeypatch):
    stored = channels_first_view(channels_last_storage(spikes(3, 4, 16, 12, 12).to(torch.uint8)))
    weight = ternary(64, 16)
    by_route = []
    for route in (0, 1):
        monkeypatch.setattr(box_conv, "faster_of", lambda key, a, b, r=route: (a, b)[r]())
        by_route.append(engine.binary_conv_pooled(stored, weight))
    theirs = loop_current(spikes(3, 4, 16, 12, 12).flatten(0, 1), weight).view(3, 4, 64, 4, 4)
    assert torch.equal(by_route[0], theirs) and torch.equal(by_route[1], theirs)
