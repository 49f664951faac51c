"""`make bench`: time one full training step (forward, backward, optimizer) of each network at
paper settings, every variant interleaved in one process, median after warm-up.

Variants: `reference` (the release-style snnTorch per-step loop, the bar), `exact, torch LIF`
(our engine with the LIF as torch operations: the engine before the fused kernels), `exact`,
`fast`, and SpikingJelly 2.0 multi-step when installed (`snn_tha.repro.bench.peers`).
Peak memory is measured in a fresh subprocess per (network, variant) as the growth of the peak
resident set (VmHWM, reset after setup) over two steps, freed memory returned to the system
(on a GPU: peak allocated).
Executed FLOPs are counted by torch's FlopCounterMode over one step of each variant (the
convolutions and matmuls it actually runs, forward and backward; int8 matmuls count as
2*m*k*n operations; the sparse spike kernels as 2 * nonzeros * outputs), and divided by the
step time and this machine's measured fp32 matmul peak: a variant that skips work (the box-mean
convolution, the sparse inputs) executes fewer FLOPs, so its share of the peak can fall as its
step gets faster.
"""
import argparse
import functools
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

from snn_tha.kernels import fused, host_memory
from snn_tha.models.config import ENGINES
from snn_tha.repro import files, paths, provenance
from snn_tha.repro.bench import lif as bench_lif, peers as bench_peers
from snn_tha.repro.bench.flops import (executed_flops, matmul_peak_gflops, peak_reads_onednn,
                                      peak_words)
from snn_tha.repro.bench.cases import CASES, TORCH_LIF, default_device, make_step


def _with_lif_kernel(kernel, step):
    def run():
        with fused.using(kernel):
            step()
    return run


def _engine_step(engine, case, device):
    return make_step(case, engine, device=device)[1]


def variants(include_peers=True):
    """Variant name -> factory(case, device) -> step closure, in table order."""
    table = {"reference": functools.partial(_engine_step, "reference"),
             TORCH_LIF: lambda c, d: _with_lif_kernel("torch", _engine_step("exact", c, d))}
    table.update({e: functools.partial(_engine_step, e) for e in ENGINES if e != "reference"})
    if include_peers and bench_peers.available():
        table[bench_peers.NAME] = lambda c, d: bench_peers.make_step(c, device=d)[1]
    return table


