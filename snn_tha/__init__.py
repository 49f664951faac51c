"""snn-tha: threshold annealing for binarized spiking neural networks.

The public building blocks, for use in your own snnTorch models:

    from snn_tha import Leaky, Linear, Conv2d, ThresholdAnnealing, FastSigmoid

Names are imported on first use, so `snn_tha.deploy.infer` (the torch-free deployment engine) can be
imported without PyTorch.
"""
import importlib

_EXPORTS = {
    "ThresholdAnnealing": "snn_tha.nn.annealing", "annealed_threshold": "snn_tha.nn.annealing",
    "Conv2d": "snn_tha.nn.binary", "Linear": "snn_tha.nn.binary", "sign_ste": "snn_tha.nn.binary",
    "Leaky": "snn_tha.nn.neurons", "lif_step": "snn_tha.nn.neurons",
    "FastSigmoid": "snn_tha.nn.surrogate", "spike_fast_sigmoid": "snn_tha.nn.surrogate",
}
__all__ = list(_EXPORTS)
from importlib.metadata import PackageNotFoundError, version as _version

try:
    __version__ = _version("snn-tha")
except PackageNotFoundError:  # a checkout on sys.path, not installed
    __version__ = "0.1.0"


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'snn_tha' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + __all__)
