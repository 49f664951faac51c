"""Shared fixtures: offline data in torchvision's layout (never a download, never Debian's)."""
import optuna  # noqa: F401  (imported here, its log handler binds the session's stderr, not the
import pytest  # capsys stream of whichever test first imports it, which is closed after that test)

from snn_tha.repro.data import static
from snn_tha.repro.data.fixtures import write_torchvision_layout


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    """A data root with small generated MNIST and FashionMNIST idx files (120 train, 40 test)."""
    monkeypatch.setattr(static, "_try_download", lambda root, name: False)
    monkeypatch.setattr(static, "DEBIAN_FASHION_MNIST", tmp_path / "no-debian")
    for name in ("mnist", "fashion_mnist"):
        write_torchvision_layout(tmp_path / "data", name, n_train=120, n_test=40)
    return tmp_path / "data"


def pytest_terminal_summary(terminalreporter):
    """With SNN_THA_NUMERICS_LOG set (make test's emulated instruction sets): one line with the
    spike comparisons made, the flips, the smallest membrane margin and the largest difference."""
    import json
    import os
    path = os.environ.get("SNN_THA_NUMERICS_LOG")
    if not path or not os.path.isfile(path):
        return
    rows = [json.loads(line) for line in open(path)]
    spikes = [r for r in rows if r["kind"] == "spikes"]
    margins = {}
    for r in rows:
        if r["kind"] == "margin":
            required = r.get("required", 0.0)
            margins[required] = min(margins.get(required, float("inf")), r["margin"])
    diffs = [r["membrane_diff"] for r in spikes if r.get("membrane_diff") is not None]
    isa = os.environ.get("ATEN_CPU_CAPABILITY", "native")
    clear = ", ".join(f"{found:.2e} (required {required:.0e})" for required, found in sorted(margins.items()))
    terminalreporter.write_line(
        f"numerics [ATEN_CPU_CAPABILITY={isa}]: {len(spikes)} spike comparisons, "
        f"{sum(r['flips'] for r in spikes)} flips, smallest margins {clear or 'none'}, "
        f"largest membrane difference {max(diffs, default=0.0):.2e}")


@pytest.fixture
def trained_run(data_dir, tmp_path):
    """A finished FashionMNIST annealing run (smoke profile, 2 epochs) on the generated data."""
    from snn_tha.repro import schema
    from snn_tha.repro.run.train import train
    cfg = schema.load_config("configs/fmnist_annealing.yaml", "smoke", [
        f"data.data_dir={data_dir}", "data.validation_size=20", "epochs=2", "patience=2"])
    train(cfg, tmp_path / "run", progress=False)
    return tmp_path / "run" / "smoke-seed0", data_dir
