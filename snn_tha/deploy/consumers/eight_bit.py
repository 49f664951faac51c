"""Our weights in 8 bits by the consumers' own quantizers, and whether the network stays ours.

A layer of the spec graph holds weight / g and bias / g per channel, threshold 1, where the weight
is +-1 (dense) or an integer tap of the pooled convolution (1, 2 or 4 times a sign). A quantizer
keeps the network exactly when every integer it writes over its scale equals the value it
replaced (weights, bias and threshold alike). Checked here per layer, and by running the
quantized layers (integer weights, bias and threshold per channel, the same dynamics) in our numpy
engine against the unquantized export:
- Rockpool's `channel_quantize` (Xylo): one scale per output neuron, 127 / max|w|, applied to the
  layer as its output group (its single-synapse hidden group rounds the bias without the scale);
- Sinabs' `discretize_conv_spike` (DYNAP-CNN): one scale per layer for weights, biases and the
  thresholds (membrane bounds +-1 threshold)."""
import numpy as np

QUANTIZERS = {"rockpool": ("Rockpool", "rockpool.transform.quantize_methods.channel_quantize",
                           "one scale per output channel"),
              "sinabs": ("Sinabs", "sinabs.backend.dynapcnn.discretize.discretize_conv_spike",
                         "one scale per layer")}


def rockpool_layer(weight, bias):
    """Integer weights, bias and threshold per channel of one layer (weight [C, ...], bias [C])."""
    from rockpool.transform.quantize_methods import channel_quantize
    c = weight.shape[0]
    one = np.zeros(1)
    q = channel_quantize(weights_in=np.zeros((1, 1)), weights_rec=np.zeros((1, 1)),
                         weights_out=weight.reshape(c, -1).T.copy(), threshold=one,
                         threshold_out=np.ones(c), dash_mem=one, dash_mem_out=np.zeros(c),
                         dash_syn=one, dash_syn_2=one, dash_syn_out=np.zeros(c),
                         bias_out=bias.astype(np.float64).copy())
    return (np.asarray(q["weights_out"]).T.reshape(weight.shape).astype(np.float64),
            np.asarray(q["bias_out"], np.float64), np.asarray(q["threshold_out"], np.float64))


def sinabs_layer(weight, bias):
    import torch
    import sinabs.layers as sl
    conv_spike = _sinabs_discretize().discretize_conv_spike
    conv = torch.nn.Conv2d(weight.shape[1], weight.shape[0], weight.shape[2:], bias=True)
    conv.weight.data = torch.tensor(weight, dtype=torch.float32)
    conv.bias.data = torch.tensor(bias, dtype=torch.float32)
    conv, spikes = conv_spike(conv, sl.IAF(spike_threshold=1.0, min_v_mem=-1.0))
    threshold = float(spikes.spike_threshold)
    return (conv.weight.detach().double().numpy(), conv.bias.detach().double().numpy(),
            np.full(weight.shape[0], threshold))


def _sinabs_discretize():
    """sinabs/backend/dynapcnn/discretize.py, loaded from its file: the package it sits in imports
    samna (SynSense's device bindings, which the package index holds only as an installer stub);
    the module itself needs torch and sinabs.layers only."""
    import importlib.util
    from pathlib import Path
    import sinabs
    path = Path(sinabs.__file__).parent / "backend" / "dynapcnn" / "discretize.py"
    spec = importlib.util.spec_from_file_location("sinabs_dynapcnn_discretize", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def quantized_layers(layers, name):
    """Our export's layers with each layer's weights, offsets and thresholds replaced by the
    integers quantizer `name` writes for the spec graph's layer, and per layer how many weights
    kept their value at the channel's scale (relative 1e-6) and the largest relative error of the
    threshold and the bias."""
    quantize = {"rockpool": rockpool_layer, "sinabs": sinabs_layer}[name]
    out, kept = [], []
    for layer in layers:
        shape = (len(layer["threshold"]),) + (1,) * (layer["weight"].ndim - 1)
        gain = 1.0 / layer["threshold"].astype(np.float64)
        weight = layer["weight"].astype(np.float64) * gain.reshape(shape)
        bias = layer["offset"].astype(np.float64) * gain
        as_conv = weight if weight.ndim == 4 else weight[:, :, None, None]
        w_q, b_q, t_q = quantize(as_conv, bias)
        w_q = w_q.reshape(weight.shape)
        flat, flat_q = np.abs(weight.reshape(len(bias), -1)), np.abs(w_q.reshape(len(bias), -1))
        scale = flat_q.max(1) / flat.max(1)   # the largest weight maps to its integer exactly
        scale[scale == 0] = np.nan              # a channel whose every weight rounded to 0
        kept.append({"weights_exact": int(np.isclose(w_q / scale.reshape(shape), weight,
                                                     rtol=1e-6, atol=0).sum()),
                     "weights": int(weight.size), "max_integer": int(flat_q.max()),
                     "zero_channels": int(np.isnan(scale).sum()),
                     **_errors(t_q, b_q, bias, scale)})
        out.append({**layer, "weight": w_q.astype(np.float32), "offset": b_q.astype(np.float32),
                    "threshold": t_q.astype(np.float32)})
    return out, kept


def _errors(t_q, b_q, bias, scale):
    """The largest relative threshold and bias errors over the channels that kept a scale; None
    where the quantizer zeroed every channel of the layer (nothing to measure, and JSON has no NaN)."""
    alive = ~np.isnan(scale)
    if not alive.any():
        return {"threshold_error": None, "bias_error": None}
    t_err = np.abs(t_q[alive] / scale[alive] - 1).max()
    b_err = np.abs(b_q[alive] / scale[alive] - bias[alive]).max() / max(np.abs(bias).max(), 1e-12)
    return {"threshold_error": float(t_err), "bias_error": float(b_err)}


def check(manifest, layers, images, ours, name):
    """The quantized network's spike counts against ours (`ours`, [N, classes]) on `images`."""
    from snn_tha.deploy import infer
    q_layers, kept = quantized_layers(layers, name)
    theirs = infer.spike_counts(manifest, q_layers, images)
    consumer, function, scales = QUANTIZERS[name]
    return {"consumer": consumer, "quantizer": function, "scales": scales, "layers": kept,
            "exact": all(k["weights_exact"] == k["weights"] and not k["zero_channels"]
                         and k["threshold_error"] < 1e-6 and k["bias_error"] < 1e-6 for k in kept),
            "same_prediction": int((theirs.argmax(1) == ours.argmax(1)).sum()),
            "same_spike_counts": int((theirs == ours).all(axis=1).sum())}
