"""One record per data set and per variant: every name, config prefix, label, table and input
kind the reproduction prints or looks up is read from here (issue 21). The torch-free numpy
engine (`snn_tha.deploy.infer`) keeps its own two idx folder names: it must not import this."""
from dataclasses import dataclass


@dataclass(frozen=True)
class Dataset:
    name: str      # `data.name` in the configs, `dataset` in final.json
    prefix: str    # configs/<prefix>_<variant>.yaml and the experiment names
    label: str     # what tables, claims and figures print
    table: str     # the paper's table: table1 (static images) or table2 (events)
    arch: str      # the architecture (snn_tha.models.ARCHITECTURES) its input fits
    torchvision: str = ""   # torchvision's class and folder name (data/<name>/raw/), if it has one

    @property
    def static(self):
        return self.table == "table1"


@dataclass(frozen=True)
class Variant:
    name: str      # configs/<prefix>_<name>.yaml, `variant` in final.json
    label: str


DATASETS = {d.name: d for d in (
    Dataset("mnist", "mnist", "MNIST", "table1", "static_conv", "MNIST"),
    Dataset("fashion_mnist", "fmnist", "FashionMNIST", "table1", "static_conv", "FashionMNIST"),
    Dataset("mnist5k", "mnist", "MNIST-5k sample", "table1", "static_conv"),   # the offline sample, MNIST's configs
    Dataset("dvs_gesture", "dvs", "DVS128 Gesture", "table2", "dvs_conv"),
    Dataset("shd", "shd", "SHD", "table2", "shd_dense"))}
PAPER_DATASETS = ("fashion_mnist", "mnist", "dvs_gesture", "shd")   # each with its own configs

# the paper's four variants, then ours: BSNN fixed at the annealing config's theta_inf, and
# annealing with alphas scaled to the run's budget (issue 10); tables list them in this order
VARIANTS = {v.name: v for v in (
    Variant("flt32", "flt32"),
    Variant("bsnn_theta1", "BSNN θ=1"),
    Variant("bsnn", "BSNN (tuned θ)"),
    Variant("annealing", "threshold annealing"),
    Variant("bsnn_theta_inf", "BSNN fixed θ∞ (ours)"),
    Variant("annealing_budget", "annealing, budget-scaled α (ours)"))}
# `snn-tha claims` trains them in this order (fixed θ∞ before the annealing it is compared with)
CLAIM_ORDER = ("flt32", "bsnn_theta1", "bsnn", "bsnn_theta_inf", "annealing", "annealing_budget")
assert sorted(CLAIM_ORDER) == sorted(VARIANTS)

PREFIXES = {name: DATASETS[name].prefix for name in PAPER_DATASETS}
LABELS = {d.name: d.label for d in DATASETS.values()}
PREFIX_LABELS = {DATASETS[name].prefix: DATASETS[name].label for name in PAPER_DATASETS}
VARIANT_LABELS = {v.name: v.label for v in VARIANTS.values()}


def experiment_of(dataset, variant):
    """The experiment (config) name of a data set's variant: its runs are the paper's runs."""
    found = DATASETS.get(dataset)
    return f"{found.prefix}_{variant}" if found else None


def table_prefixes(table):
    """The config prefixes of a table's data sets (configs/<prefix>_<variant>.yaml)."""
    return tuple(sorted({d.prefix for d in DATASETS.values() if d.table == table}))


def configured_variants(prefix):
    """The variants a data set has a config for, in CLAIM_ORDER (what its experiment runs)."""
    from snn_tha.repro import paths
    return [v for v in CLAIM_ORDER if (paths.CONFIGS / f"{prefix}_{v}.yaml").is_file()]


def table_datasets(table):
    """The data sets of one of the paper's tables, in catalogue order."""
    return tuple(d.name for d in DATASETS.values() if d.table == table)
