"""`make bench`: time one full training step (forward, backward, optimizer) of each network at
paper settings for engines reference / exact / fast, interleaved, median after warm-up.

Peak memory of a step is measured in a fresh subprocess per (network, engine) as the growth of
the peak resident set (VmHWM, reset after setup) during one step. Throughput is also expressed as the
fraction of this machine's measured fp32 matmul peak that the step's nominal FLOPs reach
(nominal = the reference algorithm's multiply-adds x 2, x 3 for forward + backward).
"""
import argparse
import json
import platform
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from snn_tha import runio
from snn_tha.losses import mse_count_loss
from snn_tha.models import ARCHITECTURES, NetConfig, build
from snn_tha.schema import ENGINES


@dataclass(frozen=True)
class BenchCase:
    name: str
    net: NetConfig
    num_steps: int
    batch: int
    input_density: float   # spike inputs: fraction of ones


def _case(name, experiment, input_density):
    """A benchmark case from an experiment config (the YAML holds the hyperparameters)."""
    from snn_tha import schema
    cfg = schema.load(runio.ROOT / "configs" / f"{experiment}.yaml")
    steps = cfg.num_steps if cfg.data.is_static else (cfg.data.train_bins or cfg.num_steps)
    return BenchCase(name, cfg.net_config, steps, cfg.batch_size, input_density)


CASES = (  # the annealing variants at their configs' settings; spike inputs are synthetic
    _case("static (FMNIST)", "fmnist_annealing", 0.0),
    _case("DVS128 Gesture", "dvs_annealing", 0.1),
    _case("SHD", "shd_annealing", 0.03),
)


def default_device():
    return "cuda" if torch.cuda.is_available() else "cpu"


