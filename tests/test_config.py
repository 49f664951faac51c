from dataclasses import dataclass
from typing import Literal, Optional

import pytest

from snn_tha.repro import yaml_config as config
from snn_tha.repro.yaml_config import ConfigError


@dataclass(frozen=True)
class Inner:
    theta0: tuple[float, ...]


@dataclass(frozen=True)
class Example:
    name: str
    lr: float
    steps: int = 10
    mode: Literal["a", "b"] = "a"
    inner: Optional[Inner] = None
    flags: tuple[bool, ...] = ()


def write(tmp_path, text):
    path = tmp_path / "exp.yaml"
    path.write_text(text)
    return path


def test_valid_config_is_frozen_with_tuples(tmp_path):
    cfg = config.load_yaml(Example, write(tmp_path, "name: x\nlr: 1\ninner: {theta0: [1, 2.5]}\n"))
    assert cfg.lr == 1.0 and isinstance(cfg.lr, float) and cfg.inner.theta0 == (1.0, 2.5)
    with pytest.raises(Exception):
        cfg.lr = 2.0


@pytest.mark.parametrize("text,message", [
    ("name: x\nlr: 1\nlrr: 2\n", "exp.yaml: unknown key 'lrr' (valid keys: name, lr, steps, mode, inner, flags)"),
    ("name: x\nlr: fast\n", "exp.yaml: key 'lr' must be a number, got 'fast' (str)"),
    ("name: x\nlr: 1\nsteps: 2.5\n", "exp.yaml: key 'steps' must be an integer, got 2.5 (float)"),
    ("name: x\nlr: 1\nsteps: true\n", "exp.yaml: key 'steps' must be an integer, got True (bool)"),
    ("name: x\nlr: 1\nmode: c\n", "exp.yaml: key 'mode' must be one of ['a', 'b'], got 'c' (str)"),
    ("name: x\nlr: 1\ninner: {theta0: [1, x]}\n", "exp.yaml: key 'inner.theta0[1]' must be a number"),
    ("name: x\nlr: 1\ninner: {theta: [1]}\n", "exp.yaml: unknown key 'inner.theta'"),
    ("name: x\n", "exp.yaml: missing required key 'lr'"),
    ("name: x\nlr: [1\n", "exp.yaml: invalid YAML at line"),
])
def test_errors_name_file_and_key(tmp_path, text, message):
    with pytest.raises(ConfigError) as err:
        config.load_yaml(Example, write(tmp_path, text))
    assert message in str(err.value) and "\n" not in str(err.value)


def test_overrides(tmp_path):
    path = write(tmp_path, "name: x\nlr: 1\ninner: {theta0: [1, 2]}\n")
    cfg = config.load_yaml(Example, path, ["lr=1e-3", "steps=3", "inner.theta0.1=7", "flags=[true]"])
    assert (cfg.lr, cfg.steps, cfg.inner.theta0, cfg.flags) == (1e-3, 3, (1.0, 7.0), (True,))
    with pytest.raises(ConfigError, match=r"\(with --set\): unknown key 'nope'"):
        config.load_yaml(Example, path, ["nope=1"])
    with pytest.raises(ConfigError, match="expected key=value"):
        config.load_yaml(Example, path, ["lr"])


def test_missing_file():
    with pytest.raises(ConfigError, match="nowhere.yaml: config file not found"):
        config.load_yaml(Example, "nowhere.yaml")


def test_dump_round_trip(tmp_path):
    cfg = config.load_yaml(Example, write(tmp_path, "name: x\nlr: 0.5\ninner: {theta0: [1]}\n"))
    again = write(tmp_path, config.dump(cfg))
    assert config.load_yaml(Example, again) == cfg
