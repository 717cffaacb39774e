"""Shared checks for configuration dataclasses built from mappings (YAML, JSON, CLI, env_config)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import MISSING, fields
from typing import Any


def field_names(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in fields(cls))


def checked_keys(cls: type, data: object, where: str) -> dict[str, Any]:
    """The mapping as a dict, once its keys are known fields of `cls` and every required field is present."""
    valid = field_names(cls)
    if not isinstance(data, Mapping):
        raise ValueError(f"{where}={data!r}: expected a mapping with keys among {', '.join(valid)}")
    if "name" in data:
        where = f"{where} (name={data['name']!r})"
    unknown = [key for key in data if key not in valid]
    if unknown:
        raise ValueError(
            f"{where}: unknown key {', '.join(map(repr, unknown))}: expected keys among {', '.join(valid)}"
        )
    missing = [
        f.name for f in fields(cls)
        if f.name not in data and f.default is MISSING and f.default_factory is MISSING
    ]
    if missing:
        raise ValueError(f"{where}: missing key {', '.join(map(repr, missing))}")
    return dict(data)
