"""Issue 15: the folded 1-bit network (snn_tha.deploy.fold) run by the numpy engine (snn_tha.deploy.infer)
gives the trained model's spikes; the export file, the torch-free engine and NIR."""
import json
import platform
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from snn_tha.deploy import infer, onebit
from snn_tha.repro.export import run_export as export
from snn_tha.models import ARCHITECTURES, NetConfig, build
from snn_tha.repro.schema import LAYERS
from margins import MARGIN_FLOAT64, assert_margin

pytestmark = pytest.mark.numerics   # also run under AVX2 / generic kernels and one thread (make test)

T, BATCH = 8, 3


def random_model(arch, batch_norm, seed=0):
    """A random binarized model in eval mode, float64, BN with random statistics and some
    negative scales, thresholds that make every layer spike."""
    torch.manual_seed(seed)
    n_lif, n_drop = LAYERS[arch]
    # beta and thresholds with many digits: exact ties u == theta (possible with integer
    # currents) would be decided by rounding, differently in the two units
    cfg = NetConfig(arch=arch, binarize=True, beta=0.8137, thresholds=(1.0,), slope=5.0,
                    batch_norm=batch_norm, dropout=(0.0,) * n_drop, engine="reference")
    model = build(cfg).double().eval()
    with torch.no_grad():
        for block in model.blocks:
            bn = getattr(block, "bn", None)
            if bn is not None:
                bn.weight.uniform_(-1.5, 1.5)                  # negative scales included
                bn.bias.uniform_(-0.5, 0.5)
                bn.running_mean.normal_(0, 1)
                bn.running_var.uniform_(0.5, 2.0)
            fc = getattr(block, "fc", None)
            if fc is not None and fc.bias is not None:
                fc.bias.uniform_(-0.5, 0.5)
    thresholds = {"static_conv": (0.6173, 0.5291, 0.4377), "dvs_conv": (0.3119, 0.5237, 0.4411),
                  "shd_dense": (0.8171, 3.0373), "temporal_dense": (0.7177, 3.0311)}[arch]
    if batch_norm:
        thresholds = (0.5113,) * n_lif
    for block, theta in zip(model.blocks, thresholds):
        block.lif.set_threshold(theta)
    return model


def random_input(arch, seed=1):
    shape, static = ARCHITECTURES[arch].input_shape, ARCHITECTURES[arch].static
    gen = np.random.default_rng(seed)
    if static:
        return gen.integers(0, 256, (BATCH, *shape[1:]), dtype=np.uint8)
    return (gen.random((T, BATCH, *shape)) < 0.3).astype(np.uint8)


CASES = [("static_conv", True), ("static_conv", False), ("dvs_conv", True), ("dvs_conv", False),
         ("shd_dense", False), ("temporal_dense", False)]


@pytest.mark.parametrize("arch, batch_norm", CASES)
def test_folded_engine_gives_the_models_spikes(arch, batch_norm):
    model = random_model(arch, batch_norm)
    x = random_input(arch)
    static = ARCHITECTURES[arch].static
    with torch.no_grad():
        if static:
            out = model(torch.from_numpy(x).double().unsqueeze(1) / 255.0, T)
        else:
            out = model(torch.from_numpy(x).double(), None)
    # folding BN into thresholds changes the float64 arithmetic: assert no membrane is close
    assert_margin(model, (torch.from_numpy(x).double().unsqueeze(1) / 255.0) if static
                  else torch.from_numpy(x).double(), T if static else None, MARGIN_FLOAT64)
    folded = export.fold(model, pixel_input=static)
    if batch_norm:
        assert sum(l["flipped_channels"] for l in folded) > 0       # negative scales exercised
    manifest = {"input": {"kind": "image_uint8" if static else "spikes"}, "num_steps": T}
    counts, records = infer.run(manifest, infer.from_folded(folded), x, np.float64, record=True)
    for layer, (ours, theirs) in enumerate(zip(records, out.layer_spikes)):
        assert theirs.sum() > 0, f"layer {layer} silent: the test would prove nothing"
        np.testing.assert_array_equal(ours, theirs.numpy(), err_msg=f"layer {layer}")
    np.testing.assert_array_equal(counts, out.spikes.sum(0).numpy())


