"""Ego trajectories to render along: the original drive, an offset of it, or a user's file.

The CLI takes a spec string (``redrive render --trajectory SPEC``)::

    original                     the recorded ego trajectory
    lane-shift:+2.0              the original shifted 2 m to the LEFT (vehicle +y; -2.0 = right)
    height:+0.5                  the original raised 0.5 m (vehicle +z)
    lane-shift:-1.5,height:+0.3  offsets combine (comma-separated)
    path/to/poses.csv            a user trajectory file (.csv or .json, schema below)
    path/to/poses.json,height:+1 a file plus offsets

Offsets are applied in the vehicle frame at every pose (``pose @ translate(0, lateral,
vertical)``), so a lane shift follows the road through curves.

Trajectory files give ``world_from_vehicle`` poses over time (the same frame and clock as the
log's ego poses; ``redrive.render.trajectories.save_trajectory`` writes the original as a
starting point). Poses are interpolated along SE(3) geodesics between samples.

CSV: a header row, then one pose per row; ``#`` starts a comment line. Columns:
  time:         ``t`` (float seconds since the log start) or ``timestamp_ns`` (int, absolute)
  position:     ``x, y, z`` (metres, world frame)
  orientation:  ``qw, qx, qy, qz`` (unit quaternion) or ``yaw_deg`` [``pitch_deg``, ``roll_deg``]
                (``R = Rz(yaw) Ry(pitch) Rx(roll)``; omitted pitch and roll are 0)

JSON: ``{"frame": "world_from_vehicle", "poses": [...]}`` (or just the list); each pose has a time
(``t`` or ``timestamp_ns``) and either ``matrix`` (4x4) or ``translation`` [x, y, z] with one of
``quaternion_wxyz`` [w, x, y, z] or ``yaw_deg`` (+ optional ``pitch_deg``, ``roll_deg``).

Times must be strictly increasing and poses rigid; problems are reported with the file, the line
(CSV) or entry (JSON), the field and the value.
"""

from __future__ import annotations

import csv
import json
import math
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from redrive.errors import LogFormatError
from redrive.geometry.se3 import make_pose
from redrive.log import checks
from redrive.log.types import Trajectory
from redrive.render.errors import TrajectorySpecError

NS = 1_000_000_000
QUATERNION_TOLERANCE = 1e-2
"""Largest accepted |norm - 1| of a file's quaternion (it is then normalised); typed-in
quaternions are often rounded to a few digits."""


# ---------------------------------------------------------------------------------------------
# Offsets


def offset_trajectory(trajectory: Trajectory, lateral_m: float = 0.0, vertical_m: float = 0.0,
                      longitudinal_m: float = 0.0) -> Trajectory:
    """The trajectory moved by a fixed offset in the vehicle frame at every pose
    (``lateral_m`` > 0 is left, ``vertical_m`` > 0 is up, ``longitudinal_m`` > 0 is forward)."""
    shift = make_pose(np.eye(3), [longitudinal_m, lateral_m, vertical_m])
    return Trajectory(trajectory.times.copy(), trajectory.poses @ shift)


# ---------------------------------------------------------------------------------------------
# Spec strings


@dataclass(frozen=True)
class TrajectorySpec:
    """A parsed ``--trajectory`` value."""

    file: Path | None = None
    """User trajectory file, or None for the original drive."""
    lateral_m: float = 0.0
    """Vehicle-frame offset to the left (negative: right), metres."""
    vertical_m: float = 0.0
    """Vehicle-frame offset upwards, metres."""
    text: str = "original"
    """The spec as the user wrote it (for messages)."""

    @property
    def is_original(self) -> bool:
        return self.file is None and self.lateral_m == 0.0 and self.vertical_m == 0.0


_NUMBER = r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?"
_OFFSETS = {"lane-shift": "lateral_m", "height": "vertical_m"}


def parse_trajectory_spec(text: str) -> TrajectorySpec:
    """Parse ``original | lane-shift:+M | height:+M | FILE`` terms joined by commas."""
    if not isinstance(text, str) or not text.strip():
        raise TrajectorySpecError(str(text), "empty; use original, lane-shift:+M, height:+M or a .csv/.json file")
    values = {"lateral_m": 0.0, "vertical_m": 0.0}
    seen: set[str] = set()
    file: Path | None = None
    for raw in text.split(","):
        term = raw.strip()
        key, _, arg = term.partition(":")
        if term == "original":
            name = "original"
        elif key in _OFFSETS:
            name = key
            if not re.fullmatch(_NUMBER, arg):
                raise TrajectorySpecError(text, f"{key!r} needs a signed number of metres, e.g. {key}:+2.0 (got {arg!r})")
            values[_OFFSETS[key]] = float(arg)
        elif term.lower().endswith((".csv", ".json")) or Path(term).is_file():
            name = "file"
            file = Path(term)
            if not file.is_file():
                raise TrajectorySpecError(text, f"trajectory file {term!r} does not exist")
        else:
            raise TrajectorySpecError(
                text, f"unknown term {term!r}: expected original, lane-shift:+M (left positive), height:+M, "
                      "or a trajectory file (.csv or .json)")
        if name in seen:
            raise TrajectorySpecError(text, f"{name!r} is given twice")
        seen.add(name)
    if "original" in seen and "file" in seen:
        raise TrajectorySpecError(text, "use either 'original' or a trajectory file, not both")
    return TrajectorySpec(file=file, text=text, **values)


