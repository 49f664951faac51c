"""YAML configs validated into frozen dataclasses.

Unknown keys, missing keys and wrong types fail with one line that names the file and the
key. Lists become tuples (configs are immutable). `--set a.b.c=value` overrides are applied
to the raw YAML before validation; the value is parsed as YAML (`3`, `1e-3`, `[1, 2]`, `true`).
"""
import dataclasses
import math
import types
import typing
from pathlib import Path

import yaml


class ConfigError(ValueError):
    """A config problem; str(err) is the one-line message for the user."""


def _type_name(tp):
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _coerce(tp, value, key, where):
    """Check `value` against the annotation `tp`; return the (converted) value."""
    def fail(expected):
        raise ConfigError(f"{where}: key '{key}' must be {expected}, got {value!r} "
                          f"({type(value).__name__})")

    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is typing.Any:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        options = [a for a in args if a is not type(None)]
        if len(options) == 1:  # Optional[X]: X's own, more precise, error
            return _coerce(options[0], value, key, where)
        for option in options:
            try:
                return _coerce(option, value, key, where)
            except ConfigError:
                pass
        fail(" or ".join(_type_name(a) for a in args))
    if origin is typing.Literal:
        if value not in args:
            fail(f"one of {list(args)}")
        return value
    if origin is dict:
        if not isinstance(value, dict):
            fail("a mapping")
        return {str(k): _coerce(args[1], v, f"{key}.{k}", where) for k, v in value.items()}
    if origin in (tuple, list):
        if not isinstance(value, (list, tuple)):
            fail(f"a list of {_type_name(args[0])}")
        return tuple(_coerce(args[0], v, f"{key}[{i}]", where) for i, v in enumerate(value))
    if dataclasses.is_dataclass(tp):
        return build(tp, value, where, prefix=f"{key}.")
    if tp is bool:
        if not isinstance(value, bool):
            fail("true or false")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            fail("an integer")
        return value
    if tp is float:
        if isinstance(value, str):  # YAML 1.1 reads 1e-3 (no dot) as a string
            try:
                number = float(value)
            except ValueError:
                fail("a number")
        elif isinstance(value, bool) or not isinstance(value, (int, float)):
            fail("a number")
        else:
            number = float(value)
        if not math.isfinite(number):  # nan/inf would train silently into chance accuracy
            fail("a finite number")
        return number
    if tp is str:
        if not isinstance(value, str):
            fail("a string")
        return value
    raise TypeError(f"config type {tp} of key {key} is not supported")


def build(cls, data, where, prefix=""):
    """Validate the mapping `data` into the frozen dataclass `cls`."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: '{prefix.rstrip('.') or 'top level'}' must be a mapping, "
                          f"got {type(data).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for key in data:
        if key not in fields:
            raise ConfigError(f"{where}: unknown key '{prefix}{key}' "
                              f"(valid keys: {', '.join(fields)})")
    hints = typing.get_type_hints(cls)
    values = {}
    for name, field in fields.items():
        if name in data:
            values[name] = _coerce(hints[name], data[name], prefix + name, where)
        elif field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
            raise ConfigError(f"{where}: missing required key '{prefix}{name}'")
    try:
        return cls(**values)
    except ConfigError:
        raise
    except ValueError as err:  # __post_init__ checks
        raise ConfigError(f"{where}: {prefix.rstrip('.') or 'config'}: {err}") from None


def apply_override(data, assignment):
    """Apply one `dotted.key=value` assignment to the raw config mapping, in place."""
    if "=" not in assignment:
        raise ConfigError(f"--set {assignment!r}: expected key=value, e.g. --set lr=1e-3")
    dotted, raw = assignment.split("=", 1)
    try:
        value = yaml.safe_load(raw)
    except yaml.YAMLError:
        raise ConfigError(f"--set {assignment}: the value {raw!r} is not valid YAML; quote "
                          f"strings and close brackets, e.g. --set net.dropout=[0.5]") from None
    parts = dotted.strip().split(".")
    if not isinstance(data, dict):
        raise ConfigError(f"--set {dotted}: the config is not a mapping of keys")
    node = data
    for i, part in enumerate(parts[:-1]):
        if isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        elif isinstance(node, dict):
            node = node.setdefault(part, {})
        else:
            raise ConfigError(f"--set {dotted}: '{'.'.join(parts[:i])}' is a value, not a mapping "
                              f"or a list, so it has no key '{part}'")
    last = parts[-1]
    if not isinstance(node, (dict, list)):
        raise ConfigError(f"--set {dotted}: '{'.'.join(parts[:-1])}' is a value, not a mapping "
                          f"or a list, so it has no key '{last}'")
    if isinstance(node, list):
        if not (last.isdigit() and int(last) < len(node)):
            raise ConfigError(f"--set {dotted}: list index {last!r} out of range")
        node[int(last)] = value
    else:
        node[last] = value


MAX_YAML_NODES = 100_000   # a config has hundreds; aliases may not expand it past this


def _expanded_size(node, memo):
    """Nodes of `node` once every alias is expanded, counted without expanding (memoised)."""
    key = id(node)
    if key in memo:
        return memo[key]
    memo[key] = MAX_YAML_NODES + 1   # a node reached again while counting it: recursive
    if isinstance(node, yaml.MappingNode):
        size = 1 + sum(_expanded_size(k, memo) + _expanded_size(v, memo) for k, v in node.value)
    elif isinstance(node, yaml.SequenceNode):
        size = 1 + sum(_expanded_size(v, memo) for v in node.value)
    else:
        size = 1
    memo[key] = size
    return size


class StrictLoader(yaml.SafeLoader):
    """safe_load that refuses duplicate keys (a second `optim:` block would silently replace
    the first) and aliases that expand past MAX_YAML_NODES (an anchor bomb)."""

    def get_single_node(self):
        node = super().get_single_node()
        if node is not None and _expanded_size(node, {}) > MAX_YAML_NODES:
            raise yaml.composer.ComposerError(
                None, None, f"anchors and aliases expand to more than {MAX_YAML_NODES:,} values "
                f"(or refer to themselves); write the values out", node.start_mark)
        return node

    def construct_mapping(self, node, deep=False):
        seen = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if isinstance(key, (str, int, float, bool)) and key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r} (first at line {seen[key]}); keep one",
                    key_node.start_mark)
            seen[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep)


def read_yaml(path):
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"{path}: config file not found")
    try:
        data = yaml.load(path.read_text(), Loader=StrictLoader)
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a text file (a YAML config is expected)") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a folder, not a YAML config file") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        line = f" at line {mark.line + 1}" if mark else ""
        raise ConfigError(f"{path}: invalid YAML{line}: {getattr(err, 'problem', err)}") from None
    return data if data is not None else {}


def load_yaml(cls, path, overrides=()):
    """Read YAML at `path`, apply `key=value` overrides, validate into `cls`."""
    data = read_yaml(path)
    for assignment in overrides:
        apply_override(data, assignment)
    where = f"{path} (with --set)" if overrides else str(path)
    return build(cls, data, where)


def to_dict(cfg):
    """Plain-data view of a config (tuples -> lists), for writing resolved configs."""
    def plain(value):
        if dataclasses.is_dataclass(value):
            return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        return value
    return plain(cfg)


def flatten(data, prefix=""):
    """{"a.b.c": value} for a nested mapping (lists are values)."""
    out = {}
    for key, value in data.items():
        if isinstance(value, dict):
            out.update(flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def dump(cfg):
    return yaml.safe_dump(to_dict(cfg), sort_keys=False)
