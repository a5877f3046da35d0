"""Errors of scene editing: each names what is at fault (actor, asset file, scenario field) and why."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from redrive.errors import RedriveError, _short


class EditError(RedriveError):
    """An edit cannot be applied or rendered; nothing has been written."""


class UnknownActorError(EditError, KeyError):
    """An edit names an actor id that the (edited) scene does not have."""

    def __init__(self, actor_id: str, available: list[str], what: str = "edit"):
        self.actor_id, self.available = actor_id, list(available)
        shown = ", ".join(sorted(available)[:30]) + (" ..." if len(available) > 30 else "")
        super().__init__(f"{what}: unknown actor {actor_id!r}; the scene has {len(available)} actors: {shown or 'none'}")

    def __str__(self) -> str:  # KeyError would quote the whole message
        return self.args[0]


class DuplicateActorError(EditError):
    """An insert would reuse an actor id already in the scene."""


class AssetError(EditError):
    """An asset (mesh file, reconstructed actor, library entry) cannot be loaded."""

    def __init__(self, source: str | Path, reason: str):
        self.source, self.reason = str(source), reason
        super().__init__(f"asset {self.source}: {reason}")


class OverlapError(EditError):
    """Two actors (or an actor and the ego vehicle) intersect at a rendered time."""

    def __init__(self, first: str, second: str, time_s: float, times: int = 1):
        self.first, self.second, self.time_s = first, second, float(time_s)
        more = f" (and at {times - 1} more rendered times)" if times > 1 else ""
        super().__init__(f"actors {first!r} and {second!r} intersect at t = {time_s:.3f} s{more}; "
                         "change the edit, or pass allow_overlap=True (scenario: allow_overlap: true) to keep it")


class OutOfRegionError(EditError):
    """An edited trajectory leaves the reconstructed region (the scene bounds) at a rendered time."""

    def __init__(self, what: str, time_s: float, position: Any, bounds: Any):
        self.what, self.time_s = what, float(time_s)
        super().__init__(f"{what} leaves the reconstructed region at t = {time_s:.3f} s: box centre (scene frame) "
                         f"{_short([round(float(v), 2) for v in position])} is outside the bounds "
                         f"{_short([[round(float(v), 1) for v in b] for b in bounds])}; nothing there was reconstructed")


class ScenarioError(EditError):
    """A scenario or edit-list file is malformed: names the file, the field and the value."""

    def __init__(self, path: str | Path, field: str, value: Any, reason: str):
        self.path, self.field, self.value, self.reason = str(path), field, value, reason
        where = f"{self.path}: field '{field}'" if field else self.path
        super().__init__(f"{where} = {_short(value)}: {reason}" if field else f"{where}: {reason}")


__all__ = ["AssetError", "DuplicateActorError", "EditError", "OutOfRegionError", "OverlapError", "ScenarioError",
           "UnknownActorError"]
