"""Typed access to the JSON manifest (``log.json``) with errors that name file, field and value."""

from __future__ import annotations

import json
import math
from pathlib import Path, PurePosixPath
from typing import Any

from redrive.errors import LogFormatError

FORMAT_NAME = "redrive-drivelog"
FORMAT_VERSION = 1
MANIFEST_NAME = "log.json"

_KIND_NAMES = {int: "an integer", float: "a number", str: "a string", bool: "true or false",
               list: "a list", dict: "an object"}


class Fields:
    """A JSON object inside a file, read with type checks.

    ``where`` is the dotted location of this object inside the file, used in error messages.
    """

    def __init__(self, path: Path, data: Any, where: str = ""):
        self.path = path
        self.where = where
        if not isinstance(data, dict):
            raise LogFormatError(path, where or "(top level)", data, "expected a JSON object")
        self.data = data

    def name_of(self, key: str) -> str:
        return f"{self.where}.{key}" if self.where else key

    def has(self, key: str) -> bool:
        return key in self.data and self.data[key] is not None

    def get(self, key: str, kind: type, default: Any = ...) -> Any:
        """The value at ``key``, which must be of ``kind`` (int accepted for float)."""
        name = self.name_of(key)
        if key not in self.data or self.data[key] is None:
            if default is ...:
                raise LogFormatError(self.path, name, None, "required field is missing")
            return default
        value = self.data[key]
        ok = isinstance(value, kind) and not (kind in (int, float) and isinstance(value, bool))
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            ok, value = True, float(value)
        if not ok:
            raise LogFormatError(self.path, name, value, f"expected {_KIND_NAMES.get(kind, kind)}")
        if kind is float and not math.isfinite(value):
            raise LogFormatError(self.path, name, value, "expected a finite number")
        return value

    def positive(self, key: str, kind: type, default: Any = ..., allow_zero: bool = False) -> Any:
        value = self.get(key, kind, default)
        if value is not None and (value < 0 or (value == 0 and not allow_zero)):
            need = "non-negative" if allow_zero else "positive"
            raise LogFormatError(self.path, self.name_of(key), value, f"must be {need}")
        return value

    def choice(self, key: str, choices: tuple[str, ...], default: Any = ...) -> str:
        value = self.get(key, str, default)
        if value not in choices:
            raise LogFormatError(self.path, self.name_of(key), value, f"must be one of {', '.join(choices)}")
        return value

    def numbers(self, key: str, length: int | None = None, default: Any = ...) -> list[float]:
        value = self.get(key, list, default)
        if value is None:
            return value
        name = self.name_of(key)
        if length is not None and len(value) != length:
            raise LogFormatError(self.path, name, value, f"expected {length} numbers")
        for i, v in enumerate(value):
            if not _is_number(v):
                raise LogFormatError(self.path, f"{name}[{i}]", v, "expected a finite number")
        return [float(v) for v in value]

    def matrix4(self, key: str) -> list[list[float]]:
        value = self.get(key, list)
        name = self.name_of(key)
        if len(value) != 4 or not all(isinstance(r, list) and len(r) == 4 for r in value):
            raise LogFormatError(self.path, name, value, "expected a 4x4 matrix (list of 4 rows of 4)")
        for i, row in enumerate(value):
            for j, v in enumerate(row):
                if not _is_number(v):
                    raise LogFormatError(self.path, f"{name}[{i}][{j}]", v, "expected a finite number")
        return value

    def child(self, key: str) -> "Fields":
        return Fields(self.path, self.get(key, dict), self.name_of(key))

    def children(self, key: str, default: Any = ...) -> list["Fields"]:
        items = self.get(key, list, default)
        return [Fields(self.path, item, f"{self.name_of(key)}[{i}]") for i, item in enumerate(items or [])]

    def relpath(self, key: str, root: Path, must_exist: bool = True) -> str:
        """A path relative to the log directory that must stay inside it."""
        value = self.get(key, str)
        return check_relpath(self.path, self.name_of(key), value, root, must_exist)


def _is_number(v: Any) -> bool:
    return not isinstance(v, bool) and isinstance(v, (int, float)) and math.isfinite(v)


def check_relpath(path: Path, field: str, value: str, root: Path, must_exist: bool = True) -> str:
    """Validate that ``value`` is a relative path that resolves inside ``root``."""
    pure = PurePosixPath(value)
    if value == "" or pure.is_absolute() or "\\" in value:
        raise LogFormatError(path, field, value, "must be a relative path inside the log directory")
    root = root.resolve()
    resolved = (root / pure).resolve()
    if resolved != root and root not in resolved.parents:
        raise LogFormatError(path, field, value, f"path escapes the log directory {root}")
    if must_exist and not resolved.is_file():
        raise LogFormatError(path, field, value, "file does not exist")
    return value


def read_json(path: Path) -> Any:
    """Parse a JSON file, reporting the line and column of a syntax error."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise LogFormatError(path, "", None, "file does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise LogFormatError(path, "", None, f"cannot be read: {exc}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise LogFormatError(path, "", None, f"is not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})") from None
