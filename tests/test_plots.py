"""The figures a reader reads (issue 40): the spread over seeds where seeds exist, and the paired
figure of the claims."""
from snn_tha.repro.paper import plots


def test_the_paired_figure_draws_each_claims_seeds_and_is_skipped_without_pairs(tmp_path):
    rows = [{"claim": "annealing is more accurate than BSNN (tuned θ), a long claim text that wraps",
             "diffs": [0.5, -1.0, 2.0], "mean": 0.5, "se": 0.87, "effect": 0.97, "verdict": "x"},
            {"claim": "dead neurons, hidden layer 2", "diffs": [-6.0, -7.0], "mean": -6.5, "se": 0.5,
             "effect": 10.0, "verdict": "does not hold"}]
    assert plots.paired_claims(rows, tmp_path / "p.png", "t") == tmp_path / "p.png"
    assert (tmp_path / "p.png").stat().st_size > 5000
    assert plots.paired_claims([], tmp_path / "q.png", "t") is None and not (tmp_path / "q.png").exists()


def test_training_curves_take_every_seed(tmp_path):
    def rows(offset):
        return [{"iteration": str(i), "loss": str(5 - i / 10 + offset), "theta_0": "1.0",
                 "theta_1": str(1 + i / 50)} for i in range(40)]
    plots.training_curves({"fixed": [rows(0), rows(0.5)], "annealing": [rows(0.2), rows(0.1), rows(0)]},
                          tmp_path / "t.png", "title")
    assert (tmp_path / "t.png").stat().st_size > 5000
