"""Folding a trained binarized network into its truly binary form, for hardware
(`snn-tha export RUN_DIR` writes it: `snn_tha.repro.export.run_export`).

What a layer computes in the trained model (eval mode, BN on running statistics):
    I = A*c + D,  c = integer current = sum of (+-1 weights x integer inputs) [x 2x2 pool taps]
with A = q/4 * gamma/sqrt(var + eps) for a conv (q = 1/255 for image pixels, 1 for spikes;
the /4 of the average pooling), A = q for a dense layer, and D = beta_bn - mean*gamma/sqrt(var
+ eps) or the dense bias. Dividing the LIF equation by A > 0 gives the same spikes with an
integer-current state v = u/A, a per-channel threshold theta/A and offset D/A:
    v[t] = beta*v[t-1] + c[t] + D/A - H(v[t-1] - theta/A)*theta/A,   z = H(v - theta/A).
A channel with A < 0 (a negative BN scale) has its weight signs flipped, so A > 0 always.

The file: `model.1bit.npz` (per layer: sign bits packed 8 per byte with numpy.packbits, the
folded per-channel threshold, offset and scale) and `model.1bit.json` (architecture, T, beta,
the evaluation thresholds the run used, shapes, memory). `snn_tha.deploy.infer` runs it with numpy.
"""
import numpy as np
import torch

from snn_tha.deploy.onebit import ExportError
from snn_tha.models import ARCHITECTURES, ConvBlock

def fold_block(block, theta, input_scale):
    """Sign bits (channel-flipped), per-channel scale A > 0, threshold theta/A, offset D/A."""
    conv = isinstance(block, ConvBlock)
    layer = block.conv if conv else block.fc
    signs = (layer.weight.detach().double() >= 0).double() * 2 - 1
    out = signs.shape[0]
    scale = torch.full((out,), input_scale / (4.0 if conv else 1.0), dtype=torch.float64)
    offset = torch.zeros(out, dtype=torch.float64)
    if not conv and layer.bias is not None:
        offset = layer.bias.detach().double().clone()
    bn = getattr(block, "bn", None)
    if bn is not None:
        gain = bn.weight.detach().double() / torch.sqrt(bn.running_var.double() + bn.eps)
        offset = bn.bias.detach().double() - bn.running_mean.double() * gain
        scale = scale * gain
    if bool((scale == 0).any()):
        raise ExportError("a channel has batch-norm scale 0: its current is constant and "
                          "cannot be folded into a threshold; export is not possible")
    flip = scale < 0
    signs[flip] *= -1
    scale = scale.abs()
    return {"kind": "conv" if conv else "dense", "signs": signs.numpy(), "scale": scale.numpy(),
            "threshold": (theta / scale).numpy(), "offset": (offset / scale).numpy(),
            "flipped_channels": int(flip.sum()), "beta": float(block.lif.beta.clamp(0, 1)),
            "eval_threshold": float(theta)}


def fold(model, pixel_input):
    """Every layer of a model in eval mode at its current thresholds, folded (module docstring).
    `pixel_input`: the first layer sees uint8 pixels / 255 (static data), else integer spikes."""
    layers = []
    for i, block in enumerate(model.blocks):
        scale = 1 / 255 if (pixel_input and i == 0) else 1.0
        layers.append(fold_block(block, float(block.lif.threshold), scale))
    return layers


def conv_output_shape(input_shape, conv_layers):
    """[C, H, W] after stride-2 (k+1)x(k+1) convolutions (the folded conv + pool)."""
    c, h, w = input_shape
    for l in conv_layers:
        k = l["signs"].shape[-1] + 1
        c, h, w = l["signs"].shape[0], (h - k) // 2 + 1, (w - k) // 2 + 1
    return [c, h, w]


def neuron_count(arch, layers):
    """Spiking neurons per layer of a folded network (conv: channels x output positions)."""
    shape = ARCHITECTURES[arch].input_shape
    counts = []
    for i, l in enumerate(layers):
        counts.append(int(np.prod(conv_output_shape(shape, layers[:i + 1]))) if l["kind"] == "conv"
                      else len(l["threshold"]))
    return counts
