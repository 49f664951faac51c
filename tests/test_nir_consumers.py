"""Issue 42: every simulator that reads NIR runs our graph (snn_tha.deploy.consumers), from the
spec graph or the flavour written for it (snn_tha.deploy.nir_flavours), on a random network
whose every layer spikes, against the numpy engine; and the 8-bit quantizers (eight_bit)."""
import numpy as np
import pytest

from snn_tha.deploy import consumers, infer
from snn_tha.repro.export import run_export as export
from test_export import T, random_model

pytestmark = pytest.mark.numerics   # float32 consumers against float64: margins, not equality

IMAGES = 48


@pytest.fixture(scope="module")
def network(tmp_path_factory):
    nir = pytest.importorskip("nir")
    from snn_tha.deploy import nir as nir_graph
    folded = export.fold(random_model("static_conv", True), pixel_input=True)
    manifest = {"input": {"kind": "image_uint8"}, "num_steps": T, "architecture": "static_conv"}
    layers = infer.from_folded(folded)
    images = np.random.default_rng(5).integers(0, 256, (IMAGES, 28, 28), dtype=np.uint8)
    ours = infer.run(manifest, layers, images, np.float64)
    assert (ours.sum(1) > 0).all()
    path = tmp_path_factory.mktemp("nir") / "model.nir"
    nir.write(str(path), nir_graph.graph_of(manifest, layers))
    return manifest, layers, images, ours, path


def graph_for(network, flavour, tmp_path):
    """The flavour's graph written to a file and read back, as a consumer's user gets it."""
    import nir
    from snn_tha.deploy.nir_flavours import flavoured
    path = tmp_path / f"model.{flavour}.nir"
    nir.write(str(path), flavoured(nir.read(str(network[4])), flavour))
    return nir.read(str(path))


def equal_counts(name, mode, network, tmp_path):
    runner = consumers.module(name)
    graph = graph_for(network, runner.MODES[mode].flavour, tmp_path)
    theirs = runner.spike_counts(graph, mode, network[2], T)
    assert theirs.shape == network[3].shape
    return int((theirs == network[3]).all(axis=1).sum())


def need(name):
    absent = consumers.missing(name)
    if absent:
        pytest.skip(f"{name}: {absent} is not installed ({'make nir-jax' if name == 'spyx' else 'make venv'})")


# consumer, the mode that is our network, the mode as imported (another network)
PINNED = [("snntorch", "subtract", "zero"), ("norse", "ours", "zero"),
          ("sinabs", "ours", "as_imported"), ("rockpool", "ours", "as_imported")]


@pytest.mark.parametrize("name,ours_mode,imported", PINNED, ids=[p[0] for p in PINNED])
def test_consumer_runs_our_network_and_says_what_its_import_differs_in(name, ours_mode, imported,
                                                                       network, tmp_path):
    assert consumers.missing(name) is None, f"{name} is pinned: make venv installs it"
    same = equal_counts(name, ours_mode, network, tmp_path)
    assert same >= IMAGES - 4, same   # float32 may round a membrane on the threshold the other way
    assert not consumers.module(name).MODES[ours_mode].differs
    other = equal_counts(name, imported, network, tmp_path)
    assert other < IMAGES // 2, other
    assert consumers.module(name).MODES[imported].differs


def test_norse_reads_the_spec_graph_without_r_and_its_flavour_with_it(network, tmp_path):
    assert equal_counts("norse", "spec", network, tmp_path) == 0
    graph = graph_for(network, "norse", tmp_path)
    assert all(np.all(graph.nodes[f"lif{i}"].r == 1) for i in range(3))


def test_spyx_runs_the_graph_a_step_late_per_layer(network, tmp_path):
    need("spyx")
    runner = consumers.module("spyx")
    theirs = runner.spike_counts(graph_for(network, "spec", tmp_path), "lagged", network[2], T)
    same = int((theirs.argmax(1) == network[3].argmax(1)).sum())
    assert same >= IMAGES // 2, same


def test_flavours_are_valid_nir_that_name_themselves(network, tmp_path):
    import nir
    from snn_tha.deploy.nir_flavours import FLAVOURS
    for flavour in FLAVOURS:
        graph = graph_for(network, flavour, tmp_path)
        assert graph.metadata["flavour"] == flavour
        kinds = {type(node).__name__ for node in graph.nodes.values()}
        assert "Conv2d" not in kinds if flavour in ("sinabs", "rockpool") else "Conv2d" in kinds
    with pytest.raises(ValueError, match="use one of"):
        from snn_tha.deploy.nir_flavours import flavoured
        flavoured(nir.read(str(network[4])), "loihi")


def test_an_unrolled_convolution_is_the_convolution(network):
    import nir
    import torch
    from snn_tha.deploy.nir_flavours import unrolled
    conv = nir.read(str(network[4])).nodes["layer1"]
    x = np.random.default_rng(0).normal(size=(2,) + (conv.weight.shape[1], 12, 12))
    dense, bias, shape = unrolled(conv, x.shape[1:])
    expected = torch.nn.functional.conv2d(torch.tensor(x), torch.tensor(conv.weight),
                                          torch.tensor(conv.bias), stride=2).numpy()
    np.testing.assert_allclose(x.reshape(2, -1) @ dense.T + bias, expected.reshape(2, -1), rtol=1e-12)
    assert shape == expected.shape[1:]


@pytest.mark.parametrize("name", ["rockpool", "sinabs"])
def test_eight_bit_quantizers_are_measured_on_our_layers(name, network):
    from snn_tha.deploy.consumers import eight_bit
    manifest, layers, images, ours, _ = network
    result = eight_bit.check(manifest, layers, images, ours, name)
    dense = result["layers"][-1]   # signs only: one channel scale maps every weight to +-max
    if name == "rockpool":
        assert dense["weights_exact"] == dense["weights"] and dense["max_integer"] == 127
    assert 0 <= result["same_spike_counts"] <= result["same_prediction"] <= IMAGES
    if result["exact"]:   # the same network, up to rounding: the same spikes
        assert result["same_spike_counts"] >= IMAGES - 4


def test_a_layer_the_quantizer_zeroes_entirely_reports_no_error_and_no_nan():
    """Sinabs' one scale per layer can round every weight of MNIST's first layer to 0: no channel
    keeps a scale, so its threshold and bias errors are None (JSON has no NaN), shown as a dash."""
    from snn_tha.deploy.consumers import eight_bit
    from snn_tha.repro.export import nir_check
    nan = np.full(3, np.nan)
    assert eight_bit._errors(np.zeros(3), np.zeros(3), np.ones(3), nan) == {
        "threshold_error": None, "bias_error": None}
    some = eight_bit._errors(np.array([2.0, 0, 4.2]), np.array([1.0, 0, 2.0]), np.array([0.5, 9, 0.5]),
                             np.array([2.0, np.nan, 4.0]))
    assert some["threshold_error"] == pytest.approx(0.05) and some["bias_error"] == pytest.approx(0)
    layer = {"weights_exact": 0, "weights": 576, "max_integer": 0, "zero_channels": 16,
             "threshold_error": None, "bias_error": None}
    line = nir_check.eight_bit_lines([{"consumer": "Sinabs", "quantizer": "q", "scales": "one",
                                       "layers": [layer], "exact": False, "same_prediction": 1,
                                       "same_spike_counts": 0}], 10)[-1]
    assert "0/576 (16 channels all 0), 0, —, —" in line
