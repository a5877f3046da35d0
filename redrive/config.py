"""Typed dataclass configs: to and from plain dicts (JSON/YAML), checked, with overrides.

Every config in redrive is a dataclass whose fields carry a docstring (the string literal that
follows the field). ``describe`` prints a config with those docstrings; ``from_dict`` refuses
unknown keys and wrong types with an error naming the file and the field.
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import json
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

from redrive.errors import LogFormatError, RedriveError

T = TypeVar("T")


def to_dict(cfg: Any) -> dict[str, Any]:
    """Nested plain dict of a dataclass config (tuples become lists)."""
    return json.loads(json.dumps(dataclasses.asdict(cfg)))


def from_dict(cls: type[T], data: dict[str, Any], path: str | Path = "<config>", where: str = "") -> T:
    """Build ``cls`` from ``data``; keys that are missing keep their defaults."""
    if not isinstance(data, dict):
        raise LogFormatError(path, where or "(top level)", data, "expected a mapping")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        name = f"{where}.{unknown[0]}" if where else unknown[0]
        raise LogFormatError(path, name, data[unknown[0]], f"unknown option; {cls.__name__} has: {', '.join(fields)}")
    kwargs = {}
    for key, value in data.items():
        name = f"{where}.{key}" if where else key
        kwargs[key] = _coerce(hints[key], value, path, name)
    return cls(**kwargs)


def _coerce(kind: Any, value: Any, path: str | Path, name: str) -> Any:
    origin = typing.get_origin(kind)
    args = typing.get_args(kind)
    if dataclasses.is_dataclass(kind):
        return from_dict(kind, value, path, name)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(arg, value, path, name)
            except LogFormatError:
                continue
        raise LogFormatError(path, name, value, f"expected {kind}")
    if origin in (tuple, list):
        if not isinstance(value, (list, tuple)):
            raise LogFormatError(path, name, value, "expected a list")
        inner = args[0] if args else Any
        items = [_coerce(inner, v, path, f"{name}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is typing.Literal:
        if value not in args:
            raise LogFormatError(path, name, value, f"must be one of {', '.join(map(repr, args))}")
        return value
    if kind is Any:
        return value
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if kind in (int, float, str, bool):
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise LogFormatError(path, name, value, f"expected {kind.__name__}")
        return value
    if isinstance(kind, type) and isinstance(value, kind):
        return value
    raise LogFormatError(path, name, value, f"expected {kind}")


def apply_overrides(cfg: T, overrides: list[str]) -> T:
    """Apply ``section.option=value`` strings (values parsed as Python/JSON literals)."""
    data = to_dict(cfg)
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep:
            raise RedriveError(f"override {item!r} must look like section.option=value")
        try:
            value = ast.literal_eval(raw)
        except (ValueError, SyntaxError):
            value = {"true": True, "false": False, "null": None}.get(raw, raw)
        node = data
        parts = key.split(".")
        for part in parts[:-1]:
            if not isinstance(node.get(part), dict):
                raise RedriveError(f"override {item!r}: {part!r} is not a section of {type(cfg).__name__}")
            node = node[part]
        if parts[-1] not in node:
            raise RedriveError(f"override {item!r}: no option {parts[-1]!r} (has: {', '.join(node)})")
        node[parts[-1]] = value
    return from_dict(type(cfg), data, "<overrides>")


def field_docs(cls: type) -> dict[str, str]:
    """Field name -> the docstring written under it in the class body."""
    try:
        tree = ast.parse(inspect.getsource(cls))
    except (OSError, TypeError):
        return {}
    body = tree.body[0].body
    docs = {}
    for node, nxt in zip(body, body[1:]):
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            if isinstance(nxt, ast.Expr) and isinstance(nxt.value, ast.Constant) and isinstance(nxt.value.value, str):
                docs[node.target.id] = " ".join(nxt.value.value.split())
    return docs


def describe(cfg: Any, indent: str = "") -> str:
    """Readable listing of a config with each field's value and docstring."""
    docs = field_docs(type(cfg))
    lines = []
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        if dataclasses.is_dataclass(value):
            lines.append(f"{indent}{f.name}:")
            lines.append(describe(value, indent + "  "))
        else:
            doc = docs.get(f.name, "")
            lines.append(f"{indent}{f.name} = {value!r}" + (f"  # {doc}" if doc else ""))
    return "\n".join(lines)
