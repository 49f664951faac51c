"""snnTorch runs our NIR graph: `snntorch.import_nir.import_from_nir` (with `nirtorch`) on the
file `snn_tha.deploy.nir` writes, batched, against the export's own numpy engine on the test
images, once with the reset NIR states (to zero, as snnTorch imports it) and once with the reset
the graph's metadata states (subtract, one step later: our model's)."""
import contextlib
import io
import json
import time
from pathlib import Path

import numpy as np

from snn_tha.deploy import infer, onebit

RESETS = ("subtract", "zero")   # the graph's metadata / NIR's v_reset as snnTorch imports it


def snntorch_network(nir_path, reset):
    """The graph imported by snnTorch 1.0; `reset="subtract"` sets every Leaky to what the
    metadata states (Leaky(reset_mechanism="subtract", reset_delay=True)), "zero" keeps the
    import's (reset_mechanism="zero", reset_delay=False)."""
    import nir
    import snntorch as snn
    from snntorch.import_nir import import_from_nir
    with contextlib.redirect_stdout(io.StringIO()):   # the importer prints its progress
        net = import_from_nir(nir.read(str(nir_path)))
    if reset == "subtract":
        for leaky in (m for m in net.modules() if isinstance(m, snn.Leaky)):
            leaky.reset_mechanism = "subtract"
            leaky.reset_delay = True
            leaky.state_function = leaky._base_sub   # bound at construction: set it again
    return net.eval()


def spike_counts(net, images, num_steps, batch=500):
    """Output spikes per class over `num_steps` with each image at every step, [N, classes]."""
    import torch
    import snntorch.utils
    from tqdm import tqdm
    counts = []
    with torch.no_grad():
        for start in tqdm(range(0, len(images), batch), desc="snnTorch runs the NIR graph",
                          unit="batch", leave=False):
            x = torch.tensor(np.asarray(images[start:start + batch], dtype=np.float32))
            x = x.reshape(len(x), 1, *x.shape[-2:])   # uint8 pixel values 0-255, as floats
            snntorch.utils.reset(net)
            total = 0
            for _ in range(num_steps):
                total = total + net(x)[0]
            counts.append(total.reshape(len(x), -1).numpy())
    return np.concatenate(counts)


def compare(export_path, nir_path, data_dir, limit=None):
    """Predictions and spike counts of snnTorch's import (both resets) against the numpy engine
    on the first `limit` test images; returns the summary written beside the graph."""
    manifest, layers = onebit.load_export(export_path)
    images, labels = infer.read_test_split(manifest, data_dir)
    images, labels = images[:limit], labels[:limit]
    ours = infer.spike_counts(manifest, layers, images)
    summary = {"graph": Path(nir_path).name, "images": int(len(labels)),
               "num_steps": int(manifest["num_steps"]), "input": "uint8 pixel values 0-255",
               "numpy_engine_accuracy": float((ours.argmax(1) == labels).mean())}
    for reset in RESETS:
        start = time.perf_counter()
        theirs = spike_counts(snntorch_network(nir_path, reset), images, manifest["num_steps"])
        summary[f"snntorch_{reset}_reset"] = {
            "same_prediction": int((theirs.argmax(1) == ours.argmax(1)).sum()),
            "same_spike_counts": int((theirs == ours).all(axis=1).sum()),
            "accuracy": float((theirs.argmax(1) == labels).mean()),
            "seconds": round(time.perf_counter() - start, 1)}
    return summary


def check_beside(export_path, nir_path, data_dir, limit=None):
    """`compare`, written to <graph>.check.json beside the graph."""
    from snn_tha.repro import files
    summary = compare(export_path, nir_path, data_dir, limit)
    files.atomic_write_text(Path(str(nir_path) + ".check.json"), json.dumps(summary, indent=1) + "\n")
    return summary
