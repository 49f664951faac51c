import csv
import json
from pathlib import Path

import pytest
import torch

from snn_tha.repro.run import train as train_module
from snn_tha.repro import schema
from snn_tha.repro.cli.main import main
from snn_tha.repro.yaml_config import ConfigError
from snn_tha.repro.data import static
from snn_tha.repro.run.train import train

STATIC_CONFIGS = sorted(str(p) for p in Path("configs").glob("*mnist_*.yaml"))




def test_there_are_eleven_static_experiments():
    # 4 paper variants x 2 data sets, bsnn_theta_inf x 2, FMNIST budget-scaled annealing
    assert len(STATIC_CONFIGS) == 11


@pytest.mark.parametrize("path", STATIC_CONFIGS)
@pytest.mark.parametrize("profile", ["smoke", "quick", "paper"])
def test_every_config_loads_with_every_profile(path, profile):
    cfg = schema.load_config(path, profile)
    assert cfg.profile == profile and cfg.net_config.thresholds
    assert len(cfg.net_config.thresholds) == 3


@pytest.mark.parametrize("path", STATIC_CONFIGS)
def test_every_experiment_trains_two_batches(path, data_dir, tmp_path):
    cfg = schema.load_config(path, "smoke", [f"data.data_dir={data_dir}",
                                            "data.validation_size=20"])
    result = train(cfg, tmp_path / "runs", progress=False)
    run = tmp_path / "runs" / "smoke-seed0"
    rows = list(csv.DictReader(open(run / "iterations.csv")))
    assert len(rows) == 2 and all(float(r["loss"]) >= 0 for r in rows)
    assert 0 <= result["runs"][0]["test_acc"] <= 1
    assert {"config.yaml", "metrics.csv", "final.json", "activity.json", "checkpoint.pt"} <= {
        p.name for p in run.iterdir()}


def test_annealing_thresholds_follow_the_release_update(data_dir, tmp_path):
    cfg = schema.load_config("configs/fmnist_annealing.yaml", "smoke",
                            [f"data.data_dir={data_dir}", "data.validation_size=20"])
    train(cfg, tmp_path, progress=False)
    rows = list(csv.DictReader(open(tmp_path / "smoke-seed0" / "iterations.csv")))
    # logged before each step's update: theta(1) = theta0 + alpha*(theta_inf - theta0), float32
    theta0, theta_inf, alpha = 10.25, 23.076, 0.29687
    expected = torch.tensor(theta0) + alpha * (theta_inf - torch.tensor(theta0))
    assert float(rows[1]["theta_1"]) == float(expected)


@pytest.mark.parametrize("mode", ["theta_inf", "current"])
def test_evaluation_uses_the_configured_thresholds(mode, data_dir, tmp_path):
    cfg = schema.load_config("configs/fmnist_annealing.yaml", "smoke", [
        f"data.data_dir={data_dir}", "data.validation_size=20", f"test_threshold={mode}"])
    final = train(cfg, tmp_path, progress=False)["runs"][0]
    if mode == "theta_inf":
        assert final["eval_thresholds"] == [float(torch.tensor(t)) for t in cfg.annealing.theta_inf]
    else:  # the thresholds reached at the chosen model's iteration (here the last one)
        assert final["best_epoch"] == 0 and final["eval_thresholds"] == final["final_thresholds"]
        assert final["eval_thresholds"] != [float(torch.tensor(t)) for t in cfg.annealing.theta_inf]


