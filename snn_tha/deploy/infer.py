"""Runs a `snn-tha export` file on test images with numpy only (no PyTorch).

This module is the float32 reference engine and the command line (`snn-tha infer`), which runs
the bit-packed engine of `snn_tha.deploy.packed` by default (the same predictions).

Per layer: binary spikes (or the image's uint8 pixels) times +-1 weights as integer sums (the
2x2 average pooling is folded into a stride-2 convolution with integer taps), and the LIF
state in float32 in units of that integer current, with batch norm and the threshold folded
into a per-channel threshold and offset (see `snn_tha.deploy.fold`):

    v[t] = beta*v[t-1] + c[t] + offset - H(v[t-1] - threshold)*threshold,  z[t] = H(v[t] - threshold)

    python -m snn_tha.deploy.infer results/runs/fmnist_annealing/claims-seed0/model.1bit.npz --data data
"""
import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from snn_tha.deploy.onebit import ExportError, check_input, load_export
from snn_tha.deploy.ops import channel_view, conv, fold_pool, lif_step


def from_folded(folded):
    """Engine layers straight from `snn_tha.deploy.fold.fold` (float64, for round-trip tests)."""
    return [{**l, "weight": fold_pool(l["signs"]) if l["kind"] == "conv" else l["signs"]}
            for l in folded]


def current(layer, x):
    """Integer current of one layer for one time step's input."""
    if layer["kind"] == "conv":
        return conv(x, layer["weight"])
    return x.reshape(x.shape[0], -1) @ layer["weight"].T


def run(manifest, layers, inputs, dtype=np.float32, record=False):
    """Output spike counts [B, classes] for a batch: uint8 images [B, H, W] (static input, the
    same current at every step) or time-first spikes [T, B, ...]. `record`: also every layer's
    spikes [T, B, ...] (tests). `dtype`: of the state (float32 on hardware; float64 in tests)."""
    static = manifest["input"]["kind"] == "image_uint8"
    steps = manifest["num_steps"] if static else inputs.shape[0]
    x0 = inputs[:, None].astype(dtype) if static else None
    state, records = [None] * len(layers), [[] for _ in layers]
    counts = 0
    first_current = current(layers[0], x0) if static else None
    for t in range(steps):
        x = x0 if static else inputs[t].astype(dtype)
        for i, layer in enumerate(layers):
            cur = first_current if (static and i == 0) else current(layer, x)
            theta = channel_view(layer["threshold"].astype(dtype), cur)
            drive = cur + channel_view(layer["offset"].astype(dtype), cur)
            prev = state[i] if state[i] is not None else np.zeros_like(cur)
            state[i] = lif_step(prev, drive, layer["beta"], theta, dtype)
            x = (state[i] > theta).astype(dtype)
            if record:
                records[i].append(x)
        counts = counts + x
    return (counts, [np.stack(r) for r in records]) if record else counts


def spike_counts(manifest, layers, inputs, batch=100):
    """Output spikes per class over the T steps, [N, classes], in batches (the input's shape
    checked against every layer first: `snn_tha.deploy.onebit.check_input`)."""
    inputs = check_input(manifest, layers, inputs)
    axis = 0 if manifest["input"]["kind"] == "image_uint8" else 1
    counts = []
    for start in range(0, inputs.shape[axis], batch):
        part = inputs[start:start + batch] if axis == 0 else inputs[:, start:start + batch]
        counts.append(run(manifest, layers, part))
    return np.concatenate(counts)


def predict(manifest, layers, inputs, batch=100):
    """Predicted classes (most output spikes, ties -> lowest index) in batches."""
    return spike_counts(manifest, layers, inputs, batch).argmax(axis=1)


def write_predictions(path, labels, counts):
    """One CSV row per image: index, label, prediction, output spikes per class."""
    rows = ["image,label,prediction," + ",".join(f"spikes_{c}" for c in range(counts.shape[1]))]
    rows += [f"{i},{int(y)},{int(c.argmax())}," + ",".join(str(int(v)) for v in c)
             for i, (y, c) in enumerate(zip(labels, counts))]
    tmp = Path(str(path) + ".tmp")
    tmp.write_text("\n".join(rows) + "\n")
    tmp.replace(path)   # never a half-written file


def read_idx(path):
    """An idx file (MNIST/FashionMNIST layout) as a numpy array."""
    data = Path(path).read_bytes()
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, np.uint8, offset=4 + 4 * ndim).reshape(dims)


def read_test_split(manifest, data_dir):
    """The test split (images, labels) of the export's static data set, read with numpy; an
    ExportError (one line) where the data set is not one the command line reads."""
    folder = {"fashion_mnist": "FashionMNIST", "mnist": "MNIST"}.get(manifest["dataset"])
    if folder is None:
        raise ExportError(f"data set {manifest['dataset']!r}: the command line reads MNIST and "
                          f"FashionMNIST only; call snn_tha.deploy.infer.predict on your own arrays")
    raw = Path(data_dir) / folder / "raw"
    images, labels = (read_idx(raw / name) for name in ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"))
    if len(images) != len(labels):
        raise ExportError(f"{raw}: {len(images)} test images but {len(labels)} labels; "
                          f"prepare the data again (make data)")
    return images, labels


def add_arguments(p):
    """The command's arguments, also those `snn-tha infer --help` shows."""
    p.add_argument("file", help="an export: model.1bit.npz (with model.1bit.json beside it)")
    p.add_argument("--data", help="data root holding the test split (static data; default "
                                  "$SNN_THA_DATA or data/)")
    p.add_argument("--limit", type=int, help="first N test images only")
    p.add_argument("--engine", choices=("packed", "float"), default="packed",
                   help="packed (default): sign and spike bits with popcount, compiled once per "
                        "machine (snn_tha.deploy.packed; numpy's bitwise_count without a "
                        "compiler); float: float32 matrix products, the reference; the same "
                        "predictions")
    p.add_argument("--predictions", metavar="CSV", help="write each image's label, prediction "
                   "and output spike counts there")


def main(argv=None, prog=None, data_root="data", check=None):
    """`snn-tha infer`; `data_root`: where --data points when it is not given; `check`: the
    checks of the options every `snn-tha` command shares (ValueError: one line, exit 2)."""
    p = argparse.ArgumentParser(prog=prog, description=__doc__.splitlines()[0])
    add_arguments(p)
    args = p.parse_args(argv)
    try:
        if check is not None:
            check(args)
        elif args.limit is not None and args.limit < 1:
            raise ValueError(f"--limit {args.limit}: the number of test images must be >= 1")
        manifest, layers = load_export(args.file)
        images, labels = read_test_split(manifest, args.data or data_root)
        images, labels = images[:args.limit], labels[:args.limit]
        start = time.perf_counter()
        if args.engine == "packed":
            from snn_tha.deploy import packed
            counts = packed.spike_counts(manifest, layers, images)
        else:
            counts = spike_counts(manifest, layers, images)
        seconds = time.perf_counter() - start
        if args.predictions:
            write_predictions(args.predictions, labels, counts)
    except OSError as err:
        where = f"{err.filename}: " if err.filename else ""
        print(f"snn-tha: error: {where}{err.strerror or err}", file=sys.stderr)
        return 2
    except (ValueError, KeyError) as err:
        print(f"snn-tha: error: {err}", file=sys.stderr)
        return 2
    preds = counts.argmax(axis=1)
    print(json.dumps({"images": len(labels), "accuracy": float((preds == labels).mean()),
                      "engine": args.engine, "ms_per_image": round(1000 * seconds / len(labels), 3)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
