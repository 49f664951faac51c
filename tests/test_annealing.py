import pytest
import torch
import torch.nn as nn

from snn_tha.nn.annealing import ThresholdAnnealing, anneal_step, annealed_threshold
from snn_tha.nn.neurons import Leaky


def two_layer_model():
    return nn.Sequential(nn.Linear(2, 3), Leaky(0.5, 5.0), nn.Linear(3, 1), Leaky(0.5, 1.0))


def test_closed_form_equals_iteration_over_1000_steps():
    theta = 5.0
    for g in range(1, 1001):
        theta = anneal_step(theta, 50.0, 5e-3)
        assert theta == pytest.approx(annealed_threshold(5.0, 50.0, 5e-3, g), rel=1e-12)
    assert theta == pytest.approx(50 - 45 * 0.995 ** 1000) and theta == pytest.approx(49.70, abs=5e-3)


def test_schedule_sets_layers_found_by_type_through_a_wrapper():
    wrapped = nn.Sequential(two_layer_model())  # annealing must not depend on attribute names
    sched = ThresholdAnnealing(wrapped, theta0=[5.0, 1.0], theta_inf=[50.0, 2.0], alpha=[5e-3, 0.5])
    assert sched.thresholds() == [5.0, 1.0]
    for _ in range(3):
        sched.step()
    expected = [annealed_threshold(5, 50, 5e-3, 3), annealed_threshold(1, 2, 0.5, 3)]
    assert sched.thresholds() == pytest.approx(expected, rel=1e-6)
    assert sched.layers[0].threshold.dtype == torch.float32
    assert float(sched.layers[0].initial_threshold) == 5.0  # surrogate centre stays at theta0


def test_state_round_trip():
    model = two_layer_model()
    sched = ThresholdAnnealing(model, [5.0, 1.0], [50.0, 2.0], [0.1, 0.2])
    for _ in range(7):
        sched.step()
    state = sched.state_dict()
    fresh_model = two_layer_model()
    fresh = ThresholdAnnealing(fresh_model, [5.0, 1.0], [50.0, 2.0], [0.1, 0.2])
    fresh.load_state_dict(state)
    assert fresh.step_count == 7 and fresh.thresholds() == sched.thresholds()
    other = ThresholdAnnealing(two_layer_model(), [5.0, 1.0], [60.0, 2.0], [0.1, 0.2])
    with pytest.raises(ValueError, match="differs from the configured"):
        other.load_state_dict(state)


@pytest.mark.parametrize("theta0,theta_inf,alpha,message", [
    ([5.0, 1.0], [4.0, 2.0], [0.1, 0.1], "annealing layer 0: need 0 < theta0 <= theta_inf, got theta0=5, theta_inf=4"),
    ([5.0, 0.0], [6.0, 2.0], [0.1, 0.1], "annealing layer 1: need 0 < theta0 <= theta_inf"),
    ([5.0, 1.0], [6.0, 2.0], [0.1, 1.5], "annealing layer 1: need 0 < alpha <= 1, got alpha=1.5"),
    ([5.0, 1.0, 1.0], [6.0, 2.0, 2.0], [0.1, 0.1, 0.1], "model has 2 spiking layers"),
])
def test_validation_names_layer_and_value(theta0, theta_inf, alpha, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        ThresholdAnnealing(two_layer_model(), theta0, theta_inf, alpha)
