"""Evaluation with and without the forward-only path (`snn_tha.models.networks.forward_only`:
uint8 hidden spikes from the C++ LIF forward with no membrane record, binary convolutions by
popcount), in one process on the same images and threads: `evaluate` as a run's final evaluation
calls it (activity counts on), median of 3 after a warm-up, and every image's prediction and
every neuron's spike count compared. Writes $SNN_THA_RESULTS/bench/local/ (or --out) <name>.{json,md} (evaluation_speed).
Usage: .venv/bin/python scripts/eval_speed.py [MODEL_DIR] [--images N] [--name NAME]
"""
import argparse
import dataclasses
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from snn_tha.kernels.engine import neuron_counts  # noqa: E402
from snn_tha.kernels.host_memory import keep_freed_memory  # noqa: E402
from snn_tha.models.networks import forward_only  # noqa: E402
from snn_tha.repro import files, paths, provenance  # noqa: E402
from snn_tha.repro.export import run_export
from snn_tha.repro.data.common import batches  # noqa: E402
from snn_tha.repro.run.evaluation import evaluate  # noqa: E402
from snn_tha.repro.run.setup import prepare_data  # noqa: E402

MODES = {"usual evaluation (autograd off)": False, "forward-only path": True}


def per_image(model, split, cfg, to_input, enabled):
    """Predictions [N] and each layer's per-neuron spike counts, forward-only path `enabled` or not."""
    preds, counts = [], None
    with forward_only(model, enabled):
        for x, _ in batches(split, cfg.batch_size, to_input=to_input):
            out = model(x, cfg.num_steps)
            preds.append(out.spikes.sum(0).argmax(1))
            layer = [neuron_counts(s) for s in out.layer_spikes]
            counts = layer if counts is None else [a + b for a, b in zip(counts, layer)]
    return torch.cat(preds), counts


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("model_dir", nargs="?", default=str(paths.ROOT / "results/models/fmnist_annealing"))
    p.add_argument("--images", type=int, default=5000, help="first N test images (the claims "
                   "profile's test_subset: 5000)")
    p.add_argument("--data", default=str(paths.ROOT / "data"))
    p.add_argument("--name", default="evaluation_speed", help="results/bench/<name>.{json,md}")
    p.add_argument("--out", default=str(paths.results_root() / "bench" / "local"),
                   help="folder (default $SNN_THA_RESULTS/bench/local, not committed; the committed "
                        "per-machine files: --out results/bench --name <file>_<machine>)")
    args = p.parse_args(argv)
    keep_freed_memory()
    model_dir = Path(args.model_dir)
    cfg, model, _ = run_export.load_run(model_dir)
    cfg = dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, data_dir=args.data,
                                                            test_subset=args.images))
    _, _, test_set, to_input = prepare_data(cfg)
    seconds, results = {}, {}
    for name, flag in list(MODES.items()) * 4:   # interleaved: warm-up round, then 3 timed
        start = time.perf_counter()
        evaluate(model, test_set, cfg, to_input, activity=True, forward_only_path=flag)
        seconds.setdefault(name, []).append(time.perf_counter() - start)
    for name, flag in MODES.items():
        results[name] = per_image(model, test_set, cfg, to_input, flag)
    (p0, c0), (p1, c1) = results.values()
    same_predictions = bool(torch.equal(p0, p1))
    same_counts = all(torch.equal(a, b) for a, b in zip(c0, c1))
    rows = [{"mode": name, "seconds": round(statistics.median(s[1:]), 3),
             "ms_per_image": round(1000 * statistics.median(s[1:]) / len(test_set), 3)}
            for name, s in seconds.items()]
    isa = provenance.cpu_instruction_set()
    result = {"model": str(model_dir.relative_to(paths.ROOT)) if model_dir.is_relative_to(paths.ROOT) else str(model_dir),
              "images": len(test_set), "num_steps": cfg.num_steps, "batch_size": cfg.batch_size,
              "threads": torch.get_num_threads(), "machine": isa, "rows": rows,
              "speed_up": round(rows[0]["seconds"] / rows[1]["seconds"], 2),
              "identical_predictions": same_predictions, "identical_spike_counts": same_counts,
              "provenance": provenance.provenance()}
    out = Path(args.out)
    files.atomic_write_json(out / f"{args.name}.json", result)
    command = ".venv/bin/python scripts/eval_speed.py" + (
        "" if args.name == "evaluation_speed" else f" --name {args.name}")
    lines = [f"# Evaluation with and without the forward-only path ({result['model']}, first "
             f"{len(test_set)} test images, T={cfg.num_steps}, batch {cfg.batch_size}, "
             f"{result['threads']} threads, median of 3 after a warm-up, interleaved)", "",
             f"Machine: {isa['cpu']}, PyTorch dispatch {isa['aten_capability']}. Command: "
             f"`{command}`. `evaluate(..., activity=True)`, as a run's final evaluation calls "
             "it.", "",
             "| mode | seconds | ms per image |", "|---|---|---|"]
    lines += [f"| {r['mode']} | {r['seconds']:.2f} | {r['ms_per_image']:.2f} |" for r in rows]
    lines += ["", f"Speed-up {result['speed_up']}x; every prediction identical: {same_predictions}; "
              f"every neuron's spike count identical: {same_counts}."]
    files.atomic_write_text(out / f"{args.name}.md", "\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
