"""Every config of the project in one schema: YAML files are validated into these frozen
dataclasses (by `snn_tha.repro.yaml_config`), per-layer values are lists, derived values are properties.

- `TrainConfig` (classification experiments, configs/<experiment>.yaml) with its `DataConfig`,
  `NetConfig`, `OptimConfig` and `AnnealingConfig`; `load_config()` reads one with its `base:` file,
  a budget profile and `--set` overrides;
- `TemporalCodingConfig` / `TemporalCase` (configs/temporal_coding.yaml);
- search spaces (configs/sweeps/): `snn_tha.repro.sweep.space`.
"""
import dataclasses
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Optional

from snn_tha.models.config import ENGINES, LAYERS, Engine, NetConfig  # noqa: F401 (re-exported)
from snn_tha.repro import catalogue, paths, yaml_config as config
from snn_tha.functional.annealing import LayerSchedule
from snn_tha.repro.run.device import PATTERN as DEVICE_PATTERN

MAX_SEED = 2 ** 63 - 1   # torch.manual_seed unpacks a signed 64-bit integer
NAME_PATTERN = re.compile(r"^[A-Za-z0-9_-]+$")   # profile and experiment names: folder names

PROFILES_DIR = paths.CONFIGS / "profiles"


@dataclass(frozen=True)
class DataConfig:
    name: str                                  # mnist | fashion_mnist | mnist5k | dvs_gesture | shd
    data_dir: Optional[str] = None             # default $SNN_THA_DATA or data/
    validation_size: int = 5000                # held out from the training set
    train_subset: Optional[int] = None         # budget profiles may train on fewer samples
    test_subset: Optional[int] = None
    # event data only (see snn_tha.repro.data.events)
    loader: Literal["corrected", "paper-loader"] = "corrected"
    encoding: Literal["binary", "counts"] = "binary"
    bin_ms: float = 5.0
    window_ms: float = 1000.0                  # SHD: the whole 1 s recording
    train_bins: Optional[int] = None           # DVS training length (100); SHD paper-loader T
    test_bins: Optional[int] = None            # DVS test length: None = whole sample, 360 = release

    def __post_init__(self):
        if self.name not in catalogue.DATASETS:
            raise ValueError(f"unknown data set {self.name!r}; valid: {', '.join(catalogue.DATASETS)}")
        for key in ("validation_size", "train_subset", "test_subset", "train_bins", "test_bins"):
            value = getattr(self, key)
            if value is not None and value < 0:
                raise ValueError(f"{key} must be >= 0, got {value}")
        for key in ("bin_ms", "window_ms"):
            if not getattr(self, key) > 0:
                raise ValueError(f"{key} must be > 0, got {getattr(self, key)}")

    @property
    def is_static(self):
        return catalogue.DATASETS[self.name].static


@dataclass(frozen=True)
class AnnealingConfig:
    theta0: tuple[float, ...]                  # per Leaky layer
    theta_inf: tuple[float, ...]
    alpha: tuple[float, ...]
    # anneal: Eq. 4 with these alphas; fixed_theta_inf: thresholds held at theta_inf from the first
    # step (variant bsnn_theta_inf: same final threshold, no annealing); budget_scaled: alphas
    # replaced by 1 - 0.01**(1/N) for the run's N iterations (theta_inf within 1% at the end)
    mode: Literal["anneal", "fixed_theta_inf", "budget_scaled"] = "anneal"
    # release: the authors' in-place float32 update theta += alpha*(theta_inf - theta) each step;
    # closed_form: theta(g) from Eq. 4's closed form in float64 (differs in the last bits)
    update: Literal["release", "closed_form"] = "release"


@dataclass(frozen=True)
class OptimConfig:
    name: Literal["adam", "sgd"] = "adam"
    lr: float = 1e-3
    momentum: float = 0.9                      # SGD only
    betas: tuple[float, ...] = (0.9, 0.999)    # Adam only
    schedule: Literal["cosine", "none"] = "cosine"
    # cosine period: a fixed iteration count (the release's T_max: 4688 static, 735 DVS, 2604
    # SHD) or, when period_iterations is null, period_epochs epochs of this run's iterations
    # (paper App. D: "period 10 epochs")
    period_iterations: Optional[int] = None
    period_epochs: float = 10.0
    grad_clip: Optional[float] = None          # max grad norm (paper GC: 1.0)
    weight_clip: Optional[float] = None        # clamp latent weights to [-c, c] (paper WC: 1.0)
    # the release clamps BEFORE optimizer.step() (so stepped weights may leave [-c, c] until
    # the next iteration); after_step keeps them inside at all times
    clamp: Literal["before_step", "after_step"] = "before_step"

    def __post_init__(self):
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr:g}")
        if not 0 <= self.momentum < 1:
            raise ValueError(f"momentum must lie in [0, 1), got {self.momentum:g}")
        if len(self.betas) != 2 or not all(0 <= b < 1 for b in self.betas):
            raise ValueError(f"betas must be two values in [0, 1), got {list(self.betas)}")
        for key in ("grad_clip", "weight_clip", "period_iterations"):
            value = getattr(self, key)
            if value is not None and not value > 0:
                raise ValueError(f"{key} must be > 0 or null, got {value}")
        if not self.period_epochs > 0:
            raise ValueError(f"period_epochs must be > 0, got {self.period_epochs:g}")


