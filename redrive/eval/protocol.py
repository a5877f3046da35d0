"""Held-out evaluation protocol: which frames train and which are held out.

Per sensor, every other frame is held out (frames 1, 3, 5, ... by index), the split peers use
on PandaSet. Training never sees a held-out frame's pixels or returns; evaluation renders only
those.
"""

from __future__ import annotations

import numpy as np

from redrive.errors import RedriveError


def split_indices(n_frames: int, every: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """``(train, heldout)`` frame indices (int64) of a sensor with ``n_frames`` frames.

    Frame ``i`` is held out when ``i % every == every - 1``, so with ``every = 2`` the odd
    frames are held out and the first frame always trains. ``every = 0`` holds out nothing.
    """
    if n_frames < 0:
        raise RedriveError(f"split_indices: n_frames must be >= 0, got {n_frames}")
    if every < 0 or every == 1:
        raise RedriveError(f"split_indices: every must be 0 (no hold-out) or >= 2, got {every}")
    idx = np.arange(n_frames, dtype=np.int64)
    if every == 0:
        return idx, idx[:0]
    held = idx % every == every - 1
    return idx[~held], idx[held]


def sensor_split(log, every: int = 2) -> dict[str, dict[str, np.ndarray]]:
    """The split of every camera and LiDAR of a DriveLog: ``{sensor: {"train", "heldout"}}``."""
    out = {}
    for name, sensor in list(log.cameras.items()) + list(log.lidars.items()):
        train, held = split_indices(len(sensor), every)
        out[name] = {"train": train, "heldout": held}
    return out


__all__ = ["split_indices", "sensor_split"]
