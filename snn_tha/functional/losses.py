"""Losses and read-outs of the paper (Eq. 29-30), in snnTorch's conventions."""
from snntorch import functional as SF


def mse_count_loss(spikes, labels, correct_rate=0.8, incorrect_rate=0.2):
    """Eq. 30: mean over batch and classes of (sum_t z - target)^2, divided by T, with target
    int(T*correct_rate) for the label and int(T*incorrect_rate) otherwise.

    It is snnTorch's own `functional.mse_count_loss` (what the release called), so loss and
    gradients are the release's bit for bit. `spikes` is time-first `[T, B, C]`.
    """
    return SF.mse_count_loss(correct_rate=correct_rate, incorrect_rate=incorrect_rate)(spikes, labels)


def predict(spikes):
    """The class whose output neuron spiked most (ties -> lowest index, like argmax)."""
    return spikes.sum(0).argmax(dim=1)
