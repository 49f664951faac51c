"""Leaky integrate-and-fire neuron: an snnTorch `snn.Leaky` with the paper's extras.

The maths lives in `snn_tha.functional.equations`; `Leaky` only holds parameters and loops over time.
"""
import snntorch as snn
from snntorch import surrogate as snn_surrogate
import torch

from snn_tha.kernels import engine, fused
from snn_tha.functional.equations import LifParams, lif_membrane
from snn_tha.nn.surrogate import spike_fast_sigmoid

SURROGATE_CENTRES = ("initial", "current")


def lif_step(current, mem, beta, threshold, fire):
    """One Euler step of the LIF neuron with reset by subtraction (paper Eq. 1-2):
    u[t] = `equations.lif_membrane` (beta*u[t-1] + I[t] - H(u[t-1] - theta)*theta), then
    z[t] = fire(u[t]) (H(u[t] - theta) with a surrogate gradient).

    Bit-identical to snnTorch 1.0's `Leaky(reset_mechanism="subtract")` step (tested).
    `beta` must already be clamped to [0, 1]. Returns (spike, membrane).
    """
    mem = lif_membrane(mem, current, beta, threshold)
    return fire(mem), mem


class Leaky(snn.Leaky):
    """snnTorch `snn.Leaky` (subtract reset) with a float32 threshold buffer, the fast-sigmoid
    surrogate centred at the initial or current threshold, and a multi-step forward.

    Per step it is called exactly like snnTorch: ``spk, mem = lif(cur, mem)``.
    Over a whole time-first sequence ``[T, B, ...]``: ``spk_rec, mem_rec = lif.sequence(cur)``.

    Args:
        beta: membrane decay, clamped to [0, 1] in the forward pass (as snnTorch does).
        threshold: initial firing threshold theta0 (annealing changes `self.threshold` later).
        slope: fast-sigmoid slope k.
        surrogate_centre: "current" (snnTorch and the release, the default everywhere in
            snn_tha) or "initial" (paper Eq. 8: centred at theta0).
        backend: the LIF kernel of `sequence`: "auto", "torch", "cpp" or "triton"
            (`supported_backends`); None (default) = $SNN_THA_LIF_KERNEL, itself "auto" by
            default. A kernel asked for by name that cannot run here raises KernelError.
    """

    supported_backends = fused.CHOICES   # for `sequence`; None: $SNN_THA_LIF_KERNEL (auto)

    def __init__(self, beta, threshold=1.0, slope=5.0, surrogate_centre="current", backend=None):
        if backend is not None and backend not in self.supported_backends:
            raise ValueError(f"backend must be None or one of {self.supported_backends}, got {backend!r}")
        if surrogate_centre not in SURROGATE_CENTRES:
            raise ValueError(f"surrogate_centre must be one of {SURROGATE_CENTRES}, "
                             f"got {surrogate_centre!r}")
        if not float(threshold) > 0:
            raise ValueError(f"threshold must be > 0, got {threshold!r}")
        super().__init__(beta=torch.tensor(float(beta)), threshold=torch.tensor(float(threshold)),
                         spike_grad=snn_surrogate.fast_sigmoid(slope=slope),
                         reset_mechanism="subtract")
        # snnTorch keeps every neuron ever built in a class-level list (for init_hidden);
        # we never use it, and it would keep every model of a sweep alive.
        snn.SpikingNeuron.instances[:] = [n for n in snn.SpikingNeuron.instances if n is not self]
        self.register_buffer("initial_threshold", self.threshold.clone())
        self.slope = float(slope)
        self.surrogate_centre = surrogate_centre
        self.backend = backend

    def extra_repr(self):
        return (f"beta={float(self.beta):g}, threshold={float(self.threshold):g}, "
                f"slope={self.slope:g}, surrogate_centre={self.surrogate_centre!r}")

    def fire(self, mem):
        """Spike with the configured surrogate (overrides snnTorch's, also for per-step calls)."""
        spk = spike_fast_sigmoid(mem, self.threshold, self.surrogate_centre_value(), self.slope)
        return spk * self.graded_spikes_factor

    def set_threshold(self, value):
        """Set the current threshold in place (keeps float32 and the buffer's identity)."""
        self.threshold.fill_(float(value))

    def surrogate_centre_value(self):
        return self.initial_threshold if self.surrogate_centre == "initial" else self.threshold

    def sequence(self, current, num_steps=None):
        """Run all T steps from a zero membrane with the fused kernel (`engine.lif_sequence`).

        `current` is time-first ``[T, B, ...]``, or ``[B, ...]`` with `num_steps` when it is
        the same at every step. Returns (spikes, membranes), both ``[T, B, ...]``: spikes and
        membranes bit-identical to T calls of snnTorch's per-step forward.
        """
        return engine.lif_sequence(current, self._params(), num_steps, self.backend)

    def sequence_spikes(self, current, num_steps=None):
        """Evaluation: `sequence`'s spikes only, as uint8, with no membrane record and no
        autograd (`engine.lif_spikes`, the same C++ forward); None where that path does not run
        here (autograd on, CUDA, no compiler): call `sequence`."""
        return engine.lif_spikes(current, self._params(), num_steps, self.backend)

    def _params(self):
        return LifParams(self.beta.clamp(0, 1), self.threshold, self.surrogate_centre_value(),
                         self.slope)

    def sequence_loop(self, current):
        """`sequence` as a Python loop of `lif_step` under autograd (the readable reference)."""
        beta = self.beta.clamp(0, 1)
        mem = torch.zeros_like(current[0])
        spikes, mems = [], []
        for cur in current:
            spk, mem = lif_step(cur, mem, beta, self.threshold, self.fire)
            spikes.append(spk)
            mems.append(mem)
        return torch.stack(spikes), torch.stack(mems)
