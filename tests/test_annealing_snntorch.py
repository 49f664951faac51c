"""Issue 13: threshold annealing on plain snnTorch models (any neuron with a threshold)."""
import pytest
import snntorch as snn
import torch
import torch.nn as nn
from snntorch import surrogate as snn_surrogate
from snntorch import utils

from snn_tha import FastSigmoid, ThresholdAnnealing

pytestmark = pytest.mark.numerics   # also run under AVX2 / generic kernels and one thread (make test)

THETA0, THETA_INF, ALPHA = 1.0, 5.0, 0.1


def plain_net(neuron):
    """A small snnTorch model with init_hidden=True, built as snnTorch's tutorials do."""
    def make(n, output=False):
        common = dict(init_hidden=True, output=output, spike_grad=snn_surrogate.fast_sigmoid(5.0))
        if neuron == "Leaky":
            return snn.Leaky(beta=0.9, **common)
        if neuron == "Synaptic":
            return snn.Synaptic(alpha=0.8, beta=0.9, **common)
        return snn.RLeaky(beta=0.9, linear_features=n, **common)
    return nn.Sequential(nn.Linear(10, 20), make(20), nn.Linear(20, 2), make(2, output=True))


def forward(net, x):
    utils.reset(net)
    counts = 0
    for x_t in x:
        out = net(x_t)
        counts = counts + out[0]
    return counts


@pytest.mark.parametrize("neuron", ["Leaky", "Synaptic", "RLeaky"])
def test_training_a_plain_snntorch_model_anneals_by_eq4_exactly(neuron):
    torch.manual_seed(0)
    net = plain_net(neuron)
    annealing = ThresholdAnnealing(net, theta0=THETA0, theta_inf=THETA_INF, alpha=ALPHA)
    assert len(annealing.layers) == 2
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-2)
    x, y = torch.rand(8, 4, 10) * 3, torch.randint(0, 2, (4,))
    expected = torch.tensor(THETA0)   # Eq. 4 by hand, in float32 like the layers
    for _ in range(6):
        loss = nn.functional.cross_entropy(forward(net, x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        annealing.step()
        expected = expected + ALPHA * (THETA_INF - expected)
        for layer in annealing.layers:
            assert layer.threshold.dtype == torch.float32
            assert torch.equal(layer.threshold, expected)


def test_layers_by_name_or_module_and_a_wrapper():
    net = plain_net("Leaky")
    wrapped = nn.DataParallel(net)
    all_layers = ThresholdAnnealing(wrapped, THETA0, THETA_INF, ALPHA)
    assert all_layers.layers == [net[1], net[3]]
    with pytest.warns(UserWarning, match=r"layer 0 \(Leaky\): [0-9.]+ -> theta0 2"):
        by_name = ThresholdAnnealing(net, 2.0, 4.0, 0.5, layers=["3"])   # says what it replaced
    assert by_name.layers == [net[3]] and float(net[3].threshold) == 2.0
    by_module = ThresholdAnnealing(net, [1.5], [3.0], [0.2], layers=[net[1]], warn_replaced=False)
    assert by_module.layers == [net[1]]
    with pytest.raises(ValueError, match="no module named 'lif9'"):
        ThresholdAnnealing(net, 1.0, 2.0, 0.1, layers=["lif9"])


def test_a_model_without_spiking_layers_is_told_so_and_repr_says_what_was_found():
    with pytest.raises(ValueError, match="found no spiking layer in this model"):
        ThresholdAnnealing(nn.Sequential(nn.Linear(2, 2)), 1.0, 2.0, 0.1)
    annealing = ThresholdAnnealing(plain_net("Leaky"), [1.0, 1.0], [5.0, 3.0], 0.1)
    assert repr(annealing) == ("ThresholdAnnealing(2 spiking layers, step 0; 0: Leaky 1 -> 5 "
                               "(alpha 0.1), 1: Leaky 1 -> 3 (alpha 0.1))")


def test_double_precision_and_compiled_models_keep_dtype():
    net = plain_net("Leaky").double()
    annealing = ThresholdAnnealing(torch.compile(net), THETA0, THETA_INF, ALPHA)
    annealing.step()
    assert net[1].threshold.dtype == torch.float64
    assert float(net[1].threshold) == THETA0 + ALPHA * (THETA_INF - THETA0)


def test_learned_and_integer_thresholds_are_refused():
    learned = nn.Sequential(nn.Linear(2, 2), snn.Leaky(beta=0.9, learn_threshold=True))
    with pytest.raises(ValueError, match="learn_threshold=True"):
        ThresholdAnnealing(learned, 1.0, 2.0, 0.1)
    ThresholdAnnealing(learned, 1.0, 2.0, 0.1, allow_learned_threshold=True)  # opted in
    integer = nn.Sequential(nn.Linear(2, 2), snn.Leaky(beta=0.9, threshold=1))
    with pytest.raises(ValueError, match="threshold=1.0"):
        ThresholdAnnealing(integer, 1.0, 2.0, 0.1)


def test_fast_sigmoid_current_centre_is_snntorchs():
    x = torch.randn(50, requires_grad=True)
    ours, = torch.autograd.grad(FastSigmoid(3.0)(x).sum(), x)
    theirs, = torch.autograd.grad(snn_surrogate.fast_sigmoid(3.0)(x).sum(), x)
    assert torch.equal(ours, theirs)
    assert torch.equal(FastSigmoid(3.0)(x), snn_surrogate.fast_sigmoid(3.0)(x))


def test_fast_sigmoid_initial_centre_follows_eq8_on_a_plain_leaky():
    lif = snn.Leaky(beta=0.5, spike_grad=FastSigmoid(2.0, centre="initial"))
    annealing = ThresholdAnnealing(nn.Sequential(lif), theta0=1.0, theta_inf=3.0, alpha=0.5)
    for _ in range(2):
        annealing.step()                      # theta = 1 -> 2 -> 2.5
    assert float(lif.threshold) == 2.5
    mem = torch.tensor([0.0, 1.0, 2.0, 2.6], requires_grad=True)
    spk = lif.fire(mem)
    grad, = torch.autograd.grad(spk.sum(), mem)
    expected = 1.0 / (2.0 * (mem.detach() - 1.0).abs() + 1.0) ** 2   # centred at theta0 = 1
    torch.testing.assert_close(grad, expected, rtol=1e-6, atol=0)
    assert spk.tolist() == [0.0, 0.0, 0.0, 1.0]                      # fires at theta = 2.5
    current, = torch.autograd.grad(snn_surrogate.fast_sigmoid(2.0)(mem - 2.5).sum(), mem)
    assert not torch.allclose(grad, current)                         # snnTorch's would differ
