"""Issue 19: tables that never mix runs, resume that never destroys, every bad input one line.
Each test runs the CLI (or the trainer) as a user would and checks what is left on disk."""
import json
import logging
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from snn_tha.repro import schema
from snn_tha.repro.run import checkpoints
from snn_tha.repro.cli.main import main
from snn_tha.repro.run.train import train

from test_robustness import FMNIST, assert_one_line, digest, smoke


def files(run):
    return {p.name: digest(p) for p in run.iterdir() if p.is_file() and p.name != ".lock"}


@pytest.fixture
def results(tmp_path, monkeypatch):
    """A results root of its own (tables and claims read runs from <root>/runs/)."""
    root = tmp_path / "results"
    monkeypatch.setenv("SNN_THA_RESULTS", str(root))
    return root


# ---- 2: tables and claims never mix runs or take impossible values --------------------------
def _two_runs(data_dir, results, second=()):
    out = results / "runs" / "fmnist_bsnn"
    assert main(smoke(data_dir, out)) == 0
    assert main(smoke(data_dir, out, "--set", "seed=1", *second)) == 0
    return out


def test_runs_of_different_settings_are_not_averaged(data_dir, results, capsys):
    out = _two_runs(data_dir, results, ("--set", "num_steps=7"))
    for command in ("table1", "claims"):
        line = assert_one_line(capsys, [command, "--no-train", "--profile", "smoke"],
                               "num_steps: 5 vs 7", "not repeats")
        assert str(out / "smoke-seed0") in line and str(out / "smoke-seed1") in line
    assert not (results / "tables" / "table1_smoke.md").exists()


def test_runs_of_one_setting_are_repeats(data_dir, results):
    _two_runs(data_dir, results)
    assert main(["table1", "--no-train", "--profile", "smoke"]) == 0
    rows = (results / "tables" / "table1_smoke.csv").read_text().splitlines()
    assert any(",2," in r or r.endswith(",2") for r in rows[1:]), rows   # n = 2 runs, one row


def test_runs_differing_only_in_conv_chunk_are_repeats(data_dir, results):
    """conv_chunk splits the work (weight gradients summed in another order), as the thread
    count does: the committed runs of conv_chunk 10 and new ones of 25 are one setting."""
    _two_runs(data_dir, results, ("--set", "net.conv_chunk=10"))
    assert main(["table1", "--no-train", "--profile", "smoke"]) == 0


def test_a_run_recorded_before_init_order_is_not_a_repeat_of_one_after(data_dir, results, capsys):
    """A config.yaml without net.init_order was made in the older order ("torch_first")."""
    out = _two_runs(data_dir, results)
    old = out / "smoke-seed0" / "config.yaml"
    old.write_text("".join(line for line in old.read_text().splitlines(keepends=True)
                           if "init_order" not in line))
    assert_one_line(capsys, ["table1", "--no-train", "--profile", "smoke"],
                    "net.init_order: 'torch_first' vs 'release'", "not repeats")


def test_claims_refuse_to_pair_variants_drawn_in_different_orders(data_dir, results, capsys):
    """A seed pairs two variants only when both drew their initial weights alike."""
    bsnn = results / "runs" / "fmnist_bsnn"
    assert main(smoke(data_dir, bsnn)) == 0
    annealing = ["train", "configs/fmnist_annealing.yaml", "--profile", "smoke", "--data-dir",
                 str(data_dir), "--out", str(results / "runs" / "fmnist_annealing"),
                 "--set", "data.validation_size=20"]
    assert main(annealing) == 0
    old = bsnn / "smoke-seed0" / "config.yaml"
    old.write_text("".join(line for line in old.read_text().splitlines(keepends=True)
                           if "init_order" not in line))
    assert_one_line(capsys, ["claims", "--no-train", "--profile", "smoke"],
                    "different orders", "torch_first", "release")


