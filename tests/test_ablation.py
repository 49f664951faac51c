"""Issue 10: claims decided by numbers, the ablation's one-change-at-a-time variants, budget-
scaled alphas and the fixed-theta_inf variant."""
import pytest

from snn_tha.repro import schema
from snn_tha.repro.paper import ablation, claims
from snn_tha.repro.run.setup import budget_scaled_alpha


def test_variants_that_cannot_change_a_run_are_not_trained():
    base = schema.load_config("configs/fmnist_annealing.yaml", "smoke")
    after = schema.load_config("configs/fmnist_annealing.yaml", "smoke", ["optim.clamp=after_step"])
    assert base.optim.weight_clip is None
    assert ablation.behaviour(after) == ablation.behaviour(base)      # no clamp at all
    clipped = ["optim.weight_clip=1.0"]
    assert ablation.behaviour(schema.load_config("configs/fmnist_annealing.yaml", "smoke",
                                          clipped + ["optim.clamp=after_step"])) != \
        ablation.behaviour(schema.load_config("configs/fmnist_annealing.yaml", "smoke", clipped))
    fixed = schema.load_config("configs/fmnist_bsnn.yaml", "smoke")
    initial = schema.load_config("configs/fmnist_bsnn.yaml", "smoke", ["net.surrogate_centre=initial"])
    assert ablation.behaviour(fixed) == ablation.behaviour(initial)  # theta never moves


def test_fixed_theta_inf_and_budget_scaled_variants():
    fixed = schema.load_config("configs/fmnist_bsnn_theta_inf.yaml", "smoke")
    assert fixed.variant == "bsnn_theta_inf" and not fixed.annealed
    assert fixed.net_config.thresholds == fixed.annealing.theta_inf
    scaled = schema.load_config("configs/fmnist_annealing_budget.yaml", "smoke")
    assert scaled.variant == "annealing_budget" and scaled.annealed
    alpha = budget_scaled_alpha(141)
    assert (1 - alpha) ** 141 == pytest.approx(0.01)     # theta_inf within 1% at the last step


def test_ablation_and_claims_from_run_folders(data_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("SNN_THA_RESULTS", str(tmp_path / "results"))
    rows = ablation.ablate("configs/fmnist_annealing.yaml", "smoke", 2,
                           overrides=[f"data.data_dir={data_dir}", "data.validation_size=20"])
    names = [r["variant"] for r in rows]
    assert names[0] == "baseline (release)" and "clamp_after_step" in names
    clamp = rows[names.index("clamp_after_step")]
    assert clamp["seeds"] == 0 and "not trained" in clamp["acc_vs_baseline"]
    assert all(r["seeds"] == 2 for r in rows if r["variant"] != "clamp_after_step")
    table = (tmp_path / "results" / "tables" / "ablation_fmnist_annealing_smoke.md").read_text()
    assert "surrogate centred at theta0" in table
    assert any(word in table for word in ("moves", "within spread"))
    again = ablation.ablate("configs/fmnist_annealing.yaml", "smoke", 2, train_missing=False,
                            overrides=[f"data.data_dir={data_dir}", "data.validation_size=20"])
    assert [r["acc_mean"] for r in again] == [r["acc_mean"] for r in rows]   # from the files
    path = claims.write("smoke", ["fashion_mnist"], out=tmp_path / "results")
    text = path.read_text()
    assert "## FashionMNIST" in text and "Missing runs" in text          # only annealing ran
