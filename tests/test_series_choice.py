"""`snn-tha ship EXPERIMENT --choose PROFILE`: the seed shipped is the one with the highest
validation accuracy, never chosen on test, among repeats of one setting only."""
import json

import pytest

from snn_tha.repro.export import series_choice
from snn_tha.repro.yaml_config import ConfigError

RUN = "results/runs/fmnist_annealing/claims-seed0"


def _series(tmp_path, scores, commit="a" * 40):
    """An experiment folder of finished runs: {seed: (val_acc, test_acc)}, from a committed run."""
    from snn_tha.repro import paths
    src = paths.ROOT / RUN
    final = json.loads((src / "final.json").read_text())
    config = (src / "config.yaml").read_text()
    for seed, (val, test) in scores.items():
        run = tmp_path / "fmnist_annealing" / f"claims-seed{seed}"
        run.mkdir(parents=True)
        (run / "config.yaml").write_text(config.replace("\nseed: 0\n", f"\nseed: {seed}\n"))
        record = {**final, "seed": seed, "val_acc": val, "test_acc": test,
                  "provenance": {**final["provenance"], "seed": seed, "git_commit": commit}}
        (run / "final.json").write_text(json.dumps(record))
    return tmp_path / "fmnist_annealing"


def test_the_seed_is_chosen_on_validation_and_the_card_gives_every_seeds_test(tmp_path):
    folder = _series(tmp_path, {0: (0.70, 0.80), 1: (0.75, 0.60), 2: (0.75, 0.90)})
    chosen, series = series_choice.choose(folder, "claims")
    assert chosen.name == "claims-seed1"          # highest validation; a tie goes to the lower seed
    assert series["seeds"] == [0, 1, 2] and series["val_acc"] == 0.75
    assert series["test_acc_mean"] == pytest.approx(0.7667, abs=1e-4)
    assert series["test_acc_sd"] == pytest.approx(0.1528, abs=1e-4)
    line = series_choice.card_line(series)[0]
    assert "3 seeds of the `claims` series (0, 1, 2)" in line and "76.67 ± 15.28%" in line


def test_runs_of_another_setting_or_commit_are_refused(tmp_path):
    folder = _series(tmp_path, {0: (0.7, 0.8), 1: (0.8, 0.7)})
    config = folder / "claims-seed1" / "config.yaml"
    config.write_text(config.read_text().replace("\nepochs: 3\n", "\nepochs: 4\n"))
    with pytest.raises(ConfigError, match="claims-seed1: not a repeat of"):
        series_choice.choose(folder, "claims")
    other = _series(tmp_path / "b", {0: (0.7, 0.8)}, commit="b" * 40)
    for run in other.iterdir():
        run.rename(folder / "claims-seed5")
    config.write_text(config.read_text().replace("\nepochs: 4\n", "\nepochs: 3\n"))
    with pytest.raises(ConfigError, match="claims-seed5: not a repeat of"):
        series_choice.choose(folder, "claims")


def test_a_folder_without_finished_runs_of_the_profile_is_refused(tmp_path):
    folder = _series(tmp_path, {0: (0.7, 0.8)})
    with pytest.raises(ConfigError, match="no finished full-seed<k> run"):
        series_choice.choose(folder, "full")


def test_the_command_refuses_a_folder_without_the_profile_in_one_line(tmp_path):
    import subprocess
    import sys
    from snn_tha.repro import paths
    folder = _series(tmp_path, {0: (0.7, 0.8)})
    done = subprocess.run([sys.executable, "-m", "snn_tha.repro.cli", "ship", str(folder),
                           "--choose", "full", "--out", str(tmp_path / "shipped")],
                          capture_output=True, text=True, cwd=paths.ROOT)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "no finished full-seed<k> run" in done.stderr.strip().splitlines()[-1]
    assert not (tmp_path / "shipped").exists()
