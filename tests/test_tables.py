import csv
import json

import pytest

from snn_tha.repro.paper import tables


def fake_run(root, experiment, seed, dataset, variant, acc, profile="quick"):
    run = root / experiment / f"{profile}-seed{seed}"
    run.mkdir(parents=True)
    (run / "config.yaml").write_text(f"experiment: {experiment}\nnum_steps: 100\nnet:\n  arch: static_conv\noptim:\n  lr: 0.001\n")
    (run / "final.json").write_text(json.dumps({
        "experiment": experiment, "seed": seed,
        "dataset": dataset, "variant": variant, "profile": profile, "test_acc": acc,
        "epochs_run": 2, "train_images": 20000, "num_steps": 100,
        "selected_on": "validation accuracy", "train_seconds": 60.0,
        "dead_fraction": [0.5, 0.25, 0.0]}))


def test_table_from_run_dirs_only(tmp_path):
    runs = tmp_path / "runs"
    for seed, acc in enumerate([0.80, 0.82, 0.84]):
        fake_run(runs, "fmnist_annealing", seed, "fashion_mnist", "annealing", acc)
    fake_run(runs, "fmnist_flt32", 0, "fashion_mnist", "flt32", 0.85)
    fake_run(runs, "fmnist_flt32", 0, "fashion_mnist", "flt32", 0.10, profile="smoke")
    rows = tables.write_table("table1", "T1", ("mnist", "fashion_mnist"), "quick",
                              runs, tmp_path / "tables")
    assert [r["variant"] for r in rows] == ["flt32", "threshold annealing"]
    annealing = rows[1]
    assert (annealing["runs"], annealing["best"], annealing["mean"]) == (3, 84.0, 82.0)
    assert annealing["std"] == pytest.approx(2.0)          # sample std, not population
    assert (annealing["paper_best"], annealing["paper_mean"]) == (88.12, 87.92)
    assert rows[0]["std"] is None and rows[0]["mean"] == 85.0   # one run: no std, smoke ignored
    md = (tmp_path / "tables" / "table1_quick.md").read_text()
    assert "| FashionMNIST | threshold annealing | quick | 3 | 84.00 | 82.00 | 2.00 | 88.12 |" in md
    assert annealing["dead_pct_per_layer"] == "50/25/0"
    assert len(list(csv.DictReader(open(tmp_path / "tables" / "table1_quick.csv")))) == 2


def test_no_runs_no_table(tmp_path):
    assert tables.write_table("table1", "T1", ("mnist",), "paper", tmp_path, tmp_path / "t") == []
    assert not (tmp_path / "t" / "table1_paper.md").exists()


def test_table1_prints_the_mean_the_claims_file_prints(tmp_path):
    """MNIST annealing's eight claims-profile accuracies: pandas' group-by sums them to exactly
    93.415 and printed 93.42, the claims file's exact mean is 93.41499... and prints 93.41."""
    from snn_tha.repro.paper import claims
    accs = [0.9384, 0.9286, 0.9272, 0.9382, 0.942, 0.9328, 0.9322, 0.9338]
    runs = tmp_path / "runs"
    for seed, acc in enumerate(accs):
        fake_run(runs, "mnist_annealing", seed, "mnist", "annealing", acc)
    row, = tables.write_table("table1", "T1", ("mnist",), "quick", runs, tmp_path / "tables")
    in_claims = claims._ms(100 * a for a in accs)
    assert in_claims.startswith("93.41 ± 0.51")
    assert f"{row['mean']:.2f} ± {row['std']:.2f}" == in_claims.split(" (n=")[0]