@pytest.mark.parametrize("edit, needles", [
    (lambda f: {**f, "test_acc": 1.5}, ("test_acc", "fraction in [0, 1]", "1.5")),
    (lambda f: {**f, "dead_fraction": [float("nan")]}, ("dead_fraction",)),
    (lambda f: {k: v for k, v in f.items() if k != "num_steps"}, ("num_steps", "missing")),
])
def test_an_impossible_final_json_is_one_line(data_dir, results, capsys, edit, needles):
    out = results / "runs" / "fmnist_bsnn"
    assert main(smoke(data_dir, out)) == 0
    path = out / "smoke-seed0" / "final.json"
    path.write_text(json.dumps(edit(json.loads(path.read_text()))))
    for command in ("table1", "claims"):
        line = assert_one_line(capsys, [command, "--no-train", "--profile", "smoke"], *needles)
        assert str(path) in line
    assert not (results / "tables" / "table1_smoke.md").exists()


def test_a_truncated_final_json_is_one_line(data_dir, results, capsys):
    out = results / "runs" / "fmnist_bsnn"
    assert main(smoke(data_dir, out)) == 0
    path = out / "smoke-seed0" / "final.json"
    path.write_text(path.read_text()[:40])
    assert_one_line(capsys, ["table1", "--no-train", "--profile", "smoke"], str(path), "invalid JSON")


# ---- 3: resume never destroys; a finished run is finished ----------------------------------
def test_resume_leaves_a_finished_run_as_it_is(data_dir, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="snn_tha")
    out = tmp_path / "out"
    assert main(smoke(data_dir, out)) == 0
    run = out / "smoke-seed0"
    for name in (checkpoints.LATEST, checkpoints.PREVIOUS):   # as a committed run folder
        (run / name).unlink(missing_ok=True)
    before = files(run)
    assert main(smoke(data_dir, out, "--resume")) == 0
    assert "finished" in caplog.text
    assert files(run) == before


def test_training_over_a_finished_run_is_refused(data_dir, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(smoke(data_dir, out)) == 0
    run = out / "smoke-seed0"
    before = files(run)
    assert_one_line(capsys, smoke(data_dir, out), "holds a finished run", "--resume", "--retrain")
    assert files(run) == before


def test_retrain_moves_the_finished_run_aside(data_dir, tmp_path):
    out = tmp_path / "out"
    assert main(smoke(data_dir, out)) == 0
    before = files(out / "smoke-seed0")
    assert main(smoke(data_dir, out, "--retrain")) == 0
    kept = list((out / checkpoints.REPLACED).iterdir())
    assert len(kept) == 1 and kept[0].name.startswith("smoke-seed0-")
    assert files(kept[0]) == before
    assert (out / "smoke-seed0" / "final.json").is_file()


def test_resume_writes_the_files_a_kill_left_missing(data_dir, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="snn_tha")
    out = tmp_path / "out"
    assert main(smoke(data_dir, out)) == 0
    run = out / "smoke-seed0"
    final = json.loads((run / "final.json").read_text())
    assert {"model.pt", "model.1bit.npz", "model.1bit.json", "metrics.csv"} <= set(final["outputs"])
    model_npz = digest(run / "model.1bit.npz")
    for name in ("model.pt", "model.1bit.npz", "model.1bit.json"):   # killed before these
        (run / name).unlink()
    assert main(smoke(data_dir, out, "--resume")) == 0
    assert "writing the missing model.pt, model.1bit.npz, model.1bit.json" in caplog.text
    assert digest(run / "model.1bit.npz") == model_npz
    again = json.loads((run / "final.json").read_text())
    assert again["test_acc"] == final["test_acc"] and again["epochs_run"] == final["epochs_run"]


def test_missing_files_without_a_checkpoint_leave_the_run_and_say_so(data_dir, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="snn_tha")
    out = tmp_path / "out"
    assert main(smoke(data_dir, out)) == 0
    run = out / "smoke-seed0"
    for name in ("model.pt", "model.1bit.npz", checkpoints.LATEST):
        (run / name).unlink()
    before = files(run)
    assert main(smoke(data_dir, out, "--resume")) == 0
    assert "no checkpoint to write them from" in caplog.text
    assert files(run) == before


def test_auto_resume_moves_a_run_of_other_settings_aside(data_dir, tmp_path):
    out = tmp_path / "out"
    assert main(smoke(data_dir, out)) == 0
    before = files(out / "smoke-seed0")
    cfg = schema.load_config("configs/fmnist_bsnn.yaml", "smoke", ["data.validation_size=20", "num_steps=6"],
                      data_dir=str(data_dir))
    run = train(cfg, out, resume="auto", progress=False)["runs"][0]
    assert run["num_steps"] == 6
    kept = list((out / checkpoints.REPLACED).iterdir())
    assert len(kept) == 1 and files(kept[0]) == before


def test_temporaries_of_a_kill_are_cleaned(data_dir, tmp_path):
    out = tmp_path / "out"
    assert main(smoke(data_dir, out)) == 0
    tmp = out / "smoke-seed0" / ".checkpoint.pt.x1y2.tmp"
    tmp.write_bytes(b"half a checkpoint")
    assert main(smoke(data_dir, out, "--resume")) == 0
    assert not tmp.exists()


def test_sigterm_is_one_line_releases_the_lock_and_resumes(data_dir, tmp_path):
    out = tmp_path / "out"
    argv = smoke(data_dir, out, "--set", "epochs=200", "--set", "patience=200")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "snn_tha.repro.cli", *argv], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    run = out / "smoke-seed0"
    deadline = time.time() + 120
    while not (run / checkpoints.LATEST).is_file() and time.time() < deadline:
        time.sleep(0.1)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    lines = [l for l in re.split(r"[\r\n]", err) if l.startswith("snn-tha:")]   # after \r of tqdm
    assert "Traceback" not in err and len(lines) == 1, err
    assert "terminated (SIGTERM)" in lines[0] and "--resume" in lines[0]
    assert not (run / ".lock").exists() and not list(run.glob(".*.tmp"))
    assert not (run / "final.json").exists()
    done = len((run / "metrics.csv").read_text().splitlines()) - 1
    assert main(smoke(data_dir, out, "--set", f"epochs={done + 1}", "--set", "patience=200",
                      "--resume")) == 0
    assert len((run / "metrics.csv").read_text().splitlines()) - 1 == done + 1