def resolve_trajectory(spec: str | TrajectorySpec, original: Trajectory, start_time_ns: int | None = None) -> Trajectory:
    """The ``world_from_vehicle`` trajectory a spec describes, given the log's ego trajectory
    (``start_time_ns`` converts a file's absolute ``timestamp_ns``)."""
    if isinstance(spec, str):
        spec = parse_trajectory_spec(spec)
    base = original if spec.file is None else load_trajectory(spec.file, start_time_ns)
    if spec.lateral_m == 0.0 and spec.vertical_m == 0.0:
        return base
    return offset_trajectory(base, spec.lateral_m, spec.vertical_m)


# ---------------------------------------------------------------------------------------------
# Rotations (file formats only; poses are matrices everywhere else)


def _rotation_from_quaternion(q: np.ndarray) -> np.ndarray:
    w, x, y, z = q
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
        [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
        [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
    ])


def _quaternion_from_rotation(r: np.ndarray) -> np.ndarray:
    """Unit quaternion (w, x, y, z) with w >= 0 of a rotation matrix (Shepperd's method)."""
    trace = np.trace(r)
    diag = np.array([trace, r[0, 0], r[1, 1], r[2, 2]])
    i = int(np.argmax(diag))
    if i == 0:
        s = 2.0 * math.sqrt(max(1.0 + trace, 1e-300))
        q = [s / 4, (r[2, 1] - r[1, 2]) / s, (r[0, 2] - r[2, 0]) / s, (r[1, 0] - r[0, 1]) / s]
    elif i == 1:
        s = 2.0 * math.sqrt(max(1.0 + r[0, 0] - r[1, 1] - r[2, 2], 1e-300))
        q = [(r[2, 1] - r[1, 2]) / s, s / 4, (r[0, 1] + r[1, 0]) / s, (r[0, 2] + r[2, 0]) / s]
    elif i == 2:
        s = 2.0 * math.sqrt(max(1.0 + r[1, 1] - r[0, 0] - r[2, 2], 1e-300))
        q = [(r[0, 2] - r[2, 0]) / s, (r[0, 1] + r[1, 0]) / s, s / 4, (r[1, 2] + r[2, 1]) / s]
    else:
        s = 2.0 * math.sqrt(max(1.0 + r[2, 2] - r[0, 0] - r[1, 1], 1e-300))
        q = [(r[1, 0] - r[0, 1]) / s, (r[0, 2] + r[2, 0]) / s, (r[1, 2] + r[2, 1]) / s, s / 4]
    q = np.array(q)
    q /= np.linalg.norm(q)
    return q if q[0] >= 0 else -q


def _rotation_from_euler_deg(yaw: float, pitch: float, roll: float) -> np.ndarray:
    cy, sy = math.cos(math.radians(yaw)), math.sin(math.radians(yaw))
    cp, sp = math.cos(math.radians(pitch)), math.sin(math.radians(pitch))
    cr, sr = math.cos(math.radians(roll)), math.sin(math.radians(roll))
    rz = np.array([[cy, -sy, 0], [sy, cy, 0], [0, 0, 1.0]])
    ry = np.array([[cp, 0, sp], [0, 1.0, 0], [-sp, 0, cp]])
    rx = np.array([[1.0, 0, 0], [0, cr, -sr], [0, sr, cr]])
    return rz @ ry @ rx


def _unit_quaternion(path: Path, field: str, q: Any) -> np.ndarray:
    q = np.asarray(q, dtype=np.float64)
    norm = float(np.linalg.norm(q))
    if not np.isfinite(q).all() or abs(norm - 1.0) > QUATERNION_TOLERANCE:
        raise LogFormatError(path, field, q.tolist(), f"not a unit quaternion (norm {norm:.6g}); poses must be rigid")
    return q / norm


# ---------------------------------------------------------------------------------------------
# Reading


