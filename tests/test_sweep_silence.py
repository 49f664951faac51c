import pytest

from snn_tha.repro.sweep import silence as sweep_silence
from snn_tha.repro.data.fixtures import write_torchvision_layout

pytestmark = pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")
SPACE = "configs/sweeps/fmnist_annealing.yaml"


def test_measure_counts_every_trial_and_the_silent_ones(tmp_path):
    write_torchvision_layout(tmp_path / "data", "fashion_mnist", n_train=200, n_test=20)
    counts, best = sweep_silence.measure(SPACE, "smoke", 3, tmp_path,
                                         [f"data.data_dir={tmp_path / 'data'}",
                                          "data.validation_size=20"], dead_batches=2)
    finished = counts["complete"] + counts["pruned_dead"] + counts["pruned_fidelity"]
    assert finished + counts["failed"] == 3 and counts["failed"] == 0
    assert best is None or 0 <= best <= 1


def test_old_space_is_none_when_unchanged_and_a_copy_when_changed(tmp_path):
    assert sweep_silence._old_space(SPACE, "HEAD", tmp_path) is None
    old = sweep_silence._old_space(SPACE, "c9ad8e0~1", tmp_path)   # before the scaled ranges
    assert old is not None and "scale: membrane" not in (old.parent / "bases" /
                                                         "conv_annealing.yaml").read_text()


def test_dvs_and_shd_use_generated_files(tmp_path):
    overrides, kind = sweep_silence.data_overrides("shd_annealing", tmp_path)
    assert kind == "generated" and overrides[0].startswith("data.data_dir=")
    assert sweep_silence.data_overrides("mnist_bsnn", tmp_path) == (["data.name=mnist5k"], "real")
