"""The 1-bit file format in one place: its file names, writer, reader, checks and error.

`model.1bit.npz` holds per layer the sign bits packed 8 per byte (numpy.packbits, 1 = +1), the
folded per-channel threshold, offset and scale (float32); `model.1bit.json` (the manifest) the
architecture, data set, T, input kind, classes, and per layer its kind, beta, weight shape and
the threshold the run evaluated with. A network is folded into this form by
`snn_tha.deploy.fold.fold`; `write` takes those layers, so a model exports without a run folder.
Every value is checked when the file is read (`check_manifest`) and every input before a kernel
runs (`check_input`): a damaged or hand-edited file is one line, never another network.
numpy only.
"""
import io
import json
import os
import tempfile
from pathlib import Path

import numpy as np

from snn_tha.deploy.ops import fold_pool

NPZ, MANIFEST = "model.1bit.npz", "model.1bit.json"
FORMAT, VERSION = "snn-tha 1-bit export", 1


class ExportError(ValueError):
    """A damaged export, or a manifest that disagrees with its arrays (one line, the file named)."""


def _read_manifest(path):
    try:
        manifest = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ExportError(f"{path}: not a valid manifest ({type(err).__name__}); export the run "
                          f"again (snn-tha export <run folder>)") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ExportError(f"{path}: not an snn-tha 1-bit export manifest; export the run again")
    for key in ("layers", "num_steps", "input", "classes"):
        if key not in manifest:
            raise ExportError(f"{path}: key '{key}' is missing; export the run again")
    check_manifest(manifest, path)
    return manifest


INPUT_KINDS = ("image_uint8", "spikes")
WEIGHT_DIMS = {"conv": 4, "dense": 2}


def _whole(value, least=1):
    return isinstance(value, int) and not isinstance(value, bool) and value >= least


def check_manifest(manifest, path):
    """Every value the engines compute with, checked when the file is read (ExportError naming
    the key): a manifest edited by hand or damaged must never run as another network."""
    def refuse(key, why):
        raise ExportError(f"{path}: {key} {why}; export the run again (snn-tha export <run folder>)")
    for key in ("num_steps", "classes"):
        if not _whole(manifest[key]):
            refuse(key, f"must be a whole number >= 1, got {manifest[key]!r}")
    kind = manifest["input"].get("kind") if isinstance(manifest["input"], dict) else None
    if kind not in INPUT_KINDS:
        refuse("input.kind", f"must be one of {', '.join(INPUT_KINDS)}, got {kind!r}")
    layers = manifest["layers"]
    if not isinstance(layers, list) or not layers or not all(isinstance(l, dict) for l in layers):
        refuse("layers", "must be a non-empty list of layer entries")
    for i, spec in enumerate(layers):
        if spec.get("kind") not in WEIGHT_DIMS:
            refuse(f"layers[{i}].kind", f"must be conv or dense, got {spec.get('kind')!r}")
        beta = spec.get("beta")
        if not isinstance(beta, (int, float)) or isinstance(beta, bool) or not 0 <= beta <= 1:
            refuse(f"layers[{i}].beta", f"must be a number in [0, 1], got {beta!r}")
        shape = spec.get("weight_shape")
        dims = WEIGHT_DIMS[spec["kind"]]
        if not isinstance(shape, list) or len(shape) != dims or not all(_whole(d) for d in shape):
            refuse(f"layers[{i}].weight_shape", f"must be {dims} whole numbers >= 1 for a "
                                                f"{spec['kind']} layer, got {shape!r}")
        if spec["kind"] == "conv" and shape[2] != shape[3]:
            refuse(f"layers[{i}].weight_shape", f"must hold a square kernel, got {shape!r}")
        fan_in = shape[1]
        if i and layers[i - 1].get("kind") == spec["kind"] and fan_in != layers[i - 1]["weight_shape"][0]:
            refuse(f"layers[{i}].weight_shape", f"takes {fan_in} inputs but layer {i - 1} has "
                                                f"{layers[i - 1]['weight_shape'][0]} outputs")
    if layers[-1]["weight_shape"][0] != manifest["classes"]:
        refuse("classes", f"is {manifest['classes']} but the last layer has "
                          f"{layers[-1]['weight_shape'][0]} outputs")


