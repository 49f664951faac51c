"""What a snnTorch user imports: `Leaky`, binary `Linear` / `Conv2d`, `FastSigmoid`,
`ThresholdAnnealing`. Loads torch and snnTorch, and of ours only `functional` and `kernels`."""
from snn_tha.nn.annealing import ThresholdAnnealing, annealed_threshold
from snn_tha.nn.binary import Conv2d, Linear, sign_ste
from snn_tha.nn.neurons import Leaky, lif_step
from snn_tha.nn.surrogate import FastSigmoid, spike_fast_sigmoid

__all__ = ["ThresholdAnnealing", "annealed_threshold", "Conv2d", "Linear", "sign_ste", "Leaky",
           "lif_step", "FastSigmoid", "spike_fast_sigmoid"]