@dataclass(frozen=True)
class TrainConfig:
    experiment: str
    data: DataConfig
    net: NetConfig
    optim: OptimConfig
    annealing: Optional[AnnealingConfig] = None
    profile: str = "custom"
    num_steps: int = 100
    batch_size: int = 128
    epochs: int = 500
    patience: int = 100                        # epochs without improvement before stopping
    protocol: Literal["validation", "paper"] = "validation"   # paper: choose on test accuracy
    repeats: int = 1                           # seeds seed, seed+1, ...
    seed: int = 0
    correct_rate: float = 0.8
    incorrect_rate: float = 0.2
    max_batches_per_epoch: Optional[int] = None   # smoke tests: stop an epoch early
    track_test: bool = True                    # sweeps set false: they must never see the test set
    # annealed layers at evaluation: the thresholds reached so far (the release; it never swaps
    # them) or theta_inf (paper 5.2, which assumes theta has converged)
    test_threshold: Literal["theta_inf", "current"] = "current"
    device: str = "auto"                       # auto | cpu | cuda | cuda:N (see snn_tha.repro.run.device)

    def __post_init__(self):
        if self.protocol == "paper" and not self.track_test:
            raise ValueError("protocol 'paper' chooses on test accuracy, so track_test must be true")
        fits = catalogue.DATASETS[self.data.name].arch
        if self.net.arch != fits:
            raise ValueError(f"net.arch {self.net.arch!r} does not take {self.data.name} data "
                             f"(its input is for {fits!r}): use a {self.data.name} config or "
                             f"set net.arch={fits}")
        if self.annealing is not None and self.net.thresholds:
            raise ValueError("give net.thresholds or annealing (whose theta0 are the initial "
                             "thresholds), not both")
        if self.annealing is None and not self.net.thresholds:
            raise ValueError("net.thresholds is required unless annealing is given")
        if not DEVICE_PATTERN.match(self.device):
            raise ValueError(f"device must be auto, cpu, cuda or cuda:N, got {self.device!r}")
        for key in ("profile", "experiment"):   # they name folders: never a path
            if not NAME_PATTERN.match(getattr(self, key)):
                raise ValueError(f"{key} must be a name of letters, digits, '_' and '-' (it "
                                 f"names the run folder), got {getattr(self, key)!r}")
        if self.seed < 0:
            raise ValueError(f"seed must be >= 0, got {self.seed}")
        if self.seed + self.repeats - 1 > MAX_SEED:
            raise ValueError(f"seed must be <= {MAX_SEED} (torch's largest) for all {self.repeats} "
                             f"repeat(s) (seed, seed+1, ...), got {self.seed}")
        if self.protocol == "validation" and self.data.validation_size < 1:
            raise ValueError("data.validation_size must be >= 1: the model is chosen on the "
                             "validation split (or set protocol: paper, which chooses on test accuracy)")
        for key in ("num_steps", "batch_size", "epochs", "patience", "repeats"):
            if getattr(self, key) < 1:
                raise ValueError(f"{key} must be >= 1, got {getattr(self, key)}")
        if not 0 <= self.incorrect_rate <= self.correct_rate <= 1:
            raise ValueError("need 0 <= incorrect_rate <= correct_rate <= 1")
        if self.annealing is not None:
            n = self.net.leaky_layers()
            lengths = {k: len(getattr(self.annealing, k)) for k in ("theta0", "theta_inf", "alpha")}
            if set(lengths.values()) != {n}:
                raise ValueError(f"arch '{self.net.arch}' has {n} Leaky layers; annealing lists "
                                 f"have lengths {lengths}: give one value per layer")
            for i, values in enumerate(zip(self.annealing.theta0, self.annealing.theta_inf,
                                           self.annealing.alpha)):
                LayerSchedule(*values).validate(i)

    @property
    def annealed(self):
        """True when thresholds change during training (an annealing schedule is applied)."""
        return self.annealing is not None and self.annealing.mode != "fixed_theta_inf"

    @property
    def net_config(self):
        """The network config with the initial thresholds filled in (derived, never stored)."""
        if self.annealing is None:
            return self.net
        start = self.annealing.theta0 if self.annealed else self.annealing.theta_inf
        return dataclasses.replace(self.net, thresholds=start)

    @property
    def variant(self):
        if self.annealing is not None:
            return {"anneal": "annealing", "fixed_theta_inf": "bsnn_theta_inf",
                    "budget_scaled": "annealing_budget"}[self.annealing.mode]
        if not self.net.binarize:
            return "flt32"
        return "bsnn_theta1" if set(self.net.thresholds) == {1.0} else "bsnn"


