"""Where one training step of the static (FMNIST) network goes, by part: convolution forward and
backward (oneDNN), the fused LIF forward and backward, batch norm, the optimizer, the rest;
torch.profiler's self CPU time over 3 steps after 2 warm-ups, the bench's exact engine at paper
settings (T=100, batch 128). Run it also under the AVX2 switches to see what an AVX2 machine
spends. Writes $SNN_THA_RESULTS/bench/local/ (or --out) <name>.{json,md}.
Usage: [ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 MKL_ENABLE_INSTRUCTIONS=AVX2]
       .venv/bin/python scripts/step_profile.py [--name step_profile_avx2]
"""
import argparse
import sys
import time
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from snn_tha.kernels.host_memory import keep_freed_memory  # noqa: E402
from snn_tha.repro import files, paths, provenance  # noqa: E402
from snn_tha.repro.bench.cases import CASES, make_step  # noqa: E402

PARTS = (  # (part, test on the op's name), first match wins
    ("convolution backward", lambda n: n.startswith("convolution backward")),   # the C++ parts
    ("convolution forward", lambda n: n.startswith("convolution forward")),
    ("convolution backward", lambda n: "convolution_backward" in n or "ConvolutionBackward" in n),
    ("convolution forward", lambda n: "convolution" in n or "conv2d" in n),
    ("LIF backward (fused)", lambda n: "_LIFSequenceBackward" in n),
    ("LIF forward (fused)", lambda n: "_LIFSequence" in n),
    ("batch norm", lambda n: "batch_norm" in n or "BatchNorm" in n),
    ("optimizer (Adam)", lambda n: "_foreach" in n or "Optimizer" in n or "adam" in n.lower()),
    ("dense (matmul)", lambda n: n in ("aten::addmm", "aten::mm", "aten::bmm")
     or "_linear_pointwise" in n),   # oneDNN's products (snn_tha.kernels.dense)
)


def part_of(name):
    return next((part for part, test in PARTS if test(name)), "other (copies, sums, element-wise)")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--name", default="step_profile")
    p.add_argument("--out", default=str(paths.results_root() / "bench" / "local"),
                   help="folder (default $SNN_THA_RESULTS/bench/local, not committed; the committed "
                        "per-machine files: --out results/bench --name <file>_<machine>)")
    p.add_argument("--steps", type=int, default=3)
    args = p.parse_args(argv)
    keep_freed_memory()
    case = CASES[0]
    _, step = make_step(case, "exact")
    for _ in range(2):
        step()
    start = time.perf_counter()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(args.steps):
            step()
    wall = (time.perf_counter() - start) / args.steps
    seconds = {}
    for event in prof.key_averages():
        part = part_of(event.key)
        seconds[part] = seconds.get(part, 0.0) + event.self_cpu_time_total / 1e6 / args.steps
    total = sum(seconds.values())
    rows = [{"part": k, "seconds_per_step": round(v, 4), "share": round(v / total, 4)}
            for k, v in sorted(seconds.items(), key=lambda kv: -kv[1])]
    isa = provenance.cpu_instruction_set()
    result = {"network": case.name, "num_steps": case.num_steps, "batch": case.batch,
              "threads": torch.get_num_threads(), "machine": isa, "steps": args.steps,
              "wall_seconds_per_step_profiled": round(wall, 4), "rows": rows,
              "provenance": provenance.provenance()}
    out = Path(args.out)
    files.atomic_write_json(out / f"{args.name}.json", result)
    switches = provenance.switch_words(isa)
    lines = [f"# One training step of {case.name} by part (exact engine, T={case.num_steps}, "
             f"batch {case.batch}, {result['threads']} threads, {args.steps} profiled steps)", "",
             f"Machine: {isa['cpu']}, PyTorch dispatch {isa['aten_capability']}"
             f"{f' ({switches})' if switches else ''}. Command: `{switches + ' ' if switches else ''}"
             f".venv/bin/python scripts/step_profile.py --name {args.name}`. Self CPU time of the "
             f"profiler's ops (the profiler adds its own overhead: {wall:.3f} s per profiled step).", "",
             "| part | s per step | share |", "|---|---|---|"]
    lines += [f"| {r['part']} | {r['seconds_per_step']:.3f} | {100 * r['share']:.1f}% |" for r in rows]
    files.atomic_write_text(out / f"{args.name}.md", "\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
