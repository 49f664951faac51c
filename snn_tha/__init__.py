"""snn-tha: threshold annealing for binarized spiking neural networks.

The public building blocks, for use in your own snnTorch models:

    from snn_tha import Leaky, Linear, Conv2d, ThresholdAnnealing, FastSigmoid

Names are imported on first use, so `snn_tha.infer` (the torch-free deployment engine) can be
imported without PyTorch.
"""
import importlib

_EXPORTS = {
    "ThresholdAnnealing": "snn_tha.annealing", "annealed_threshold": "snn_tha.annealing",
    "Conv2d": "snn_tha.binary", "Linear": "snn_tha.binary", "sign_ste": "snn_tha.binary",
    "Leaky": "snn_tha.neurons", "lif_step": "snn_tha.neurons",
    "FastSigmoid": "snn_tha.surrogate", "spike_fast_sigmoid": "snn_tha.surrogate",
}
__all__ = list(_EXPORTS)
__version__ = "0.1.0"


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'snn_tha' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + __all__)
