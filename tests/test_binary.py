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
