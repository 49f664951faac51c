import pytest
import torch
from snntorch import functional as SF

from snn_tha.functional.losses import mse_count_loss, predict


def test_mse_count_loss_equals_snntorch():
    torch.manual_seed(0)
    spikes = (torch.rand(25, 6, 10) > 0.6).float().requires_grad_()
    labels = torch.randint(0, 10, (6,))
    ours = mse_count_loss(spikes, labels)
    theirs = SF.mse_count_loss(correct_rate=0.8, incorrect_rate=0.2)(spikes, labels)
    torch.testing.assert_close(ours, theirs)
    g1, = torch.autograd.grad(ours, spikes)
    g2, = torch.autograd.grad(theirs, spikes)
    torch.testing.assert_close(g1, g2)


def test_hand_computed_loss_and_prediction():
    spikes = torch.zeros(10, 1, 2)
    spikes[:8, 0, 0] = 1          # class 0 fires 8 of 10 steps = its target
    spikes[:5, 0, 1] = 1          # class 1 fires 5, target int(10*0.2) = 2
    labels = torch.tensor([0])
    assert mse_count_loss(spikes, labels).item() == pytest.approx(((0 + 9) / 2) / 10)
    assert predict(spikes).tolist() == [0]
    assert predict(torch.ones(3, 1, 4)).tolist() == [0]  # ties -> lowest index
