"""snn-tha: threshold annealing for binarized spiking neural networks.

The public building blocks, for use in your own snnTorch models:

    from snn_tha import Leaky, Linear, Conv2d, ThresholdAnnealing
"""
from snn_tha.annealing import ThresholdAnnealing, annealed_threshold
from snn_tha.binary import Conv2d, Linear, sign_ste
from snn_tha.neurons import Leaky, lif_step
from snn_tha.surrogate import FastSigmoid, spike_fast_sigmoid

__all__ = [
    "Leaky", "lif_step", "Linear", "Conv2d", "sign_ste",
    "ThresholdAnnealing", "annealed_threshold", "spike_fast_sigmoid", "FastSigmoid",
]
__version__ = "0.1.0"
