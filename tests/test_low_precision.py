"""The low-precision (`fast`) mode: an op is taken only where it was measured faster."""
import torch

from snn_tha.kernels import low_precision


def test_fast_mode_takes_the_low_precision_op_only_where_measured_faster(monkeypatch):
    calls = []
    exact = lambda x: calls.append("exact") or x * 2          # noqa: E731
    low = lambda x: calls.append("low") or x * 2              # noqa: E731
    monkeypatch.setattr(low_precision, "_measured", {})
    monkeypatch.setattr(low_precision, "_time_forward_backward",
                        lambda fn, args: {exact: 1.0, low: 2.0}[fn])
    low_precision.faster("op", exact, low, torch.ones(3))
    assert calls == ["exact"]   # low precision measured slower: not used
    monkeypatch.setattr(low_precision, "_time_forward_backward",
                        lambda fn, args: {exact: 2.0, low: 1.0}[fn])
    low_precision.faster("op", exact, low, torch.ones(3))
    assert calls[-1] == "exact"   # measured once per shape: the first verdict stays
    low_precision.faster("op", exact, low, torch.ones(4))
    assert calls[-1] == "low"
    monkeypatch.setattr(low_precision, "_time_forward_backward",
                        lambda fn, args: {exact: 1.0, low: 0.97}[fn])
    low_precision.faster("op", exact, low, torch.ones(5))
    assert calls[-1] == "exact"   # 3% faster is within the 5% margin: exact
    checked = []
    guard = lambda: checked.append(1) or False               # noqa: E731
    low_precision.faster("op", exact, low, torch.ones(3), guard=guard)
    assert calls[-1] == "exact" and checked == []   # exact chosen: the guard is never evaluated
    low_precision.faster("op", exact, low, torch.ones(4), guard=guard)
    assert calls[-1] == "exact" and checked == [1]  # low chosen, but the guard says no
