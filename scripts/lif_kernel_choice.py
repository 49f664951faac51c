"""Which CPU LIF kernel to keep: torch.compile (Inductor) of the per-step LIF loop vs the C++ fused
kernel vs torch operations per step, one forward + backward of the static network's second LIF
layer ([T=100, 128, 64, 4, 4], the fast-sigmoid surrogate), median of 3 after a warm-up, one process.
Writes $SNN_THA_RESULTS/bench/local/lif_kernel_choice.md (or OUT_DIR/).   Usage: .venv/bin/python scripts/lif_kernel_choice.py [OUT_DIR]
"""
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from snn_tha.kernels import engine, fused, host_memory  # noqa: E402
from snn_tha.repro import files, paths  # noqa: E402
from snn_tha.functional.equations import LifParams, lif_membrane  # noqa: E402
from snn_tha.nn.surrogate import spike_fast_sigmoid  # noqa: E402

T, SHAPE = 100, (128, 64, 4, 4)
BETA, THETA = torch.tensor(0.9), torch.tensor(1.0)


def lif_loop(cur):
    """The per-step loop as autograd sees it (what torch.compile gets to fuse)."""
    mem, spikes = torch.zeros_like(cur[0]), []
    for t in range(cur.shape[0]):
        mem = lif_membrane(mem, cur[t], BETA, THETA)
        spikes.append(spike_fast_sigmoid(mem, THETA, THETA, 5.0))
    return torch.stack(spikes)


def engine_with(kernel):
    def run(cur):
        with fused.using(kernel):
            return engine.lif_sequence(cur, LifParams(BETA, THETA, THETA, 5.0))[0]
    return run


def time_it(fn, repeats=3):
    times = []
    for _ in range(repeats + 1):
        cur = (torch.randn(T, *SHAPE) * 0.5 + 0.5).requires_grad_()
        start = time.perf_counter()
        fn(cur).sum().backward()
        times.append(time.perf_counter() - start)
    return statistics.median(times[1:]), times[0]


def main():
    host_memory.keep_freed_memory()
    compiled, first = time_it(torch.compile(lif_loop))
    cpp, _ = time_it(engine_with("cpp"))
    ops, _ = time_it(engine_with("torch"))
    lines = ["# CPU LIF kernel: torch.compile vs C++", "",
             f"`.venv/bin/python scripts/lif_kernel_choice.py`: one forward + backward of the "
             f"static network's second LIF layer ([T={T}, {', '.join(map(str, SHAPE))}], "
             f"fast-sigmoid surrogate), median of 3 after a warm-up, one process; torch "
             f"{torch.__version__}, {torch.get_num_threads()} threads.", "",
             "| kernel | ms forward + backward |", "|---|---|",
             f"| torch.compile (Inductor) of the per-step loop (first call with compilation: {first:.1f} s) | {1e3 * compiled:.1f} |",
             f"| C++ fused kernel (`snn_tha/kernels/fused/lif_cpu.cpp`) | {1e3 * cpp:.1f} |",
             f"| torch operations per step (`SNN_THA_LIF_KERNEL=torch`) | {1e3 * ops:.1f} |", "",
             f"Fastest here: {min(('torch.compile', compiled), ('C++', cpp), ('torch operations', ops), key=lambda kv: kv[1])[0]}; "
             f"`SNN_THA_LIF_KERNEL=auto` runs the C++ kernel on the CPU."]
    out = Path(sys.argv[1] if len(sys.argv) > 1 else paths.results_root() / "bench" / "local") / "lif_kernel_choice.md"
    files.atomic_write_text(out, "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
