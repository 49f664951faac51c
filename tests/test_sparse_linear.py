"""The linear layer on sparse spikes (`snn_tha.kernels.sparse_linear`): currents exact (the
integer sum, then the bias added once), gradients equal to the dense ones to rounding, and
the dense F.linear wherever the sparse kernels do not apply."""
import pytest
import torch
import torch.nn.functional as F

from snn_tha.kernels import sparse_linear

pytestmark = pytest.mark.numerics   # also run under AVX2 / generic kernels and one thread (make test)


@pytest.fixture(autouse=True)
def kernels_here():
    if sparse_linear.library() is None:
        pytest.skip("no C++ compiler here")


def sparse_spikes(*shape, density=0.03, counts=False, seed=0):
    gen = torch.Generator().manual_seed(seed)
    x = (torch.rand(*shape, generator=gen) < density).float()
    if counts:   # binned events: several in one bin
        x *= torch.randint(1, 4, shape, generator=gen).float()
    return x


def signs(n, k, seed=1):
    gen = torch.Generator().manual_seed(seed)
    return torch.where(torch.rand(n, k, generator=gen) < 0.5, -1.0, 1.0)


@pytest.mark.parametrize("counts", [False, True])
def test_currents_are_the_exact_sum_plus_the_bias_rounded_once(counts):
    x = sparse_spikes(6, 5, 130, counts=counts)
    w, b = signs(200, 130), torch.randn(200)
    assert sparse_linear.compressed_rows(sparse_linear.library(), x.view(-1, 130)) is not None
    exact_sum = (x.double() @ w.double().t()).float()   # integers: exact in float32 too
    assert torch.equal(sparse_linear.spike_linear(x, w), exact_sum)
    assert torch.equal(sparse_linear.spike_linear(x, w, b), exact_sum + b)
    torch.testing.assert_close(sparse_linear.spike_linear(x, w, b), F.linear(x, w, b),
                               rtol=0, atol=1e-5)


@pytest.mark.parametrize("input_grad", [False, True])
def test_gradients_equal_the_dense_ones_to_rounding(input_grad):
    x = sparse_spikes(40, 300).requires_grad_(input_grad)
    w = torch.randn(150, 300, requires_grad=True)   # float weights: sums to rounding
    b = torch.randn(150, requires_grad=True)
    ours, theirs = sparse_linear.spike_linear(x, w, b), F.linear(x, w, b)
    torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-5)
    g = torch.randn(ours.shape)
    wanted = (x, w, b) if input_grad else (w, b)
    for a, c in zip(torch.autograd.grad(ours, wanted, g), torch.autograd.grad(theirs, wanted, g)):
        torch.testing.assert_close(a, c, rtol=1e-5, atol=1e-4)


def test_one_thread_and_two_give_the_same_bits():
    x = sparse_spikes(64, 700)
    w = torch.randn(300, 700, requires_grad=True)
    g = torch.randn(64, 300)
    before = torch.get_num_threads()
    results = []
    try:
        for threads in (1, 2):
            torch.set_num_threads(threads)
            y = sparse_linear.spike_linear(x, w)
            results.append((y, *torch.autograd.grad(y, w, g)))
    finally:
        torch.set_num_threads(before)
    for a, c in zip(*results):
        assert torch.equal(a, c)


def test_dense_inputs_narrow_layers_and_no_kernel_take_f_linear(monkeypatch):
    w, b = torch.randn(100, 50), torch.randn(100)
    dense = sparse_spikes(30, 50, density=0.5)
    assert sparse_linear.compressed_rows(sparse_linear.library(), dense) is None   # too dense
    assert torch.equal(sparse_linear.spike_linear(dense, w, b), F.linear(dense, w, b))
    x = sparse_spikes(30, 50)
    narrow = torch.randn(sparse_linear.MIN_OUTPUTS - 1, 50)
    assert torch.equal(sparse_linear.spike_linear(x, narrow), F.linear(x, narrow))
    monkeypatch.setattr(sparse_linear, "library", lambda: None)
    assert torch.equal(sparse_linear.spike_linear(x, w, b), F.linear(x, w, b))


def test_compressed_rows_list_every_nonzero_in_order():
    x = torch.tensor([[0.0, 2.0, 0.0, 1.0], [0.0, 0.0, 0.0, 0.0], [3.0, 0.0, 0.0, 0.0]])
    row_start, index, value = sparse_linear.compressed_rows(sparse_linear.library(), x, 1.0)
    assert row_start.tolist() == [0, 2, 2, 3]
    assert index.tolist() == [1, 3, 0] and value.tolist() == [2.0, 1.0, 3.0]
