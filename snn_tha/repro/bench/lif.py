"""The LIF part of `make bench`: memory bandwidth of the fused kernel vs the torch loop.

For each LIF layer of each network (shapes recorded from one forward of the `exact` engine), one
forward + backward of `engine.lif_sequence` with the fused kernel and with the torch loop. The
traffic counted is what a one-pass kernel must move: forward reads the current (once, if static)
and writes membranes and spikes; backward reads membranes and spike gradients and writes the
current's gradient. Effective GB/s = that traffic / time, compared with this machine's measured
copy bandwidth (`dst.copy_(src)`, read + write).
"""
import math
import statistics
import time

import torch

from snn_tha.functional.equations import LifParams
from snn_tha.kernels import engine, fused

FLOAT = 4


def _sync(device):
    if device != "cpu":
        torch.cuda.synchronize()


def copy_bandwidth_gbs(device="cpu", numel=64 * 2 ** 20, repeats=5):
    src, dst = torch.rand(numel, device=device), torch.empty(numel, device=device)
    times = []
    for _ in range(repeats + 1):
        _sync(device)
        start = time.perf_counter()
        dst.copy_(src)
        _sync(device)
        times.append(time.perf_counter() - start)
    return round(2 * numel * FLOAT / statistics.median(times[1:]) / 1e9, 1)


def lif_shapes(case):
    """[(current shape, num_steps or None)] of every LIF layer in one `exact` forward."""
    from snn_tha.repro.bench import cases as bench_cases
    calls, original = [], engine.lif_sequence

    def record(current, *args, **kwargs):
        steps = args[4] if len(args) > 4 else kwargs.get("num_steps")
        calls.append((tuple(current.shape), steps))
        return original(current, *args, **kwargs)
    net, _ = bench_cases.make_step(case, "exact")
    x, steps, _ = bench_cases.make_inputs(case, net.blocks[-1].fc.out_features)
    engine.lif_sequence = record
    try:
        with torch.no_grad():
            net(x, steps)
    finally:
        engine.lif_sequence = original
    return calls


def traffic_bytes(shape, num_steps):
    steps, neurons = (num_steps, math.prod(shape)) if num_steps else (shape[0], math.prod(shape[1:]))
    record = steps * neurons * FLOAT
    current = neurons * FLOAT if num_steps else record
    return (current + 2 * record) + (2 * record + current)


def time_layer(shape, num_steps, kernel, device="cpu", repeats=3):
    with fused.using(kernel):
        current = (torch.randn(shape, device=device) * 0.5 + 0.5).requires_grad_()
        beta, theta = torch.tensor(0.9, device=device), torch.tensor(1.0, device=device)
        times = []
        for _ in range(repeats + 1):
            current.grad = None
            _sync(device)
            start = time.perf_counter()
            spk, _ = engine.lif_sequence(current, LifParams(beta, theta, theta, 5.0), num_steps)
            spk.backward(torch.ones_like(spk))
            _sync(device)
            times.append(time.perf_counter() - start)
        return statistics.median(times[1:])


def fused_name(device):
    probe = torch.zeros(1, device=device)
    kernel = fused.kernel_for(probe)
    if kernel is None:
        return "torch (no fused kernel)"
    return {"cpu": "C++ fused", "triton_lif": "Triton fused"}[kernel.__name__.rsplit(".", 1)[-1]]


def run(cases, device="cpu"):
    copy = copy_bandwidth_gbs(device)
    rows = []
    for case in cases:
        for i, (shape, num_steps) in enumerate(lif_shapes(case), 1):
            moved = traffic_bytes(shape, num_steps)
            for kernel, label in (("torch", "torch loop"), ("auto", fused_name(device))):
                seconds = time_layer(shape, num_steps, kernel, device)
                gbs = moved / seconds / 1e9
                rows.append({"network": case.name, "layer": f"LIF {i}", "kernel": label,
                             "current_shape": "x".join(map(str, shape)),
                             "static": bool(num_steps), "ms_forward_backward": round(1e3 * seconds, 2),
                             "effective_gbs": round(gbs, 2),
                             "fraction_of_copy_bandwidth": round(gbs / copy, 3)})
    return rows


def markdown(rows, copy_gbs):
    lines = ["## LIF kernels: effective memory bandwidth", "",
             f"One forward + backward of each network's LIF layers; traffic = what a one-pass "
             f"kernel must move (read the current, write membranes and spikes; read membranes "
             f"and spike gradients, write the gradient). Measured copy bandwidth: "
             f"{copy_gbs} GB/s.", "",
             "| network | layer | current | kernel | ms fwd+bwd | effective GB/s | of copy bandwidth |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        shape = r["current_shape"] + (" (static)" if str(r["static"]) == "True" else "")
        lines.append(f"| {r['network']} | {r['layer']} | {shape} | {r['kernel']} | "
                     f"{float(r['ms_forward_backward']):.1f} | {float(r['effective_gbs']):.1f} | "
                     f"{100 * float(r['fraction_of_copy_bandwidth']):.0f}% |")
    return lines
