"""Refuse, before any data is read, a `num_steps` x `batch_size` whose activations cannot fit.

Backpropagation through time keeps, for every time step, sample and spiking neuron, at least
its spike and its membrane (the surrogate gradient needs the membrane, the next layer's weight
gradient the spikes): `num_steps * batch_size * neurons * 2 * 4 bytes` is a lower bound of what
one training step holds (the engine keeps more: currents, masks). A run whose lower bound
exceeds the memory available where it computes could only fail hours later or swap the machine
to a halt; it is refused with the estimate. Runs that pass may still need more than the bound.
"""
import os

import torch

from snn_tha.repro.yaml_config import ConfigError
from snn_tha.models import ARCHITECTURES, build

FLOATS_PER_NEURON_STEP = 2   # spike and membrane, float32
GIB = 2 ** 30


def neurons_per_sample(net_cfg):
    """Spiking neurons of the network for one sample (counted on one zero input, one step)."""
    shape = ARCHITECTURES[net_cfg.arch].input_shape
    model = build(net_cfg).eval()
    static = ARCHITECTURES[net_cfg.arch].static
    x = torch.zeros((1, *shape) if static else (1, 1, *shape))
    with torch.no_grad():
        out = model(x, 1 if static else None)
    return sum(s[0, 0].numel() for s in out.layer_spikes)


def lower_bound_bytes(cfg):
    return cfg.num_steps * cfg.batch_size * neurons_per_sample(cfg.net_config) * FLOATS_PER_NEURON_STEP * 4


def available_bytes(device):
    """Free memory where the run computes: the GPU's free memory, else the host's available
    memory (MemAvailable), capped by the process's address-space limit (`ulimit -v`) and a
    cgroup limit."""
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    found = []
    try:
        for line in open("/proc/meminfo"):
            if line.startswith("MemAvailable:"):
                found.append(int(line.split()[1]) * 1024)
    except OSError:
        pass
    room = address_space_left()
    if room is not None:
        found.append(room)
    try:
        limit = open("/sys/fs/cgroup/memory.max").read().strip()
        used = int(open("/sys/fs/cgroup/memory.current").read())
        if limit != "max":
            found.append(int(limit) - used)
    except (OSError, ValueError):
        pass
    return min(found) if found else None


def address_space_left():
    """Bytes the process may still map under its address-space limit (RLIMIT_AS, `ulimit -v`):
    the limit less what it maps now (VmSize), or None without a limit."""
    import resource
    limit = resource.getrlimit(resource.RLIMIT_AS)[0]
    if limit == resource.RLIM_INFINITY:
        return None
    try:
        mapped = next(int(line.split()[1]) * 1024 for line in open("/proc/self/status")
                      if line.startswith("VmSize:"))
    except (OSError, StopIteration, ValueError):
        mapped = 0
    return max(0, limit - mapped)


def check(cfg, device):
    """ConfigError with the estimate when the activations cannot fit on `device`."""
    free = available_bytes(device)
    if free is None or os.environ.get("SNN_THA_SKIP_MEMORY_CHECK") == "1":
        return
    need = lower_bound_bytes(cfg)
    if need > free:
        raise ConfigError(
            f"{cfg.experiment}: num_steps={cfg.num_steps} x batch_size={cfg.batch_size} needs at "
            f"least {need / GIB:.1f} GiB for the activations of one training step "
            f"({neurons_per_sample(cfg.net_config):,} neurons x 2 float32 per step and sample), "
            f"but {free / GIB:.1f} GiB are free on {device} (memory available to this process, "
            f"ulimit -v and cgroup limits included); lower batch_size or num_steps")
