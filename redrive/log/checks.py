"""Checks on arrays read from (or about to be written to) a DriveLog.

Each check raises ``LogFormatError`` naming the file, the field and the first offending value.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from redrive.errors import LogFormatError
from redrive.geometry.se3 import rigidity_error

RIGID_TOLERANCE = 1e-5
"""Largest |R^T R - I|, |det R - 1| or |last row - (0,0,0,1)| accepted for a pose."""


def check_poses(path: str | Path, field: str, poses: np.ndarray) -> np.ndarray:
    """Poses (N, 4, 4) or (4, 4) must be finite rigid transforms; returns them as float64."""
    poses = np.asarray(poses, dtype=np.float64)
    if poses.shape[-2:] != (4, 4):
        raise LogFormatError(path, field, poses.shape, "poses must have shape (..., 4, 4)")
    flat = poses.reshape(-1, 4, 4)
    finite = np.isfinite(flat).all(axis=(1, 2))
    if not finite.all():
        i = int(np.argmin(finite))
        raise LogFormatError(path, _at(field, i, poses), flat[i].tolist(), "pose is not finite")
    err = rigidity_error(flat)
    if (err > RIGID_TOLERANCE).any():
        i = int(np.argmax(err))
        raise LogFormatError(
            path,
            _at(field, i, poses),
            flat[i].tolist(),
            f"pose is not rigid (error {err[i]:.2e} > {RIGID_TOLERANCE:g}: rotation must be "
            "orthonormal with det +1 and the last row 0 0 0 1)",
        )
    return poses


def check_increasing(path: str | Path, field: str, times: np.ndarray) -> np.ndarray:
    """Timestamps (N,) must be finite and strictly increasing.

    ``field`` names the array (the index is appended) or holds an ``{i}`` placeholder for it.
    """
    times = np.asarray(times)
    if times.ndim != 1:
        raise LogFormatError(path, field, times.shape, "timestamps must be a 1-D array")
    if times.dtype.kind == "f" and not np.isfinite(times).all():
        i = int(np.argmin(np.isfinite(times)))
        raise LogFormatError(path, _indexed(field, i), times[i].item(), "timestamp is not finite")
    steps = np.diff(times)
    if (steps <= 0).any():
        i = int(np.argmax(steps <= 0)) + 1
        raise LogFormatError(
            path,
            _indexed(field, i),
            times[i].item(),
            f"timestamps must be strictly increasing (previous is {times[i - 1].item()})",
        )
    return times


def check_array(
    path: str | Path, field: str, array: np.ndarray, shape: tuple, kinds: str, finite: bool = True
) -> np.ndarray:
    """An array must have ``shape`` (None = any size) and a dtype kind in ``kinds`` ('f', 'i', ...)."""
    array = np.asarray(array)
    if array.ndim != len(shape) or any(s is not None and s != a for s, a in zip(shape, array.shape)):
        want = "(" + ", ".join("N" if s is None else str(s) for s in shape) + ")"
        raise LogFormatError(path, field, array.shape, f"expected shape {want}")
    if array.dtype.kind not in kinds:
        raise LogFormatError(path, field, str(array.dtype), f"expected dtype kind in {kinds!r}")
    if finite and array.dtype.kind == "f" and not np.isfinite(array).all():
        bad = np.argwhere(~np.isfinite(array))[0]
        raise LogFormatError(path, f"{field}{list(bad)}", array[tuple(bad)].item(), "not finite")
    return array


def _indexed(field: str, i: int) -> str:
    return field.format(i=i) if "{i}" in field else f"{field}[{i}]"


def _at(field: str, flat_index: int, poses: np.ndarray) -> str:
    return field if poses.ndim == 2 else f"{field}[{flat_index}]"
