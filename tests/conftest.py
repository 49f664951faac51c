"""Shared fixtures: offline data in torchvision's layout (never a download, never Debian's)."""
import pytest

from snn_tha.data import static
from snn_tha.data.fixtures import write_torchvision_layout


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    """A data root with small generated MNIST and FashionMNIST idx files (120 train, 40 test)."""
    monkeypatch.setattr(static, "_try_download", lambda root, name: False)
    monkeypatch.setattr(static, "DEBIAN_FASHION_MNIST", tmp_path / "no-debian")
    for name in ("mnist", "fashion_mnist"):
        write_torchvision_layout(tmp_path / "data", name, n_train=120, n_test=40)
    return tmp_path / "data"
