"""Exceptions that report bad input to the user.

Every error about a file names the file, the field and the offending value, so that a user can
fix the input without reading redrive's code.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


class RedriveError(Exception):
    """Base class of errors caused by the user's input or environment (not by a bug)."""


def _short(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


class LogFormatError(RedriveError):
    """A DriveLog (or a source file being imported) is malformed.

    Attributes:
        path: the file at fault.
        field: dotted/indexed location inside that file, e.g. ``cameras[1].width``; may be empty
            when the whole file is at fault (truncated, unreadable).
        value: the offending value (shown with repr, shortened).
        reason: what is wrong and, where possible, what was expected.
    """

    def __init__(self, path: str | Path, field: str, value: Any, reason: str):
        self.path = str(path)
        self.field = field
        self.value = value
        self.reason = reason
        where = f"{self.path}: field '{field}'" if field else self.path
        super().__init__(f"{where} = {_short(value)}: {reason}" if field else f"{where}: {reason}")


class UnknownSensorError(RedriveError, KeyError):
    """A sensor name that the log does not have."""

    def __init__(self, kind: str, name: str, available: list[str], path: str | Path = ""):
        self.kind, self.name, self.available = kind, name, list(available)
        where = f"{path}: " if path else ""
        super().__init__(
            f"{where}unknown {kind} sensor {name!r}; the log has: {', '.join(available) or 'none'}"
        )

    def __str__(self) -> str:  # KeyError would quote the whole message
        return self.args[0]
