"""World-space rays of cameras and LiDARs, with the ego moving while the sensor captures.

Every ray carries its own capture time: a rolling-shutter camera exposes its rows one after the
other, a spinning LiDAR fires its columns over a whole revolution. The ray's origin and direction
come from the sensor pose at that time,
``world_from_sensor(t) = ego(t) @ vehicle_from_sensor``, with ``ego(t)`` interpolated along the
SE(3) geodesic between trajectory samples exactly as ``Trajectory.at`` does (held constant
outside the sampled span). All arrays are float64 numpy.

Chunking: ``lidar_rays(..., window=(t0, t1))`` returns only the firings of that part of the sweep
(``LidarModel.windows(k)`` splits a sweep into ``k`` windows), so a renderer can march one azimuth
chunk at a time with the scene at that chunk's time; ``LidarRays.times`` also lets a caller group
rays by time itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from redrive.geometry.cameras import CameraModel
from redrive.geometry.se3 import invert, rigidity_error, se3_log
from redrive.log.checks import RIGID_TOLERANCE
from redrive.log.types import CameraSensor, LidarSweep, Trajectory
from redrive.render.errors import SensorSpecError
from redrive.render.lidar_models import LidarModel


# ---------------------------------------------------------------------------------------------
# Moving frames


def _check_pose(what: str, pose: np.ndarray) -> np.ndarray:
    pose = np.asarray(pose, dtype=np.float64)
    if pose.shape != (4, 4) or not np.isfinite(pose).all():
        raise SensorSpecError(what, "vehicle_from_sensor", pose.shape if pose.shape != (4, 4) else pose.tolist(),
                              "must be a finite 4x4 rigid transform")
    if rigidity_error(pose) > RIGID_TOLERANCE:  # the DriveLog's own tolerance for poses
        raise SensorSpecError(what, "vehicle_from_sensor", pose.tolist(), "is not rigid (rotation must be orthonormal, det +1)")
    return pose


def sensor_poses(ego: Trajectory | np.ndarray, vehicle_from_sensor: np.ndarray, times: np.ndarray) -> np.ndarray:
    """``world_from_sensor`` (N, 4, 4) at ``times`` (N,): ``ego.at(t) @ vehicle_from_sensor``.

    ``ego`` is a ``Trajectory`` of ``world_from_vehicle`` or one fixed (4, 4) pose. Same result
    as ``Trajectory.at`` (SE(3) geodesic between samples, held outside the span) but the twist of
    each trajectory segment is computed once and its scaled exponential is built elementwise
    (Rodrigues), which is several times faster for many times.
    """
    times = np.asarray(times, dtype=np.float64).reshape(-1)
    v_from_s = np.asarray(vehicle_from_sensor, dtype=np.float64)
    if isinstance(ego, np.ndarray):
        return np.broadcast_to(np.asarray(ego, dtype=np.float64) @ v_from_s, (len(times), 4, 4)).copy()
    poses, knots = ego.poses, ego.times
    if len(knots) == 1:
        return sensor_poses(poses[0], v_from_s, times)
    idx = np.clip(np.searchsorted(knots, times, side="right") - 1, 0, len(knots) - 2)
    alpha = np.clip((times - knots[idx]) / (knots[idx + 1] - knots[idx]), 0.0, 1.0)
    segs, pos = np.unique(idx, return_inverse=True)
    twist = se3_log(invert(poses[segs]) @ poses[segs + 1])  # (S, 6): one log per segment
    rho = twist[pos, :3] * alpha[:, None]
    w = twist[pos, 3:] * alpha[:, None]
    theta2 = np.einsum("ij,ij->i", w, w)
    theta = np.sqrt(theta2)
    small = theta < 1e-5
    safe = np.where(small, 1.0, theta)
    a = np.where(small, 1.0 - theta2 / 6.0, np.sin(safe) / safe)
    b = np.where(small, 0.5 - theta2 / 24.0, (1.0 - np.cos(safe)) / safe**2)
    c = np.where(small, 1.0 / 6.0 - theta2 / 120.0, (safe - np.sin(safe)) / safe**3)
    k = np.zeros((len(times), 3, 3))
    k[:, 0, 1], k[:, 0, 2], k[:, 1, 2] = -w[:, 2], w[:, 1], -w[:, 0]
    k[:, 1, 0], k[:, 2, 0], k[:, 2, 1] = w[:, 2], -w[:, 1], w[:, 0]
    # K^2 = w w^T - |w|^2 I, written out to avoid a batched matmul.
    k2 = w[:, :, None] * w[:, None, :] - theta2[:, None, None] * np.eye(3)
    step = np.zeros((len(times), 4, 4))
    step[:, :3, :3] = np.eye(3) + a[:, None, None] * k + b[:, None, None] * k2
    v = np.eye(3) + b[:, None, None] * k + c[:, None, None] * k2
    step[:, :3, 3] = np.einsum("nij,nj->ni", v, rho)
    step[:, 3, 3] = 1.0
    return poses[idx] @ step @ v_from_s


def move_sensor_rays(
    ego: Trajectory | np.ndarray,
    vehicle_from_sensor: np.ndarray,
    times: np.ndarray,
    directions_sensor: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """World origins (N, 3) and unit directions (N, 3) of sensor-frame directions (N, 3) fired at
    ``times`` (N,) from a sensor at ``vehicle_from_sensor`` on a vehicle moving along ``ego``.

    Poses are computed once per distinct time (a spinning LiDAR fires a whole column at once,
    a rolling-shutter camera a whole row), then shared by the rays fired at that time.
    """
    times = np.asarray(times, dtype=np.float64).reshape(-1)
    d_s = np.asarray(directions_sensor, dtype=np.float64).reshape(-1, 3)
    if len(times) == 0:
        return np.zeros((0, 3)), np.zeros((0, 3))
    if (np.diff(times) >= 0).all():
        # Sorted times (the usual case): distinct values without a sort.
        first = np.concatenate([[True], np.diff(times) > 0])
        uniq, inv = times[first], np.cumsum(first) - 1
    else:
        uniq, inv = np.unique(times, return_inverse=True)
    world_from_sensor = sensor_poses(ego, vehicle_from_sensor, uniq)
    if len(uniq) == 1:
        pose = world_from_sensor[0]
        directions = d_s @ pose[:3, :3].T
        origins = np.broadcast_to(pose[:3, 3], d_s.shape).copy()
    else:
        rot = world_from_sensor[inv, :3, :3]
        directions = np.einsum("nij,nj->ni", rot, d_s)
        origins = world_from_sensor[inv, :3, 3]
    directions /= np.linalg.norm(directions, axis=-1, keepdims=True)
    return origins, directions


# ---------------------------------------------------------------------------------------------
# Cameras


@dataclass
class CameraRays:
    """The rays of (some pixels of) one camera frame."""

    uv: np.ndarray
    """(N, 2) float64 pixel coordinates (column, row), pixel centres at integers."""
    times: np.ndarray
    """(N,) float64 capture time of each pixel, seconds since the log start."""
    origins: np.ndarray
    """(N, 3) float64 world position of the camera centre when the pixel was exposed."""
    directions: np.ndarray
    """(N, 3) float64 unit world directions."""
    directions_camera: np.ndarray
    """(N, 3) float64 unit directions in the camera frame (OpenCV: x right, y down, z forward);
    read-only for full frames (shared with the per-camera cache)."""

    def __len__(self) -> int:
        return len(self.uv)

    def depth_to_distance(self, depth: np.ndarray) -> np.ndarray:
        """Ray lengths (N,) of z-depths (N,) (distance along the optical axis)."""
        return depth / self.directions_camera[:, 2]


@lru_cache(maxsize=4)
def _grid_directions(intrinsics: CameraModel) -> np.ndarray:
    # Unprojecting a distorted full frame is the costliest step (iterative undistortion) and the
    # same for every frame of a camera; kept read-only so that no caller can alter the cache.
    d = intrinsics.unproject(intrinsics.pixel_grid())
    d.setflags(write=False)
    return d


def camera_rays(sensor: CameraSensor, ego: Trajectory | np.ndarray, frame_time: float,
                uv: np.ndarray | None = None) -> CameraRays:
    """Rays of the frame captured at ``frame_time`` by ``sensor`` (every pixel in row-major order,
    or the pixels ``uv`` (N, 2)). Full-frame camera-frame directions are cached per intrinsics
    (the last 4), so rendering many frames of a camera unprojects its pixels once.

    With a rolling shutter each pixel's time is ``frame_time + sensor.pixel_time_offsets(uv)``
    (the frame time is the middle row's capture), and the camera pose follows the ego to that
    time. The intrinsics' model (pinhole, OpenCV, fisheye) unprojects the pixels.
    """
    what = f"camera {sensor.name!r}"
    v_from_c = _check_pose(what, sensor.vehicle_from_camera)
    if not np.isfinite(frame_time):
        raise SensorSpecError(what, "frame_time", frame_time, "must be finite")
    if sensor.rolling_shutter_s < 0 or not np.isfinite(sensor.rolling_shutter_s):
        raise SensorSpecError(what, "rolling_shutter_s", sensor.rolling_shutter_s, "must be a non-negative number")
    if uv is None:
        uv = sensor.intrinsics.pixel_grid()
        try:
            d_cam = _grid_directions(sensor.intrinsics)
        except TypeError:  # intrinsics built with a list of distortion coefficients: not hashable
            d_cam = sensor.intrinsics.unproject(uv)
    else:
        uv = np.asarray(uv, dtype=np.float64).reshape(-1, 2)
        d_cam = sensor.intrinsics.unproject(uv)
    times = float(frame_time) + sensor.pixel_time_offsets(uv)
    origins, directions = move_sensor_rays(ego, v_from_c, times, d_cam)
    return CameraRays(uv=uv, times=times, origins=origins, directions=directions, directions_camera=d_cam)


# ---------------------------------------------------------------------------------------------
# LiDARs


@dataclass
class LidarRays:
    """The firings of one LiDAR sweep (or of a time window of it) as world rays."""

    beam: np.ndarray
    """(N,) int16 laser index (row of the model's beam table)."""
    column: np.ndarray
    """(N,) int32 range-image column (spinning) or index in the pattern (solid state)."""
    times: np.ndarray
    """(N,) float64 firing time, seconds since the log start."""
    directions_sensor: np.ndarray
    """(N, 3) float64 unit directions in the sensor frame at the firing time."""
    origins: np.ndarray
    """(N, 3) float64 world position of the sensor at the firing time."""
    directions: np.ndarray
    """(N, 3) float64 unit world directions."""
    min_range_m: float
    """The model's range limits, applied by ``to_sweep``."""
    max_range_m: float
    beam_divergence_mrad: tuple[float, float] | None = None
    """The model's (horizontal, vertical) divergence, for renderers that trace cones."""

    def __len__(self) -> int:
        return len(self.beam)

    def points_world(self, ranges: np.ndarray) -> np.ndarray:
        """(N, 3) world points at ``ranges`` (N,) metres along the rays."""
        return self.origins + self.directions * np.asarray(ranges, dtype=np.float64)[:, None]

    def to_sweep(self, ranges: np.ndarray, intensity: np.ndarray | None = None,
                 returned: np.ndarray | None = None) -> LidarSweep:
        """A DriveLog ``LidarSweep`` from rendered ranges (N,) metres (inf or nan = no hit).

        A ray returns when ``returned`` (N,) bool (the ray-drop decision; default all) holds and
        its range is finite and within the model's [min, max] range; every other ray is stored as
        a drop. Points are in the sensor frame at each firing's own time (not de-skewed), which
        is the DriveLog's convention.
        """
        ranges = np.asarray(ranges, dtype=np.float64).reshape(-1)
        if len(ranges) != len(self):
            raise SensorSpecError("lidar sweep", "ranges", ranges.shape, f"need one range per ray ({len(self)})")
        keep = np.isfinite(ranges) & (ranges >= self.min_range_m) & (ranges <= self.max_range_m)
        if returned is not None:
            keep &= np.asarray(returned, dtype=bool).reshape(-1)
        inten = np.zeros(len(self), np.float32) if intensity is None else np.asarray(intensity, np.float32).reshape(-1)
        drop = ~keep
        return LidarSweep(
            points=(self.directions_sensor[keep] * ranges[keep, None]).astype(np.float32),
            times=self.times[keep],
            intensity=inten[keep],
            beam=self.beam[keep].astype(np.int16),
            drop_directions=self.directions_sensor[drop].astype(np.float32),
            drop_times=self.times[drop],
            drop_beam=self.beam[drop].astype(np.int16),
        )


def lidar_rays(model: LidarModel, ego: Trajectory | np.ndarray, vehicle_from_sensor: np.ndarray,
               sweep_start: float, window: tuple[float, float] | None = None) -> LidarRays:
    """Rays of the sweep starting at ``sweep_start`` (seconds since the log start) of ``model``
    mounted at ``vehicle_from_sensor``, with the ego moving along ``ego`` during the sweep.

    ``window = (t0, t1)``: only the firings of that part of the sweep (seconds after its start;
    see ``LidarModel.windows``). Concatenating the windows of a split gives the whole sweep.
    """
    what = f"lidar model {model.name!r}"
    v_from_s = _check_pose(what, vehicle_from_sensor)
    if not np.isfinite(sweep_start):
        raise SensorSpecError(what, "sweep_start", sweep_start, "must be finite")
    if window is not None and not (np.isfinite(window).all() and window[0] <= window[1]):
        raise SensorSpecError(what, "window", window, "must be (t0, t1) with t0 <= t1, finite")
    firings = model.firings(window, sweep_start=float(sweep_start))
    d_s = firings.directions()
    times = float(sweep_start) + firings.time_s
    origins, directions = move_sensor_rays(ego, v_from_s, times, d_s)
    return LidarRays(
        beam=firings.beam,
        column=firings.column,
        times=times,
        directions_sensor=d_s,
        origins=origins,
        directions=directions,
        min_range_m=model.min_range_m,
        max_range_m=model.max_range_m,
        beam_divergence_mrad=model.beam_divergence_mrad,
    )


__all__ = ["CameraRays", "LidarRays", "camera_rays", "lidar_rays", "move_sensor_rays", "sensor_poses"]