def make_step(case, engine, seed=0, device="cpu"):
    """Model, optimizer, data and a closure that runs one training step."""
    torch.manual_seed(seed)
    net = build(case.net).to(device)
    net.engine = engine
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
    shape, static = ARCHITECTURES[case.net.arch][1], ARCHITECTURES[case.net.arch][2]
    if static:
        x, steps = torch.rand(case.batch, *shape), case.num_steps
    else:
        x = (torch.rand(case.num_steps, case.batch, *shape) < case.input_density).float()
        steps = None
    n_out = net.blocks[-1].fc.out_features
    labels = torch.randint(0, n_out, (case.batch,)).to(device)
    x = x.to(device)

    def step():
        out = net(x, steps)
        loss = mse_count_loss(out.spikes, labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if device == "cuda":
            torch.cuda.synchronize()
    return net, step


def nominal_flops(net, case):
    """2 * multiply-adds of forward + backward (3x forward) of the per-step algorithm."""
    macs, shape = 0, ARCHITECTURES[case.net.arch][1]
    for block in net.blocks:
        if hasattr(block, "conv"):
            c = block.conv
            h, w = shape[1] - c.kernel_size[0] + 1, shape[2] - c.kernel_size[1] + 1
            macs += c.out_channels * h * w * c.in_channels * c.kernel_size[0] * c.kernel_size[1]
            shape = (c.out_channels, h // 2, w // 2)
        else:
            macs += block.fc.in_features * block.fc.out_features
    return 2 * 3 * macs * case.num_steps * case.batch


def matmul_peak_gflops(n=2048, repeats=5, device="cpu"):
    a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
    a @ b
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        a @ b
        if device == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return 2 * n ** 3 / min(times) / 1e9


def _status_kb(field):
    for line in open("/proc/self/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def memory_probe(case_index, engine, device="cpu"):
    """Run in a fresh process: MB by which one step raises the resident set above its size
    after setup (on a GPU: its peak allocated memory). ru_maxrss is no use here: Linux carries
    it over from the parent process across exec."""
    case = CASES[case_index]
    _, step = make_step(case, engine, device=device)
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()
        step()
        return (torch.cuda.max_memory_allocated() - before) / 2 ** 20
    with open("/proc/self/clear_refs", "w") as handle:
        handle.write("5")  # reset the peak (VmHWM) to the current resident set
    before = _status_kb("VmRSS")
    step()
    return (_status_kb("VmHWM") - before) / 1024


def time_case(case, repeats, engines, device="cpu"):
    steps = {e: make_step(case, e, device=device)[1] for e in engines}
    for e in engines:  # warm-up
        steps[e]()
    times = {e: [] for e in engines}
    for _ in range(repeats):  # interleaved, so drifts hit every engine alike
        for e in engines:
            t0 = time.perf_counter()
            steps[e]()
            times[e].append(time.perf_counter() - t0)
    return {e: statistics.median(v) for e, v in times.items()}


def run(out_dir, repeats=5, engines=ENGINES, cases=CASES, device="cpu"):
    peak = matmul_peak_gflops(device=device)
    rows = []
    for case in cases:
        medians = time_case(case, repeats, engines, device)
        flops = nominal_flops(build(case.net), case)
        for engine in engines:
            probe = subprocess.run([sys.executable, "-m", "snn_tha.bench", "--memory-probe",
                                    str(CASES.index(case)), engine, "--device", device], capture_output=True,
                                   text=True, check=True)
            seconds = medians[engine]
            rows.append({"network": case.name, "device": device, "engine": engine, "time_steps": case.num_steps,
                         "batch": case.batch, "step_seconds": round(seconds, 4),
                         "samples_per_second": round(case.batch / seconds, 2),
                         "speedup_vs_reference": round(medians["reference"] / seconds, 2),
                         "peak_memory_mb": round(float(probe.stdout.strip()), 1),
                         "fraction_of_matmul_peak": round(flops / seconds / 1e9 / peak, 4)})
    machine = {"device": device if device == "cpu" else torch.cuda.get_device_name(),
               "cpu": platform.processor() or platform.machine(), "threads": torch.get_num_threads(),
               "matmul_peak_gflops": round(peak, 1), "repeats": repeats}
    write(out_dir, rows, machine)
    return rows


def write(out_dir, rows, machine):
    out_dir = Path(out_dir)
    runio.atomic_write_csv(out_dir / "bench.csv", rows)
    write_markdown(out_dir, rows, machine)
    runio.atomic_write_json(out_dir / "machine.json", {**machine, **runio.provenance()})


def write_markdown(out_dir, rows, machine):
    lines = ["# Training-step benchmark (`make bench`)", "",
             f"One training step (forward, backward, Adam) at paper settings, annealing variants, "
             f"median of {machine['repeats']} interleaved repeats after one warm-up; device "
             f"{machine['device']}, {machine['threads']} CPU threads; measured fp32 matmul peak "
             f"{machine['matmul_peak_gflops']} GFLOP/s. The last column divides the reference "
             f"algorithm's nominal FLOPs (per-step convolutions before pooling, the first layer "
             f"recomputed every step) by the step time, so an engine that skips work can pass 100%.",
             "",
             "| network | T | batch | engine | s/step | samples/s | speed-up | peak MB | of matmul peak |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['network']} | {r['time_steps']} | {r['batch']} | {r['engine']} | "
                     f"{r['step_seconds']:.3f} | {r['samples_per_second']:.1f} | "
                     f"{r['speedup_vs_reference']:.2f}x | {r['peak_memory_mb']:.0f} | "
                     f"{100 * r['fraction_of_matmul_peak']:.1f}% |")
    runio.atomic_write_text(Path(out_dir) / "bench.md", "\n".join(lines) + "\n")


PARITY_OVERRIDES = ("epochs=1", "patience=1", "data.train_subset=5000", "data.validation_size=1000",
                    "data.test_subset=2000")


def parity(out_dir, config="configs/fmnist_annealing.yaml", profile="quick",
           overrides=PARITY_OVERRIDES, seeds=(0, 1, 2)):
    """Train the same experiment with the reference loop and with the engine, same seeds.

    Trajectories cannot stay bit-identical: the engine sums the static first layer's per-step
    gradients before one convolution backward (the loop runs T of them), a ~1e-7 difference that
    one flipped spike amplifies. So parity is judged on the mean over seeds, beside the
    reference's own seed-to-seed spread."""
    import statistics
    from snn_tha import schema, train
    results = {}
    for engine in ("reference", "exact"):
        results[engine] = []
        for seed in seeds:
            cfg = schema.load(config, profile, [*overrides, f"net.engine={engine}", f"seed={seed}"])
            run = train.train(cfg, Path(out_dir) / "parity" / engine)["runs"][0]
            results[engine].append({"seed": seed, "test_acc": run["test_acc"],
                                    "val_acc": run["val_acc"], "train_seconds": run["train_seconds"]})
    mean = {e: 100 * statistics.mean(r["test_acc"] for r in rs) for e, rs in results.items()}
    spread = {e: 100 * statistics.stdev(r["test_acc"] for r in rs) for e, rs in results.items()}
    diff = abs(mean["exact"] - mean["reference"])
    summary = {"config": config, "profile": profile, "overrides": list(overrides),
               "seeds": list(seeds), "results": results, "mean_test_acc_pct": mean,
               "seed_std_pct": spread, "mean_difference_pp": round(diff, 3),
               "within_0.5pp": diff <= 0.5, "provenance": runio.provenance(None)}
    runio.atomic_write_json(Path(out_dir) / "parity.json", summary)
    lines = ["# Training parity: engine vs reference loop", "",
             f"`make parity` (= `python -m snn_tha.bench --parity`): `{config}`, profile {profile} "
             f"with {', '.join(overrides)}; seeds {list(seeds)} for both engines.", "",
             "| engine | " + " | ".join(f"seed {s} test %" for s in seeds) + " | mean | seed std | train s (mean) |",
             "|---|" + "---|" * (len(seeds) + 3)]
    for engine, rs in results.items():
        lines.append(f"| {engine} | " + " | ".join(f"{100 * r['test_acc']:.2f}" for r in rs)
                     + f" | {mean[engine]:.2f} | {spread[engine]:.2f} | "
                     f"{statistics.mean(r['train_seconds'] for r in rs):.0f} |")
    lines += ["", f"Difference of the means: {diff:.2f} percentage points (target <= 0.5); "
              f"the reference's own seed-to-seed std is {spread['reference']:.2f}."]
    runio.atomic_write_text(Path(out_dir) / "parity.md", "\n".join(lines) + "\n")
    return summary


def rewrite_markdown(out_dir):
    """Rebuild bench.md from bench.csv and machine.json (no re-timing)."""
    import csv
    out_dir = Path(out_dir)
    rows = [{k: (float(v) if k not in ("network", "engine", "device") else v) for k, v in r.items()}
            for r in csv.DictReader(open(out_dir / "bench.csv"))]
    for r in rows:
        r["time_steps"], r["batch"] = int(r["time_steps"]), int(r["batch"])
    machine = json.loads((out_dir / "machine.json").read_text())
    write_markdown(out_dir, rows, machine)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="results/bench")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default=default_device(),
                        help="cpu or cuda (default: cuda when available)")
    parser.add_argument("--memory-probe", nargs=2, metavar=("CASE", "ENGINE"),
                        help=argparse.SUPPRESS)
    parser.add_argument("--markdown-only", action="store_true",
                        help="rebuild bench.md from bench.csv and machine.json, no timing")
    parser.add_argument("--parity", action="store_true",
                        help="instead: FMNIST annealing trained with reference and exact engines")
    args = parser.parse_args(argv)
    if args.parity:
        print(json.dumps(parity(args.out), indent=2))
        return 0
    if args.markdown_only:
        rewrite_markdown(args.out)
        return 0
    if args.memory_probe:
        print(memory_probe(int(args.memory_probe[0]), args.memory_probe[1], args.device))
        return 0
    if args.device == "cpu":
        print("bench: no CUDA device here, so the GPU benchmark is skipped; timing the CPU")
    for row in run(args.out, args.repeats, device=args.device):
        print(json.dumps(row))
    return 0


if __name__ == "__main__":
    sys.exit(main())
