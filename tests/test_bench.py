import csv
import json

import pytest

from snn_tha.repro.bench import cases as bench_cases, flops as bench_flops, steps as bench
from snn_tha.models import build


def test_nominal_flops_hand_computed():
    case = bench.CASES[0]  # static: conv 1->16 (24x24 out), conv 16->64 (8x8 out), 1024->10
    macs = 16 * 24 * 24 * 1 * 25 + 64 * 8 * 8 * 16 * 25 + 1024 * 10
    assert bench_flops.nominal_flops(build(case.net), case) == 2 * 3 * macs * 100 * 128


def test_one_step_runs_for_every_network_and_engine():
    for case in bench.CASES:
        small = bench_cases.BenchCase(case.name, case.net, 3, 2, case.input_density)
        for engine in bench.ENGINES:
            net, step = bench.make_step(small, engine)
            before = [p.detach().clone() for p in net.parameters()]
            step()
            assert any(not (a == p).all() for a, p in zip(before, net.parameters()))


def _write_csv(path, rows):
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def _recorded(tmp_path):
    rows = [{"network": "SHD", "device": "cpu", "engine": e, "time_steps": 333, "batch": 32,
             "step_seconds": s, "samples_per_second": 32 / s, "speedup_vs_reference": 4.0 / s,
             "peak_memory_mb": 100.0, "executed_gflop": 10.0, "fraction_of_matmul_peak": 0.5}
            for e, s in (("reference", 4.0), ("exact", 1.0))]
    _write_csv(tmp_path / "bench.csv", rows)
    _write_csv(tmp_path / "bench_lif.csv", [
        {"network": "SHD", "layer": "LIF 1", "kernel": "C++ fused", "current_shape": "3x2x5",
         "static": False, "ms_forward_backward": 2.0, "effective_gbs": 9.0,
         "fraction_of_copy_bandwidth": 0.45}])
    (tmp_path / "bench_machine.json").write_text(json.dumps(
        {"device": "cpu", "threads": 2, "matmul_peak_gflops": 100.0, "repeats": 5,
         "copy_bandwidth_gbs": 20.0}))


def test_markdown_rebuilt_from_csv(tmp_path):
    _recorded(tmp_path)
    bench.rewrite_markdown(tmp_path)
    md = (tmp_path / "bench.md").read_text()
    assert "| SHD | 333 | 32 | exact | 1.000 | 32.0 | 4.00x | 100 | 10.0 | 50.0% |" in md
    assert "| SHD | LIF 1 | 3x2x5 | C++ fused | 2.0 | 9.0 | 45% |" in md


def test_shares_of_the_peak_use_the_readings_of_their_own_rounds(tmp_path, monkeypatch):
    """The peak is read after every round of repeats; a network's share divides by the median
    of its rounds' readings, and the text gives the range and each network's reading."""
    readings = iter([50.0, 200.0, 100.0, 150.0])   # start, then 3 rounds of one network
    monkeypatch.setattr(bench, "matmul_peak_gflops", lambda **kw: next(readings))
    monkeypatch.setattr(bench, "time_case", lambda case, repeats, names, device: (
        {n: 1.0 for n in names}, {n: 1.5e11 for n in names},
        [bench.matmul_peak_gflops(repeats=2) for _ in range(repeats)]))
    monkeypatch.setattr(bench, "_probe_memory", lambda *a: 1.0)
    monkeypatch.setattr(bench.bench_lif, "run", lambda cases, device: _lif_rows())
    monkeypatch.setattr(bench.bench_lif, "copy_bandwidth_gbs", lambda device: 20.0)
    rows = bench.run(tmp_path, repeats=3, names=["reference", "exact"], cases=bench.CASES[:1])
    assert rows[1]["matmul_peak_gflops"] == 150.0 and rows[1]["fraction_of_matmul_peak"] == 1.0
    md = (tmp_path / "bench.md").read_text()
    assert "50.0-200.0 GFLOP/s" in md and f"({bench.CASES[0].name} 150.0)" in md