def check_input(manifest, layers, inputs, source="the input"):
    """The input's shape against every layer's fan-in, before any kernel runs (ExportError
    naming `source`): static exports take uint8 images [N, H, W], the others time-first integer
    spikes or counts [T, B, ...]."""
    inputs = np.asarray(inputs)
    static = manifest["input"]["kind"] == "image_uint8"
    expected = "uint8 images [N, H, W]" if static else "time-first integer input [T, B, ...]"
    if (static and (inputs.ndim != 3 or inputs.dtype != np.uint8)) or (not static and (
            inputs.ndim < 3 or not np.issubdtype(inputs.dtype, np.integer) and inputs.dtype != bool)):
        raise ExportError(f"{source}: {inputs.dtype} of shape {list(inputs.shape)}, but the export "
                          f"({manifest.get('dataset', '?')}) takes {expected}")
    shape = (1,) + inputs.shape[1:] if static else inputs.shape[2:]
    for i, layer in enumerate(layers):
        shape = _layer_output(layer, shape, i, source, manifest)
    return inputs


def _layer_output(layer, shape, i, source, manifest):
    """The shape one sample has after layer i, or ExportError when it does not fit."""
    w = layer["signs"].shape
    fits = (len(shape) == 3 and shape[0] == w[1] and min(shape[1:]) > w[-1]) if layer["kind"] == "conv" \
        else int(np.prod(shape)) == w[1]
    if not fits:
        takes = (f"{w[1]} channels of at least {w[-1] + 1} x {w[-1] + 1}" if layer["kind"] == "conv"
                 else f"{w[1]} values")
        raise ExportError(f"{source}: a sample of shape {list(shape)} reaches layer {i}, which takes "
                          f"{takes}; the export is a {manifest.get('architecture', '?')} network "
                          f"for {manifest.get('dataset', '?')} data")
    if layer["kind"] == "dense":
        return (w[0],)
    k = w[-1] + 1   # the folded conv + pool: (k+1) x (k+1) taps at stride 2
    return (w[0], (shape[1] - k) // 2 + 1, (shape[2] - k) // 2 + 1)


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
    if f"layer{len(layers)}_signs" in arrays:   # layers and classes: check_manifest
        raise ExportError(f"{where}: the arrays hold other layers than the manifest lists "
                          f"({len(layers)} layers, {manifest['classes']} classes); export the run again")
    return manifest, layers


def memory_bits(layers):
    """Weight and per-channel memory of folded layers, in bits."""
    weights = sum(int(np.prod(l["signs"].shape)) for l in layers)
    channels = sum(len(l["threshold"]) for l in layers)
    return {"weights_1bit": weights, "weights_fp32": 32 * weights,
            "thresholds_and_offsets_fp32": 2 * 32 * channels}


def encode(layers, architecture, dataset, num_steps, static, source=None):
    """(arrays, manifest) of folded layers (`snn_tha.deploy.fold.fold`)."""
    arrays, specs = {}, []
    for i, l in enumerate(layers):
        arrays[f"layer{i}_signs"] = np.packbits((l["signs"] > 0).astype(np.uint8).ravel())
        for key in ("threshold", "offset", "scale"):
            arrays[f"layer{i}_{key}"] = np.asarray(l[key], np.float32)
        conv = l["kind"] == "conv"
        specs.append({k: v for k, v in l.items() if k not in ("signs", "threshold", "offset", "scale")}
                     | {"weight_shape": list(l["signs"].shape), "stride": 2 if conv else None,
                        "pool": 2 if conv else None})
    manifest = {"format": FORMAT, "version": VERSION, "architecture": architecture,
                "dataset": dataset, "num_steps": num_steps,
                "input": {"kind": "image_uint8" if static else "spikes"},
                "classes": int(layers[-1]["signs"].shape[0]), "layers": specs,
                "state": "float32 v = u/A, in units of the layer's integer current",
                "memory_bits": memory_bits(layers)}
    if source is not None:
        manifest["source"] = source
    return arrays, manifest


def write(layers, out_dir, architecture, dataset, num_steps, static, source=None):
    """model.1bit.npz + model.1bit.json of folded layers into `out_dir`: written under temporary
    names, read back through every check of `load_export`, then renamed; a file that would be
    refused (a NaN threshold, say) never replaces one that is there. Returns the .npz path."""
    arrays, manifest = encode(layers, architecture, dataset, num_steps, static, source)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out_dir, prefix=".export-") as tmp:
        buffer = io.BytesIO()
        np.savez_compressed(buffer, **arrays)
        (Path(tmp) / NPZ).write_bytes(buffer.getvalue())
        (Path(tmp) / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
        load_export(Path(tmp) / NPZ)   # ExportError: nothing of the folder is replaced
        for name in (NPZ, MANIFEST):
            os.replace(Path(tmp) / name, out_dir / name)
    return out_dir / NPZ
