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

from snn_tha.deploy.ops import channel_view, conv, fold_pool, lif_step  # noqa: F401 (re-exported)


class ExportError(ValueError):
    """A damaged export, or a manifest that disagrees with its arrays (one line, the file named)."""


def _read_manifest(path):
    try:
        manifest = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ExportError(f"{path}: not a valid manifest ({type(err).__name__}); export the run "
                          f"again (snn-tha export <run folder>)") from None
    if not isinstance(manifest, dict) or manifest.get("format") != "snn-tha 1-bit export":
        raise ExportError(f"{path}: not an snn-tha 1-bit export manifest; export the run again")
    for key in ("layers", "num_steps", "input", "classes"):
        if key not in manifest:
            raise ExportError(f"{path}: key '{key}' is missing; export the run again")
    return manifest


def _read_arrays(path):
    try:
        with np.load(path) as found:
            return {k: found[k] for k in found.files}
    except Exception as err:   # zip, pickle or truncation errors of every kind
        if isinstance(err, FileNotFoundError):
            raise
        raise ExportError(f"{path}: unreadable ({type(err).__name__}: truncated or damaged); "
                          f"export the run again (snn-tha export <run folder>)") from None


def _layer(arrays, spec, i, where):
    """One layer's arrays, checked against its manifest entry."""
    names = [f"layer{i}_{k}" for k in ("signs", "threshold", "offset")]
    for name in names:
        if name not in arrays:
            raise ExportError(f"{where}: array {name} is missing (the manifest lists "
                              f"{i + 1}+ layers); export the run again")
    shape = tuple(int(d) for d in spec["weight_shape"])
    packed = arrays[names[0]]
    if packed.dtype != np.uint8 or packed.size != -(-int(np.prod(shape)) // 8):
        raise ExportError(f"{where}: {names[0]} holds {packed.size} bytes, but the manifest's "
                          f"weight shape {list(shape)} needs {-(-int(np.prod(shape)) // 8)}; "
                          f"the manifest and the arrays are from different exports")
    for name in names[1:]:
        if arrays[name].shape != (shape[0],) or not np.isfinite(arrays[name]).all():
            raise ExportError(f"{where}: {name} must hold {shape[0]} finite values (one per "
                              f"output of the layer), got shape {list(arrays[name].shape)}")
    return shape


def load_export(path):
    """(manifest, per-layer dicts with integer weights, thresholds, offsets) of an export; an
    ExportError (one line) for a damaged file or a manifest that disagrees with its arrays."""
    path = Path(path)
    manifest = _read_manifest(path.with_suffix(".json"))   # model.1bit.json beside it
    arrays = _read_arrays(path.with_suffix(".npz"))
    where = f"{path.with_suffix('.npz')} with {path.with_suffix('.json').name}"
    layers = []
    for i, spec in enumerate(manifest["layers"]):
        shape = _layer(arrays, spec, i, where)
        bits = np.unpackbits(arrays[f"layer{i}_signs"], count=int(np.prod(shape)))
        signs = bits.reshape(shape).astype(np.float32) * 2 - 1          # 1 -> +1, 0 -> -1
        weight = fold_pool(signs) if spec["kind"] == "conv" else signs
        layers.append({**spec, "signs": signs, "weight": weight,
                       "threshold": arrays[f"layer{i}_threshold"].astype(np.float32),
                       "offset": arrays[f"layer{i}_offset"].astype(np.float32)})
    if f"layer{len(layers)}_signs" in arrays or not layers or layers[-1]["weight"].shape[0] != manifest["classes"]:
        raise ExportError(f"{where}: the arrays hold other layers than the manifest lists "
                          f"({len(layers)} layers, {manifest['classes']} classes); export the run again")
    return manifest, layers


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
    """Output spikes per class over the T steps, [N, classes], in batches."""
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


def test_images(manifest, data_dir):
    """The test split of the export's static data set, read with numpy."""
    folder = {"fashion_mnist": "FashionMNIST", "mnist": "MNIST"}.get(manifest["dataset"])
    if folder is None:
        raise ValueError(f"data set {manifest['dataset']!r}: the command line reads MNIST and "
                         f"FashionMNIST only; call snn_tha.deploy.infer.predict on your own arrays")
    raw = Path(data_dir) / folder / "raw"
    return read_idx(raw / "t10k-images-idx3-ubyte"), read_idx(raw / "t10k-labels-idx1-ubyte")


def add_arguments(p):
    """The command's arguments, also those `snn-tha infer --help` shows."""
    p.add_argument("file", help="an export: model.1bit.npz (with model.1bit.json beside it)")
    p.add_argument("--data", default="data", help="data root holding the test split (static data)")
    p.add_argument("--limit", type=int, help="first N test images only")
    p.add_argument("--engine", choices=("packed", "float"), default="packed",
                   help="packed (default): sign and spike bits with popcount, compiled once per "
                        "machine (snn_tha.deploy.packed; numpy's bitwise_count without a "
                        "compiler); float: float32 matrix products, the reference; the same "
                        "predictions")
    p.add_argument("--predictions", metavar="CSV", help="write each image's label, prediction "
                   "and output spike counts there")


def main(argv=None, prog=None):
    p = argparse.ArgumentParser(prog=prog, description=__doc__.splitlines()[0])
    add_arguments(p)
    args = p.parse_args(argv)
    try:
        manifest, layers = load_export(args.file)
        images, labels = test_images(manifest, args.data)
    except (OSError, ValueError, KeyError) as err:
        print(f"snn-tha: error: {err}", file=sys.stderr)
        return 2
    images, labels = images[:args.limit], labels[:args.limit]
    start = time.perf_counter()
    if args.engine == "packed":
        from snn_tha.deploy import packed
        counts = packed.spike_counts(manifest, layers, images)
    else:
        counts = spike_counts(manifest, layers, images)
    seconds = time.perf_counter() - start
    preds = counts.argmax(axis=1)
    if args.predictions:
        try:
            write_predictions(args.predictions, labels, counts)
        except OSError as err:
            print(f"snn-tha: error: {args.predictions}: {err.strerror or err}", file=sys.stderr)
            return 2
    print(json.dumps({"images": len(labels), "accuracy": float((preds == labels).mean()),
                      "engine": args.engine, "ms_per_image": round(1000 * seconds / len(labels), 3)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
