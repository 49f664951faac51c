import json
import math

import pytest
import torch

from snn_tha.repro import yaml_config as config
from snn_tha.repro.cli.main import main
from snn_tha.repro.paper.temporal import TemporalCodingConfig, poisson_input, ramp_target, run

CONFIG = "configs/temporal_coding.yaml"
SHORT = ["iterations=6", "num_hidden=40", "snapshot_iterations=[0,3,5]"]


def test_config_loads_with_the_four_paper_cases():
    cfg = config.load_yaml(TemporalCodingConfig, CONFIG)
    assert [c.name for c in cfg.cases] == ["flt32", "bsnn_theta1", "bsnn_theta50", "annealing",
                                           "annealing_release_surrogate"]
    assert cfg.cases[3].annealing.theta0 == (5.0, 5.0) and cfg.iterations == 1000


def test_ramp_target_and_input():
    target = ramp_target(100, 75, 55.0)
    assert target[0] == 0 and target[75] == pytest.approx(55.0) and target[76:].abs().sum() == 0
    assert target[30] == pytest.approx(22.0)
    x = poisson_input(100, 100, seed=0)
    assert x.shape == (100, 1, 100) and set(x.unique().tolist()) == {0.0, 1.0}
    assert torch.equal(x, poisson_input(100, 100, seed=0))
    assert 0.4 < x.mean() < 0.6   # p ~ U(0,1) per step and input: mean rate 1/2


def test_short_run_writes_outputs_and_resumes(tmp_path):
    cfg = config.load_yaml(TemporalCodingConfig, CONFIG, SHORT)
    summary = run(cfg, tmp_path)
    rows = (tmp_path / "metrics.csv").read_text().splitlines()
    assert rows[0].startswith("case,iteration,loss,output_spike_times")
    assert len(rows) == 1 + 5 * 6
    annealing = summary["cases"]["annealing"]
    closed = 50 - 45 * 0.995 ** 6
    assert annealing["final_thresholds"] == pytest.approx([closed, closed], rel=1e-6)
    assert annealing["iterations_to_within_0.1pct_of_theta_inf"][0] == math.ceil(
        math.log(0.05 / 45) / math.log(0.995))
    assert set(summary["claims"]) == {"theta50_never_spikes", "annealing_spikes_at_target",
                                      "annealing_release_surrogate_spikes_at_target",
                                      "annealing_final_threshold_closed_form",
                                      "flt32_beats_bsnn_theta1"}
    assert summary["provenance"]["packages"]["snntorch"] == "1.0.0"
    # a resumed run reuses the finished cases and gives the same summary
    again = run(cfg, tmp_path, resume=True)
    assert again["cases"]["annealing"]["seconds"] == annealing["seconds"]


def test_cli_writes_figure(tmp_path):
    argv = ["temporal", "--out", str(tmp_path)] + [a for s in SHORT for a in ("--set", s)]
    assert main(argv) == 0
    assert (tmp_path / "figure4.png").stat().st_size > 10_000
    assert json.loads((tmp_path / "summary.json").read_text())["budget"]["iterations"] == 6


def test_cli_bad_config_is_one_line_exit_2(tmp_path, capsys):
    assert main(["temporal", "--out", str(tmp_path), "--set", "iterations=ten"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("snn-tha: error: ") and "\n" not in err
    assert err.endswith("configs/temporal_coding.yaml (with --set): key 'iterations' "
                        "must be an integer, got 'ten' (str)")
    assert not (tmp_path / "summary.json").exists()


def test_case_needs_threshold_or_annealing(tmp_path):
    with pytest.raises(config.ConfigError, match="case 'flt32' needs exactly one of"):
        config.load_yaml(TemporalCodingConfig, CONFIG, ["cases.0.annealing={theta0: [1, 1], "
                                                   "theta_inf: [2, 2], alpha: [0.1, 0.1]}"])


@pytest.mark.slow
def test_full_scale_claims(tmp_path):
    """Paper scale (~2 min): the claims that reproduce, and the one that does not with Eq. 8."""
    cfg = config.load_yaml(TemporalCodingConfig, CONFIG)
    claims = run(cfg, tmp_path)["claims"]
    assert claims["theta50_never_spikes"]["holds"]
    assert claims["flt32_beats_bsnn_theta1"]["holds"]
    assert claims["annealing_final_threshold_closed_form"]["holds"]
    assert claims["annealing_release_surrogate_spikes_at_target"]["holds"]
    assert 300 <= claims["annealing_release_surrogate_spikes_at_target"]["first_iteration"] <= 500


def test_eq8_negative_result_at_a_fast_size(tmp_path):
    """Figure 4(d) with only the two annealing cases and 500 iterations (full network, ~10 s):
    the surrogate of the paper's Eq. 8 (centred at theta0) never gives a spike at the target
    only, the release's surrogate (centred at the current threshold) does from ~iteration 400."""
    import dataclasses
    cfg = config.load_yaml(TemporalCodingConfig, CONFIG)
    cfg = dataclasses.replace(cfg, cases=cfg.cases[3:], iterations=500, snapshot_iterations=(0,))
    claims = run(cfg, tmp_path)["claims"]
    assert not claims["annealing_spikes_at_target"]["holds"]
    assert claims["annealing_spikes_at_target"]["first_iteration"] is None
    assert claims["annealing_release_surrogate_spikes_at_target"]["holds"]
    assert 300 <= claims["annealing_release_surrogate_spikes_at_target"]["first_iteration"] <= 500
