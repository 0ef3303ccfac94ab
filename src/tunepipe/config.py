"""params.yaml access with loud, one-line errors.

Stages read their section with :func:`section` and hand it to a typed dataclass via
:func:`typed`: a missing key, an unknown key or a value of the wrong type is a
:class:`~tunepipe.TunepipeError` naming the file and the dotted key.
"""
from __future__ import annotations

import dataclasses
import re
import types
import typing
from pathlib import Path

from tunepipe import TunepipeError


def load(path: str | Path = "params.yaml") -> dict:
    import yaml

    p = Path(path)
    if not p.is_file():
        raise TunepipeError(f"{p}: params file not found")
    try:
        data = yaml.safe_load(p.read_text())
    except yaml.YAMLError as e:
        raise TunepipeError(f"{p}: not valid YAML: {str(e).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise TunepipeError(f"{p}: top level must be a mapping")
    data["__file__"] = str(p)
    from tunepipe import tasks   # task families of your own (params `families`) join every stage

    tasks.register(data.get("families"), str(p))
    return data


def section(params: dict, name: str) -> dict:
    if name not in params or not isinstance(params[name], dict):
        raise TunepipeError(f"{params.get('__file__', 'params')}: missing section {name!r}")
    return params[name]


_YAML11_FLOAT = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+")


def _check(value, tp, where: str):
    origin = typing.get_origin(tp)
    if tp is typing.Any:
        return value
    if origin in (typing.Union, types.UnionType):
        errors = []
        for arg in typing.get_args(tp):
            try:
                return _check(value, arg, where)
            except TunepipeError as e:
                errors.append(e)
        raise errors[-1]
    if tp is type(None):
        if value is None:
            return None
        raise TunepipeError(f"{where}: expected null, got {type(value).__name__} {value!r}")
    if dataclasses.is_dataclass(tp):
        return typed(tp, value, where)
    if origin is list:
        if not isinstance(value, list):
            raise TunepipeError(f"{where}: expected a list, got {type(value).__name__} {value!r}")
        (arg,) = typing.get_args(tp) or (typing.Any,)
        return [_check(v, arg, f"{where}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise TunepipeError(f"{where}: expected a mapping, got {type(value).__name__} {value!r}")
        _, arg = typing.get_args(tp) or (str, typing.Any)
        return {k: _check(v, arg, f"{where}.{k}") for k, v in value.items()}
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if tp is float and isinstance(value, str) and _YAML11_FLOAT.fullmatch(value.strip()):
        return float(value)  # PyYAML (YAML 1.1) reads `1e-5` (no dot) as a string
    if tp in (int, float) and isinstance(value, bool):
        raise TunepipeError(f"{where}: expected {tp.__name__}, got bool {value!r}")
    if isinstance(tp, type) and not isinstance(value, tp):
        raise TunepipeError(f"{where}: expected {tp.__name__}, got {type(value).__name__} {value!r}")
    return value


def typed(cls, data: dict, where: str):
    """Build dataclass ``cls`` from ``data``, checking keys and types."""
    if not isinstance(data, dict):
        raise TunepipeError(f"{where}: expected a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    reject_unknown(sorted(data, key=str), fields, where)
    for name, f in fields.items():  # missing keys first: they are the likelier mistake
        has_default = f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
        if name not in data and not has_default:
            raise TunepipeError(f"{where}.{name}: missing key")
    values = {name: _check(data[name], hints[name], f"{where}.{name}") for name in fields if name in data}
    try:
        return cls(**values)
    except (TunepipeError, ValueError) as e:   # a dataclass's own checks (__post_init__): "<field>: <what>", located
        key, sep, what = str(e).partition(": ")
        if sep and key.split(".")[0] in fields:
            raise TunepipeError(f"{where}.{key}: {what}") from None
        raise TunepipeError(f"{where}: {e}") from None


def nearest(key, valid, list_all: bool = True) -> str:
    """``"; did you mean X?"`` for the closest of ``valid``, else the list of valid keys
    (``list_all``; "" without it, where the list is too long to print)."""
    import difflib

    valid = [str(v) for v in valid]
    near = difflib.get_close_matches(str(key), valid, n=1, cutoff=0.6)
    if near:
        return f"; did you mean {near[0]}?"
    return f"; expected one of {', '.join(valid)}" if list_all else ""


def reject_unknown(keys, valid, where: str) -> None:
    """The first of ``keys`` not in ``valid`` is a one-line error: ``<where>.<key>: unknown key``
    and the nearest valid one."""
    for key in keys:
        if key not in valid:
            raise TunepipeError(f"{where}.{key}: unknown key{nearest(key, valid)}")
