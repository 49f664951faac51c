"""Spike comparisons that hold on every CPU: a spike is `u > theta`, so two float computations
that sum the same terms in different orders (loop vs engine, AVX2 vs AVX-512, 1 vs 2 threads)
agree on it only where the membrane u is farther from theta than their rounding difference.

Tests compare spikes of such computations only on inputs whose reference membranes are clear of
every threshold by MARGIN (`clear_inputs` finds them and fails with the margin it found), or
count the flips and bound them. Every comparison is logged when SNN_THA_NUMERICS_LOG names a
file: `make test` prints, per emulated instruction set, the flips, the smallest margin and the
largest membrane difference (see conftest.py).
"""
import json
import os

import pytest
import torch

# Absolute, in membrane units (thresholds 0.5-3 in these tests). The largest loop-vs-engine
# membrane difference measured on inputs that flip nothing is 1.2e-5 in float32 (float weights;
# 2e-6 with +-1 weights) under AVX-512, AVX2 and the generic kernels: MARGIN is 8x that.
MARGIN = 1e-4
MARGIN_FLOAT64 = 1e-9   # float64 computations differ by ~1e-13


def leaky_layers(net):
    from snn_tha.nn.neurons import Leaky
    return [m for m in net.modules() if isinstance(m, Leaky)]


def membrane_records(net, x, steps):
    """Every Leaky layer's membrane per step, [T, B, ...] each, from the per-step loop run on
    `net` itself; BatchNorm's running statistics, the engine and the random stream are put back."""
    saved_state = {k: v.clone() for k, v in net.state_dict().items()}
    saved_engine, net.engine = net.engine, "reference"
    records = {id(m): [] for m in leaky_layers(net)}
    hooks = [m.register_forward_hook(lambda mod, inp, out: records[id(mod)].append(out[1].detach()))
             for m in leaky_layers(net)]
    try:
        with torch.random.fork_rng(), torch.no_grad():
            net(x, steps)
    finally:
        for h in hooks:
            h.remove()
        net.engine = saved_engine
        with torch.no_grad():
            net.load_state_dict(saved_state)
    return [(torch.stack(records[id(m)]), m.threshold.detach()) for m in leaky_layers(net)]


def membrane_margin(net, x, steps):
    """Smallest |u - theta| over every layer, step and neuron of the per-step loop."""
    return min(float((mem - theta).abs().min()) for mem, theta in membrane_records(net, x, steps))


def clear_inputs(net, make_inputs, margin=MARGIN, seeds=range(1, 101)):
    """The first input `make_inputs(seed)` -> (x, steps) whose reference membranes all stay
    `margin` away from their thresholds; fails (with the best margin found) when none does."""
    best = 0.0
    for seed in seeds:
        x, steps = make_inputs(seed)
        found = membrane_margin(net, x, steps)
        if found >= margin:
            log("margin", margin=found, required=margin)
            return x, steps
        best = max(best, found)
    pytest.fail(f"no input among seeds {seeds.start}-{seeds.stop - 1} keeps every membrane "
                f"{margin:.0e} from its threshold (best {best:.2e}): spikes of float sums in "
                f"different orders could differ; use smaller inputs or another margin")


def assert_margin(net, x, steps, margin=MARGIN):
    """Fail, with the margin in the message, when a reference membrane is within `margin`."""
    found = membrane_margin(net, x, steps)
    log("margin", margin=found, required=margin)
    assert found >= margin, (f"a membrane lies {found:.2e} from its threshold (< {margin:.0e}): "
                             f"these inputs cannot decide whether two float orders agree")
    return found


def assert_same_spikes(spikes_a, spikes_b, membranes=None, what="spikes"):
    """Spike lists equal (inputs already checked clear of the threshold); logs flips and the
    largest membrane difference when `membranes` = (mem_a, mem_b) is given."""
    flips = [int((a != b).sum()) for a, b in zip(spikes_a, spikes_b)]
    diff = None
    if membranes is not None:
        diff = float((membranes[0].detach() - membranes[1].detach()).abs().max())
    log("spikes", flips=sum(flips), membrane_diff=diff)
    assert sum(flips) == 0, f"{what}: {flips} spikes flipped per layer on margin-checked inputs"


def log(kind, **values):
    """Append one comparison to $SNN_THA_NUMERICS_LOG (JSON lines), if set."""
    path = os.environ.get("SNN_THA_NUMERICS_LOG")
    if not path:
        return
    test = os.environ.get("PYTEST_CURRENT_TEST", "").split(" ")[0]
    with open(path, "a") as handle:
        handle.write(json.dumps({"kind": kind, "test": test, **values}) + "\n")
