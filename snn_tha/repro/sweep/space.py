"""A sweep's search space: its file (`configs/sweeps/`, over a shared base), the parameters it
samples and how a trial's values become config overrides (scaled thresholds, theta_inf via
delta), the published configuration as a warm start, and the checks that a space's keys exist."""
import hashlib
import json
from dataclasses import dataclass
from typing import Any, Literal, Optional

from snn_tha.repro import paths, schema, yaml_config as config
from snn_tha.repro.sweep import scale as sweep_scale


@dataclass(frozen=True)
class ParamSpec:
    type: Literal["float", "int", "categorical"]
    low: Optional[float] = None
    high: Optional[float] = None
    log: bool = False
    choices: Optional[tuple[Any, ...]] = None
    layers: Optional[int] = None     # one value written to every layer of a per-layer list
    # "membrane": low/high are multiples of the layer's membrane scale (snn_tha.repro.sweep.scale)
    scale: Optional[Literal["membrane"]] = None

    def __post_init__(self):
        if self.type == "categorical" and not self.choices:
            raise ValueError("a categorical parameter needs 'choices'")
        if self.scale and (self.type != "float" or self.layers):
            raise ValueError("'scale: membrane' needs a per-layer float parameter "
                             "(annealing.theta0.<i>, annealing.delta.<i>), not 'layers:'")
        if self.type != "categorical" and (self.low is None or self.high is None or self.low > self.high):
            raise ValueError(f"a {self.type} parameter needs low <= high")



@dataclass(frozen=True)
class SearchSpace:
    experiment: str                  # trains configs/<experiment>.yaml
    params: dict[str, ParamSpec]     # dotted config keys; annealing.delta.<i> sets theta_inf
    fixed: tuple[str, ...] = ()      # key=value overrides applied to every trial
    input_mean_square: float = 0.1   # mean squared input pixel (scaled thresholds, first layer)

    @property
    def config_path(self):
        return paths.CONFIGS / f"{self.experiment}.yaml"



def load_space(path):
    """A search space file over its shared base (configs/sweeps/bases/)."""
    space = config.build(SearchSpace, schema.read_with_base(path), str(path))
    check_order(space)
    return space



def space_hash(path):
    """Content hash of a resolved search space (its base included)."""
    text = json.dumps(schema.read_with_base(path), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]



def _net_so_far(base, values):
    """The trial's network settings once beta and batch norm are sampled (scaled thresholds)."""
    import dataclasses
    net = base.net_config
    return dataclasses.replace(net, beta=values.get("net.beta", net.beta),
                               batch_norm=values.get("net.batch_norm", net.batch_norm))



def sample_overrides(trial, space, base):
    """Sample every parameter; return the `key=value` overrides of the trial's config.
    A `scale: membrane` parameter is sampled as a multiple of its layer's membrane scale and
    written as the value (recorded in the trial's user attribute `value.<name>`)."""
    values, scales = {}, None
    for name, spec in space.params.items():
        if spec.type == "categorical":
            values[name] = trial.suggest_categorical(name, list(spec.choices))
        elif spec.type == "int":
            values[name] = trial.suggest_int(name, int(spec.low), int(spec.high), log=spec.log)
        else:
            values[name] = trial.suggest_float(name, spec.low, spec.high, log=spec.log)
        if spec.scale:  # beta and batch norm come first (check_order): one scale per trial
            scales = scales or sweep_scale.membrane_scales(
                _net_so_far(base, values), base.num_steps, space.input_mean_square)
            values[name] *= scales[sweep_scale.layer_of(name)]
            trial.set_user_attr(f"value.{name}", values[name])
    overrides = []
    for name, value in values.items():
        spec = space.params[name]
        if name.startswith("annealing.delta."):  # release's reparameterisation: theta_inf >= theta0
            i = int(name.rsplit(".", 1)[1])
            theta0 = values.get(f"annealing.theta0.{i}", base.annealing.theta0[i])
            trial.set_user_attr(f"annealing.theta_inf.{i}", theta0 + value)
            overrides.append(f"annealing.theta_inf.{i}={theta0 + value!r}")
        elif spec.layers:
            overrides.append(f"{name}={[value] * spec.layers!r}")
        else:
            overrides.append(f"{name}={'null' if value is None else repr(value)}")
    return overrides



def trial_config(space, profile, overrides, study_overrides=()):
    extra = [*space.fixed, *study_overrides, *overrides, "protocol=validation", "repeats=1",
             "track_test=false"]
    return schema.load_config(space.config_path, profile, extra)



def published_params(space, which, profile=None):
    """The published configuration in the space's parameters (warm start): `release` = the
    experiment config as it is (the release's exact values for the annealing variants, the
    paper's tables for the others), `paper` = with the rounded table values of
    configs/ablations/<experiment>.yaml where that file has them. Scaled thresholds are given
    as multiples of the membrane scale at the profile's number of steps."""
    overrides = []
    ablations = paths.CONFIGS / "ablations" / f"{space.experiment}.yaml"
    if which == "paper" and ablations.is_file():
        rounded = config.read_yaml(ablations)["variants"].get("rounded_table_values", {})
        overrides = [f"{k}={json.dumps(v)}" for k, v in rounded.get("set", {}).items()]
    loaded = schema.load_config(space.config_path, profile, overrides)
    cfg = config.to_dict(loaded)
    scales = sweep_scale.membrane_scales(loaded.net_config, loaded.num_steps,
                                         space.input_mean_square)
    params = {}
    for name, spec in space.params.items():
        parts = name.split(".")
        if name.startswith("annealing.delta."):
            i = int(parts[-1])
            value = cfg["annealing"]["theta_inf"][i] - cfg["annealing"]["theta0"][i]
        else:
            value = cfg
            for part in parts:
                value = value[int(part)] if isinstance(value, list) else value[part]
            value = value[0] if isinstance(value, list) else value
        params[name] = value / scales[int(parts[-1])] if spec.scale else value
    return params



def check_order(space):
    """Scaled thresholds use beta and batch norm: those must be sampled first."""
    names = list(space.params)
    for name, spec in space.params.items():
        late = [n for n in ("net.beta", "net.batch_norm") if n in names
                and names.index(n) > names.index(name)]
        if spec.scale and late:
            raise config.ConfigError(f"search space: {name} (scale: membrane) must come after "
                                     f"{late[0]} in params")



def check_param_keys(space, base, where):
    """Every parameter of the space names a key of the experiment's config (ConfigError)."""
    data = config.to_dict(base)
    for name in space.params:
        key = name.replace("annealing.delta.", "annealing.theta_inf.")
        node = data
        for part in key.split("."):
            if isinstance(node, list) and part.isdigit() and int(part) < len(node):
                node = node[int(part)]
            elif isinstance(node, dict) and part in node and (node[part] is not None or part == key.split(".")[-1]):
                node = node[part]
            else:
                raise config.ConfigError(f"{where}: params.{name} is not a key of "
                                         f"{space.config_path} ({part!r} not found); fix the "
                                         f"name in the space or its base")
