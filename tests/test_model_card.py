"""Issue 20: shipped models. `snn-tha ship` copies a finished run's models and writes its card;
every model under results/models/ runs with `snn-tha infer` and gives its card's accuracy."""
import json
import subprocess
import sys

import pytest

from snn_tha.repro import model_card, runio
from snn_tha.repro.data import DataError, static

MODELS = runio.ROOT / "results" / "models"
CARDS = sorted(MODELS.glob("*/card.json"))


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


def test_ship_refuses_a_run_without_its_models(trained_run, tmp_path):
    run, data_dir = trained_run
    (run / "model.1bit.npz").unlink()
    with pytest.raises(model_card.config.ConfigError, match="no model.1bit.npz"):
        model_card.ship(run, data_dir, tmp_path / "shipped")
    assert not (tmp_path / "shipped").exists()       # nothing half-written


def test_the_annealing_model_is_shipped():
    assert (MODELS / "fmnist_annealing" / "card.json") in CARDS
    for card in CARDS:
        for name in model_card.SHIPPED:
            assert (card.parent / name).stat().st_size < model_card.MAX_BYTES


def _fashion_mnist_root(tmp_path):
    data = runio.ROOT / "data"
    if (data / "FashionMNIST" / "raw" / "t10k-images-idx3-ubyte").is_file():
        return data
    try:   # a clean clone: Debian's package, unpacked into a scratch root
        static.ensure_raw("fashion_mnist", tmp_path)
    except DataError as err:
        pytest.skip(f"FashionMNIST is not here ({err})")
    return tmp_path


@pytest.mark.parametrize("card_path", CARDS, ids=lambda p: p.parent.name)
def test_a_shipped_model_gives_its_cards_accuracy(card_path, tmp_path):
    card = json.loads(card_path.read_text())
    done = subprocess.run([sys.executable, "-m", "snn_tha.repro.cli", "infer",
                           str(card_path.parent / "model.1bit.npz"), "--data",
                           str(_fashion_mnist_root(tmp_path)), "--limit", str(card["slice_images"])],
                          capture_output=True, text=True, cwd=runio.ROOT)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    # the 1-bit engine sums integers (exact in any order) and then runs elementwise float32:
    # the same predictions on every CPU, so the accuracy is compared exactly
    assert result["images"] == card["slice_images"]
    assert result["accuracy"] == card["slice_acc_numpy"]
