"""Issue 9: every error a user can cause is one line and exit 2, nothing half-written; the
silent-wrong-result cases A-H are refused or fixed. Each test runs the CLI as a user would."""
import errno
import hashlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from snn_tha.repro import files, paths
from snn_tha.repro.paper import tables
from snn_tha.repro.run import checkpoints
from snn_tha.repro.run import train as train_module
from snn_tha.repro.cli.main import main
from snn_tha.repro.data import events, static
from snn_tha.repro.data.common import DataError
from snn_tha.repro.data.fixtures import write_dvs_gesture, write_shd, write_torchvision_layout

FMNIST = "configs/fmnist_bsnn.yaml"




def run_cli(capsys, *argv):
    """(exit code, the error lines, all of stderr)."""
    code = main(list(argv))
    err = capsys.readouterr().err
    return code, [l for l in err.splitlines() if l.startswith("snn-tha: error:")], err


def assert_one_line(capsys, argv, *needles, code=2):
    got, lines, err = run_cli(capsys, *argv)
    assert got == code, err
    assert len(lines) == 1 and "Traceback" not in err, err
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def smoke(data_dir, out, *extra):
    return ["train", FMNIST, "--profile", "smoke", "--data-dir", str(data_dir), "--out", str(out),
            "--set", "data.validation_size=20", *extra]


def digest(path):
    return hashlib.sha1(Path(path).read_bytes()).hexdigest()


# ---- A: event caches follow the source files ---------------------------------------------
def test_replacing_an_shd_file_invalidates_the_binned_cache(tmp_path):
    from snn_tha.repro import schema
    write_shd(tmp_path, samples_per_split=(6, 4), seed=0)
    cfg = schema.load_config("configs/shd_annealing.yaml", "smoke").data
    first, _ = events.load_events(cfg, tmp_path)
    (tmp_path / "SHD" / "shd_train.h5").unlink()
    write_shd(tmp_path, samples_per_split=(9, 4), seed=1)   # the "full download"
    second, _ = events.load_events(cfg, tmp_path)
    assert len(first) == 6 and len(second) == 9
    assert len(list((tmp_path / "cache").glob("shd-train-*.pt"))) == 2


