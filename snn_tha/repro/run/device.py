"""Where a run computes: `device: auto | cpu | cuda | cuda:N` (config key and --device).

`auto` is the first visible CUDA device when there is one (so `CUDA_VISIBLE_DEVICES=3 snn-tha
sweep work` trains on GPU 3), else the CPU. Batches are built on the host and copied with
pinned memory and non-blocking transfers.
"""
import re

import torch

from snn_tha.repro.yaml_config import ConfigError

PATTERN = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")


def resolve(name):
    """The torch.device for a config/CLI value, or one line saying what is wrong."""
    if not PATTERN.match(str(name)):
        raise ConfigError(f"device {name!r}: use auto, cpu, cuda or cuda:N")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"device {name!r}: no CUDA device is visible here (torch "
                              f"{torch.__version__}, CUDA build {torch.version.cuda}); use "
                              f"--device cpu or auto")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ConfigError(f"device {name!r}: only {torch.cuda.device_count()} CUDA device(s) "
                              f"visible (cuda:0..cuda:{torch.cuda.device_count() - 1})")
    return device


def on_device(pairs, device):
    """(inputs, labels) batches copied to `device` (pinned, non-blocking for CUDA)."""
    for x, y in pairs:
        if device.type == "cuda":
            x, y = x.pin_memory(), y.pin_memory()
        yield x.to(device, non_blocking=True), y.to(device, non_blocking=True)


def describe(device):
    """A name for provenance: 'cpu' or 'cuda:0 (NVIDIA H200)'."""
    if device.type != "cuda":
        return "cpu"
    index = device.index if device.index is not None else torch.cuda.current_device()
    return f"cuda:{index} ({torch.cuda.get_device_name(index)})"
