"""What every exporter shares: the selection of frames and sensors, and image rectification."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from redrive.errors import RedriveError, UnknownSensorError
from redrive.geometry.cameras import CameraModel
from redrive.log import DriveLog


@dataclass
class ExportOptions:
    """Selection applied by every exporter."""

    start_s: float | None = None
    """Start of the time window, seconds since the log start (None: from the start)."""
    end_s: float | None = None
    """End of the time window, seconds since the log start (None: to the end)."""
    cameras: list[str] | None = None
    """Cameras to export, in this order (None: all, in the log's order). The first is KITTI's
    ``image_02`` (the camera the labels refer to)."""
    lidars: list[str] | None = None
    """LiDARs to export (None: all; KITTI takes one)."""
    every: int = 1
    """Keep every n-th frame of the first camera (1: all)."""
    overwrite: bool = False
    """Replace an existing export at the output path."""


def open_source(path: str | Path) -> DriveLog:
    """The DriveLog to export: a log directory, or a render output (which is a DriveLog too)."""
    path = Path(path)
    if not (path / "log.json").is_file():
        raise RedriveError(f"{path}: not a DriveLog or render output (no log.json inside)")
    return DriveLog.open(path)


def select_sensors(log: DriveLog, kind: str, requested: list[str] | None) -> list[str]:
    available = list(log.cameras if kind == "camera" else log.lidars)
    if requested is None:
        return available
    for name in requested:
        if name not in available:
            raise UnknownSensorError(kind, name, available, log.root)
    return list(requested)


def frame_indices(log: DriveLog, camera: str, options: ExportOptions) -> np.ndarray:
    """Indices of ``camera``'s frames inside the window, every ``options.every``-th."""
    if options.every < 1:
        raise RedriveError(f"--every must be a positive integer, got {options.every}")
    times = log.camera(camera).frame_times
    keep = np.ones(len(times), dtype=bool)
    if options.start_s is not None:
        keep &= times >= options.start_s
    if options.end_s is not None:
        keep &= times <= options.end_s
    indices = np.flatnonzero(keep)[:: options.every]
    if len(indices) == 0:
        raise RedriveError(f"{log.root}: the window [{options.start_s}, {options.end_s}] s holds no frame of camera {camera!r}")
    return indices


def sweep_indices(log: DriveLog, lidar: str, options: ExportOptions) -> np.ndarray:
    times = log.lidar(lidar).sweep_times
    keep = np.ones(len(times), dtype=bool)
    if options.start_s is not None:
        keep &= times >= options.start_s
    if options.end_s is not None:
        keep &= times <= options.end_s
    return np.flatnonzero(keep)


def nearest(times: np.ndarray, t: float) -> int:
    i = int(np.searchsorted(times, t))
    candidates = [j for j in (i - 1, i) if 0 <= j < len(times)]
    return min(candidates, key=lambda j: abs(times[j] - t))


def spin_period(log: DriveLog, lidar: str) -> float:
    """Seconds per sweep: the beam table's rotation rate, else the median sweep spacing."""
    sensor = log.lidar(lidar)
    if sensor.beams is not None:
        return 1.0 / sensor.beams.rotation_hz
    if len(sensor.sweep_times) > 1:
        return float(np.median(np.diff(sensor.sweep_times)))
    return 0.1


class Rectifier:
    """Resamples images of a distorted camera into a pinhole camera with the same K.

    Used where the target format has no place for the distortion (KITTI; nerfstudio for the
    rational OpenCV model). Pixels whose source falls outside the image are black.
    """

    def __init__(self, model: CameraModel):
        self.source = model
        self.target = CameraModel("pinhole", model.width, model.height, model.fx, model.fy, model.cx, model.cy)
        if model.model == "pinhole":
            self.map = None
            return
        grid = self.target.pixel_grid()
        dirs = self.target.unproject(grid)
        uv, _, valid = model.project(dirs)
        uv[~valid] = -1e6
        self.map = uv.reshape(model.height, model.width, 2)

    @property
    def identity(self) -> bool:
        return self.map is None

    def __call__(self, image: np.ndarray) -> np.ndarray:
        """(H, W, C) image of the source camera -> (H, W, C) image of the pinhole camera."""
        if self.map is None:
            return image
        return bilinear(image, self.map)


def bilinear(image: np.ndarray, uv: np.ndarray) -> np.ndarray:
    """Sample (H, W, C) ``image`` at pixel coordinates ``uv`` (h, w, 2); outside -> 0."""
    h, w = image.shape[:2]
    u, v = uv[..., 0], uv[..., 1]
    inside = (u >= -0.5) & (u <= w - 0.5) & (v >= -0.5) & (v <= h - 0.5)
    u = np.clip(u, 0, w - 1)
    v = np.clip(v, 0, h - 1)
    u0 = np.minimum(np.floor(u).astype(np.int64), w - 2 if w > 1 else 0)
    v0 = np.minimum(np.floor(v).astype(np.int64), h - 2 if h > 1 else 0)
    u1, v1 = np.minimum(u0 + 1, w - 1), np.minimum(v0 + 1, h - 1)
    fu, fv = (u - u0)[..., None], (v - v0)[..., None]
    img = image.astype(np.float32)
    out = (img[v0, u0] * (1 - fu) * (1 - fv) + img[v0, u1] * fu * (1 - fv)
           + img[v1, u0] * (1 - fu) * fv + img[v1, u1] * fu * fv)
    out[~inside] = 0
    return np.clip(np.round(out), 0, 255).astype(image.dtype) if image.dtype == np.uint8 else out.astype(image.dtype)
