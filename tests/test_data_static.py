import pytest
import torch

from snn_tha.repro.data import DataError, load_static
from snn_tha.repro.data import static
from snn_tha.repro.data.fixtures import (write_debian_fashion_mnist, write_mnist5k_csv,
                                   write_torchvision_layout)


@pytest.fixture(autouse=True)
def offline(monkeypatch, tmp_path):
    # never touch the network or the machine's real Debian files from tests
    monkeypatch.setattr(static, "_try_download", lambda root, name: False)
    monkeypatch.setattr(static, "DEBIAN_FASHION_MNIST", tmp_path / "no-debian")


@pytest.mark.parametrize("name", ["mnist", "fashion_mnist"])
def test_loads_torchvision_layout(tmp_path, name):
    write_torchvision_layout(tmp_path, name, n_train=30, n_test=10)
    train, test = load_static(name, tmp_path)
    assert train.inputs.shape == (30, 28, 28) and train.inputs.dtype == torch.uint8
    assert len(test) == 10 and test.labels.dtype == torch.int64
    # the label is encoded as the row of a bright bar
    label = int(train.labels[0])
    assert train.inputs[0, 2 + 2 * label, 10] == 250


@pytest.mark.parametrize("name", ["mnist", "fashion_mnist"])
def test_the_idx_reader_gives_torchvisions_tensors(tmp_path, name):
    """The loader reads the idx files itself (no torchvision import at run time): the same
    uint8 images and labels as torchvision's own classes from the same files."""
    import torchvision
    write_torchvision_layout(tmp_path, name, n_train=30, n_test=10)
    ours = load_static(name, tmp_path)
    cls = getattr(torchvision.datasets, static.TORCHVISION_NAMES[name])
    for split, train in zip(ours, (True, False)):
        theirs = cls(str(tmp_path), train=train)
        assert torch.equal(split.inputs, theirs.data) and split.inputs.dtype == theirs.data.dtype
        assert torch.equal(split.labels, theirs.targets.long())


def test_debian_package_path_is_found_and_unpacked(tmp_path, monkeypatch):
    debian = tmp_path / "usr-share-datasets-fashion-mnist"
    write_debian_fashion_mnist(debian, n_train=20, n_test=8)
    monkeypatch.setattr(static, "DEBIAN_FASHION_MNIST", debian)
    train, test = load_static("fashion_mnist", tmp_path / "data")
    assert (len(train), len(test)) == (20, 8)
    assert (tmp_path / "data/FashionMNIST/raw/train-images-idx3-ubyte").is_file()


def test_offline_error_names_the_three_ways(tmp_path):
    with pytest.raises(DataError) as err:
        load_static("fashion_mnist", tmp_path)
    message = str(err.value)
    assert "\n" not in message
    assert f"put the idx files in {tmp_path}/FashionMNIST/raw/" in message
    assert "dataset-fashion-mnist (`make data`)" in message and "torchvision downloads it" in message


def test_truncated_idx_file(tmp_path):
    raw = write_torchvision_layout(tmp_path, "mnist", n_train=30, n_test=10)
    path = raw / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(DataError, match=f"{path}: truncated or corrupt idx file"):
        load_static("mnist", tmp_path)


def test_corrupt_idx_header(tmp_path):
    raw = write_torchvision_layout(tmp_path, "mnist", n_train=30, n_test=10)
    path = raw / "t10k-labels-idx1-ubyte"
    path.write_bytes(b"garbage!" + path.read_bytes()[8:])
    with pytest.raises(DataError, match=f"{path}: not an idx labels file"):
        load_static("mnist", tmp_path)


def test_mnist5k_sample_split(tmp_path):
    write_mnist5k_csv(tmp_path / "mnist5k" / "mnist_5k.csv.gz", per_class=110)
    train, test = load_static("mnist5k", tmp_path)
    assert (len(train), len(test)) == (100, 1000)
    assert torch.bincount(test.labels).tolist() == [100] * 10


def test_unknown_dataset(tmp_path):
    with pytest.raises(DataError, match="unknown static data set 'cifar'"):
        load_static("cifar", tmp_path)
