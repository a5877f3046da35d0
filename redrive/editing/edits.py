"""The edit list: what an edited scene changes, as plain data (saved as JSON beside nothing else:
an edited scene is the reconstruction run + this list; the trained fields are never touched).

Trajectories are ``world_from_box`` in the log's world frame and clock (seconds since the log
start), exactly as DriveLog actor tracks are stored.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from redrive.editing.assets import Asset
from redrive.log.types import Trajectory

FORMAT = "redrive-edits"
VERSION = 1
OPS = ("remove", "move", "insert", "set_ego")


@dataclass
class Edit:
    """One edit. ``op``: ``remove`` (actor), ``move`` (actor + one or more of trajectory /
    offset / time_shift), ``insert`` (asset + trajectory, actor = the new id), ``set_ego``
    (trajectory)."""

    op: str
    actor: str | None = None
    """The actor removed or moved, or the id of the inserted one."""
    trajectory: Trajectory | None = None
    """New ``world_from_box`` (move, insert) or ``world_from_vehicle`` (set_ego)."""
    offset: tuple[float, float, float] | None = None
    """Move: displacement in metres, in the box frame (x forward, y left, z up) or the world."""
    frame: str = "box"
    """Frame of ``offset``: ``box`` or ``world``."""
    time_shift: float | None = None
    """Move: seconds added to the actor's track times (its motion happens later)."""
    asset: Asset | None = None
    """Insert: what is inserted."""

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"op": self.op}
        if self.actor is not None:
            d["actor"] = self.actor
        if self.trajectory is not None:
            d["trajectory"] = trajectory_to_dict(self.trajectory)
        if self.offset is not None:
            d["offset"] = [float(v) for v in self.offset]
            d["frame"] = self.frame
        if self.time_shift is not None:
            d["time_shift"] = float(self.time_shift)
        if self.asset is not None:
            d["asset"] = self.asset.to_dict()
        return d


def trajectory_to_dict(t: Trajectory) -> dict[str, Any]:
    return {"times": t.times.tolist(), "poses": t.poses.tolist()}


def trajectory_from_dict(d: dict[str, Any]) -> Trajectory:
    times = np.asarray(d["times"], dtype=np.float64)
    poses = np.asarray(d["poses"], dtype=np.float64)
    if times.ndim != 1 or poses.shape != (len(times), 4, 4) or len(times) == 0:
        raise ValueError(f"needs times (N,) and poses (N, 4, 4), got shapes {times.shape} and {poses.shape}")
    if np.any(np.diff(times) <= 0) or not np.isfinite(poses).all():
        raise ValueError("times must increase strictly and poses be finite")
    return Trajectory(times, poses)


__all__ = ["Edit", "FORMAT", "OPS", "VERSION", "trajectory_from_dict", "trajectory_to_dict"]
