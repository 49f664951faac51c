import math

import pytest
import torch

from snn_tha.nn.binary import Conv2d, Linear, init_weight_, sign_ste


def test_sign_forward_and_straight_through_gradient():
    w = torch.tensor([-2.0, -1e-8, 0.0, 3e-9, 7.0], requires_grad=True)
    out = sign_ste(w)
    assert out.tolist() == [-1, -1, 1, 1, 1]  # sign(0) = +1
    g = torch.tensor([0.1, -0.2, 0.3, -0.4, 0.5])
    out.backward(g)
    assert torch.equal(w.grad, g)  # passed unchanged, also for |w| > 1


def test_binarized_linear_uses_signs_and_bias():
    torch.manual_seed(0)
    layer = Linear(3, 2, bias=True, binarize=True)
    x = torch.tensor([[1.0, 0.0, 1.0]])
    expected = x @ torch.where(layer.weight >= 0, 1.0, -1.0).T + layer.bias
    torch.testing.assert_close(layer(x), expected)
    layer(x).sum().backward()
    assert torch.equal(layer.weight.grad, torch.tensor([[1.0, 0.0, 1.0]] * 2))


def test_float_and_binarized_share_forward():
    torch.manual_seed(0)
    a = Linear(4, 3, binarize=False)
    torch.manual_seed(0)
    b = Linear(4, 3, binarize=True)
    x = torch.randn(2, 4)
    torch.testing.assert_close(a(x), x @ a.weight.T + a.bias)
    assert torch.equal(a.weight, b.weight) and not torch.allclose(a(x), b(x))


def test_binarized_conv():
    conv = Conv2d(1, 2, 3, bias=False, binarize=True)
    x = torch.ones(1, 1, 3, 3)
    signs = torch.where(conv.weight >= 0, 1.0, -1.0)
    torch.testing.assert_close(conv(x).flatten(), signs.sum(dim=(1, 2, 3)))


@pytest.mark.parametrize("scheme,bound", [("fan_in", math.sqrt(1 / 200)),
                                          ("glorot", math.sqrt(1.5 / 300))])
def test_init_bounds(scheme, bound):
    w = torch.empty(100, 200)
    init_weight_(w, scheme)
    assert w.abs().max() <= bound and w.abs().max() > 0.95 * bound


def test_unknown_init():
    with pytest.raises(ValueError, match="init must be one of"):
        Linear(2, 2, init="xavier")


def _release_pair(shape, fan_in, fan_out, float_copy):
    """The release's pair of layers, written out: a binarized copy drawn Glorot, then an unused
    float copy of PyTorch's default init (the layer the flt32 variant uses)."""
    bound = math.sqrt(1.5 / (fan_in + fan_out))
    glorot = torch.empty(shape).uniform_(-bound, bound)
    return glorot, float_copy()


STATIC_LAYERS = [((16, 1, 5, 5), 25, 400, lambda: torch.nn.Conv2d(1, 16, 5, bias=False)),
                 ((64, 16, 5, 5), 400, 1600, lambda: torch.nn.Conv2d(16, 64, 5, bias=False)),
                 ((10, 1024), 1024, 10, lambda: torch.nn.Linear(1024, 10))]


def _static_net(binarize, init, order):
    from snn_tha.models import NetConfig, build
    return build(NetConfig(arch="static_conv", binarize=binarize, beta=0.5, slope=1.0,
                           thresholds=(1.0,), init=init, init_order=order, batch_norm=True,
                           dropout=(0.1,)))


def _latent(net):
    return [m.weight for m in net.modules() if isinstance(m, (Conv2d, Linear))]


def test_release_order_gives_the_release_weights_and_generator_state():
    torch.manual_seed(3)
    pairs = [_release_pair(*layer) for layer in STATIC_LAYERS]
    after_release = torch.rand(4)   # the data order drawn next
    for binarize, init in ((True, "glorot"), (False, "fan_in")):
        torch.manual_seed(3)
        net = _static_net(binarize, init, "release")
        assert torch.equal(torch.rand(4), after_release)
        for w, (glorot, copy) in zip(_latent(net), pairs):
            assert torch.equal(w, glorot if init == "glorot" else copy.weight)
        dense = [m for m in net.modules() if isinstance(m, Linear)][0]
        if init == "glorot":
            assert not dense.bias.any()   # the release zeroes its binarized layers' bias
        else:
            assert torch.equal(dense.bias, pairs[-1][1].bias)   # PyTorch's default, non-zero


def test_torch_first_order_is_the_older_runs_order():
    """Runs recorded before init_order existed drew PyTorch's default first, then Glorot: their
    signs agree with the release order's only by chance (about half)."""
    torch.manual_seed(3)
    expected = []
    for shape, fan_in, fan_out, float_copy in STATIC_LAYERS:
        float_copy()
        bound = math.sqrt(1.5 / (fan_in + fan_out))
        expected.append(torch.empty(shape).uniform_(-bound, bound))
    torch.manual_seed(3)
    old = _latent(_static_net(True, "glorot", "torch_first"))
    assert all(torch.equal(a, b) for a, b in zip(old, expected))
    torch.manual_seed(3)
    new = _latent(_static_net(True, "glorot", "release"))
    agree = torch.cat([(a.sign() == b.sign()).flatten() for a, b in zip(old, new)]).float().mean()
    assert 0.4 < agree < 0.6


def test_unknown_init_order():
    with pytest.raises(ValueError, match="init_order must be one of"):
        Linear(2, 2, init_order="glorot_first")
