import pytest

from snn_tha.repro.run import pool as side_by_side
from snn_tha.repro.yaml_config import ConfigError
from snn_tha.repro.data.common import DataError

CONFIG = "configs/fmnist_annealing.yaml"


def test_runs_side_by_side_each_finish_as_alone(data_dir, tmp_path, monkeypatch):
    """Two seeds trained two at a time (worker processes, a share of the cores each) give the
    run folders that training them one after the other in this process gives."""
    from snn_tha.repro import schema
    from snn_tha.repro.run.train import train
    overrides = (f"data.data_dir={data_dir}", "data.validation_size=20")
    monkeypatch.setenv("SNN_THA_RESULTS", str(tmp_path / "parallel"))
    theirs = side_by_side.train_runs([(CONFIG, "smoke", k, overrides) for k in (0, 1)], jobs=2)
    cfg = schema.load_config(CONFIG, "smoke", list(overrides) + ["repeats=2"])
    alone = train(cfg, tmp_path / "alone", progress=False)["runs"]
    assert (tmp_path / "parallel" / "runs" / "fmnist_annealing" / "smoke-seed1" / "final.json").is_file()
    for k, (a, b) in enumerate(zip(alone, theirs)):
        assert a["seed"] == b["seed"] == k
        assert a["eval_thresholds"] == b["eval_thresholds"] and a["iterations"] == b["iterations"]
        # 1 thread against this process's threads: float sums in other orders, 32 test images
        assert abs(a["test_acc"] - b["test_acc"]) <= 0.07


def test_a_failed_run_is_one_line_naming_it_and_missing_data_stays_a_data_error(data_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("SNN_THA_RESULTS", str(tmp_path))
    with pytest.raises(ConfigError) as err:
        side_by_side.train_runs([("configs/no_such_experiment.yaml", "smoke", 0, ())], jobs=2)
    assert "1 of 1 runs failed" in str(err.value) and "no_such_experiment" in str(err.value)
    assert "\n" not in str(err.value)
    with pytest.raises(DataError):   # no such data root: claims then skips the data set, one line
        side_by_side.train_runs([(CONFIG, "smoke", 0, (f"data.data_dir={tmp_path / 'empty'}",))], jobs=2)


@pytest.mark.parametrize("jobs, cpus, threads", [(1, 2, 2), (2, 2, 1), (3, 2, 1), (2, 16, 8)])
def test_each_job_gets_its_share_of_the_cores(jobs, cpus, threads, monkeypatch):
    monkeypatch.setattr(side_by_side.os, "cpu_count", lambda: cpus)
    assert side_by_side.threads_per_job(jobs) == threads


def test_claims_side_by_side_skip_absent_data_with_one_line_and_no_folders(tmp_path, monkeypatch, caplog):
    from snn_tha.repro.paper import claims
    from snn_tha.repro.data import static
    monkeypatch.setattr(static, "_try_download", lambda root, name: False)
    monkeypatch.setenv("SNN_THA_RESULTS", str(tmp_path / "results"))
    with caplog.at_level("WARNING", logger="snn_tha"):
        done = claims.run_all("smoke", 2, ["mnist"], [f"data.data_dir={tmp_path / 'data'}"], jobs=2)
    assert done == []
    assert [r.getMessage() for r in caplog.records if "skipping" in r.getMessage()] == [
        r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len([r for r in caplog.records if "skipping mnist" in r.getMessage()]) == 1
    assert not (tmp_path / "results" / "runs").exists() or not any((tmp_path / "results" / "runs").iterdir())