# ---- 4: every input validated where it enters, one line naming it --------------------------
def _raw(data_dir):
    from snn_tha.repro.data.fixtures import TORCHVISION_NAMES
    return data_dir / TORCHVISION_NAMES["fashion_mnist"] / "raw"


def test_labels_out_of_range_are_one_line(data_dir, tmp_path, capsys):
    from snn_tha.repro.data.fixtures import fake_images, write_idx
    images, labels = fake_images(120, 0)
    labels[3] = 12
    write_idx(_raw(data_dir) / "train-labels-idx1-ubyte", labels)
    assert_one_line(capsys, smoke(data_dir, tmp_path / "out"), "train-labels-idx1-ubyte",
                    "classes 0..9", "0..12")
    assert not (tmp_path / "out").exists()


def test_a_label_file_of_another_split_is_one_line(data_dir, tmp_path, capsys):
    raw = _raw(data_dir)
    (raw / "train-labels-idx1-ubyte").write_bytes((raw / "t10k-labels-idx1-ubyte").read_bytes())
    assert_one_line(capsys, smoke(data_dir, tmp_path / "out"), "40 labels for the 120 images",
                    "train-labels-idx1-ubyte")


def test_images_of_another_size_are_one_line(data_dir, tmp_path, capsys):
    import numpy as np
    from snn_tha.repro.data.fixtures import write_idx
    write_idx(_raw(data_dir) / "train-images-idx3-ubyte", np.zeros((120, 32, 32), np.uint8))
    assert_one_line(capsys, smoke(data_dir, tmp_path / "out"), "32x32", "28x28",
                    "train-images-idx3-ubyte")


def test_a_duplicate_yaml_key_is_refused(data_dir, tmp_path, capsys):
    path = tmp_path / "dup.yaml"
    path.write_text("experiment: x\noptim:\n  lr: 0.1\nnum_steps: 5\noptim:\n  lr: 0.2\n")
    assert_one_line(capsys, ["train", str(path), "--data-dir", str(data_dir)], str(path),
                    "line 5", "duplicate key 'optim'", "line 2")


def test_an_alias_bomb_is_one_short_line(data_dir, tmp_path, capsys):
    lines = ["a: &a [" + ",".join(["lol"] * 9) + "]"]
    for i in range(1, 10):
        lines.append(f"{chr(97 + i)}: &{chr(97 + i)} [" + ",".join([f"*{chr(96 + i)}"] * 9) + "]")
    path = tmp_path / "bomb.yaml"
    path.write_text("\n".join(lines) + "\n")
    assert path.stat().st_size < 1024
    line = assert_one_line(capsys, ["train", str(path), "--data-dir", str(data_dir)],
                           "expand to more than 100,000")
    assert len(line) < 300