def _status_kb(field):
    for line in open("/proc/self/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def memory_probe(case_index, variant, device="cpu"):
    """Run in a fresh process: MB by which two training steps (the first with its one-time
    work, such as `fast`'s measurements) raise the peak resident set above its size after
    setup, freed memory returned to the system (`_probe_memory`; on a GPU: peak allocated).
    ru_maxrss is no use here: Linux carries it over from the parent process across exec."""
    step = variants()[variant](CASES[case_index], device)
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()
        step(), step()
        return (torch.cuda.max_memory_allocated() - before) / 2 ** 20
    with open("/proc/self/clear_refs", "w") as handle:
        handle.write("5")  # reset the peak (VmHWM) to the current resident set
    before = _status_kb("VmRSS")
    step(), step()
    return (_status_kb("VmHWM") - before) / 1024


def time_case(case, repeats, names, device="cpu"):
    """(median seconds, executed FLOPs) per variant, all interleaved in this process, and the
    matmul peak read after each round (GFLOP/s): the machine's speed moves within minutes, so a
    share of the peak compares a step with the peak of the same minutes."""
    table = variants()
    steps = {n: table[n](case, device) for n in names}
    for n in names:  # warm-up (and the `fast` engine's one-time measurements)
        steps[n]()
    flops = {n: executed_flops(steps[n]) for n in names}
    times = {n: [] for n in names}
    peaks = []
    for _ in range(repeats):  # interleaved, so drifts hit every variant alike
        for n in names:
            t0 = time.perf_counter()
            steps[n]()
            times[n].append(time.perf_counter() - t0)
        peaks.append(matmul_peak_gflops(repeats=2, device=device))
    return {n: statistics.median(v) for n, v in times.items()}, flops, peaks


def _probe_memory(case, name, device):
    # glibc's default (freed large blocks go back to the system), so VmHWM is the live peak,
    # not the heap a process keeps for reuse (host_memory), whose size depends on allocation order
    env = {**os.environ, "SNN_THA_KEEP_FREED_MEMORY": "0"}
    probe = subprocess.run([sys.executable, "-m", "snn_tha.repro.bench.steps", "--memory-probe",
                            str(CASES.index(case)), name, "--device", device],
                           capture_output=True, text=True, check=True, env=env)
    return float(probe.stdout.strip().splitlines()[-1])


def run(out_dir, repeats=5, names=None, cases=CASES, device="cpu", stem="bench"):
    readings = [matmul_peak_gflops(device=device)]
    names = list(names or variants())
    rows = []
    for case in cases:
        medians, flops, peaks = time_case(case, repeats, names, device)
        readings += peaks
        peak = statistics.median(peaks)   # this network's minutes
        for name in names:
            seconds = medians[name]
            rows.append({"network": case.name, "device": device, "engine": name,
                         "time_steps": case.num_steps, "batch": case.batch,
                         "step_seconds": round(seconds, 4),
                         "samples_per_second": round(case.batch / seconds, 2),
                         "speedup_vs_reference": round(medians["reference"] / seconds, 2),
                         "peak_memory_mb": round(_probe_memory(case, name, device), 1),
                         "executed_gflop": round(flops[name] / 1e9, 2),
                         "matmul_peak_gflops": round(peak, 1),
                         "fraction_of_matmul_peak": round(flops[name] / seconds / 1e9 / peak, 4)})
    lif_rows = bench_lif.run(cases, device)
    machine = {"device": device if device == "cpu" else torch.cuda.get_device_name(),
               "cpu": platform.processor() or platform.machine(), "threads": torch.get_num_threads(),
               "matmul_peak_gflops": round(max(readings), 1), "repeats": repeats,
               "matmul_peak_readings": [round(r, 1) for r in readings],
               "peak_of_onednn": peak_reads_onednn(device),
               "copy_bandwidth_gbs": bench_lif.copy_bandwidth_gbs(device),
               "keep_freed_memory": host_memory.keep_freed_memory(),
               "instruction_set": provenance.cpu_instruction_set()}
    write(out_dir, rows, lif_rows, machine, stem)
    return rows


def write(out_dir, rows, lif_rows, machine, stem="bench"):
    out_dir = Path(out_dir)
    files.atomic_write_csv(out_dir / f"{stem}.csv", rows)
    files.atomic_write_csv(out_dir / f"{stem}_lif.csv", lif_rows)
    write_markdown(out_dir, rows, lif_rows, machine, stem)
    files.atomic_write_json(out_dir / f"{stem}_machine.json", {**machine, **provenance.provenance()})


def _instruction_set_words(machine):
    """", AMD EPYC, PyTorch dispatch AVX2 (ATEN_CPU_CAPABILITY=avx2 ...), flags avx2, fma"
    (empty for a machine JSON written before the key)."""
    isa = machine.get("instruction_set")
    if not isa:
        return ""
    switches = provenance.switch_words(isa)
    return (f" of {isa['cpu']}, PyTorch dispatch {isa['aten_capability']}"
            f"{f' ({switches})' if switches else ''}, flags {', '.join(isa['flags']) or 'none of AVX2/AVX-512'}")


def write_markdown(out_dir, rows, lif_rows, machine, stem="bench"):
    lines = ["# Training-step benchmark (`make bench`)", "",
             f"One training step (forward, backward, Adam) at paper settings, annealing variants, "
             f"median of {machine['repeats']} interleaved repeats after one warm-up, every variant "
             f"in one process; device {machine['device']}, {machine['threads']} CPU threads"
             f"{_instruction_set_words(machine)}; "
             f"{peak_words(machine, rows)} "
             f"`{TORCH_LIF}` is the engine with the LIF as torch operations (before the fused "
             f"kernels); SpikingJelly's rows use its LIF with soft reset: the same cost, not the "
             f"same numbers. Executed GFLOP: the convolutions and matmuls each variant really "
             f"runs (torch's FlopCounterMode, forward + backward; the sparse spike kernels as "
             f"2 x nonzeros x outputs, the integer box convolution as the float one it "
             f"replaces); the last column divides them by the step time and the matmul peak "
             f"(work skipped lowers both the time and the FLOPs). Peak MB: "
             f"growth of the peak resident set over "
             f"two steps in a fresh process (the first with its one-time work), freed memory "
             f"returned to the system: the live peak.", "",
             "| network | T | batch | engine | s/step | samples/s | speed-up | peak MB | "
             "executed GFLOP | of matmul peak |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['network']} | {r['time_steps']} | {r['batch']} | {r['engine']} | "
                     f"{r['step_seconds']:.3f} | {r['samples_per_second']:.1f} | "
                     f"{r['speedup_vs_reference']:.2f}x | {r['peak_memory_mb']:.0f} | "
                     f"{r['executed_gflop']:.1f} | {100 * r['fraction_of_matmul_peak']:.1f}% |")
    lines += ["", *bench_lif.markdown(lif_rows, machine["copy_bandwidth_gbs"])]
    files.atomic_write_text(Path(out_dir) / f"{stem}.md", "\n".join(lines) + "\n")


def rewrite_markdown(out_dir, stem="bench"):
    """Rebuild <stem>.md from its CSVs and machine JSON (no re-timing)."""
    import csv
    out_dir = Path(out_dir)
    text = ("network", "engine", "device", "kernel", "layer", "current_shape", "static")
    read = lambda name: [{k: (v if k in text else float(v)) for k, v in r.items()}  # noqa: E731
                         for r in csv.DictReader(open(out_dir / name))]
    rows = read(f"{stem}.csv")
    for r in rows:
        r["time_steps"], r["batch"] = int(r["time_steps"]), int(r["batch"])
    machine = json.loads((out_dir / f"{stem}_machine.json").read_text())
    write_markdown(out_dir, rows, read(f"{stem}_lif.csv"), machine, stem)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(paths.results_root() / "bench" / "local"),
                        help="folder (default $SNN_THA_RESULTS/bench/local, not committed; a machine's "
                             "committed figures: --out results/bench --stem bench_<machine>)")
    parser.add_argument("--stem", default=None,
                        help="file names <stem>.{csv,md} (default: bench, or bench_cuda on CUDA)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default=default_device(),
                        help="cpu or cuda (default: cuda when available)")
    parser.add_argument("--memory-probe", nargs=2, metavar=("CASE", "VARIANT"),
                        help=argparse.SUPPRESS)
    parser.add_argument("--markdown-only", action="store_true",
                        help="rebuild the markdown from the CSVs and machine JSON, no timing")
    args = parser.parse_args(argv)
    host_memory.keep_freed_memory()
    stem = args.stem or ("bench_cuda" if args.device.startswith("cuda") else "bench")
    if args.markdown_only:
        rewrite_markdown(args.out, stem)
        return 0
    if args.memory_probe:
        print(memory_probe(int(args.memory_probe[0]), args.memory_probe[1], args.device))
        return 0
    if args.device == "cpu":
        print("bench: no CUDA device here, so the GPU benchmark is skipped; timing the CPU")
    if not bench_peers.available():
        print("bench: SpikingJelly not installed (make bench-deps), so its rows are left out")
    for row in run(args.out, args.repeats, device=args.device, stem=stem):
        print(json.dumps(row))
    return 0


if __name__ == "__main__":
    sys.exit(main())