def _number(path: Path, field: str, value: Any, integer: bool = False) -> float | int:
    try:
        if integer:
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError
            out: float | int = int(value)
        else:
            if isinstance(value, bool):
                raise ValueError
            out = float(value)
    except (TypeError, ValueError):
        kind = "an integer" if integer else "a number"
        raise LogFormatError(path, field, value, f"must be {kind}") from None
    if not integer and not math.isfinite(out):
        raise LogFormatError(path, field, value, "must be finite")
    return out


def _time(path: Path, where: str, entry: dict, start_time_ns: int | None) -> float:
    has_t, has_ns = "t" in entry, "timestamp_ns" in entry
    if has_t == has_ns:
        raise LogFormatError(path, where, None, "needs exactly one time: 't' (seconds since the log start) or 'timestamp_ns'")
    if has_t:
        return float(_number(path, f"{where}.t" if where else "t", entry["t"]))
    ns = int(_number(path, f"{where}.timestamp_ns" if where else "timestamp_ns", entry["timestamp_ns"], integer=True))
    if start_time_ns is None:
        raise LogFormatError(path, f"{where}.timestamp_ns" if where else "timestamp_ns", ns,
                             "absolute timestamps need the log's start time; use 't' (seconds since the log start)")
    return (ns - int(start_time_ns)) / NS


def _finish(path: Path, time_field: str, times: list[float], poses: list[np.ndarray]) -> Trajectory:
    if not times:
        raise LogFormatError(path, "", None, "the trajectory has no poses")
    t = checks.check_increasing(path, time_field, np.array(times))
    p = checks.check_poses(path, "poses", np.array(poses))
    return Trajectory(t, p)


