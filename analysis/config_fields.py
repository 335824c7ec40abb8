"""Config fields: a TOML table checked against a frozen dataclass, key by key and type by type.

:func:`build_dataclass` is what :mod:`analysis.config` builds every table with (and what ``predict``
rebuilds a recogniser's settings with): unknown keys name the closest valid one, values are checked
against the field's type (``bool``, ``int``, ``float``, ``str``, ``Path``, ``X | None``,
``tuple[X, ...]``, ``Literal[...]``, nested dataclasses), and paths are resolved against the
config's folder.
"""
from __future__ import annotations

import dataclasses
import difflib
import math
import types
import typing
from pathlib import Path
from typing import Any, Mapping


class ConfigError(ValueError):
    """A study config that cannot be used; the message names the key and the fix."""


def reject_unknown(table: Mapping[str, Any], known, where: str) -> None:
    for key in table:
        if key not in known:
            hint = difflib.get_close_matches(key, list(known), n=1)
            fix = f"did you mean {hint[0]!r}?" if hint else f"valid keys: {', '.join(sorted(known))}"
            raise ConfigError(f"unknown key {key!r} in {where}; {fix}")


def build_dataclass(cls: type, table: Mapping[str, Any], where: str, base: Path | None = None):
    """Build a frozen dataclass ``cls`` from a TOML table, validating names and types.

    Supported field types: ``bool``, ``int``, ``float`` (ints accepted), ``str``, ``Path``
    (resolved against ``base`` and required to exist when the field name ends in ``path`` or
    ``root``), ``X | None``, ``tuple[X, ...]`` and ``Literal[...]``.

    Raises
    ------
    ConfigError
        Naming the table, the key, what was expected and what was found.
    """
    if not isinstance(table, Mapping):
        raise ConfigError(f"{where} must be a table")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    reject_unknown(table, set(fields), where)
    hints = typing.get_type_hints(cls)
    values = {}
    for key, value in table.items():
        values[key] = _coerce(value, hints[key], f"{where} {key}", base, must_exist=_is_input_path(key))
    missing = [
        name for name, f in fields.items()
        if name not in values and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    ]
    if missing:
        raise ConfigError(f"{where} is missing required key(s): {', '.join(missing)}")
    try:
        return cls(**values)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: {exc}") from exc


def _is_input_path(key: str) -> bool:
    return key.endswith("path") or key.endswith("root") or key.endswith("_file")


def _type_name(tp) -> str:
    return getattr(tp, "__name__", str(tp))


def checked_int(value: int, where: str) -> int:
    """Reject integers no analysis can use: seeds outside numpy's range, anything outside int64."""
    key = where.rsplit(" ", 1)[-1].split("[", 1)[0]
    if "seed" in key and not 0 <= value < 2**32:
        raise ConfigError(f"{where} must be between 0 and 2**32 - 1 (a numpy seed), got {value}")
    if not -(2**63) <= value < 2**63:
        raise ConfigError(f"{where} = {value} is out of range (a 64-bit integer)")
    return value


def _coerce(value, tp, where, base, must_exist=False):
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        non_none = [a for a in args if a is not type(None)]
        if value is None:
            return None
        # Try each alternative in order (``tuple[str, ...] | str`` takes a list or a string).
        errors = []
        for alternative in non_none:
            try:
                return _coerce(value, alternative, where, base, must_exist)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(errors[0] if len(errors) == 1 else " or ".join(errors))
    if origin is typing.Literal:
        if value not in args:
            raise ConfigError(f"{where} must be one of {', '.join(map(repr, args))}, got {value!r}")
        return value
    if origin is tuple:
        if not isinstance(value, list):
            raise ConfigError(f"{where} must be a list, got {type(value).__name__} {value!r}")
        item_type = args[0]
        return tuple(_coerce(v, item_type, f"{where}[{i}]", base, must_exist) for i, v in enumerate(value))
    if tp is Any:
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where} must be true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where} must be an integer, got {value!r}")
        return checked_int(value, where)
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where} must be a number, got {value!r}")
        if not math.isfinite(value):  # nan would silently pass every "x > 0" check
            raise ConfigError(f"{where} must be a finite number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where} must be a string, got {value!r}")
        return value
    if tp is Path:
        if not isinstance(value, str):
            raise ConfigError(f"{where} must be a path string, got {value!r}")
        p = Path(value).expanduser()
        if base is not None and not p.is_absolute():
            p = (base / p).resolve()
        if must_exist and not p.exists():
            raise ConfigError(
                f"{where} = {value!r} resolves to {str(p)!r}, which does not exist; relative paths are "
                f"taken from the config file's folder"
            )
        return p
    if dataclasses.is_dataclass(tp):
        return build_dataclass(tp, value, where, base)
    raise ConfigError(f"{where}: unsupported field type {_type_name(tp)} (a bug in the params class)")
