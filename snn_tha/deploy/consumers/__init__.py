"""Simulators that read NIR, each running our graph (`snn_tha.deploy.nir`, or the flavour written
for it, `snn_tha.deploy.nir_flavours`) batched on uint8 images, one module per consumer:

    NAME, DIST               the consumer and the distribution whose version the table gives
    MODES                    {mode: Mode}: the graph flavour it reads and what it builds from it
    spike_counts(graph, mode, images, num_steps, batch)   output spikes per class, [N, classes]

A mode is one way to run it: as imported, or with a setting of the consumer's own (a reset
method, a cap of one spike per step) that makes it compute our network; `Mode.differs` says what
still differs from our network and why."""
import importlib
import importlib.metadata
from dataclasses import dataclass

CONSUMERS = ("snntorch", "norse", "sinabs", "rockpool", "spyx")


@dataclass(frozen=True)
class Mode:
    flavour: str          # the graph it reads (snn_tha.deploy.nir_flavours)
    built: str            # what the consumer builds from it (modules, reset, spikes per step)
    differs: str = ""     # what still differs from our network, and why ("" = nothing)


def module(name):
    """The runner module of consumer `name` (one of CONSUMERS)."""
    return importlib.import_module(f"snn_tha.deploy.consumers.on_{name}")


def missing(name):
    """None when consumer `name` and what its runner imports are installed, else the missing one."""
    runner = module(name)
    for package in runner.IMPORTS:
        try:
            importlib.import_module(package)
        except ImportError:
            return package
    return None


def installed():
    """The consumers that can run here, in CONSUMERS' order."""
    return [name for name in CONSUMERS if missing(name) is None]


def version(name):
    return importlib.metadata.version(module(name).DIST)


def batches(images, batch):
    for start in range(0, len(images), batch):
        yield images[start:start + batch]