def test_a_profile_is_a_name_never_a_path(data_dir, tmp_path, capsys):
    out = tmp_path / "nest" / "out"
    assert_one_line(capsys, ["train", FMNIST, "--profile", "../profiles/smoke", "--data-dir",
                             str(data_dir), "--out", str(out)], "unknown profile", "../profiles/smoke")
    assert_one_line(capsys, smoke(data_dir, out, "--set", "profile=../../escape"), "profile must be a name")
    assert not (tmp_path / "nest").exists() and not list(tmp_path.glob("escape*"))


@pytest.mark.parametrize("argv, needle", [
    (["--set", "seed=-1"], "seed must be >= 0"),
    (["--set", "seed=100000000000000000000000"], "seed must be <= 9223372036854775807"),
    (["--set", f"seed={2 ** 63 - 1}", "--set", "repeats=2"], "for all 2 repeat(s)"),
])
def test_seeds_in_range(data_dir, tmp_path, capsys, argv, needle):
    assert_one_line(capsys, smoke(data_dir, tmp_path / "out", *argv), needle)


@pytest.mark.parametrize("argv, needle", [
    (["claims", "--no-train", "--seeds", "0"], "--seeds 0"),
    (["ablate", FMNIST, "--seeds", "-2"], "--seeds -2"),
    (["sweep", "init", "--study", "s", "--space", "configs/sweeps/fmnist_annealing.yaml",
      "--budget", "0"], "--budget 0"),
])
def test_counts_in_range(tmp_path, capsys, argv, needle):
    if argv[0] == "sweep":
        argv = argv + ["--storage", str(tmp_path / "s.journal")]
    assert_one_line(capsys, argv, needle, ">= 1")
    assert not (tmp_path / "s.journal").exists()


def test_an_experiment_script_refuses_zero_seeds(capsys):
    from snn_tha.repro.cli.experiment import script_main
    assert script_main("fashion_mnist", "doc", ["--seeds", "0", "--dry-run"]) == 2
    assert "--seeds 0" in capsys.readouterr().err


def test_an_unknown_key_in_a_sweep_base_leaves_no_study(tmp_path, capsys):
    bases = tmp_path / "bases"
    bases.mkdir()
    base = Path("configs/sweeps/bases/conv_annealing.yaml").read_text()
    (bases / "conv_annealing.yaml").write_text(base.replace("  net.slope:", "  net.slopee:"))
    space = tmp_path / "space.yaml"
    space.write_text(Path("configs/sweeps/fmnist_annealing.yaml").read_text())
    journal = tmp_path / "s.journal"
    assert_one_line(capsys, ["sweep", "init", "--study", "s", "--space", str(space), "--storage",
                             str(journal), "--profile", "smoke"], "params.net.slopee", "'slopee'")
    assert not journal.exists()


def test_activations_that_cannot_fit_are_refused_before_any_data(tmp_path, capsys):
    empty = tmp_path / "data"
    empty.mkdir()   # exists, holds nothing: reading any data would fail otherwise
    assert_one_line(capsys, ["train", FMNIST, "--profile", "smoke", "--data-dir", str(empty),
                             "--out", str(tmp_path / "out"), "--set", "batch_size=5000000",
                             "--set", "num_steps=1000"],
                    "num_steps=1000 x batch_size=5000000 needs at least", "GiB", "lower batch_size")
    assert not (tmp_path / "out").exists()


def _finished(data_dir, tmp_path, config=FMNIST):
    out = tmp_path / "out"
    assert main(["train", config, "--profile", "smoke", "--data-dir", str(data_dir), "--out",
                 str(out), "--set", "data.validation_size=20"]) == 0
    return out / "smoke-seed0"


def test_a_corrupt_model_file_is_one_line(data_dir, tmp_path, capsys):
    run = _finished(data_dir, tmp_path)
    (run / "model.pt").write_bytes((run / "model.pt").read_bytes()[:100])
    assert_one_line(capsys, ["export", str(run), "--out", str(tmp_path / "x")],
                    str(run / "model.pt"), "unreadable")
    assert not (tmp_path / "x").exists()


