"""A NIR graph of a 1-bit export (`model.1bit.npz`), written so that NIR consumers that want one
threshold per layer (snnTorch 1.0's `import_from_nir`) import it, batched.

The export's layer i computes, per output channel c (`snn_tha.deploy.fold`):
    v[t] = beta*v[t-1] + (W c_in)[t] + D/A - H(v[t-1] - theta/A)*theta/A,   z = H(v - theta/A)
Dividing by the channel's folded threshold g = theta/A > 0 gives the same spikes with threshold 1:
    w[t] = beta*w[t-1] + (W/g) c_in[t] + D/(A g) - H(w[t-1] - 1),          z = H(w - 1)
so every node holds weights (integer taps or signs) / g and bias (D/A) / g, and every LIF node
threshold 1 (equal up to float rounding: a membrane that lands on the threshold may round the
other way). The dense layer after the convolutions is a Conv2d over the whole last feature map,
so no Flatten node is needed (snnTorch 1.0 reads NIR's Flatten with the batch dimension included).

NIR's LIF resets to `v_reset`; ours subtracts the threshold one step after the spike (snnTorch
`Leaky(reset_mechanism="subtract")`). NIR cannot say that: the graph's metadata does, and a
consumer that runs it with zero reset computes a different network (`snn_tha.repro.export.nir_check`
measures both). Needs the package `nir` (the `deploy` extra); no PyTorch.
"""
from pathlib import Path

import numpy as np

from snn_tha.deploy.onebit import load_export

DT = 1e-4   # the time step snnTorch's NIR import and export assume: tau = dt/(1 - beta)


def _per_neuron(values, neurons):
    """Per-channel values broadcast over a conv's H x W (NIR wants one value per neuron)."""
    return np.broadcast_to(np.asarray(values, dtype=np.float64).reshape(
        [-1] + [1] * (len(neurons) - 1)), neurons).copy()


def _lif(beta, neurons):
    tau = np.full(neurons, DT / (1.0 - min(beta, 1 - 1e-9)))   # float64: beta = 1 - dt/tau back
    return nir_module().LIF(tau=tau, r=tau / DT, v_leak=np.zeros(neurons),
                            v_threshold=np.ones(neurons), v_reset=np.zeros(neurons))


def nir_module():
    import nir
    return nir


def metadata(manifest):
    static = manifest["input"]["kind"] == "image_uint8"
    return {
        "producer": "snn-tha (snn_tha.deploy.nir)",
        "num_steps": int(manifest["num_steps"]), "dt": DT,
        "input": ("a uint8 image as float pixel values 0-255 (not 0-1), the same image at every "
                  "one of num_steps steps" if static else
                  "integer event counts per time bin, one bin per step"),
        "reset": ("subtract the threshold (1) from the membrane one step after a spike: snnTorch "
                  "Leaky(reset_mechanism='subtract', reset_delay=True); NIR's LIF can only say "
                  "v_reset = 0, which is another network"),
        "thresholds": "1 in every layer: weights and biases divided by each channel's folded threshold",
        "initial_membrane": 0.0,
        "prediction": "the output neuron with the most spikes over num_steps (ties: lowest index)",
    }


def graph(export_path):
    """The NIR graph of the export at `export_path` (model.1bit.npz with its manifest)."""
    return graph_of(*load_export(export_path))


def graph_of(manifest, layers):
    """The NIR graph of an export's manifest and layers (`snn_tha.deploy.onebit.load_export`)."""
    nir = nir_module()
    shape = _input_shape(manifest, layers)
    nodes, edges, previous = {"input": nir.Input(input_type={"input": np.array(shape)})}, [], "input"
    for i, layer in enumerate(layers):
        gain = 1.0 / layer["threshold"].astype(np.float64)
        bias = layer["offset"].astype(np.float64) * gain
        weight = layer["weight"].astype(np.float64)
        if layer["kind"] == "conv" or len(shape) == 3:   # a dense layer after convs: a full-map conv
            if layer["kind"] == "dense":
                weight = weight.reshape(weight.shape[0], *shape)
            stride = 2 if layer["kind"] == "conv" else 1
            nodes[f"layer{i}"] = nir.Conv2d(input_shape=tuple(shape[1:]),
                                            weight=weight * gain[:, None, None, None],
                                            stride=stride, padding=0, dilation=1, groups=1,
                                            bias=bias)
            k = weight.shape[-1]
            shape = [weight.shape[0], (shape[1] - k) // stride + 1, (shape[2] - k) // stride + 1]
        else:
            nodes[f"layer{i}"] = nir.Affine(weight=weight * gain[:, None], bias=bias)
            shape = [weight.shape[0]]
        nodes[f"lif{i}"] = _lif(layer["beta"], shape)
        edges += [(previous, f"layer{i}"), (f"layer{i}", f"lif{i}")]
        previous = f"lif{i}"
    nodes["output"] = nir.Output(output_type={"output": np.array(shape)})
    edges.append((previous, "output"))
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=metadata(manifest), type_check=False)


def _input_shape(manifest, layers):
    """One sample's shape, read off the layers: a dense net's input width, or the square image
    side whose stride-2 convolutions leave the first dense layer's input size."""
    first = layers[0]
    if first["kind"] != "conv":
        return [first["weight"].shape[1]]
    convs = [l for l in layers if l["kind"] == "conv"]
    dense_inputs = next(l["weight"].shape[1] for l in layers if l["kind"] == "dense")
    for side in range(1, 1025):
        h = side
        for l in convs:
            h = (h - l["weight"].shape[-1]) // 2 + 1
        if h > 0 and convs[-1]["weight"].shape[0] * h * h == dense_inputs:
            return [first["weight"].shape[1], side, side]
    raise ValueError(f"{manifest.get('architecture')}: no square input fits the layers")


def write(export_path, path):
    """Write the graph of `export_path` to `path` (NIR's HDF5 file); returns the path."""
    nir_module().write(str(path), graph(export_path))
    return Path(path)