def test_kill_mid_epoch_then_resume_equals_uninterrupted(data_dir, tmp_path, monkeypatch):
    overrides = [f"data.data_dir={data_dir}", "data.validation_size=20", "epochs=3",
                 "patience=3", "max_batches_per_epoch=3"]
    cfg = schema.load_config("configs/fmnist_annealing.yaml", "smoke", overrides)
    whole = train(cfg, tmp_path / "whole", progress=False)["runs"][0]

    real_loss, calls = train_module.mse_count_loss, {"n": 0}

    def dies_in_epoch_two(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 5:  # second batch of the second epoch
            raise KeyboardInterrupt("simulated kill")
        return real_loss(*args, **kwargs)

    monkeypatch.setattr(train_module, "mse_count_loss", dies_in_epoch_two)
    with pytest.raises(KeyboardInterrupt):
        train(cfg, tmp_path / "killed", progress=False)
    assert not (tmp_path / "killed" / "smoke-seed0" / "final.json").exists()
    monkeypatch.setattr(train_module, "mse_count_loss", real_loss)
    resumed = train(cfg, tmp_path / "killed", resume=True, progress=False)["runs"][0]
    for key in ("test_acc", "val_acc", "best_epoch", "epochs_run", "dead_fraction"):
        assert resumed[key] == whole[key], key
    strip = lambda path: [{k: v for k, v in r.items() if k != "seconds"}  # noqa: E731
                          for r in csv.DictReader(open(path))]
    for name in ("metrics.csv", "iterations.csv"):
        assert strip(tmp_path / "killed/smoke-seed0" / name) == strip(tmp_path / "whole/smoke-seed0" / name)


def test_thresholds_xor_annealing():
    with pytest.raises(ConfigError, match="give net.thresholds or annealing"):
        schema.load_config("configs/fmnist_annealing.yaml", None, ["net.thresholds=[1, 1, 1]"])


def test_unknown_profile():
    with pytest.raises(ConfigError, match="unknown profile .fast.; valid: claims, full, paper, quick, smoke, tiny"):
        schema.load_config("configs/fmnist_annealing.yaml", "fast")


def test_cli_missing_data_is_one_line_exit_2(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(static, "_try_download", lambda root, name: False)
    monkeypatch.setattr(static, "DEBIAN_FASHION_MNIST", tmp_path / "none")
    (tmp_path / "empty").mkdir()  # the folder exists, the data set is not in it
    code = main(["train", "configs/fmnist_flt32.yaml", "--profile", "smoke",
                 "--data-dir", str(tmp_path / "empty"), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.startswith("snn-tha: error: FashionMNIST not found") and "\n" not in err


def test_a_finished_run_prints_its_summary(data_dir, tmp_path, caplog):
    """Issue 24: accuracy, dead neurons, thresholds and the folder, not only 'wrote ...'."""
    caplog.set_level("INFO", logger="snn_tha")
    assert main(["train", "configs/fmnist_annealing.yaml", "--profile", "smoke", "--data-dir",
                 str(data_dir), "--set", "data.validation_size=20", "--out", str(tmp_path / "out")]) == 0
    final = json.loads((tmp_path / "out" / "smoke-seed0" / "final.json").read_text())
    err = caplog.text
    assert f"fmnist_annealing seed 0: test accuracy {100 * final['test_acc']:.2f}%" in err
    assert "dead neurons per layer (test set): " + " / ".join(
        f"{100 * d:.1f}%" for d in final["dead_fraction"]) in err
    assert f"files: {tmp_path / 'out' / 'smoke-seed0'}/" in err
    assert final["threads"] == torch.get_num_threads()   # seconds_by_part are read with it


EVENT_CONFIGS = sorted(str(p) for p in Path("configs").glob("[ds][vh][sd]_*.yaml"))


@pytest.fixture(scope="module")
def event_data(tmp_path_factory):
    from snn_tha.repro.data.fixtures import write_dvs_gesture, write_shd
    root = tmp_path_factory.mktemp("events")
    write_dvs_gesture(root)
    write_shd(root)
    return root


def test_there_are_ten_event_experiments():
    assert len(EVENT_CONFIGS) == 10


@pytest.mark.parametrize("path", EVENT_CONFIGS)
def test_every_event_experiment_trains_two_batches(path, event_data, tmp_path):
    cfg = schema.load_config(path, "smoke", [f"data.data_dir={event_data}",
                                            "data.validation_size=4", "batch_size=4"])
    result = train(cfg, tmp_path, progress=False)
    rows = list(csv.DictReader(open(tmp_path / "smoke-seed0" / "iterations.csv")))
    assert len(rows) == 2 and all(float(r["loss"]) >= 0 for r in rows)
    assert 0 <= result["runs"][0]["test_acc"] <= 1
    assert len(result["runs"][0]["dead_fraction"]) == (3 if "dvs" in path else 2)


@pytest.mark.parametrize("path", ["configs/fmnist_annealing.yaml", "configs/fmnist_flt32.yaml"])
def test_forward_only_evaluation_changes_no_result(path, data_dir, tmp_path, monkeypatch):
    """The same run evaluated with and without the forward-only path: the same accuracies,
    dead-neuron fractions and activity file, byte for byte."""
    overrides = [f"data.data_dir={data_dir}", "data.validation_size=40"]
    outputs = {}
    for flag in ("0", "1"):
        monkeypatch.setenv("SNN_THA_FORWARD_ONLY", flag)
        cfg = schema.load_config(path, "smoke", overrides)
        final = train(cfg, tmp_path / flag, progress=False)["runs"][0]
        run = tmp_path / flag / "smoke-seed0"
        outputs[flag] = ({k: v for k, v in final.items() if k.startswith(("test_", "val_", "dead_"))},
                         (run / "activity.json").read_bytes())
    assert outputs["0"][0] and any(k.startswith("dead_") for k in outputs["0"][0])
    assert outputs["0"] == outputs["1"]
