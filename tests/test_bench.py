import csv
import json

from snn_tha import bench
from snn_tha.models import build


def test_nominal_flops_hand_computed():
    case = bench.CASES[0]  # static: conv 1->16 (24x24 out), conv 16->64 (8x8 out), 1024->10
    macs = 16 * 24 * 24 * 1 * 25 + 64 * 8 * 8 * 16 * 25 + 1024 * 10
    assert bench.nominal_flops(build(case.net), case) == 2 * 3 * macs * 100 * 128


def test_one_step_runs_for_every_network_and_engine():
    for case in bench.CASES:
        small = bench.BenchCase(case.name, case.net, 3, 2, case.input_density)
        for engine in bench.ENGINES:
            net, step = bench.make_step(small, engine)
            before = [p.detach().clone() for p in net.parameters()]
            step()
            assert any(not (a == p).all() for a, p in zip(before, net.parameters()))


def test_markdown_rebuilt_from_csv(tmp_path):
    rows = [{"network": "SHD", "device": "cpu", "engine": e, "time_steps": 333, "batch": 32,
             "step_seconds": s, "samples_per_second": 32 / s, "speedup_vs_reference": 4.0 / s,
             "peak_memory_mb": 100.0, "fraction_of_matmul_peak": 0.5}
            for e, s in (("reference", 4.0), ("exact", 1.0))]
    with open(tmp_path / "bench.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    (tmp_path / "machine.json").write_text(json.dumps(
        {"device": "cpu", "threads": 2, "matmul_peak_gflops": 100.0, "repeats": 5}))
    bench.rewrite_markdown(tmp_path)
    md = (tmp_path / "bench.md").read_text()
    assert "| SHD | 333 | 32 | exact | 1.000 | 32.0 | 4.00x | 100 | 50.0% |" in md


def test_cli_passes_bench_options_through(tmp_path):
    """`snn-tha bench --out DIR --markdown-only` (make bench's form) reaches snn_tha.bench."""
    import shutil
    from snn_tha.cli import main
    for name in ("bench.csv", "machine.json"):
        shutil.copy(f"results/bench/{name}", tmp_path / name)
    assert main(["bench", "--out", str(tmp_path), "--markdown-only"]) == 0
    assert (tmp_path / "bench.md").read_text().startswith("# Training-step benchmark")