def test_sign_bits_round_trip_through_packbits():
    folded = export.fold(random_model("static_conv", True), pixel_input=True)
    for layer in folded:
        bits = (layer["signs"] > 0).astype(np.uint8).ravel()
        packed = np.packbits(bits)
        assert packed.nbytes == -(-bits.size // 8)                  # 8 weights per byte
        back = np.unpackbits(packed, count=bits.size).reshape(layer["signs"].shape) * 2.0 - 1
        np.testing.assert_array_equal(back, layer["signs"])


def test_every_finished_run_keeps_its_model_and_1bit_export(trained_run):
    run, _ = trained_run
    saved = torch.load(run / "model.pt", weights_only=False)
    assert set(saved) == {"model", "best_iteration", "eval_thresholds"}
    assert (run / "model.pt").stat().st_size < 1_000_000
    manifest = json.loads((run / export.MANIFEST).read_text())
    final = json.loads((run / "final.json").read_text())
    assert manifest["architecture"] == "static_conv" and manifest["num_steps"] == 5
    assert [l["eval_threshold"] for l in manifest["layers"]] == pytest.approx(final["eval_thresholds"])
    assert manifest["memory_bits"]["weights_1bit"] == 36240


def test_exported_engine_agrees_with_the_trained_model(trained_run):
    run, data_dir = trained_run
    cfg, model, _ = export.load_run(run)
    manifest, layers = onebit.load_export(run / export.NPZ)
    images, labels = infer.read_test_split(manifest, data_dir)
    ours = infer.predict(manifest, layers, images)
    with torch.no_grad():
        theirs = model(torch.from_numpy(images.copy()).unsqueeze(1).float() / 255.0, cfg.num_steps)
    theirs = theirs.spikes.sum(0).argmax(1).numpy()
    assert (ours == theirs).mean() >= 0.95     # float32 rounding may flip a spike near threshold


def test_the_numpy_engine_imports_no_torch(trained_run):
    run, data_dir = trained_run
    code = ("import sys, json; import snn_tha.deploy.infer as i; "
            f"i.main([{str(run / export.NPZ)!r}, '--data', {str(data_dir)!r}]); "
            "assert 'torch' not in sys.modules, 'torch was imported'")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["images"] == 40 and 0 <= result["accuracy"] <= 1


def test_export_writes_the_nir_graph_of_its_1bit_file(trained_run, tmp_path):
    nir = pytest.importorskip("nir")
    from snn_tha.repro.cli.main import main
    run, _ = trained_run
    assert main(["export", str(run), "--out", str(tmp_path), "--nir"]) == 0
    graph = nir.read(str(tmp_path / "model.nir"))
    manifest, layers = onebit.load_export(tmp_path / export.NPZ)
    taps = graph.nodes["layer1"].weight * layers[1]["threshold"][:, None, None, None]
    np.testing.assert_allclose(taps, layers[1]["weight"], rtol=1e-6, atol=1e-6)   # integer taps / g
    assert graph.metadata["num_steps"] == manifest["num_steps"]


def test_export_writes_a_consumers_flavour_beside_the_spec_graph(trained_run, tmp_path):
    nir = pytest.importorskip("nir")
    from snn_tha.repro.cli.main import main
    run, _ = trained_run
    assert main(["export", str(run), "--out", str(tmp_path), "--nir-for", "norse",
                 "--nir-for", "rockpool"]) == 0
    for flavour in ("norse", "rockpool"):
        graph = nir.read(str(tmp_path / f"model.{flavour}.nir"))
        assert graph.metadata["flavour"] == flavour and "flavour_note" in graph.metadata
    assert "flavour" not in nir.read(str(tmp_path / "model.nir")).metadata   # the spec graph


def test_a_consumers_table_without_the_check_is_refused(trained_run, tmp_path, capsys):
    from snn_tha.repro.cli.main import main
    run, _ = trained_run
    table = tmp_path / "nir_consumers.md"
    assert main(["export", str(run), "--out", str(tmp_path / "x"), "--nir",
                 "--consumers-table", str(table)]) == 2
    err = capsys.readouterr().err
    assert "--consumers-table" in err and "--nir --check" in err and "Traceback" not in err
    assert not table.exists() and not (tmp_path / "x").exists()


@pytest.mark.parametrize("engine", ["float", "packed"])
def test_snn_tha_infer_runs_with_torch_blocked_and_writes_predictions(trained_run, tmp_path, engine):
    """Issue 22: the CLI's `infer` path imports no PyTorch (an import of torch fails here)."""
    run, data_dir = trained_run
    out = tmp_path / f"pred_{engine}.csv"
    code = ("import sys, importlib.abc\n"
            "class Block(importlib.abc.MetaPathFinder):\n"
            "    def find_spec(self, name, path=None, target=None):\n"
            "        if name == 'torch' or name.startswith('torch.'):\n"
            "            raise ImportError('torch is blocked in this test')\n"
            "sys.meta_path.insert(0, Block())\n"
            "from snn_tha.repro.cli.main import main\n"
            f"sys.exit(main(['infer', {str(run / export.NPZ)!r}, '--data', {str(data_dir)!r}, "
            f"'--predictions', {str(out)!r}, '--engine', {engine!r}]))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    rows = out.read_text().splitlines()
    assert rows[0] == "image,label,prediction," + ",".join(f"spikes_{c}" for c in range(10))
    assert len(rows) == 1 + result["images"] == 41
    cells = [r.split(",") for r in rows[1:]]
    accuracy = sum(c[1] == c[2] for c in cells) / len(cells)
    assert accuracy == result["accuracy"]
    assert all(int(c[2]) == max(range(10), key=lambda k: (int(c[3 + k]), -k)) for c in cells)


def _nir_of_random_model(tmp_path):
    nir_graph = pytest.importorskip("snn_tha.deploy.nir")
    pytest.importorskip("nirtorch")
    folded = export.fold(random_model("static_conv", True), pixel_input=True)
    manifest = {"input": {"kind": "image_uint8"}, "num_steps": T, "architecture": "static_conv"}
    layers = infer.from_folded(folded)
    graph = nir_graph.graph_of(manifest, layers)
    path = tmp_path / "model.nir"
    __import__("nir").write(str(path), graph)
    return manifest, layers, path


def test_nir_graph_has_threshold_one_and_says_how_to_run_it(tmp_path):
    nir = pytest.importorskip("nir")
    manifest, layers, path = _nir_of_random_model(tmp_path)
    graph = nir.read(str(path))
    kinds = [type(graph.nodes[f"{kind}{i}"]).__name__ for i in range(3) for kind in ("layer", "lif")]
    assert kinds == ["Conv2d", "LIF"] * 3        # the dense layer as a full-map conv: no Flatten
    for i, layer in enumerate(layers):
        assert np.all(graph.nodes[f"lif{i}"].v_threshold == 1.0)
        scaled = graph.nodes[f"layer{i}"].weight.reshape(len(layer["threshold"]), -1)
        np.testing.assert_allclose(scaled * layer["threshold"][:, None],
                                   layer["weight"].reshape(len(layer["threshold"]), -1), rtol=1e-6)
    meta = graph.metadata
    assert meta["num_steps"] == T and "0-255" in meta["input"] and "subtract" in meta["reset"]


@pytest.mark.parametrize("compiled", [True, False], ids=["compiled", "numpy"])
@pytest.mark.parametrize("arch, batch_norm", [c for c in CASES if c[0] != "temporal_dense"])
def test_the_packed_engine_gives_the_float_engines_spikes(arch, batch_norm, compiled):
    """Popcount sums are the same integers as the float engine's sums (both exact), and the LIF
    after them is the same float32 code: equal counts, on any CPU."""
    from snn_tha.deploy import packed
    from snn_tha.kernels import popcount as native
    folded = export.fold(random_model(arch, batch_norm), pixel_input=ARCHITECTURES[arch].static)
    static = ARCHITECTURES[arch].static
    manifest = {"input": {"kind": "image_uint8" if static else "spikes"}, "num_steps": T}
    layers = infer.from_folded(folded)
    x = random_input(arch)
    ours = infer.run(manifest, layers, x)
    assert ours.sum() > 0
    if compiled and native.library() is None:
        pytest.skip("no C++ compiler here")
    np.testing.assert_array_equal(packed.run(manifest, layers, x, compiled), ours)
    np.testing.assert_array_equal(packed.spike_counts(manifest, layers, x, batch=2, threads=2,
                                                      compiled=compiled), ours)


def test_sign_bits_pack_in_the_order_of_the_patches():
    from snn_tha.deploy import packed
    gen = np.random.default_rng(3)
    layer = {"kind": "conv", "signs": np.where(gen.random((5, 16, 5, 5)) < 0.5, -1.0, 1.0)}
    spikes = (gen.random((2, 16, 9, 9)) < 0.4).astype(np.uint8)
    cur = packed.spike_conv(spikes, layer, packed.pack_weights(layer))
    expected = infer.conv(spikes.astype(np.float32), infer.fold_pool(layer["signs"].astype(np.float32)))
    np.testing.assert_array_equal(cur, expected)


def _compiled_kernels(march="native"):
    from snn_tha.kernels import popcount as native
    if march != "native" and (platform.machine() != "x86_64" or (
            march == "x86-64-v3" and "avx2" not in Path("/proc/cpuinfo").read_text())):
        pytest.skip(f"{march}: not this CPU's")
    lib = native.library(march)
    if lib is None:
        pytest.skip("no C++ compiler here")
    return lib


# each popcount path of popcount.cpp: plain (x86-64-v2), AVX2 nibble table (x86-64-v3), this CPU's
MARCHES = ["x86-64-v2", "x86-64-v3", "native"]


@pytest.mark.parametrize("march", MARCHES)
@pytest.mark.parametrize("channels", [1, 16, 20, 64])
def test_compiled_popcount_conv_gives_numpys_integers(channels, march):
    """Every channel count the packing allows (64 // C pixels per word, C not dividing 64 rejected
    by numpy's path only), an odd map (the pooling drops the last row and column), 7 outputs
    (a partial register block)."""
    from snn_tha.deploy import packed
    from snn_tha.kernels import popcount as native
    lib = _compiled_kernels(march)
    gen = np.random.default_rng(channels)
    layer = {"kind": "conv", "signs": np.where(gen.random((7, channels, 5, 5)) < 0.5, -1.0, 1.0)}
    spikes = (gen.random((3, channels, 13, 13)) < 0.3).astype(np.uint8)
    plus = packed.pack_weights(layer)
    theirs = native.conv_pool(lib, spikes, 5, plus)
    expected = infer.conv(spikes.astype(np.float32), infer.fold_pool(layer["signs"].astype(np.float32)))
    np.testing.assert_array_equal(theirs, expected)
    if 64 % channels == 0:
        np.testing.assert_array_equal(theirs, packed.spike_conv(spikes, layer, plus))
    # evaluation's variant: channels-last bytes (16 at a time where C divides by 16), any nonzero
    # byte a spike, floats times 1/4
    counts = spikes * gen.integers(1, 4, spikes.shape).astype(np.uint8)
    for stored, channels_last in ((counts, False), (counts.transpose(0, 2, 3, 1), True)):
        floats = np.full(theirs.shape, np.nan, np.float32)
        native.conv_pool_float_into(lib, stored, channels_last, 5, plus, 0.25, floats)
        np.testing.assert_array_equal(floats, theirs.astype(np.float32) * 0.25)


@pytest.mark.parametrize("march", MARCHES)
@pytest.mark.parametrize("static", [True, False])
@pytest.mark.parametrize("beta", [0.5, 0.9])
def test_compiled_lif_spikes_as_numpys_lif_step(static, beta, march):
    """Membranes that land on and beside the threshold (beta 0.5 and integer offsets: exact ties),
    negative thresholds (they fire at rest), more neurons than one chunk: the compiled loop's
    spikes are numpy's, step for step."""
    from snn_tha.deploy import packed
    lib = _compiled_kernels(march)
    gen = np.random.default_rng(4)
    shape = (3, 5, 31, 29)                  # 13,485 neurons: 7 chunks, the last one partial
    currents = gen.integers(-6, 7, shape if static else (12,) + shape).astype(np.int32)
    offset = gen.normal(0, 1, 5) if beta == 0.9 else gen.integers(-2, 3, 5)
    layer = {"threshold": np.float32(3.0) * gen.integers(-1, 3, 5).astype(np.float32),
             "offset": offset.astype(np.float32), "beta": beta}
    steps = 12 if static else None
    theirs = packed.lif_over_time(layer, currents, steps, lib)
    ours = packed.lif_over_time(layer, currents, steps)
    assert 0.05 < ours.mean() < 0.95
    np.testing.assert_array_equal(theirs, ours)
    if beta == 0.5:   # the ties are there: ">=" would give other spikes
        ties = packed.lif_over_time({**layer, "threshold": layer["threshold"] - np.float32(1e-6)},
                                    currents, steps)
        assert (ties != ours).any()


def test_without_a_compiler_the_packed_engine_uses_numpy_and_says_so(tmp_path, monkeypatch, caplog):
    from snn_tha.deploy import packed
    from snn_tha.kernels import popcount as native
    monkeypatch.setenv("SNN_THA_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("CXX", str(tmp_path / "no-such-compiler"))
    native.library.cache_clear()
    try:
        folded = export.fold(random_model("static_conv", False), pixel_input=True)
        manifest = {"input": {"kind": "image_uint8"}, "num_steps": T}
        layers = infer.from_folded(folded)
        x = random_input("static_conv")
        with caplog.at_level("WARNING", logger="snn_tha"):
            np.testing.assert_array_equal(packed.run(manifest, layers, x), infer.run(manifest, layers, x))
    finally:
        native.library.cache_clear()
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1 and "uses numpy's bitwise_count" in lines[0], lines


@pytest.mark.parametrize("march", MARCHES)
def test_compiled_popcount_dense_gives_the_float_sums(march):
    from snn_tha.deploy import packed
    lib = _compiled_kernels(march)
    gen = np.random.default_rng(8)
    layer = {"kind": "dense", "signs": np.where(gen.random((21, 2100)) < 0.5, -1.0, 1.0)}  # 33 words
    spikes = (gen.random((9, 2100)) < 0.5).astype(np.uint8)
    theirs = packed.spike_current(layer, packed.pack_weights(layer), spikes, lib)
    np.testing.assert_array_equal(theirs, spikes.astype(np.float32) @ layer["signs"].astype(np.float32).T)
