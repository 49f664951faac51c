"""Dropout's masks from the C++ Bernoulli kernel (`snn_tha.kernels.random_masks`): the numbers
torch's CPU `bernoulli_` draws, and the generator left exactly where torch leaves it."""
import pytest
import torch

from snn_tha.kernels import random_masks

pytestmark = pytest.mark.numerics   # also run under AVX2 / generic kernels and one thread (make test)


@pytest.fixture(autouse=True)
def kernel_here():
    if not random_masks._matches_torch():
        pytest.skip("the Bernoulli kernel does not build or does not match torch here")


@pytest.mark.parametrize("words_before", [0, 1, 311, 622, 623, 624, 625, 1500])
@pytest.mark.parametrize("shape,p", [((3, 1000), 0.352), ((5, 7, 311), 1 - 0.648),
                                     ((4100,), 0.0), ((2, 2049), 1.0)])
def test_masks_and_generator_state_equal_torchs(words_before, shape, p):
    torch.manual_seed(7)
    torch.rand(words_before)   # one 32-bit word each: start anywhere in MT19937's 624 words
    start = torch.get_rng_state()
    theirs = torch.empty(shape).bernoulli_(p)
    their_state = torch.get_rng_state()
    torch.set_rng_state(start)
    ours = random_masks.bernoulli_masks(shape, p)
    assert torch.equal(ours, theirs)
    assert torch.equal(torch.get_rng_state(), their_state)


def test_masks_of_t_steps_equal_t_calls_of_one_step():
    torch.manual_seed(3)
    theirs = torch.stack([torch.empty(8, 13).bernoulli_(0.4) for _ in range(9)])
    torch.manual_seed(3)
    assert torch.equal(random_masks.bernoulli_masks((9, 8, 13), 0.4), theirs)


def test_without_the_kernel_torchs_own_draws_are_used(monkeypatch):
    monkeypatch.setattr(random_masks, "_matches_torch", lambda: False)
    torch.manual_seed(5)
    theirs = torch.empty(4, 9).bernoulli_(0.3)
    torch.manual_seed(5)
    assert torch.equal(random_masks.bernoulli_masks((4, 9), 0.3), theirs)
