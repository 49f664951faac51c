"""The 1-bit file format (snn_tha.deploy.onebit): written from a bare model by the library, read
back by `snn-tha infer`; every manifest value and every input checked before a kernel runs; the
compiled kernels refuse sizes that disagree; a file that would be refused never replaces one."""
import json

import numpy as np
import pytest
import torch

from snn_tha.deploy import fold, infer, onebit, packed
from snn_tha.kernels import popcount
from snn_tha.models import NetConfig, build
from snn_tha.repro.cli.main import main

from test_robustness import assert_one_line


def bare_layers(arch="static_conv", seed=0):
    """A random binarized network, folded (`snn_tha.deploy.fold.fold`)."""
    torch.manual_seed(seed)
    drops = {"static_conv": 1, "dvs_conv": 1, "shd_dense": 2}[arch]
    leaky = {"static_conv": 3, "dvs_conv": 3, "shd_dense": 2}[arch]
    cfg = NetConfig(arch=arch, binarize=True, beta=0.9, thresholds=(1.0,) * leaky, slope=5.0,
                    batch_norm=False, dropout=(0.0,) * drops)
    return fold.fold(build(cfg).eval(), pixel_input=arch == "static_conv")


def bare_export(tmp_path, arch="static_conv", dataset="fashion_mnist"):
    """A random binarized network exported by the library alone (no run folder)."""
    return onebit.write(bare_layers(arch), tmp_path / "export", arch, dataset, 8, arch == "static_conv")


def edit_manifest(npz, **changes):
    path = npz.with_suffix(".json")
    manifest = json.loads(path.read_text())
    for key, value in changes.items():
        if key.startswith("layer0_"):
            manifest["layers"][0][key[7:]] = value
        else:
            manifest[key] = value
    path.write_text(json.dumps(manifest))


def test_a_bare_model_exported_by_the_library_runs_in_snn_tha_infer(tmp_path, data_dir, capsys):
    npz = bare_export(tmp_path)
    assert main(["infer", str(npz), "--data", str(data_dir)]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["images"] == 40 and 0 <= result["accuracy"] <= 1


@pytest.mark.parametrize("changes, needle", [
    ({"num_steps": 0}, "num_steps must be a whole number >= 1"),
    ({"num_steps": 2.5}, "num_steps must be a whole number >= 1"),
    ({"classes": -1}, "classes must be a whole number >= 1"),
    ({"layer0_beta": float("nan")}, "layers[0].beta must be a number in [0, 1]"),
    ({"layer0_beta": 1.5}, "layers[0].beta must be a number in [0, 1]"),
    ({"layer0_kind": "pool"}, "layers[0].kind must be conv or dense"),
    ({"layer0_weight_shape": [16, 1, 5]}, "layers[0].weight_shape must be 4 whole numbers"),
    ({"input": {"kind": "audio"}}, "input.kind must be one of"),
])
@pytest.mark.parametrize("engine", ["packed", "float"])
def test_every_manifest_value_is_checked_when_the_file_is_read(tmp_path, data_dir, capsys,
                                                               changes, needle, engine):
    npz = bare_export(tmp_path)
    edit_manifest(npz, **changes)
    assert_one_line(capsys, ["infer", str(npz), "--data", str(data_dir), "--engine", engine],
                    needle, str(npz.with_suffix(".json")))


@pytest.mark.parametrize("engine", [infer.spike_counts, packed.spike_counts])
def test_images_of_another_size_are_refused_before_any_kernel(tmp_path, engine):
    npz = bare_export(tmp_path)
    manifest, layers = onebit.load_export(npz)
    with pytest.raises(onebit.ExportError, match=r"shape \[1, 32, 32\] reaches layer 0|layer 2"):
        engine(manifest, layers, np.zeros((3, 36, 36), np.uint8))
    with pytest.raises(onebit.ExportError, match="takes uint8 images"):
        engine(manifest, layers, np.zeros((3, 28, 28), np.float32))


@pytest.mark.parametrize("arch, dataset", [("dvs_conv", "dvs_gesture"), ("shd_dense", "shd")])
def test_an_event_export_on_image_data_is_one_line(tmp_path, data_dir, capsys, arch, dataset):
    npz = bare_export(tmp_path, arch, dataset)
    manifest, layers = onebit.load_export(npz)
    with pytest.raises(onebit.ExportError, match=f"{arch} network for {dataset} data"):
        packed.spike_counts(manifest, layers, np.zeros((10, 28, 28), np.uint8))
    assert_one_line(capsys, ["infer", str(npz), "--data", str(data_dir)], dataset,
                    "MNIST and FashionMNIST only")


@pytest.mark.parametrize("limit", ["0", "-5"])
def test_infer_checks_limit_as_every_command_does(tmp_path, data_dir, capsys, limit):
    npz = bare_export(tmp_path)
    assert_one_line(capsys, ["infer", str(npz), "--data", str(data_dir), "--limit", limit],
                    f"--limit {limit}", ">= 1")


@pytest.fixture
def lib():
    found = popcount.library()
    if found is None:
        pytest.skip("no compiler here: the popcount kernels cannot be built")
    return found


def test_the_compiled_kernels_refuse_sizes_that_disagree(lib):
    """Each kernel is given the sizes of both sides; a mismatch is refused before any read
    (a read past the weights would otherwise return an accuracy, or crash under a guard page)."""
    rng = np.random.default_rng(0)
    signs = rng.choice([-1.0, 1.0], (10, 64))
    plus = popcount.pack_weights({"kind": "dense", "signs": signs})         # 1 word a row
    rows = popcount.pack_rows(rng.integers(0, 2, (4, 128)).astype(np.uint8))   # 2 words a row
    with pytest.raises(ValueError, match="2 input words a row, 1 weight words a row"):
        popcount.dense(lib, rows, plus)
    conv = {"kind": "conv", "signs": rng.choice([-1.0, 1.0], (8, 16, 5, 5))}
    with pytest.raises(ValueError, match="conv_pool"):   # 2 channels where the weights hold 16
        popcount.conv_pool(lib, np.ones((2, 2, 12, 12), np.uint8), 5, popcount.pack_weights(conv))
    with pytest.raises(ValueError, match="4 channels, 3 offsets"):
        popcount.lif_spikes(lib, np.zeros((2, 1, 4, 3), np.int32), 2, False, np.zeros(3),
                            np.ones(4), 0.9)
    right = popcount.dense(lib, popcount.pack_rows(np.ones((4, 64), np.uint8)), plus)
    np.testing.assert_array_equal(right, np.tile(signs.sum(1), (4, 1)))


def test_the_kernels_are_loaded_once_before_the_pool(tmp_path, monkeypatch):
    npz = bare_export(tmp_path)
    manifest, layers = onebit.load_export(npz)
    calls = []
    real = popcount.library
    monkeypatch.setattr(popcount, "library", lambda *a: calls.append(a) or real(*a))
    packed.spike_counts(manifest, layers, np.zeros((40, 28, 28), np.uint8), batch=5, threads=4)
    assert len(calls) == 1


def test_a_file_that_would_be_refused_never_replaces_one(tmp_path):
    npz = bare_export(tmp_path)
    before = {p.name: p.read_bytes() for p in npz.parent.iterdir()}
    layers = bare_layers()
    layers[0]["threshold"] = np.full_like(layers[0]["threshold"], np.nan)
    with pytest.raises(onebit.ExportError, match="finite"):
        onebit.write(layers, npz.parent, "static_conv", "fashion_mnist", 8, True)
    assert {p.name: p.read_bytes() for p in npz.parent.iterdir()} == before   # no temporary left