@dataclass(frozen=True)
class TemporalCase:
    name: str
    label: str
    binarize: bool
    beta: float
    target_peak: float
    init: Literal["fan_in", "glorot"] = "fan_in"
    surrogate_centre: Optional[Literal["initial", "current"]] = None   # None: the top-level value
    threshold: Optional[tuple[float, ...]] = None     # fixed per-layer thresholds, or
    annealing: Optional[AnnealingConfig] = None      # an annealing schedule

    def __post_init__(self):
        if (self.threshold is None) == (self.annealing is None):
            raise ValueError(f"case '{self.name}' needs exactly one of 'threshold' or 'annealing'")

    @property
    def initial_thresholds(self):
        return self.threshold if self.annealing is None else self.annealing.theta0


@dataclass(frozen=True)
class TemporalCodingConfig:
    experiment: str
    seed: int
    cases: tuple[TemporalCase, ...]
    num_inputs: int = 100
    num_hidden: int = 1000
    num_steps: int = 100
    iterations: int = 1000
    lr: float = 1e-3
    momentum: float = 0.9
    slope: float = 5.0
    target_step: int = 75
    surrogate_centre: Literal["initial", "current"] = "current"   # the library default; the paper case sets initial
    loss_reduction: Literal["mean", "sum"] = "mean"
    engine: Engine = "exact"
    device: str = "auto"                # auto | cpu | cuda | cuda:N (snn_tha.repro.run.device)
    snapshot_iterations: tuple[int, ...] = (0, 400, 999)
    spike_window: int = 3               # "at the target" = within this many steps of target_step
    raster_neurons: int = 100           # hidden neurons kept for the figure's raster

    def __post_init__(self):
        if not 0 <= self.seed <= MAX_SEED:
            raise ValueError(f"seed must be in [0, {MAX_SEED}], got {self.seed}")
        bad = [g for g in self.snapshot_iterations if not 0 <= g < self.iterations]
        if bad:
            raise ValueError(f"snapshot_iterations {bad} outside [0, {self.iterations})")
        if not 0 < self.target_step < self.num_steps:
            raise ValueError(f"target_step must lie in (0, {self.num_steps}), got {self.target_step}")


def _merge(base, extra):
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _merge(base[key], value)
        else:
            base[key] = value
    return base


def read_with_base(path, chain=()):
    """An experiment YAML merged over the file its `base:` key names (relative to it), so a
    variant states only what it changes."""
    path = Path(path)
    data = config.read_yaml(path)
    if not isinstance(data, dict) or "base" not in data:
        return data
    base = data.pop("base")
    if not isinstance(base, str):
        raise config.ConfigError(f"{path}: key 'base' must be a file name, got {base!r}")
    base_path = path.parent / base
    if base_path.resolve() in chain:
        raise config.ConfigError(f"{path}: 'base: {base}' makes a cycle of base files")
    return _merge(read_with_base(base_path, chain + (path.resolve(),)), data)


def load_config(path, profile=None, overrides=(), data_dir=None, device=None):
    """Experiment YAML (over its base), then the budget profile's keys, then --set overrides,
    then `data_dir` and `device` (the CLI's --data-dir, --device)."""
    data = read_with_base(path)
    if not isinstance(data, dict):
        raise config.ConfigError(f"{path}: the top level must be a mapping of keys "
                                 f"(experiment:, data:, net: ...), got a {type(data).__name__}")
    if profile:
        profile_path = PROFILES_DIR / f"{profile}.yaml"
        if not NAME_PATTERN.match(profile) or not profile_path.is_file():
            names = sorted(p.stem for p in PROFILES_DIR.glob("*.yaml"))
            raise config.ConfigError(f"unknown profile {profile!r}; valid: {', '.join(names)}")
        _merge(data, config.read_yaml(profile_path))
        data["profile"] = profile
    for assignment in overrides:
        config.apply_override(data, assignment)
    if device is not None:
        data["device"] = device
    if data_dir is not None:
        if not isinstance(data.get("data"), dict):
            raise config.ConfigError(f"{path}: key 'data' must be a mapping")
        data["data"]["data_dir"] = str(data_dir)
    where = str(path) + (f" (profile {profile})" if profile else "") + (" (with --set)" if overrides else "")
    return config.build(TrainConfig, data, where)
