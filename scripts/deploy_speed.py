"""The 1-bit model's engines side by side, one process, the same images and threads: PyTorch's
evaluation of the float model (model.pt, the exact engine), the numpy float32 engine
(`snn_tha.deploy.infer`) and the bit-packed popcount engine (`snn_tha.deploy.packed`); median of 3
after a warm-up. Writes $SNN_THA_RESULTS/bench/local/ (or --out) deploy_speed.{json,md}.
Usage: .venv/bin/python scripts/deploy_speed.py [MODEL_DIR] [--images N]
"""
import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from snn_tha.deploy import infer, onebit, packed  # noqa: E402
from snn_tha.repro import files, paths, provenance  # noqa: E402
from snn_tha.repro.export import run_export
from snn_tha.kernels.host_memory import keep_freed_memory  # noqa: E402


def timed(fn, repeats=3):
    fn()   # warm-up (allocations, oneDNN primitives, thread pools)
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        seconds.append(time.perf_counter() - start)
    return statistics.median(seconds), out


def command_line(argv):
    """The command as run, with the instruction-set switches it ran under."""
    switches = provenance.switch_words(provenance.cpu_instruction_set())
    args = sys.argv[1:] if argv is None else argv
    return " ".join(([switches] if switches else []) + [".venv/bin/python scripts/deploy_speed.py"] + list(args))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("model_dir", nargs="?", default=str(paths.ROOT / "results/models/fmnist_annealing"))
    p.add_argument("--images", type=int, default=1000)
    p.add_argument("--data", default=str(paths.ROOT / "data"))
    p.add_argument("--march", default="native", help="-march of the compiled popcount kernels "
                   "(x86-64-v3: AVX2 only, as on an AVX2 machine)")
    p.add_argument("--name", default="deploy_speed", help="results/bench/NAME.{json,md}")
    p.add_argument("--out", default=str(paths.results_root() / "bench" / "local"),
                   help="folder (default $SNN_THA_RESULTS/bench/local, not committed; the committed "
                        "per-machine files: --out results/bench --name <file>_<machine>)")
    args = p.parse_args(argv)
    keep_freed_memory()   # as the CLI does: fresh large buffers would page-fault every page
    model_dir = Path(args.model_dir)
    manifest, layers = onebit.load_export(model_dir / "model.1bit.npz")
    images, labels = infer.read_test_split(manifest, args.data)
    images, labels = images[:args.images], labels[:args.images]
    cfg, model, _ = run_export.load_run(model_dir)
    threads = torch.get_num_threads()

    engines = {"PyTorch (model.pt, exact engine)":
                   lambda: run_export.torch_spike_counts(model, cfg, images).numpy(),
               "numpy float32 (deploy.infer)": lambda: infer.spike_counts(manifest, layers, images),
               "bit-packed popcount, compiled kernels (deploy.packed + kernels.popcount)":
                   lambda: packed.spike_counts(manifest, layers, images, threads=threads, compiled=args.march),
               "bit-packed popcount, numpy only (deploy.packed, no compiler)":
                   lambda: packed.spike_counts(manifest, layers, images, threads=threads, compiled=False)}
    rows, predictions = [], {}
    for name, fn in engines.items():
        seconds, counts = timed(fn)
        predictions[name] = counts.argmax(1)
        rows.append({"engine": name, "ms_per_image": round(1000 * seconds / len(images), 3),
                     "accuracy": float((counts.argmax(1) == labels).mean())})
    float_name, packed_name, numpy_packed_name = list(engines)[1:]
    result = {"model": str(model_dir.relative_to(paths.ROOT)) if model_dir.is_relative_to(paths.ROOT) else str(model_dir),
              "images": len(images), "num_steps": manifest["num_steps"], "threads": threads,
              "popcount_march": args.march,
              "machine": provenance.cpu_instruction_set(), "rows": rows,
              "packed_equals_float_predictions": bool(np.array_equal(predictions[float_name], predictions[packed_name])
                                                      and np.array_equal(predictions[float_name], predictions[numpy_packed_name])),
              "provenance": provenance.provenance()}
    out = Path(args.out)
    files.atomic_write_json(out / f"{args.name}.json", result)
    base = rows[0]["ms_per_image"]
    isa = result["machine"]
    lines = [f"# The 1-bit model's engines ({result['model']}, {len(images)} test images, T="
             f"{manifest['num_steps']}, {threads} threads, median of 3)", "",
             f"Machine: {isa['cpu']}, PyTorch dispatch {isa['aten_capability']}, flags "
             f"{', '.join(isa['flags']) or 'none of AVX2/AVX-512'}.", "",
             f"Command: `{command_line(argv)}`; popcount kernels built with -march={args.march}. "
             "Same process, same images.", "",
             "| engine | ms per image | vs PyTorch | accuracy |", "|---|---|---|---|"]
    lines += [f"| {r['engine']} | {r['ms_per_image']:.2f} | {base / r['ms_per_image']:.2f}x | "
              f"{100 * r['accuracy']:.2f}% |" for r in rows]
    lines += ["", f"Both packed engines' predictions identical to the float numpy engine's: "
              f"{result['packed_equals_float_predictions']}."]
    files.atomic_write_text(out / f"{args.name}.md", "\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
