"""Threshold ranges in units of the membrane scale (snn_tha.repro.sweep.scale, `scale: membrane`)."""
import dataclasses
import math
from pathlib import Path

import optuna
import pytest

from snn_tha.repro import schema
from snn_tha.repro.sweep import scale as sweep_scale, study as sweep
from snn_tha.repro.yaml_config import ConfigError


def test_current_scale_from_batch_norm_fan_in_and_rate():
    cfg = schema.load_config("configs/fmnist_annealing.yaml")
    with_bn = sweep_scale.current_std(cfg.net_config, 0.2)
    assert with_bn[:2] == [1.0, 1.0]                       # conv layers with batch norm
    assert with_bn[2] == pytest.approx(math.sqrt(1024 * sweep_scale.SPIKE_RATE))  # +-1 weights
    no_bn = sweep_scale.current_std(dataclasses.replace(cfg.net_config, batch_norm=False), 0.2)
    assert no_bn[0] == pytest.approx(math.sqrt(25 * 0.2))    # image input, 5x5 kernel
    assert no_bn[1] == pytest.approx(math.sqrt(400 * sweep_scale.SPIKE_RATE))
    flt = sweep_scale.current_std(dataclasses.replace(cfg.net_config, binarize=False), 0.2)
    bound_sq = 1.5 / (1024 + 10)                              # glorot init, E[w^2] = bound^2 / 3
    assert flt[2] == pytest.approx(math.sqrt(1024 * 0.1 * bound_sq / 3), rel=0.05)


def test_membrane_scale_integrates_over_the_steps():
    cfg = schema.load_config("configs/fmnist_annealing.yaml")
    net = dataclasses.replace(cfg.net_config, beta=0.5)
    assert sweep_scale.membrane_scales(net, 5, 0.2)[0] == (1 - 0.5 ** 5) / 0.5
    assert sweep_scale.membrane_scales(dataclasses.replace(net, beta=1.0), 7, 0.2)[0] == 7


SCALED_SPACES = sorted(p for p in Path("configs/sweeps").glob("*.yaml")
                       if any(s.scale for s in sweep.load_space(p).params.values()))


def test_every_searched_threshold_is_scaled():
    """theta1 spaces search no threshold; every other space scales all of its thresholds."""
    assert len(SCALED_SPACES) == 12
    for path in SCALED_SPACES:
        for name, spec in sweep.load_space(path).params.items():
            assert bool(spec.scale) == sweep_scale.is_threshold_param(name), (path, name)


@pytest.mark.parametrize("path", SCALED_SPACES, ids=lambda p: p.stem)
@pytest.mark.parametrize("profile", ["smoke", "tiny", None], ids=["smoke", "tiny", "paper-T"])
def test_published_values_lie_in_the_scaled_ranges_and_come_back_exactly(path, profile):
    space = sweep.load_space(path)
    published = sweep.published_params(space, "release", profile)
    cfg = schema.load_config(space.config_path, profile)
    for name, spec in space.params.items():
        if spec.scale:
            assert spec.low <= published[name] <= spec.high, (name, published[name])
    trial = optuna.trial.FixedTrial(published)
    overrides = sweep.sample_overrides(trial, space, sweep.trial_config(space, profile, []))
    again = sweep.trial_config(space, profile, overrides)
    assert again.net_config.thresholds == pytest.approx(cfg.net_config.thresholds, rel=1e-9)
    if cfg.annealing is not None and cfg.annealing.theta0:
        assert again.annealing.theta0 == pytest.approx(cfg.annealing.theta0, rel=1e-9)
        assert again.annealing.theta_inf == pytest.approx(cfg.annealing.theta_inf, rel=1e-9)


def test_a_scaled_threshold_before_beta_is_refused(tmp_path):
    bad = tmp_path / "space.yaml"
    bad.write_text("experiment: fmnist_annealing\nparams:\n"
                   "  annealing.theta0.0: {type: float, low: 0.1, high: 2, scale: membrane}\n"
                   "  net.beta: {type: float, low: 0.1, high: 0.9}\n")
    with pytest.raises(ConfigError, match="must come after net.beta"):
        sweep.load_space(bad)


def test_scale_needs_a_per_layer_float(tmp_path):
    bad = tmp_path / "space.yaml"
    bad.write_text("experiment: fmnist_bsnn\nparams:\n"
                   "  net.thresholds: {type: float, low: 0.1, high: 2, layers: 3, scale: membrane}\n")
    with pytest.raises(ConfigError, match="per-layer float"):
        sweep.load_space(bad)
