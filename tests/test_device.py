"""Issue 11, item 0: runs on the device the user picks; checkpoints cross devices."""
import json

import pytest
import torch

from snn_tha.repro.run import device
from snn_tha.repro.cli.main import main
from snn_tha.repro.yaml_config import ConfigError


CUDA = torch.cuda.is_available()




def smoke(data_dir, out, *extra):
    return ["train", "configs/fmnist_annealing.yaml", "--profile", "smoke", "--data-dir",
            str(data_dir), "--out", str(out), "--set", "data.validation_size=20", *extra]


def test_auto_is_cuda_when_present_else_cpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert device.resolve("auto") == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert device.resolve("auto") == torch.device("cuda")
    assert device.resolve("cpu") == torch.device("cpu")


@pytest.mark.parametrize("name, needle", [("gpu", "use auto, cpu, cuda or cuda:N"),
                                          ("cuda:x", "use auto, cpu, cuda or cuda:N")])
def test_bad_device_names(name, needle):
    with pytest.raises(ConfigError, match=needle):
        device.resolve(name)


@pytest.mark.skipif(CUDA, reason="this machine has CUDA: the no-CUDA message cannot be shown")
def test_cuda_without_a_gpu_is_one_line_and_writes_nothing(data_dir, tmp_path, capsys):
    assert main(smoke(data_dir, tmp_path / "out", "--device", "cuda")) == 2
    err = [l for l in capsys.readouterr().err.splitlines() if l.startswith("snn-tha: error:")]
    assert len(err) == 1 and "no CUDA device is visible" in err[0]
    assert not (tmp_path / "out" / "smoke-seed0" / "final.json").exists()


def test_a_cpu_run_is_the_same_with_device_cpu_and_records_it(data_dir, tmp_path):
    assert main(smoke(data_dir, tmp_path / "a", "--device", "cpu")) == 0
    assert main(smoke(data_dir, tmp_path / "b", "--device", "cpu")) == 0
    a = json.loads((tmp_path / "a" / "smoke-seed0" / "final.json").read_text())
    b = json.loads((tmp_path / "b" / "smoke-seed0" / "final.json").read_text())
    assert a["device"] == "cpu" and a["test_acc"] == b["test_acc"]
    strip = lambda p: [l.rsplit(",", 1)[0] for l in p.read_text().splitlines()]  # noqa: E731 (seconds)
    assert strip(tmp_path / "a/smoke-seed0/metrics.csv") == strip(tmp_path / "b/smoke-seed0/metrics.csv")


@pytest.mark.skipif(not CUDA, reason="no CUDA device: GPU training not checked here "
                                     "(scripts/gpu_check.sh runs it on a GPU machine)")
def test_one_smoke_epoch_on_cuda_then_resume_on_the_cpu(data_dir, tmp_path):
    out = tmp_path / "out"
    assert main(smoke(data_dir, out, "--device", "cuda")) == 0
    final = json.loads((out / "smoke-seed0" / "final.json").read_text())
    assert final["device"].startswith("cuda:") and 0 <= final["test_acc"] <= 1
    assert main(smoke(data_dir, out, "--device", "cpu", "--set", "epochs=2", "--set",
                      "patience=2", "--resume")) == 0
    final = json.loads((out / "smoke-seed0" / "final.json").read_text())
    assert final["device"] == "cpu" and final["epochs_run"] == 2
