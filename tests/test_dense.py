"""fp32 products through oneDNN (`snn_tha.kernels.dense`): the same values as torch.mm and
F.linear to rounding (exact on spikes times +-1 weights), the same gradients, F.linear where it
does not apply, and the bench counting its FLOPs."""
import pytest
import torch
import torch.nn.functional as F

from snn_tha.kernels import dense

pytestmark = pytest.mark.numerics   # also run under AVX2 / generic kernels and one thread (make test)


@pytest.fixture
def onednn_here():
    if dense.onednn_linear() is None:
        pytest.skip("this torch build has no oneDNN linear")


def spikes_and_signs(rows=300, inputs=130, outputs=70, seed=0):
    gen = torch.Generator().manual_seed(seed)
    x = (torch.rand(rows, inputs, generator=gen) < 0.2).float()
    w = torch.where(torch.rand(outputs, inputs, generator=gen) < 0.5, -1.0, 1.0)
    return x, w, torch.randn(outputs, generator=gen)


def test_rows_times_is_the_product_to_fp32_rounding(onednn_here):
    gen = torch.Generator().manual_seed(3)
    a, b_t = torch.randn(257, 64, generator=gen), torch.randn(400, 64, generator=gen)
    exact = a.double() @ b_t.double().t()
    got = dense.rows_times(a, b_t)
    assert got.dtype == torch.float32 and got.shape == (257, 400)
    # 64 products of unit normals: fp32 sums err by a few 1e-6, far below a wrong term's ~1
    assert (got.double() - exact).abs().max() < 1e-4
    torch.testing.assert_close(got, torch.mm(a, b_t.t()), rtol=0, atol=1e-4)
    # transposed views, as the weight gradient passes them: g^T [64, 257] times x [257, 400]
    x = torch.randn(257, 400, generator=gen)
    got = dense.rows_times(a.t(), x.t())
    assert got.shape == (64, 400)
    assert (got.double() - a.double().t() @ x.double()).abs().max() < 1e-3   # 257 terms
    with pytest.raises(RuntimeError):   # shapes that do not multiply: an error, as torch.mm's
        dense.rows_times(a, x)


def test_linear_on_spikes_is_the_exact_sum_plus_the_bias(onednn_here):
    x, w, b = spikes_and_signs()
    exact_sum = (x.double() @ w.double().t()).float()   # integers: exact in float32
    assert torch.equal(dense.linear(x, w), exact_sum)
    assert torch.equal(dense.linear(x, w, b), F.linear(x, w, b))
    x3 = x.view(3, 100, 130)   # leading dimensions kept
    assert torch.equal(dense.linear(x3, w, b), F.linear(x3, w, b))


@pytest.mark.parametrize("bias", [True, False])
def test_linear_gradients_are_f_linears(onednn_here, bias):
    """Both gradients are float32 sums of the same products in other orders, so each is checked
    against the float64 sum within the rounding bound of such a sum: K eps32 times the sum of the
    terms' magnitudes (K terms), never one against the other with a fixed tolerance (4 of 9,100
    weight-gradient entries differed by 1.8e-5 under the AVX2 switches on a Zen 4)."""
    x, w, b = spikes_and_signs(seed=1)
    x = torch.randn_like(x)   # a float input: its gradient and the weight's both checked
    upstream = torch.linspace(-1, 1, x.shape[0] * w.shape[0]).view(x.shape[0], w.shape[0])

    def gradients(fn, tensors, grad_out):
        xs, ws, bs = (t.clone().requires_grad_() for t in tensors)
        (fn(xs, ws, bs if bias else None) * grad_out).sum().backward()
        return xs.grad, ws.grad, bs.grad
    exact = gradients(F.linear, [t.double() for t in (x, w, b)], upstream.double())
    magnitude = gradients(F.linear, [t.double().abs() for t in (x, w, b)], upstream.double().abs())
    terms = max(x.shape[0], w.shape[0], x.shape[1])
    for fn in (dense.linear, F.linear):
        for got, want, size in zip(gradients(fn, (x, w, b), upstream), exact, magnitude):
            if want is None:
                assert got is None
            else:
                bound = terms * torch.finfo(torch.float32).eps * size
                assert ((got.double() - want).abs() <= bound).all()


def test_linear_is_f_linear_where_onednn_does_not_apply():
    x, w, b = (t.double() for t in spikes_and_signs())
    assert torch.equal(dense.linear(x, w, b), F.linear(x, w, b))   # float64: torch's own path


def test_the_bench_counts_onednn_products(onednn_here):
    from snn_tha.repro.bench.flops import executed_flops
    x, w, _ = spikes_and_signs(rows=50, inputs=40, outputs=30)
    assert executed_flops(lambda: dense.linear(x, w)) == 2 * 50 * 40 * 30
    assert executed_flops(lambda: torch.mm(x, w.t())) == 2 * 50 * 40 * 30
