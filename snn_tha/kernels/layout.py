"""Channels-last storage of time-first spike tensors: `[T, B, C, H, W]` values kept as
`[T, B, H, W, C]`, so that oneDNN's convolutions read and write them without reordering each call
(the LIF and batch norm work on either storage)."""


def channels_last_storage(x):
    """`[..., C, H, W]` as `[..., H, W, C]` contiguous (no copy when it is stored so already):
    the same values, stored as oneDNN's convolutions read them without a reorder."""
    return x.movedim(-3, -1).contiguous()


def channels_first_view(x):
    """`[..., H, W, C]` storage seen as `[..., C, H, W]` (a view: every image channels-last)."""
    return x.movedim(-1, -3)


def is_channels_last_sequence(x):
    """x `[T, B, C, H, W]` stored as `[T, B, H, W, C]` (see `channels_last_storage`)."""
    return x.dim() == 5 and x.movedim(2, -1).is_contiguous() and not x.is_contiguous()
