"""Small pieces every reader needs: quaternions, time windows, sensor selection, ego coverage,
actor motion and a progress bar."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from redrive.errors import LogFormatError, RedriveError, UnknownSensorError
from redrive.log.readers.options import ImportOptions

NS = 1_000_000_000
DYNAMIC_DISPLACEMENT_M = 1.0
"""An actor whose box centre moves farther than this from its first position is dynamic; below
it, label jitter of parked cars (typically 0.1-0.3 m) is not mistaken for motion."""
QUATERNION_NORM_TOLERANCE = 1e-3
"""Quaternions whose norm differs from 1 by more than this are refused (not silently normalised)."""


def quat_to_rotation(wxyz: np.ndarray, where: str | Path = "", field: str = "rotation") -> np.ndarray:
    """Rotation matrices (N, 3, 3) from scalar-first unit quaternions (N, 4).

    Raises ``LogFormatError`` naming ``where``/``field`` for non-finite or non-unit quaternions.
    """
    q = np.asarray(wxyz, dtype=np.float64).reshape(-1, 4)
    norm = np.linalg.norm(q, axis=1)
    bad = ~np.isfinite(norm) | (np.abs(norm - 1.0) > QUATERNION_NORM_TOLERANCE)
    if bad.any():
        i = int(np.argmax(bad))
        raise LogFormatError(where, f"{field}[{i}]", q[i].tolist(), "is not a unit quaternion (w, x, y, z)")
    w, x, y, z = (q / norm[:, None]).T
    return np.stack([
        np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)], -1),
        np.stack([2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)], -1),
        np.stack([2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], -1),
    ], -2)


def rotation_to_quat(rotation: np.ndarray) -> np.ndarray:
    """Scalar-first unit quaternions (N, 4) of rotations (N, 3, 3), with w >= 0."""
    from scipy.spatial.transform import Rotation

    xyzw = Rotation.from_matrix(np.asarray(rotation, dtype=np.float64).reshape(-1, 3, 3)).as_quat()
    wxyz = np.concatenate([xyzw[:, 3:], xyzw[:, :3]], axis=1)
    return wxyz * np.where(wxyz[:, :1] < 0, -1.0, 1.0)


@dataclass(frozen=True)
class Window:
    """The absolute time window ``[lo_ns, hi_ns]`` selected by ``ImportOptions``."""

    lo_ns: int
    """First selected absolute timestamp, ns."""
    hi_ns: int
    """Last selected absolute timestamp, ns (inclusive)."""

    def mask(self, stamps_ns: np.ndarray) -> np.ndarray:
        stamps_ns = np.asarray(stamps_ns, dtype=np.int64)
        return (stamps_ns >= self.lo_ns) & (stamps_ns <= self.hi_ns)


def time_window(origin_ns: int, options: ImportOptions, src: str | Path) -> Window:
    """The window of ``options`` (seconds from the source's first timestamp ``origin_ns``)."""
    start, end = options.start_s, options.end_s
    for name, value in (("start_s", start), ("end_s", end)):
        if value is not None and not np.isfinite(value):
            raise RedriveError(f"{src}: import option {name} = {value!r} must be a finite number of seconds")
    if start is not None and end is not None and end <= start:
        raise RedriveError(f"{src}: the time window is empty (start {start} s, end {end} s)")
    lo = origin_ns if start is None else origin_ns + int(round(start * NS))
    hi = np.iinfo(np.int64).max if end is None else origin_ns + int(round(end * NS))
    return Window(lo, hi)


def select_sensors(kind: str, requested: Sequence[str] | None, available: Iterable[str], src: str | Path) -> list[str]:
    """The names of ``available`` selected by ``requested`` (None: all), in ``available``'s order.

    Names are compared case-insensitively (the DriveLog keeps the source's names lowercased);
    an unknown name raises ``UnknownSensorError`` listing the known ones.
    """
    available = list(available)
    if requested is None:
        return available
    lower = {a.lower(): a for a in available}
    chosen = []
    for name in requested:
        if name.lower() not in lower:
            raise UnknownSensorError(kind, name, available, src)
        chosen.append(lower[name.lower()])
    return [a for a in available if a in chosen]


def covering_indices(stamps_ns: np.ndarray, lo_ns: int, hi_ns: int) -> np.ndarray:
    """Indices of the sorted ``stamps_ns`` inside ``[lo_ns, hi_ns]`` plus one on each side, so that
    interpolation anywhere in the interval uses the same neighbours as in the full table."""
    first = max(int(np.searchsorted(stamps_ns, lo_ns, side="right")) - 1, 0)
    last = min(int(np.searchsorted(stamps_ns, hi_ns, side="left")), len(stamps_ns) - 1)
    return np.arange(first, last + 1)


def require_covered(stamps_ns: np.ndarray, needed_ns: np.ndarray, where: str | Path, field: str, what: str) -> None:
    """Refuse data stamped outside the span of the ego poses (the pose there would be a guess)."""
    needed_ns = np.asarray(needed_ns, dtype=np.int64)
    if len(needed_ns) == 0:
        return
    outside = (needed_ns < stamps_ns[0]) | (needed_ns > stamps_ns[-1])
    if outside.any():
        bad = int(needed_ns[np.argmax(outside)])
        raise LogFormatError(where, field, bad,
                             f"{what} is outside the ego poses' span [{int(stamps_ns[0])}, {int(stamps_ns[-1])}] ns")


def is_dynamic(positions: np.ndarray) -> bool:
    """Whether box centres (N, 3) move farther than ``DYNAMIC_DISPLACEMENT_M`` from the first."""
    positions = np.asarray(positions, dtype=np.float64)
    return bool(len(positions) > 1 and np.linalg.norm(positions - positions[0], axis=1).max() > DYNAMIC_DISPLACEMENT_M)


def progress(iterable, total: int, desc: str):
    """A tqdm progress bar (rate and ETA) over the reader's main loop."""
    from tqdm import tqdm

    return tqdm(iterable, total=total, desc=desc, unit="frame", dynamic_ncols=True, leave=False)


def sensor_frame_points(world_from_vehicle_at_point: np.ndarray, vehicle_from_sensor: np.ndarray,
                        world_points: np.ndarray) -> np.ndarray:
    """Sensor-frame coordinates (N, 3) of world points (N, 3), each at its own ego pose (N, 4, 4).

    This is the inverse of the DriveLog's reading rule ``world = ego(t_i) @ vehicle_from_sensor @ p_i``.
    """
    from redrive.geometry.se3 import invert

    sensor_from_world = invert(world_from_vehicle_at_point @ vehicle_from_sensor)
    return np.einsum("nij,nj->ni", sensor_from_world[:, :3, :3], world_points) + sensor_from_world[:, :3, 3]


def poses_at_times(trajectory, times_s: np.ndarray) -> np.ndarray:
    """Ego poses (N, 4, 4) at times (N,), computed once per distinct time (sweeps share firing times)."""
    unique, inverse = np.unique(times_s, return_inverse=True)
    return trajectory.at(unique)[inverse.reshape(-1)]
