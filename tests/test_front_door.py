"""What a newcomer reads and runs says what is true (issue 40, section 3): one default profile
and one list of them, `make help` with nothing unexpanded, the temporal summary quoting the
command that ran, `table1` printing its table with one line per missing data set, a reused run
said to be reused, and `export --check` on a stated slice."""
import json
import logging
import subprocess

import pytest

from snn_tha.repro import paths
from snn_tha.repro.cli.commands import build_parser
from snn_tha.repro.cli.main import main


@pytest.mark.parametrize("command", [["train", "x.yaml"], ["table1"], ["claims"], ["ablate", "x.yaml"],
                                     ["parity"], ["runs"]])
def test_every_profile_help_lists_the_profiles_there_are(command, capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args([*command, "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for name in paths.profile_names():
        assert name in text
    if command[0] in ("table1", "claims", "ablate", "parity"):
        assert f"(default: {paths.DEFAULT_PROFILE})" in text


def test_make_help_expands_everything():
    done = subprocess.run(["make", "-s", "help"], cwd=paths.ROOT, capture_output=True, text=True,
                          check=True)
    assert "make reproduce" in done.stdout and "$(" not in done.stdout


def test_the_temporal_summary_quotes_the_command_that_ran(tmp_path, monkeypatch):
    import importlib.util
    monkeypatch.setenv("SNN_THA_RESULTS", str(tmp_path))
    spec = importlib.util.spec_from_file_location("tc", paths.ROOT / "experiments" / "temporal_coding.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.main(["--set", "iterations=2", "--set", "num_hidden=20",
                        "--set", "snapshot_iterations=[0,1]"]) == 0
    summary = json.loads((tmp_path / "temporal_coding" / "summary.json").read_text())
    assert summary["command"] == ("snn-tha temporal --config configs/temporal_coding.yaml "
                                  "--set iterations=2 --set num_hidden=20 "
                                  "--set 'snapshot_iterations=[0,1]'")


def test_table1_prints_its_table_and_one_line_per_missing_data_set(data_dir, tmp_path, monkeypatch,
                                                                   capsys, caplog):
    import shutil
    shutil.rmtree(data_dir / "MNIST")
    monkeypatch.setenv("SNN_THA_RESULTS", str(tmp_path / "results"))
    monkeypatch.setenv("SNN_THA_DATA", str(data_dir))
    with caplog.at_level(logging.INFO):
        assert main(["table1", "--profile", "smoke", "--set", "data.validation_size=20",
                     "--set", "max_batches_per_epoch=1"]) == 0
        assert "| FashionMNIST | threshold annealing | smoke |" in capsys.readouterr().out
        skipped = [r.message for r in caplog.records if r.message.startswith("skipping mnist")]
        assert len(skipped) == 1, skipped
        caplog.clear()
        assert main(["table1", "--profile", "smoke", "--set", "data.validation_size=20",
                     "--set", "max_batches_per_epoch=1"]) == 0
    reused = [r.message for r in caplog.records if "reused, not trained again" in r.message]
    assert reused and not [r for r in caplog.records if "left as it is" in r.message]


def test_export_check_runs_the_stated_slice(data_dir, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["train", "configs/fmnist_bsnn.yaml", "--profile", "smoke", "--data-dir",
                 str(data_dir), "--out", str(out), "--set", "data.validation_size=20"]) == 0
    assert main(["export", str(out / "smoke-seed0"), "--out", str(tmp_path / "x"), "--check",
                 "--images", "7", "--data-dir", str(data_dir)]) == 0
    assert json.loads((tmp_path / "x" / "deploy_check.json").read_text())["images"] == 7
    assert main(["export", str(out / "smoke-seed0"), "--out", str(tmp_path / "x"), "--check",
                 "--all-images", "--data-dir", str(data_dir)]) == 0
    assert json.loads((tmp_path / "x" / "deploy_check.json").read_text())["images"] == 40
