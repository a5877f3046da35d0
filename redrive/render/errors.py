"""Errors about sensor and trajectory specifications given by the user (not about files: those
are ``redrive.errors.LogFormatError``, which names the file, field and value)."""

from __future__ import annotations

from typing import Any

from redrive.errors import RedriveError, _short


class SensorSpecError(RedriveError, ValueError):
    """A sensor description (camera or LiDAR model, placement) is unusable.

    The message reads ``<what>: field '<field>' = <value>: <reason>``.
    """

    def __init__(self, what: str, field: str, value: Any, reason: str):
        self.what, self.field, self.value, self.reason = what, field, value, reason
        where = f"{what}: field '{field}' = {_short(value)}" if field else what
        super().__init__(f"{where}: {reason}")


class TrajectorySpecError(RedriveError, ValueError):
    """A trajectory specification (``original``, ``lane-shift:+2.0``, a file...) is unusable."""

    def __init__(self, spec: str, reason: str):
        self.spec, self.reason = spec, reason
        super().__init__(f"trajectory {spec!r}: {reason}")