# ---- B: resume refuses a checkpoint trained under other settings --------------------------
def test_resume_with_another_config_is_refused_and_leaves_the_run(data_dir, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(smoke(data_dir, out)) == 0
    run = out / "smoke-seed0"
    before = {p.name: digest(p) for p in run.iterdir() if p.is_file()}
    line = assert_one_line(capsys, ["train", "configs/fmnist_flt32.yaml", "--profile", "smoke",
                                    "--data-dir", str(data_dir), "--out", str(out), "--set",
                                    "data.validation_size=20", "--resume"],
                           "finished with other settings", "net.binarize: True -> False", "--retrain")
    assert str(run) in line
    assert {p.name: digest(p) for p in run.iterdir() if p.is_file()} == before


def test_resume_may_grow_the_budget(data_dir, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(smoke(data_dir, out)) == 0
    assert main(smoke(data_dir, out, "--set", "epochs=2", "--set", "patience=2", "--resume")) == 0
    final = json.loads((out / "smoke-seed0" / "final.json").read_text())
    assert final["epochs_run"] == 2


# ---- C: a run needs a validation split ----------------------------------------------------
def test_validation_size_zero_is_refused(data_dir, tmp_path, capsys):
    assert_one_line(capsys, smoke(data_dir, tmp_path / "out", "--set", "data.validation_size=0"),
                    "validation_size must be >= 1", "protocol: paper")
    assert not (tmp_path / "out").exists()


# ---- D: non-finite values -----------------------------------------------------------------
@pytest.mark.parametrize("assignment", ["optim.lr=.nan", "net.beta=nan", "optim.lr=.inf"])
def test_non_finite_config_floats_are_refused(assignment, data_dir, tmp_path, capsys):
    key = assignment.split("=")[0]
    assert_one_line(capsys, smoke(data_dir, tmp_path / "out", "--set", assignment),
                    f"key '{key}' must be a finite number")
    assert not (tmp_path / "out").exists()


def test_non_finite_loss_stops_the_run_without_a_result(data_dir, tmp_path, capsys, monkeypatch):
    real = train_module.mse_count_loss
    monkeypatch.setattr(train_module, "mse_count_loss", lambda *a, **k: real(*a, **k) * float("nan"))
    assert_one_line(capsys, smoke(data_dir, tmp_path / "out"), "the loss became nan", "optim.lr")
    assert not (tmp_path / "out" / "smoke-seed0" / "final.json").exists()


def test_non_finite_weights_stop_the_run(data_dir, tmp_path, capsys, monkeypatch):
    real_step = torch.optim.Adam.step

    def poisoned(self, *a, **k):
        out = real_step(self, *a, **k)
        with torch.no_grad():
            self.param_groups[0]["params"][0].fill_(float("inf"))
        return out
    monkeypatch.setattr(torch.optim.Adam, "step", poisoned)
    assert_one_line(capsys, smoke(data_dir, tmp_path / "out"), "became non-finite")
    assert not (tmp_path / "out" / "smoke-seed0" / "final.json").exists()


# ---- E: one writer per run folder ---------------------------------------------------------
def test_a_live_writer_is_refused_a_dead_one_is_taken_over(data_dir, tmp_path, capsys):
    run = tmp_path / "out" / "smoke-seed0"
    run.mkdir(parents=True)
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (run / ".lock").write_text(json.dumps({"pid": other.pid}))
        assert_one_line(capsys, smoke(data_dir, tmp_path / "out"), "another training",
                        str(other.pid))
        assert not (run / "iterations.csv").exists()
    finally:
        other.kill()
        other.wait()
    assert main(smoke(data_dir, tmp_path / "out")) == 0   # its process is gone: stale lock
    assert (run / "final.json").is_file() and not (run / ".lock").exists()


# ---- F: tables carry the profile in their names --------------------------------------------
def test_a_smoke_table_never_overwrites_another_profile(tmp_path):
    final = {"dataset": "fashion_mnist", "variant": "bsnn", "profile": "smoke", "test_acc": 0.5,
             "epochs_run": 1, "train_images": 10, "num_steps": 5, "selected_on": "validation accuracy",
             "dead_fraction": [0.1, 0.2, 0.0], "train_seconds": 1.0}
    quick = tmp_path / "table1_quick.md"
    quick.write_text("committed\n")
    tables.write_table("table1", "T1", ("fashion_mnist",), "smoke", tmp_path, tmp_path, finals=[final])
    assert quick.read_text() == "committed\n" and (tmp_path / "table1_smoke.md").is_file()


# ---- G: a truncated checkpoint falls back to the previous one -------------------------------
def test_truncated_checkpoint_resumes_from_the_previous(data_dir, tmp_path, caplog):
    out = tmp_path / "out"
    assert main(smoke(data_dir, out, "--set", "epochs=2", "--set", "patience=2")) == 0
    run = out / "smoke-seed0"
    assert (run / checkpoints.PREVIOUS).is_file()
    latest = run / checkpoints.LATEST
    latest.write_bytes(latest.read_bytes()[:100])
    assert main(smoke(data_dir, out, "--set", "epochs=3", "--set", "patience=3", "--resume")) == 0
    rows = (run / "metrics.csv").read_text().splitlines()
    assert [r.split(",")[0] for r in rows[1:]] == ["0", "1", "2"]  # epoch 1 redone from epoch 0
    assert "unreadable; trying the previous checkpoint" in caplog.text


def test_no_usable_checkpoint_is_one_line(data_dir, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(smoke(data_dir, out)) == 0
    (out / "smoke-seed0" / "final.json").unlink()   # killed before its end: not finished
    (out / "smoke-seed0" / checkpoints.LATEST).write_bytes(b"garbage")
    assert_one_line(capsys, smoke(data_dir, out, "--resume"), "no usable checkpoint",
                    "without --resume")


# ---- H: data folders must exist; empty samples are errors ----------------------------------
def test_mistyped_data_dir_is_refused_and_not_created(tmp_path, capsys):
    missing = tmp_path / "dta"
    assert_one_line(capsys, smoke(missing, tmp_path / "out"), f"data folder {missing} does not exist",
                    "make data")
    assert not missing.exists() and not (tmp_path / "out").exists()


@pytest.mark.parametrize("split", ["Train", "Test"])
def test_empty_dvs_sample_names_the_file(split, tmp_path):
    from snn_tha.repro import schema
    write_dvs_gesture(tmp_path)
    victim = sorted((tmp_path / "DVSGesture" / f"ibmGesture{split}").rglob("*.npy"))[0]
    np.save(victim, np.zeros((0, 4)))
    cfg = schema.load_config("configs/dvs_annealing.yaml", "smoke").data
    with pytest.raises(DataError, match=f"{victim}: a DVS sample with no events"):
        events.load_events(cfg, tmp_path)


def test_shd_file_without_units_names_the_file(tmp_path):
    import h5py
    from snn_tha.repro import schema
    write_shd(tmp_path)
    h5 = tmp_path / "SHD" / "shd_train.h5"
    with h5py.File(h5, "a") as f:
        del f["spikes"]["units"]
    cfg = schema.load_config("configs/shd_annealing.yaml", "smoke").data
    with pytest.raises(DataError, match="shd_train.h5"):
        events.load_events(cfg, tmp_path)


# ---- one line for every user error, found before any data is loaded -------------------------
@pytest.mark.parametrize("assignment, needle", [
    ("annealing.theta_inf=[1.0, 30.0, 30.0]", "need 0 < theta0 <= theta_inf"),
    ("annealing.alpha=[0.0, 0.3, 0.1]", "need 0 < alpha <= 1"),
    ("annealing.alpha=[1.5, 0.3, 0.1]", "need 0 < alpha <= 1"),
    ("annealing.alpha=[0.1, 0.3]", "has 3 Leaky layers"),
    ("optim.lr=-0.1", "lr must be > 0"),
    ("batch_size=0", "batch_size must be >= 1"),
    ("net.dropout=[0.5, 0.5]", "1 dropout site"),
    ("optim.lr=[1", "not valid YAML"),
    ("optim.lr.x=1", "'optim.lr' is a value"),
])
def test_config_errors_come_before_data(assignment, needle, tmp_path, capsys):
    # the data folder does not even exist: the config is checked first
    argv = ["train", "configs/fmnist_annealing.yaml", "--profile", "smoke", "--data-dir",
            str(tmp_path / "none"), "--out", str(tmp_path / "out"), "--set", assignment]
    assert_one_line(capsys, argv, needle)
    assert not (tmp_path / "out").exists()


def test_list_yaml_with_profile_and_data_dir(tmp_path, capsys):
    bad = tmp_path / "list.yaml"
    bad.write_text("- 1\n- 2\n")
    line = assert_one_line(capsys, ["train", str(bad), "--profile", "smoke", "--data-dir",
                                    str(tmp_path)], "top level must be a mapping")
    assert "--set" not in line


def test_binary_config_file(tmp_path, capsys):
    bad = tmp_path / "model.yaml"
    bad.write_bytes(bytes(range(256)) * 4)
    assert_one_line(capsys, ["train", str(bad)], str(bad), "not a text file")


def test_empty_training_set_names_the_problem(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(static, "_try_download", lambda root, name: False)
    monkeypatch.setattr(static, "DEBIAN_FASHION_MNIST", tmp_path / "none")
    write_torchvision_layout(tmp_path / "data", "fashion_mnist", n_train=0, n_test=5)
    assert_one_line(capsys, smoke(tmp_path / "data", tmp_path / "out"), "train-images-idx3-ubyte",
                    "holds no images")


def test_read_only_output_folder(data_dir, capsys):
    assert_one_line(capsys, smoke(data_dir, "/sys/snn_tha_out"), "/sys/snn_tha_out")


def test_full_disk_names_the_file(data_dir, tmp_path, capsys, monkeypatch):
    def no_space(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(files.os, "replace", no_space)
    line = assert_one_line(capsys, smoke(data_dir, tmp_path / "out"), "No space left on device")
    assert str(tmp_path / "out") in line
    assert not (tmp_path / "out" / "smoke-seed0" / "final.json").exists()


def test_ctrl_c_is_one_line_saying_how_to_resume(data_dir, tmp_path, capsys, monkeypatch):
    def interrupted(*a, **k):
        raise KeyboardInterrupt
    monkeypatch.setattr(train_module, "mse_count_loss", interrupted)
    code, _, err = run_cli(capsys, *smoke(data_dir, tmp_path / "out"))
    lines = [l for l in err.splitlines() if l.startswith("snn-tha:")]
    assert code == 130 and len(lines) == 1 and "--resume" in lines[0] and "Traceback" not in err


def test_internal_errors_keep_their_traceback(data_dir, tmp_path, monkeypatch):
    def bug(*a, **k):
        raise ZeroDivisionError("a bug")
    monkeypatch.setattr(train_module, "mse_count_loss", bug)
    with pytest.raises(ZeroDivisionError):
        main(smoke(data_dir, tmp_path / "out"))


def test_table_without_runs_writes_nothing_and_fails(capsys):
    assert_one_line(capsys, ["table1", "--profile", "nosuch", "--no-train"], "nothing written")
    assert not list(paths.results_root().glob("**/*nosuch*"))


# ---- sweeps -------------------------------------------------------------------------------
def test_sweep_unreachable_database_hides_the_password(capsys):
    line = assert_one_line(capsys, ["sweep", "work", "--study", "s", "--storage",
                                    "postgresql+psycopg2://me:secret@127.0.0.1:1/db"],
                           "cannot open the sweep storage")
    assert "secret" not in line


def test_sweep_unknown_study_and_export_without_trials(tmp_path, capsys):
    journal = str(tmp_path / "s.journal")
    assert_one_line(capsys, ["sweep", "work", "--study", "nosuch", "--storage", journal],
                    "no sweep storage")
    assert main(["sweep", "init", "--study", "s", "--storage", journal, "--space",
                 "configs/sweeps/fmnist_annealing.yaml", "--budget", "1", "--profile", "smoke"]) == 0
    capsys.readouterr()
    assert_one_line(capsys, ["sweep", "work", "--study", "nosuch", "--storage", journal],
                    "no study 'nosuch'", "it has: s")
    assert_one_line(capsys, ["sweep", "export", "--study", "s", "--storage", journal],
                    "no completed trial")


def test_metrics_of_a_run_resumed_by_a_newer_version_keep_every_column(tmp_path):
    """A run resumed by a version that logs one more column must not fail at its first epoch."""
    rows = [{"epoch": 0, "val_acc": 0.5}, {"epoch": 1, "val_acc": 0.6, "val_chance": 0.1}]
    files.atomic_write_csv(tmp_path / "metrics.csv", rows)
    assert (tmp_path / "metrics.csv").read_text().splitlines() == [
        "epoch,val_acc,val_chance", "0,0.5,", "1,0.6,0.1"]