def test_a_checkpoint_of_something_else_is_one_line(data_dir, tmp_path, capsys):
    import torch
    run = _finished(data_dir, tmp_path)
    (run / "final.json").unlink()
    torch.save({"weights": [1, 2]}, run / checkpoints.LATEST)
    assert_one_line(capsys, smoke(data_dir, tmp_path / "out", "--resume"), "not a checkpoint",
                    "no usable checkpoint")


def test_a_damaged_export_is_one_line(data_dir, tmp_path, capsys):
    run = _finished(data_dir, tmp_path)
    npz = run / "model.1bit.npz"
    good = npz.read_bytes()
    npz.write_bytes(good[: len(good) // 2])
    assert_one_line(capsys, ["infer", str(npz), "--data", str(data_dir)], str(npz), "unreadable")
    npz.write_bytes(good)
    manifest = json.loads((run / "model.1bit.json").read_text())
    manifest["layers"][1]["weight_shape"][0] *= 2
    (run / "model.1bit.json").write_text(json.dumps(manifest))
    assert_one_line(capsys, ["infer", str(npz), "--data", str(data_dir)], "different exports")
    manifest["layers"][1]["weight_shape"][0] //= 2
    manifest["classes"] = 7
    (run / "model.1bit.json").write_text(json.dumps(manifest))
    assert_one_line(capsys, ["infer", str(npz), "--data", str(data_dir)], "classes is 7")


def test_a_float_run_has_no_1bit_export(data_dir, tmp_path, capsys):
    run = _finished(data_dir, tmp_path, "configs/fmnist_flt32.yaml")
    assert not (run / "model.1bit.npz").exists()   # the trainer does not write one either
    assert_one_line(capsys, ["export", str(run)], "flt32", "net.binarize: true")
    assert not (run / "model.1bit.npz").exists()


def test_a_damaged_journal_line_is_one_line(tmp_path, capsys):
    import optuna
    from snn_tha.repro.sweep import study as sweep
    journal = tmp_path / "s.journal"
    optuna.logging.set_verbosity(optuna.logging.WARNING)   # its handler may hold a closed stderr
    try:
        sweep.init("configs/sweeps/fmnist_annealing.yaml", str(journal), "s", 2, "smoke")
    finally:
        optuna.logging.set_verbosity(optuna.logging.INFO)
    lines = journal.read_text().splitlines(keepends=True)
    lines[1] = lines[1][: len(lines[1]) // 2] + "\n"
    journal.write_text("".join(lines))
    assert_one_line(capsys, ["sweep", "status", "--study", "s", "--storage", str(journal)],
                    str(journal), "line 2")


def test_a_damaged_temporal_case_runs_again(tmp_path, caplog):
    from snn_tha.repro.paper import temporal
    part = tmp_path / "flt32.json"
    part.write_text('{"key": {"case": ')
    assert temporal.read_case(part) is None
    assert "running the case again" in caplog.text and str(part) in caplog.text
    part.write_text('{"key": 1}')
    assert temporal.read_case(part) is None


def test_a_truncated_cached_kernel_is_built_again(tmp_path):
    from snn_tha.kernels import native
    if native.compiler() is None:
        pytest.skip("no C++ compiler")
    env = {**os.environ, "SNN_THA_CACHE": str(tmp_path / "cache")}
    load = [sys.executable, "-c", "from snn_tha.kernels.fused import cpu; cpu.library(); print('loaded')"]
    assert subprocess.run(load, env=env, capture_output=True, text=True).returncode == 0
    (lib,) = (tmp_path / "cache" / "kernels").glob("*.so")
    lib.write_bytes(lib.read_bytes()[:4096])   # a kill or a full disk mid-copy
    done = subprocess.run(load, env=env, capture_output=True, text=True)
    assert done.returncode == 0 and "loaded" in done.stdout, done.stderr
    assert "damaged or incomplete" in done.stderr and "building it again" in done.stderr


def test_a_seed_gives_the_same_run_in_two_fresh_processes(data_dir, tmp_path):
    """Two processes, same seed and threads: the same loss at every iteration and the same
    accuracies (the engine's C++ kernels, oneDNN's products and the timing-chosen routes
    included; the seconds are the only column that may differ)."""
    env = {**os.environ, "OMP_NUM_THREADS": "2"}
    tables = []
    for name in ("first", "second"):
        argv = ["train", "configs/fmnist_annealing.yaml", "--profile", "smoke", "--data-dir",
                str(data_dir), "--out", str(tmp_path / name), "--set", "data.validation_size=20"]
        subprocess.run([sys.executable, "-m", "snn_tha.repro.cli", *argv], env=env, check=True,
                       capture_output=True)
        run = tmp_path / name / "smoke-seed0"
        metrics = [line.rsplit(",", 1)[0] for line in (run / "metrics.csv").read_text().splitlines()]
        tables.append(((run / "iterations.csv").read_text(), metrics))
    assert tables[0] == tables[1]
    assert len(tables[0][0].splitlines()) > 2   # steps were trained


# ---- issue 41: a good file is never replaced by a worse one ----------------------------------
def _nan_thresholds(monkeypatch):
    from snn_tha.repro.export import run_export
    real = run_export.fold

    def broken(*args, **kwargs):
        layers = real(*args, **kwargs)
        layers[0]["threshold"] = layers[0]["threshold"] * float("nan")
        return layers
    monkeypatch.setattr(run_export, "fold", broken)


def test_a_refused_export_replaces_none_of_the_runs_files(data_dir, tmp_path, capsys, monkeypatch):
    pytest.importorskip("nirtorch")
    run = _finished(data_dir, tmp_path)
    before = files(run)
    _nan_thresholds(monkeypatch)
    assert_one_line(capsys, ["export", str(run), "--nir", "--check", "--data-dir", str(data_dir)],
                    "finite")
    assert files(run) == before and not list(run.glob(".export-*"))


def test_an_export_folder_never_describes_two_networks(data_dir, tmp_path, capsys):
    pytest.importorskip("nirtorch")
    run = _finished(data_dir, tmp_path)
    assert main(smoke(data_dir, tmp_path / "out", "--set", "seed=1")) == 0
    other, shared = tmp_path / "out" / "smoke-seed1", tmp_path / "shared"
    assert main(["export", str(run), "--out", str(shared), "--nir"]) == 0
    before = files(shared)
    assert_one_line(capsys, ["export", str(other), "--out", str(shared)], str(shared),
                    "holds the export of run out/smoke-seed0", "another folder")
    assert files(shared) == before
    assert main(["export", str(run), "--out", str(shared)]) == 0    # the same run: the set
    assert sorted(files(shared)) == ["model.1bit.json", "model.1bit.npz"]   # as a whole


def test_ship_writes_under_the_results_root_and_replaces_only_when_told(data_dir, tmp_path, capsys,
                                                                        results):
    committed = {p: digest(p) for p in Path("results/models").rglob("*") if p.is_file()}
    run = _finished(data_dir, tmp_path)
    assert main(["ship", str(run), "--data-dir", str(data_dir)]) == 0
    shipped = results / "models" / Path(FMNIST).stem
    assert (shipped / "card.json").is_file()
    assert_one_line(capsys, ["ship", str(run), "--data-dir", str(data_dir)], str(shipped), "--replace")
    assert main(["ship", str(run), "--data-dir", str(data_dir), "--replace"]) == 0
    assert {p: digest(p) for p in Path("results/models").rglob("*") if p.is_file()} == committed


def test_a_float_run_ships_without_a_1bit_file(data_dir, tmp_path, results):
    run = _finished(data_dir, tmp_path, "configs/fmnist_flt32.yaml")
    assert main(["ship", str(run), "--data-dir", str(data_dir)]) == 0
    shipped = results / "models" / "fmnist_flt32"
    assert not list(shipped.glob("model.1bit.*")) and (shipped / "model.pt").is_file()
    card = (shipped / "MODEL_CARD.md").read_text()
    assert "float32 weights" in card and "load_run" in card and "snn-tha export" not in card


def test_resume_says_which_temporal_cases_it_ran_again(tmp_path, caplog):
    from snn_tha.repro import yaml_config as config
    from snn_tha.repro.paper import temporal
    cfg = config.load_yaml(temporal.TemporalCodingConfig, "configs/temporal_coding.yaml",
                           ["iterations=2", "num_hidden=20", "snapshot_iterations=[0,1]"])
    temporal.run(cfg, tmp_path)
    part = tmp_path / "cases" / "flt32.json"
    part.write_text(part.read_text()[:200])
    caplog.clear()
    with caplog.at_level(logging.INFO):
        temporal.run(cfg, tmp_path, resume=True)
    line = [r.message for r in caplog.records if "--resume: kept" in r.message]
    assert line and "kept 4 finished case(s)" in line[0] and f"flt32 ({part} was truncated" in line[0]


# ---- issue 41: a seed is counted once, and only what was checked reaches a table -----------
def test_a_backup_copy_of_a_run_counts_once(data_dir, results, capsys):
    import shutil
    out = _two_runs(data_dir, results)
    shutil.copytree(out / "smoke-seed0", out / "smoke-seed0.bak")
    assert main(["claims", "--no-train", "--profile", "smoke"]) == 0
    text = (results / "claims_smoke.md").read_text()
    assert "bsnn 2" in text and "n=2" in text and "n=3" not in text   # two seeds, not three


def test_two_results_of_one_seed_are_refused(data_dir, results, capsys):
    import shutil
    out = _two_runs(data_dir, results)
    shutil.copytree(out / "smoke-seed0", out / "other-name")
    final = json.loads((out / "other-name" / "final.json").read_text())
    final["test_acc"] = 0.5
    (out / "other-name" / "final.json").write_text(json.dumps(final))
    assert_one_line(capsys, ["claims", "--no-train", "--profile", "smoke"], "other-name",
                    "smoke-seed0", "counted once")


def test_a_run_without_its_config_is_refused(data_dir, results, capsys):
    out = _two_runs(data_dir, results)
    (out / "smoke-seed1" / "config.yaml").unlink()
    assert_one_line(capsys, ["claims", "--no-train", "--profile", "smoke"],
                    str(out / "smoke-seed1"), "no config.yaml")


def test_a_nan_in_metrics_never_reaches_a_figure(data_dir, results, capsys):
    out = _two_runs(data_dir, results)
    metrics = out / "smoke-seed1" / "metrics.csv"
    lines = metrics.read_text().splitlines()
    header = lines[0].split(",")
    row = lines[1].split(",")
    row[header.index("dead_0")] = "nan"
    metrics.write_text("\n".join([lines[0], ",".join(row), *lines[2:]]) + "\n")
    assert_one_line(capsys, ["claims", "--no-train", "--profile", "smoke"], str(metrics),
                    "dead_0", "'nan'")
    assert not (results / "claims_smoke.md").exists()


# ---- issue 41: left from the first round ----------------------------------------------------
def test_the_memory_check_reads_the_address_space_limit(data_dir, tmp_path):
    code = ("import resource, sys; resource.setrlimit(resource.RLIMIT_AS, (8 << 30, 8 << 30)); "
            "from snn_tha.repro.cli.main import main; sys.exit(main(sys.argv[1:]))")
    done = subprocess.run([sys.executable, "-c", code, *smoke(data_dir, tmp_path / "out"),
                           "--set", "batch_size=5000", "--set", "num_steps=100"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert "ulimit -v" in done.stderr and "lower batch_size" in done.stderr


def test_a_sweep_whose_data_went_missing_is_one_line(data_dir, tmp_path, capsys):
    import shutil
    journal = tmp_path / "s.journal"
    assert main(["sweep", "init", "--study", "s", "--space", "configs/sweeps/mnist_annealing.yaml",
                 "--budget", "1", "--profile", "smoke", "--storage", str(journal),
                 "--set", f"data.data_dir={data_dir}"]) == 0
    shutil.rmtree(data_dir)
    assert_one_line(capsys, ["sweep", "work", "--study", "s", "--storage", str(journal)],
                    str(data_dir))


def test_a_lock_of_a_reused_pid_is_stale_and_a_live_one_names_its_file(data_dir, tmp_path, capsys):
    run = tmp_path / "out" / "smoke-seed0"
    run.mkdir(parents=True)
    lock = run / ".lock"
    lock.write_text(json.dumps({"pid": os.getpid()}))   # this process: alive, started before
    assert_one_line(capsys, smoke(data_dir, tmp_path / "out"), "another training", str(lock))
    old = time.time() - 10 ** 6     # a lock written long before this process started: the
    os.utime(lock, (old, old))      # writer is gone and its pid was given to this process
    assert main(smoke(data_dir, tmp_path / "out")) == 0
    assert (run / "final.json").is_file()
