"""Everything a run needs before its first step: data splits, optimiser and LR schedule,
the annealing schedule (with budget-scaled alphas where configured)."""
import torch

from snn_tha.nn.annealing import ThresholdAnnealing
from snn_tha.repro.data import Split
from snn_tha.repro.data.common import DataError, holdout
from snn_tha.repro.data.events import load_events
from snn_tha.repro.data.static import image_to_current, load_static
from snn_tha.repro.paths import data_root


def prepare_data(cfg):
    """(train, validation, test) splits and the batch -> network-input function."""
    if cfg.data.is_static:
        train_set, test_set = load_static(cfg.data.name, cfg.data.data_dir)
        to_input = image_to_current
    else:
        train_set, test_set = load_events(cfg.data, cfg.data.data_dir)
        binary = cfg.data.encoding == "binary"
        to_input = lambda frames: frames.dense(binary)  # noqa: E731
    for name, split in (("training", train_set), ("test", test_set)):
        if len(split) == 0:
            raise DataError(f"{cfg.data.name}: the {name} split under {data_root(cfg.data.data_dir)} "
                            f"is empty; prepare the data again (`make data`)")
    validation = Split(train_set.inputs[:0], train_set.labels[:0])
    if cfg.data.validation_size > 0:
        if cfg.data.validation_size >= len(train_set):
            raise DataError(f"data.validation_size={cfg.data.validation_size} leaves no training "
                            f"data: {cfg.data.name} has {len(train_set)} training examples")
        train_set, validation = holdout(train_set, cfg.data.validation_size)
    return (train_set.subset(cfg.data.train_subset), validation,
            test_set.subset(cfg.data.test_subset), to_input)


def make_optimizer(cfg, model, iters_per_epoch):
    o = cfg.optim
    if o.name == "adam":
        optimizer = torch.optim.Adam(model.parameters(), lr=o.lr, betas=tuple(o.betas))
    else:
        optimizer = torch.optim.SGD(model.parameters(), lr=o.lr, momentum=o.momentum)
    scheduler = None
    if o.schedule == "cosine":
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(
            optimizer, T_max=cosine_period(cfg, iters_per_epoch))
    return optimizer, scheduler


def cosine_period(cfg, iters_per_epoch):
    """T_max in iterations: the configured count (release) or period_epochs of this run's epochs."""
    if cfg.optim.period_iterations:
        return cfg.optim.period_iterations
    return max(1, round(cfg.optim.period_epochs * iters_per_epoch))


def budget_scaled_alpha(iterations, within=0.01):
    """alpha with (1 - alpha)**N = `within`: theta reaches theta_inf within 1% at iteration N."""
    return 1.0 - within ** (1.0 / max(1, iterations))


def make_annealing(cfg, model, iterations):
    """The run's annealing schedule (None when thresholds are fixed) and its alphas."""
    a = cfg.annealing
    if not cfg.annealed:
        return None
    alpha = a.alpha if a.mode == "anneal" else (budget_scaled_alpha(iterations),) * len(a.alpha)
    return ThresholdAnnealing(model, a.theta0, a.theta_inf, alpha, update=a.update)