def _read_json(path: Path, start_time_ns: int | None) -> Trajectory:
    try:
        doc = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError) as exc:
        raise LogFormatError(path, "", None, f"cannot be read: {exc}") from None
    except json.JSONDecodeError as exc:
        raise LogFormatError(path, "", None, f"is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from None
    if isinstance(doc, dict):
        frame = doc.get("frame", "world_from_vehicle")
        if frame != "world_from_vehicle":
            raise LogFormatError(path, "frame", frame, "only 'world_from_vehicle' trajectories are supported")
        if "poses" not in doc:
            raise LogFormatError(path, "poses", None, "required list of poses is missing")
        entries = doc["poses"]
    else:
        entries = doc
    if not isinstance(entries, list):
        raise LogFormatError(path, "poses", type(entries).__name__, "must be a list of poses")
    times, poses = [], []
    for i, entry in enumerate(entries):
        where = f"poses[{i}]"
        if not isinstance(entry, dict):
            raise LogFormatError(path, where, entry, "each pose must be an object")
        times.append(_time(path, where, entry, start_time_ns))
        if "matrix" in entry:
            m = np.asarray(entry["matrix"], dtype=object)
            if m.shape != (4, 4):
                raise LogFormatError(path, f"{where}.matrix", entry["matrix"], "must be a 4x4 matrix")
            poses.append(np.array([[_number(path, f"{where}.matrix", v) for v in row] for row in m]))
            checks.check_poses(path, f"{where}.matrix", poses[-1])
            continue
        if "translation" not in entry:
            raise LogFormatError(path, f"{where}.translation", None, "required (or give a 4x4 'matrix')")
        tr = entry["translation"]
        if not isinstance(tr, list) or len(tr) != 3:
            raise LogFormatError(path, f"{where}.translation", tr, "must be [x, y, z]")
        xyz = [_number(path, f"{where}.translation[{k}]", v) for k, v in enumerate(tr)]
        if "quaternion_wxyz" in entry:
            q = entry["quaternion_wxyz"]
            if not isinstance(q, list) or len(q) != 4:
                raise LogFormatError(path, f"{where}.quaternion_wxyz", q, "must be [w, x, y, z]")
            q = [_number(path, f"{where}.quaternion_wxyz[{k}]", v) for k, v in enumerate(q)]
            rot = _rotation_from_quaternion(_unit_quaternion(path, f"{where}.quaternion_wxyz", q))
        elif "yaw_deg" in entry:
            angles = [_number(path, f"{where}.{k}", entry.get(k, 0.0)) for k in ("yaw_deg", "pitch_deg", "roll_deg")]
            rot = _rotation_from_euler_deg(*angles)
        else:
            raise LogFormatError(path, where, sorted(entry), "needs an orientation: 'quaternion_wxyz' or 'yaw_deg'")
        poses.append(make_pose(rot, xyz))
    return _finish(path, "poses[{i}] time", times, poses)


def _read_csv(path: Path, start_time_ns: int | None) -> Trajectory:
    try:
        lines = path.read_text().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise LogFormatError(path, "", None, f"cannot be read: {exc}") from None
    rows = [(n, line) for n, line in enumerate(lines, start=1) if line.strip() and not line.lstrip().startswith("#")]
    if not rows:
        raise LogFormatError(path, "", None, "the trajectory file is empty")
    header_line, header_text = rows[0]
    header = [h.strip() for h in next(csv.reader([header_text]))]
    cols = set(header)
    time_col = "t" if "t" in cols else "timestamp_ns" if "timestamp_ns" in cols else None
    if time_col is None or ("t" in cols and "timestamp_ns" in cols):
        raise LogFormatError(path, f"line {header_line} (header)", header_text, "needs one time column: 't' or 'timestamp_ns'")
    missing = [c for c in ("x", "y", "z") if c not in cols]
    if missing:
        raise LogFormatError(path, f"line {header_line} (header)", header_text, f"missing column(s) {', '.join(missing)}")
    quat = all(c in cols for c in ("qw", "qx", "qy", "qz"))
    if not quat and "yaw_deg" not in cols:
        raise LogFormatError(path, f"line {header_line} (header)", header_text,
                             "needs orientation columns qw, qx, qy, qz or yaw_deg [pitch_deg, roll_deg]")
    times, poses, stamps_lines, raw_times = [], [], [], []
    for n, text in rows[1:]:
        values = [v.strip() for v in next(csv.reader([text]))]
        if len(values) != len(header):
            raise LogFormatError(path, f"line {n}", text, f"has {len(values)} values, the header has {len(header)} columns")
        row = dict(zip(header, values))

        def num(col: str, integer: bool = False, row=row, n=n):
            return _number(path, f"line {n}, column '{col}'", row[col], integer)

        entry = {time_col: num(time_col, integer=time_col == "timestamp_ns")}
        times.append(_time(path, f"line {n}", entry, start_time_ns))
        stamps_lines.append(n)
        raw_times.append(row[time_col])
        xyz = [num(c) for c in ("x", "y", "z")]
        if quat:
            q = _unit_quaternion(path, f"line {n}, columns 'qw qx qy qz'", [num(c) for c in ("qw", "qx", "qy", "qz")])
            rot = _rotation_from_quaternion(q)
        else:
            rot = _rotation_from_euler_deg(*[num(c) if c in cols else 0.0 for c in ("yaw_deg", "pitch_deg", "roll_deg")])
        poses.append(make_pose(rot, xyz))
    if not times:
        raise LogFormatError(path, "", None, "the trajectory has no poses (only a header)")
    steps = np.diff(np.array(times))
    if (steps <= 0).any():
        i = int(np.argmax(steps <= 0)) + 1
        raise LogFormatError(path, f"line {stamps_lines[i]}, column '{time_col}'", raw_times[i],
                             f"times must be strictly increasing (previous row has {times[i - 1]!r} s)")
    return _finish(path, time_col, times, poses)


def load_trajectory(path: str | Path, start_time_ns: int | None = None) -> Trajectory:
    """A ``world_from_vehicle`` trajectory from a .csv or .json file (schema in the module doc).
    ``start_time_ns`` (the log's) converts absolute ``timestamp_ns`` times to seconds."""
    path = Path(path)
    if not path.is_file():
        raise LogFormatError(path, "", None, "trajectory file does not exist")
    suffix = path.suffix.lower()
    if suffix == ".json":
        return _read_json(path, start_time_ns)
    if suffix == ".csv":
        return _read_csv(path, start_time_ns)
    raise LogFormatError(path, "", None, "unknown trajectory file type (expected .csv or .json)")


# ---------------------------------------------------------------------------------------------
# Writing


def save_trajectory(path: str | Path, trajectory: Trajectory) -> Path:
    """Write a trajectory as .csv (``t,x,y,z,qw,qx,qy,qz``) or .json (``t``, ``translation``,
    ``quaternion_wxyz``) with times in seconds since the log start; atomic (temporary sibling,
    then rename). Values are written exactly (shortest round-trip form)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".json"):
        raise LogFormatError(path, "", None, "unknown trajectory file type (expected .csv or .json)")
    rows = []
    for t, pose in zip(trajectory.times, trajectory.poses):
        q = _quaternion_from_rotation(pose[:3, :3])
        rows.append((float(t), [float(v) for v in pose[:3, 3]], [float(v) for v in q]))
    if suffix == ".csv":
        lines = ["t,x,y,z,qw,qx,qy,qz"] + [",".join(repr(v) for v in [t, *xyz, *q]) for t, xyz, q in rows]
        text = "\n".join(lines) + "\n"
    else:
        doc = {"frame": "world_from_vehicle",
               "poses": [{"t": t, "translation": xyz, "quaternion_wxyz": q} for t, xyz, q in rows]}
        text = json.dumps(doc, indent=1) + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


__all__ = [
    "TrajectorySpec",
    "load_trajectory",
    "offset_trajectory",
    "parse_trajectory_spec",
    "resolve_trajectory",
    "save_trajectory",
]
