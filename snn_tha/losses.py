"""Losses and read-outs of the paper (Eq. 29-30), in snnTorch's conventions."""
import torch


def count_targets(labels, num_classes, num_steps, correct_rate=0.8, incorrect_rate=0.2):
    """Target spike counts: int(T*correct_rate) for the label, int(T*incorrect_rate) otherwise."""
    on, off = int(num_steps * correct_rate), int(num_steps * incorrect_rate)
    targets = torch.full((labels.shape[0], num_classes), float(off), device=labels.device)
    targets.scatter_(1, labels.view(-1, 1), float(on))
    return targets


def mse_count_loss(spikes, labels, correct_rate=0.8, incorrect_rate=0.2):
    """Eq. 30 as snnTorch's `functional.mse_count_loss`: mean over batch and classes of
    (sum_t z - target)^2, divided by T. `spikes` is time-first `[T, B, C]`."""
    num_steps, _, num_classes = spikes.shape
    counts = spikes.sum(0)
    targets = count_targets(labels, num_classes, num_steps, correct_rate, incorrect_rate)
    return torch.mean((counts - targets) ** 2) / num_steps


def predict(spikes):
    """The class whose output neuron spiked most (ties -> lowest index, like argmax)."""
    return spikes.sum(0).argmax(dim=1)
