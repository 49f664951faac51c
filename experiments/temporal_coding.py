"""Temporal coding (paper Sec. 4.1, Table 3, Figure 4): the paper's protocol.

One 100-1000-1 dense network, T=100, one seeded Poisson input, 1000 SGD iterations per case:
(a) flt32 theta=1, (b) BSNN theta=1, (c) BSNN theta=50, (d) BSNN annealing 5 -> 50 with the
paper's Eq. 8 surrogate, and (d') the same with the release's surrogate (current threshold).
Settings: configs/temporal_coding.yaml. Writes results/temporal_coding/ (metrics.csv,
traces.json, summary.json with the claims decided, figure4.png).

    python experiments/temporal_coding.py [--resume] [--device cpu] [--set iterations=200]
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout
from snn_tha.repro import paths  # noqa: E402
from snn_tha.repro.cli.main import main as cli  # noqa: E402


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    return cli(["temporal", "--config", str(paths.ROOT / "configs" / "temporal_coding.yaml"),
                "--out", str(paths.results_root() / "temporal_coding"), *argv])


if __name__ == "__main__":
    sys.exit(main())