def _lif_rows():
    return [{"network": "SHD", "layer": "LIF 1", "kernel": "C++ fused", "current_shape": "3x2x5",
             "static": False, "ms_forward_backward": 2.0, "effective_gbs": 9.0,
             "fraction_of_copy_bandwidth": 0.45}]


def test_variants_include_the_engine_before_the_fused_kernels():
    names = list(bench.variants(include_peers=False))
    assert names[:2] == ["reference", bench.TORCH_LIF] and "exact" in names and "fast" in names


def test_torch_lif_variant_runs_the_torch_loop(monkeypatch):
    """The `before` row really runs without the fused kernel, and restores the choice after."""
    from snn_tha.kernels import fused
    seen = []
    original = fused.kernel_for
    monkeypatch.setattr(fused, "kernel_for", lambda t, *a: seen.append(original(t, *a)) or seen[-1])
    case = bench.CASES[2]
    small = bench_cases.BenchCase(case.name, case.net, 3, 2, case.input_density)
    bench.variants(include_peers=False)[bench.TORCH_LIF](small, "cpu")()
    assert seen and all(k is None for k in seen)
    seen.clear()
    bench.variants(include_peers=False)["exact"](small, "cpu")()
    assert seen and all(k is not None for k in seen)


def test_executed_flops_count_what_runs(monkeypatch):
    """SHD, T=3, batch 2: exact runs layer 1 ([6, 700] sparse spikes x [700, 3000]) by its
    nonzeros, forward and weight gradient (the input needs no gradient), and layer 2
    ([6, 3000] x [3000, 20]) as matmuls, one forward and two backward."""
    from snn_tha.kernels import sparse_linear
    if sparse_linear.library() is None:
        pytest.skip("no C++ compiler here: the sparse kernels do not run")
    nonzeros = []
    compress = sparse_linear.compressed_rows
    monkeypatch.setattr(sparse_linear, "compressed_rows",
                        lambda *a: nonzeros.append(len(compress(*a)[1])) or compress(*a))
    case = bench.CASES[2]
    small = bench_cases.BenchCase(case.name, case.net, 3, 2, case.input_density)
    step = bench.make_step(small, "exact")[1]
    flops = bench.executed_flops(step)
    rows = 3 * 2
    assert len(nonzeros) == 1 and 0 < nonzeros[0] < 0.1 * rows * 700
    layer_1 = 2 * 2 * nonzeros[0] * 3000
    layer_2 = 3 * 2 * rows * 3000 * 20
    assert flops == layer_1 + layer_2


def test_lif_traffic_and_a_small_measurement():
    from snn_tha.repro.bench import lif as bench_lif
    # time-varying [T=4, 10 neurons]: forward 4*10 read + 2*40 write, backward 2*40 + 40
    assert bench_lif.traffic_bytes((4, 10), None) == 4 * (40 + 80 + 80 + 40)
    # static [10] over 4 steps: the current is read once and its gradient written once
    assert bench_lif.traffic_bytes((10,), 4) == 4 * (10 + 80 + 80 + 10)
    seconds = bench_lif.time_layer((6, 2, 50), None, "auto", repeats=1)
    assert 0 < seconds < 5


def test_spikingjelly_peer_trains_when_installed():
    from snn_tha.repro.bench import peers as bench_peers
    if not bench_peers.available():
        import pytest
        pytest.skip("SpikingJelly not installed (make bench-deps)")
    for case in bench.CASES:
        small = bench_cases.BenchCase(case.name, case.net, 3, 2, case.input_density)
        net, step = bench_peers.make_step(small)
        before = [p.detach().clone() for p in net.parameters()]
        step()
        assert any(not (a == p).all() for a, p in zip(before, net.parameters()))


def test_cli_passes_bench_options_through(tmp_path):
    """`snn-tha bench --out DIR --markdown-only` (make bench's form) reaches snn_tha.repro.bench.steps."""
    from snn_tha.repro.cli.main import main
    _recorded(tmp_path)
    assert main(["bench", "--out", str(tmp_path), "--markdown-only"]) == 0
    assert (tmp_path / "bench.md").read_text().startswith("# Training-step benchmark")
