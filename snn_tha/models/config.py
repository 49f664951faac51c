"""A network's settings (`NetConfig`) and each architecture's layer counts: what `models`
needs to build a network, checked before any data is read. The reproduction's schema
(`snn_tha.repro.schema`) nests it in a run's config."""
from dataclasses import dataclass
from typing import Literal, get_args

Engine = Literal["reference", "exact", "fast"]
ENGINES = get_args(Engine)


@dataclass(frozen=True)
class Architecture:
    """One of the paper's networks: what every part of the package needs to know of it (the
    layers themselves are built by `snn_tha.models.networks`)."""
    input_shape: tuple[int, ...]   # one sample, without T and B
    static: bool                   # an image shown at every step (else spikes over time)
    leaky_layers: int
    dropout_sites: int


ARCHITECTURES = {
    "static_conv": Architecture((1, 28, 28), True, 3, 1),
    "dvs_conv": Architecture((2, 32, 32), False, 3, 1),
    "shd_dense": Architecture((700,), False, 2, 2),
    "temporal_dense": Architecture((100,), False, 2, 2),   # the temporal-coding net (Sec. 4.1)
}
# arch -> (Leaky layers, dropout sites), read from the records
LAYERS = {name: (a.leaky_layers, a.dropout_sites) for name, a in ARCHITECTURES.items()}


@dataclass(frozen=True)
class NetConfig:
    arch: str                                  # a name in ARCHITECTURES
    binarize: bool
    beta: float
    slope: float                               # fast-sigmoid k
    thresholds: tuple[float, ...] = ()         # per Leaky layer (from annealing.theta0 if annealed)
    surrogate_centre: Literal["initial", "current"] = "current"   # release / snnTorch
    init: Literal["fan_in", "glorot"] = "fan_in"
    init_order: Literal["release", "torch_first"] = "release"   # see snn_tha.nn.binary.INIT_ORDERS
    batch_norm: bool = False                   # conv nets only
    dropout: tuple[float, ...] = (0.0,)        # per dropout site (conv nets 1, SHD 2)
    engine: Engine = "exact"
    conv_chunk: int = 25                       # time steps per conv call (measured: 20-100 alike on CPU, 10 slower)

    def __post_init__(self):
        """Checks that need no data, so a bad config fails before minutes of data loading."""
        if self.arch not in LAYERS:
            raise ValueError(f"unknown arch {self.arch!r}; valid: {', '.join(LAYERS)}")
        if not 0 <= self.beta <= 1:  # snnTorch would clamp it silently
            raise ValueError(f"beta must lie in [0, 1], got {self.beta:g}")
        if not self.slope > 0:
            raise ValueError(f"slope must be > 0, got {self.slope:g}")
        n_lif, n_drop = LAYERS[self.arch]
        if self.thresholds and len(self.thresholds) not in (1, n_lif):
            raise ValueError(f"arch '{self.arch}' has {n_lif} Leaky layers; thresholds has "
                             f"{len(self.thresholds)} values (give 1 or {n_lif})")
        if any(not t > 0 for t in self.thresholds):
            raise ValueError(f"thresholds must be > 0, got {list(self.thresholds)}")
        if len(self.dropout) != n_drop or not all(0 <= p < 1 for p in self.dropout):
            raise ValueError(f"arch '{self.arch}' has {n_drop} dropout site(s): dropout must be "
                             f"{n_drop} value(s) in [0, 1), got {list(self.dropout)}")
        if self.conv_chunk < 1:
            raise ValueError(f"conv_chunk must be >= 1, got {self.conv_chunk}")

    def leaky_layers(self):
        return LAYERS[self.arch][0]
