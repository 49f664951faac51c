import json

import pytest

from snn_tha.repro import schema, side_by_side
from snn_tha.repro.config import ConfigError

CONFIG = "configs/fmnist_annealing.yaml"


def test_runs_side_by_side_each_finish_as_alone(data_dir, tmp_path, monkeypatch):
    """Two seeds trained two at a time (one thread each on 2 cores) give the run folders that
    training them one after the other in this process gives: same accuracies and thresholds."""
    from snn_tha.repro.train import train
    overrides = [f"data.data_dir={data_dir}", "data.validation_size=20"]
    cfg = schema.load_config(CONFIG, "smoke", overrides + ["repeats=2"])
    monkeypatch.setenv("SNN_THA_RESULTS", str(tmp_path / "parallel"))
    side_by_side.train_commands(side_by_side.commands([(CONFIG, cfg)], overrides), jobs=2)
    alone = train(cfg, tmp_path / "alone", progress=False)["runs"]
    for k, final in enumerate(alone):
        run = tmp_path / "parallel" / "runs" / "fmnist_annealing" / f"smoke-seed{k}"
        theirs = json.loads((run / "final.json").read_text())
        assert theirs["seed"] == final["seed"] == k
        for key in ("test_acc", "val_acc", "eval_thresholds", "iterations"):
            assert theirs[key] == pytest.approx(final[key], abs=0.05 if key.endswith("acc") else 1e-6), key


def test_a_failed_run_is_one_line_naming_its_command(tmp_path, monkeypatch):
    monkeypatch.setenv("SNN_THA_RESULTS", str(tmp_path))
    bad = "snn-tha train configs/no_such_experiment.yaml --profile smoke --set seed=0 --set repeats=1 --resume"
    with pytest.raises(ConfigError) as err:
        side_by_side.train_commands([bad], jobs=2)
    assert "1 of 1 runs failed" in str(err.value) and "no_such_experiment" in str(err.value)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("jobs, cpus, threads", [(1, 2, 2), (2, 2, 1), (3, 2, 1), (2, 16, 8)])
def test_each_job_gets_its_share_of_the_cores(jobs, cpus, threads, monkeypatch):
    monkeypatch.setattr(side_by_side.os, "cpu_count", lambda: cpus)
    assert side_by_side.threads_per_job(jobs) == threads
