"""Issue 12 item 1: experiments/<dataset>.py are the protocols; they run end to end here."""
import importlib.util
import json
from pathlib import Path

import pytest

from snn_tha.repro.data import static
from snn_tha.repro.data.fixtures import write_torchvision_layout

EXPERIMENTS = Path(__file__).resolve().parent.parent / "experiments"


SCRIPT_DATASETS = {"mnist": "mnist", "fashion_mnist": "fashion_mnist", "dvs128_gesture": "dvs_gesture",
                   "shd": "shd"}


def load(name):
    """experiments/<name>.py, with VARIANTS: the catalogue's variants it runs."""
    from snn_tha.repro import catalogue
    spec = importlib.util.spec_from_file_location(name, EXPERIMENTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    if name in SCRIPT_DATASETS:
        module.VARIANTS = catalogue.configured_variants(catalogue.DATASETS[SCRIPT_DATASETS[name]].prefix)
    return module


@pytest.mark.parametrize("name", ["mnist", "fashion_mnist", "dvs128_gesture", "shd"])
def test_dry_run_lists_one_command_per_variant_and_seed(name, capsys):
    module = load(name)
    assert module.main(["--dry-run", "--seeds", "2", "--profile", "smoke", "--no-ablation"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 * len(module.VARIANTS)
    assert all(l.startswith("snn-tha train configs/") and "--profile smoke" in l for l in lines)
    assert {l.split("--set seed=")[1].split()[0] for l in lines} == {"0", "1"}


def _fashion_mnist_fixture(tmp_path, monkeypatch):
    """experiments/fashion_mnist.py on generated data, results into tmp_path."""
    monkeypatch.setattr(static, "_try_download", lambda root, name: False)
    monkeypatch.setattr(static, "DEBIAN_FASHION_MNIST", tmp_path / "no-debian")
    write_torchvision_layout(tmp_path / "data", "fashion_mnist", n_train=100, n_test=40)
    monkeypatch.setenv("SNN_THA_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("SNN_THA_RESULTS", str(tmp_path / "results"))
    module = load("fashion_mnist")
    return module


def test_fashion_mnist_protocol_runs_end_to_end(tmp_path, monkeypatch):
    module = _fashion_mnist_fixture(tmp_path, monkeypatch)
    assert module.main(["--profile", "smoke", "--seeds", "2", "--no-ablation", "--device", "cpu"]) == 0
    results = tmp_path / "results"
    finals = sorted(results.glob("runs/fmnist_*/smoke-seed*/final.json"))
    assert len(finals) == 2 * len(module.VARIANTS)
    assert (results / "tables" / "table1_smoke.md").is_file()
    assert "## FashionMNIST" in (results / "claims_smoke.md").read_text()
    assert json.loads(finals[0].read_text())["device"] == "cpu"


def _run_folders(lines):
    """(run folder's parent, seed) of each `snn-tha train` line of a dry run: --out, else the
    experiment named by the config file."""
    found = set()
    for line in lines:
        seed = line.split("--set seed=")[1].split()[0]
        folder = line.split("--out ")[1].split()[0] if "--out " in line else Path(line.split()[2]).stem
        found.add((Path(folder).name, seed))
    return found


def test_dry_run_lists_exactly_the_runs_a_real_run_trains(tmp_path, monkeypatch, capsys):
    module = _fashion_mnist_fixture(tmp_path, monkeypatch)
    args = ["--profile", "smoke", "--seeds", "1", "--device", "cpu"]
    assert module.main(args + ["--dry-run"]) == 0
    planned = _run_folders(capsys.readouterr().out.splitlines())
    assert module.main(args) == 0
    trained = {(f.parent.parent.name, f.parent.name.split("seed")[1])
               for f in (tmp_path / "results").glob("runs/**/smoke-seed*/final.json")}
    assert planned == trained and len(trained) > len(module.VARIANTS)   # the ablation included


def test_a_missing_data_set_is_one_line(tmp_path, monkeypatch, capsys):
    (tmp_path / "data").mkdir()
    monkeypatch.setenv("SNN_THA_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("SNN_THA_RESULTS", str(tmp_path / "results"))
    assert load("shd").main(["--profile", "smoke", "--seeds", "1", "--no-ablation"]) == 2
    err = [l for l in capsys.readouterr().err.splitlines() if l.startswith("snn-tha: error:")]
    assert len(err) == 1 and "SHD not found" in err[0]
    assert not list((tmp_path / "results").glob("runs/*/*/final.json"))


def test_dry_run_equals_snn_tha_runs(capsys):
    from snn_tha.repro.cli.main import main
    module = load("fashion_mnist")
    assert module.main(["--dry-run", "--seeds", "2", "--profile", "paper", "--no-ablation"]) == 0
    dry = capsys.readouterr().out
    experiments = [f"fmnist_{v}" for v in module.VARIANTS]
    assert main(["runs", "--profile", "paper", "--seeds", "2", "--experiments", *experiments]) == 0
    assert capsys.readouterr().out == dry


def test_mnist_and_event_protocols_run_on_fixtures(tmp_path, monkeypatch):
    from snn_tha.repro.data.fixtures import write_dvs_gesture, write_shd
    monkeypatch.setattr(static, "_try_download", lambda root, name: False)
    write_torchvision_layout(tmp_path / "data", "mnist", n_train=100, n_test=40)
    write_dvs_gesture(tmp_path / "data")
    write_shd(tmp_path / "data")
    monkeypatch.setenv("SNN_THA_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("SNN_THA_RESULTS", str(tmp_path / "results"))
    common = ["--profile", "smoke", "--seeds", "1", "--no-ablation", "--device", "cpu"]
    assert load("mnist").main(common) == 0
    for name in ("dvs128_gesture", "shd"):   # the fixtures hold a few samples: small splits
        assert load(name).main(common + ["--set", "data.validation_size=4", "--set", "batch_size=4"]) == 0
    results = tmp_path / "results"
    assert (results / "tables" / "table2_smoke.md").is_file()
    text = (results / "claims_smoke.md").read_text()
    assert "## MNIST" in text and "## SHD" in text and "## DVS128 Gesture" in text


def test_temporal_coding_protocol_runs(tmp_path, monkeypatch):
    monkeypatch.setenv("SNN_THA_RESULTS", str(tmp_path / "results"))
    argv = [a for s in ("iterations=4", "num_hidden=30", "snapshot_iterations=[0,3]")
            for a in ("--set", s)]
    assert load("temporal_coding").main(argv) == 0
    summary = json.loads((tmp_path / "results" / "temporal_coding" / "summary.json").read_text())
    assert summary["budget"]["iterations"] == 4 and "theta50_never_spikes" in summary["claims"]
    assert (tmp_path / "results" / "temporal_coding" / "figure4.png").is_file()
