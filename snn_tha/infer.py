"""The 1-bit deployment engine: runs a `snn-tha export` file with numpy only (no PyTorch).

Per layer: binary spikes (or the image's uint8 pixels) times +-1 weights as integer sums (the
2x2 average pooling is folded into a stride-2 convolution with integer taps), and the LIF
state in float32 in units of that integer current, with batch norm and the threshold folded
into a per-channel threshold and offset (see `snn_tha.export`):

    v[t] = beta*v[t-1] + c[t] + offset - H(v[t-1] - threshold)*threshold,  z[t] = H(v[t] - threshold)

    python -m snn_tha.infer results/runs/fmnist_annealing/claims-seed0/model.1bit.npz --data data
"""
import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np


def load(path):
    """(manifest, per-layer dicts with integer weights, thresholds, offsets) of an export."""
    path = Path(path)
    manifest = json.loads(path.with_suffix(".json").read_text())   # model.1bit.json beside it
    arrays = np.load(path.with_suffix(".npz"))
    layers = []
    for i, spec in enumerate(manifest["layers"]):
        shape = tuple(spec["weight_shape"])
        bits = np.unpackbits(arrays[f"layer{i}_signs"], count=int(np.prod(shape)))
        signs = bits.reshape(shape).astype(np.float32) * 2 - 1          # 1 -> +1, 0 -> -1
        weight = fold_pool(signs) if spec["kind"] == "conv" else signs
        layers.append({**spec, "weight": weight,
                       "threshold": arrays[f"layer{i}_threshold"].astype(np.float32),
                       "offset": arrays[f"layer{i}_offset"].astype(np.float32)})
    return manifest, layers


def from_folded(folded):
    """Engine layers straight from `snn_tha.export.fold` (float64, for round-trip tests)."""
    return [{**l, "weight": fold_pool(l["signs"]) if l["kind"] == "conv" else l["signs"]}
            for l in folded]


def fold_pool(signs):
    """conv(k) -> 2x2 sum pooling as one (k+1)x(k+1) stride-2 kernel of integer taps."""
    out, cin, k, _ = signs.shape
    taps = np.zeros((out, cin, k + 1, k + 1), np.float32)
    for i in (0, 1):
        for j in (0, 1):
            taps[:, :, i:i + k, j:j + k] += signs
    return taps


def conv(x, taps, stride=2):
    """Valid stride-2 convolution of [N, C, H, W] by integer taps: float32 sums of integers
    below 2**24, so exact."""
    n, c, h, w = x.shape
    k = taps.shape[-1]
    windows = np.lib.stride_tricks.sliding_window_view(x, (k, k), axis=(2, 3))[:, :, ::stride, ::stride]
    ho, wo = windows.shape[2:4]
    cols = windows.transpose(0, 2, 3, 1, 4, 5).reshape(n * ho * wo, c * k * k)
    out = cols @ taps.reshape(taps.shape[0], -1).T
    return out.reshape(n, ho, wo, -1).transpose(0, 3, 1, 2)


def current(layer, x):
    """Integer current of one layer for one time step's input."""
    if layer["kind"] == "conv":
        return conv(x, layer["weight"])
    return x.reshape(x.shape[0], -1) @ layer["weight"].T


def channel_view(values, cur):
    """Per-channel values broadcast against a current [B, C] or [B, C, H, W]."""
    return values.reshape((1, -1) + (1,) * (cur.ndim - 2))


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
            mem = dtype(layer["beta"]) * prev + drive
            state[i] = np.where(prev > theta, mem - theta, mem).astype(dtype)
            x = (state[i] > theta).astype(dtype)
            if record:
                records[i].append(x)
        counts = counts + x
    return (counts, [np.stack(r) for r in records]) if record else counts


def predict(manifest, layers, inputs, batch=100):
    """Predicted classes (most output spikes, ties -> lowest index) in batches."""
    axis = 0 if manifest["input"]["kind"] == "image_uint8" else 1
    preds = []
    for start in range(0, inputs.shape[axis], batch):
        part = inputs[start:start + batch] if axis == 0 else inputs[:, start:start + batch]
        preds.append(run(manifest, layers, part).argmax(axis=1))
    return np.concatenate(preds)


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
                         f"FashionMNIST only; call snn_tha.infer.predict on your own arrays")
    raw = Path(data_dir) / folder / "raw"
    return read_idx(raw / "t10k-images-idx3-ubyte"), read_idx(raw / "t10k-labels-idx1-ubyte")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("file", help="an export: model.1bit.npz (with model.1bit.json beside it)")
    p.add_argument("--data", default="data", help="data root holding the test split (static data)")
    p.add_argument("--limit", type=int, help="first N test images only")
    args = p.parse_args(argv)
    try:
        manifest, layers = load(args.file)
        images, labels = test_images(manifest, args.data)
    except (OSError, ValueError, KeyError) as err:
        print(f"snn-tha infer: error: {err}", file=sys.stderr)
        return 2
    images, labels = images[:args.limit], labels[:args.limit]
    start = time.perf_counter()
    preds = predict(manifest, layers, images)
    seconds = time.perf_counter() - start
    print(json.dumps({"images": len(labels), "accuracy": float((preds == labels).mean()),
                      "ms_per_image": round(1000 * seconds / len(labels), 3)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
