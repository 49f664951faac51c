import pytest
import torch

from snn_tha.nn.surrogate import spike_fast_sigmoid


@pytest.mark.parametrize("centre", [1.0, 5.0])
def test_gradient_matches_formula_at_centre(centre):
    k, theta = 5.0, 5.0
    mem = torch.tensor([0.0, 2.5, 4.9, 5.0, 5.1, 9.0], requires_grad=True)
    spk = spike_fast_sigmoid(mem, torch.tensor(theta), torch.tensor(centre), k)
    assert spk.tolist() == [0, 0, 0, 0, 1, 1]   # forward follows the threshold only
    spk.sum().backward()
    expected = 1.0 / (1.0 + k * (mem.detach() - centre).abs()) ** 2
    torch.testing.assert_close(mem.grad, expected)


def test_threshold_and_centre_get_no_gradient():
    theta = torch.tensor(1.0, requires_grad=True)
    mem = torch.tensor([2.0], requires_grad=True)
    spike_fast_sigmoid(mem, theta, theta, 5.0).sum().backward()
    assert theta.grad is None
