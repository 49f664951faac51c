"""Shared pieces of the data sets."""
from typing import NamedTuple

import torch


class DataError(RuntimeError):
    """A data problem; str(err) is the one-line message for the user."""


class Split(NamedTuple):
    inputs: torch.Tensor     # uint8 images [N, H, W] (static) or frames
    labels: torch.Tensor     # int64 [N]

    def __len__(self):
        return len(self.labels)

    def subset(self, n):
        return self if n is None or n >= len(self) else Split(self.inputs[:n], self.labels[:n])


def batches(split, batch_size, generator=None, to_input=None):
    """Yield (inputs, labels) mini-batches; shuffled when a generator is given (its state at the
    start of the epoch fixes the order, so a resumed epoch replays the same batches)."""
    order = (torch.randperm(len(split), generator=generator) if generator is not None
             else torch.arange(len(split)))
    for start in range(0, len(split), batch_size):
        idx = order[start:start + batch_size]
        x = split.inputs[idx]
        yield (to_input(x) if to_input else x), split.labels[idx]


def holdout(split, size, seed=0):
    """Split off `size` examples (a fixed seeded permutation) as a validation set."""
    if not 0 <= size < len(split):
        raise DataError(f"validation_size={size} must lie in [0, {len(split)})")
    perm = torch.randperm(len(split), generator=torch.Generator().manual_seed(seed))
    val, train = perm[:size], perm[size:]
    return (Split(split.inputs[train], split.labels[train]),
            Split(split.inputs[val], split.labels[val]))
