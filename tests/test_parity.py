"""`snn-tha parity` (snn_tha.repro.paper.parity): the exact engine against the reference loop, paired by
seed, built from run folders only."""
import json

import pytest

from snn_tha.repro.cli.main import main


def run_folder(runs, experiment, seed, acc, dead, engine):
    run = runs / experiment / f"claims-seed{seed}"
    run.mkdir(parents=True)
    (run / "config.yaml").write_text(f"experiment: {experiment}\nnet:\n  engine: {engine}\n")
    (run / "final.json").write_text(json.dumps({
        "experiment": experiment, "seed": seed, "dataset": "fashion_mnist", "variant": "annealing",
        "profile": "claims", "test_acc": acc, "epochs_run": 3, "train_images": 6000,
        "test_images": 5000, "num_steps": 100, "selected_on": "validation accuracy",
        "train_seconds": 80.0 if engine == "exact" else 800.0, "dead_fraction": [dead, 0.1, 0.0],
        "provenance": {"git_commit": "079fb9e" + "0" * 33}}))


@pytest.fixture
def results(tmp_path, monkeypatch):
    root = tmp_path / "results"
    monkeypatch.setenv("SNN_THA_RESULTS", str(root))
    return root


def test_parity_pairs_by_seed_and_states_the_detectable_effect(results, capsys):
    exact = [0.70, 0.72, 0.74, 0.71, 0.73, 0.69]
    shift = [0.01, -0.01, 0.02, -0.02, 0.0, 0.01]     # reference = exact - shift
    for seed, (acc, d) in enumerate(zip(exact, shift)):
        run_folder(results / "runs", "fmnist_annealing", seed, acc, 0.3, "exact")
        run_folder(results / "runs", "fmnist_annealing_reference", seed, acc - d, 0.3, "reference")
    run_folder(results / "runs", "fmnist_annealing", 6, 0.9, 0.3, "exact")   # unpaired: left out
    assert main(["parity", "--no-train", "--out", str(results / "bench")]) == 0
    summary = json.loads((results / "bench" / "parity.json").read_text())
    acc = summary["rows"][0]
    assert acc["measure"] == "test accuracy" and acc["n"] == 6 and acc["seeds"] == list(range(6))
    assert acc["mean"] == pytest.approx(100 * sum(shift) / 6)
    text = (results / "bench" / "parity.md").read_text()
    assert f"indistinguishable at ±{acc['detectable']:.2f}" in text
    assert "| dead % hidden layer 1 |" in text and "dead % hidden layer 3" not in text
    assert "What it means: on every measure the claims read the engines are indistinguishable" in text


def test_a_shifted_engine_is_found(results):
    for seed in range(6):
        run_folder(results / "runs", "fmnist_annealing", seed, 0.70 + 0.01 * seed, 0.3, "exact")
        run_folder(results / "runs", "fmnist_annealing_reference", seed, 0.68 + 0.01 * seed
                   + 0.001 * (seed % 2), 0.3, "reference")
    assert main(["parity", "--no-train", "--out", str(results / "bench")]) == 0
    text = (results / "bench" / "parity.md").read_text()
    assert "exact higher" in text and "What it means: test accuracy differs" in text
    assert "Bonferroni-corrected test needs p ≤ 0.017" in text


def test_no_pairs_is_one_line(results, capsys):
    run_folder(results / "runs", "fmnist_annealing", 0, 0.7, 0.3, "exact")
    assert main(["parity", "--no-train", "--out", str(results / "bench")]) == 2
    assert "no seed has both" in capsys.readouterr().err
    assert not (results / "bench" / "parity.md").exists()
