"""FashionMNIST (paper Sec. 4.2): the paper's protocol for this data set.

Variants (configs/fmnist_*.yaml, the release's settings, README.md, "The release protocol"):
  flt32, BSNN theta=1, BSNN tuned theta (paper Tables 4-5), BSNN fixed at theta_inf and
  threshold annealing, plus annealing with alphas scaled to the budget.
Budget: --profile (default `claims`: 3 epochs over 6,000 training images, T=100) x --seeds.
Writes results/runs/fmnist_<variant>/<profile>-seed<k>/, results/tables/table1_<profile>.{md,csv},
results/claims_<profile>.md and its figures, and the fidelity ablation (--no-ablation to skip).

    python experiments/fashion_mnist.py --profile claims --seeds 3 [--resume] [--dry-run]
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout
from snn_tha.repro.cli.experiment import script_main  # noqa: E402


def main(argv=None):
    return script_main("fashion_mnist", __doc__, argv)


if __name__ == "__main__":
    sys.exit(main())
