"""Trajectories for edited and inserted actors (``world_from_box`` over time, log clock).

All helpers return ``redrive.log.types.Trajectory`` in the log's world frame, with the box frame
x forward, y left, z up; positions are the box centre unless stated. Headings come from the
motion (the box's x axis follows the velocity), so a waypoint path turns the car as it drives.
Ego-path offsets reuse ``redrive.render.trajectories.offset_trajectory``; interpolation between
samples is the SE(3) geodesic of ``Trajectory.at``.
"""

from __future__ import annotations

import math

import numpy as np

from redrive.editing.errors import EditError
from redrive.geometry.se3 import make_pose, yaw_rotation
from redrive.log.types import Trajectory
from redrive.render.trajectories import offset_trajectory

DEFAULT_STEP_S = 0.05
"""Sampling interval of generated trajectories (20 Hz: finer than any camera here)."""


def time_shift(trajectory: Trajectory, seconds: float) -> Trajectory:
    """The same motion ``seconds`` later (negative: earlier)."""
    if not math.isfinite(seconds):
        raise EditError(f"time shift must be a finite number of seconds, got {seconds!r}")
    return Trajectory(trajectory.times + float(seconds), trajectory.poses.copy())


def follow_ego(ego: Trajectory, lateral_m: float = 0.0, ahead_m: float = 0.0, time_offset_s: float = 0.0,
               centre_height_m: float = 0.75) -> Trajectory:
    """Drive along the ego's path, offset in the ego's frame at every pose: ``lateral_m`` to the
    left (negative: right; one lane is ~3.5 m), ``ahead_m`` in front. ``time_offset_s`` > 0 puts
    the actor where the ego will be that much later (a lead vehicle keeping a time gap).
    ``centre_height_m``: box centre above the ego frame's origin (half the actor's height when
    the ego frame sits on the ground)."""
    shifted = offset_trajectory(ego, lateral_m, centre_height_m, ahead_m)
    if time_offset_s:
        # where the ego is at t + dt, at time t (held at the ends like Trajectory.at)
        poses = shifted.at(shifted.times + float(time_offset_s))
        shifted = Trajectory(shifted.times.copy(), poses)
    return shifted


def constant_velocity(start: np.ndarray | list[float], heading_deg: float, speed_mps: float, times: np.ndarray,
                      ) -> Trajectory:
    """Straight motion from ``start`` [x, y, z] (box centre at ``times[0]``) along the world
    heading ``heading_deg`` (0 = +x, 90 = +y) at ``speed_mps`` (0: standing still)."""
    times = np.asarray(times, dtype=np.float64).reshape(-1)
    start = np.asarray(start, dtype=np.float64).reshape(-1)
    if start.shape != (3,) or not np.isfinite(start).all():
        raise EditError(f"constant_velocity: start must be a finite [x, y, z], got {start.tolist()}")
    if len(times) < 1 or np.any(np.diff(times) <= 0):
        raise EditError("constant_velocity: times must be strictly increasing (at least one)")
    yaw = math.radians(float(heading_deg))
    direction = np.array([math.cos(yaw), math.sin(yaw), 0.0])
    pos = start + (times - times[0])[:, None] * float(speed_mps) * direction
    return Trajectory(times, make_pose(np.broadcast_to(yaw_rotation(yaw), (len(times), 3, 3)), pos))


def _catmull_rom(points: np.ndarray, knots: np.ndarray, query: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positions and velocities at ``query`` of the centripetal-free (uniform in time) cubic
    Hermite spline through ``points`` (N, 3) at ``knots`` (N,), with Catmull-Rom tangents
    (one-sided at the ends)."""
    n = len(points)
    tang = np.zeros_like(points)
    if n > 2:
        tang[1:-1] = (points[2:] - points[:-2]) / (knots[2:] - knots[:-2])[:, None]
    tang[0] = (points[1] - points[0]) / (knots[1] - knots[0])
    tang[-1] = (points[-1] - points[-2]) / (knots[-1] - knots[-2])
    i = np.clip(np.searchsorted(knots, query, side="right") - 1, 0, n - 2)
    h = knots[i + 1] - knots[i]
    s = np.clip((query - knots[i]) / h, 0.0, 1.0)[:, None]
    p0, p1, m0, m1 = points[i], points[i + 1], tang[i] * h[:, None], tang[i + 1] * h[:, None]
    s2, s3 = s * s, s * s * s
    pos = (2 * s3 - 3 * s2 + 1) * p0 + (s3 - 2 * s2 + s) * m0 + (-2 * s3 + 3 * s2) * p1 + (s3 - s2) * m1
    vel = ((6 * s2 - 6 * s) * p0 + (3 * s2 - 4 * s + 1) * m0 + (-6 * s2 + 6 * s) * p1 + (3 * s2 - 2 * s) * m1) / h[:, None]
    return pos, vel


def waypoint_spline(waypoints: np.ndarray | list, times: np.ndarray | list | None = None, speed_mps: float | None = None,
                    start_time_s: float = 0.0, step_s: float = DEFAULT_STEP_S) -> Trajectory:
    """A smooth path through ``waypoints`` (N >= 2, each [x, y] or [x, y, z], box centre) with the
    heading from the motion. Timing: ``times`` (N,) at the waypoints, or a constant
    ``speed_mps`` along the polyline starting at ``start_time_s``. Sampled every ``step_s``."""
    pts = np.asarray(waypoints, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[0] < 2 or pts.shape[1] not in (2, 3) or not np.isfinite(pts).all():
        raise EditError(f"waypoints must be a list of at least two finite [x, y] or [x, y, z], got shape {pts.shape}")
    if pts.shape[1] == 2:
        pts = np.concatenate([pts, np.zeros((len(pts), 1))], axis=1)
    if (times is None) == (speed_mps is None):
        raise EditError("waypoints need either times (one per waypoint) or speed_mps, not both")
    if times is not None:
        knots = np.asarray(times, dtype=np.float64).reshape(-1)
        if len(knots) != len(pts) or np.any(np.diff(knots) <= 0) or not np.isfinite(knots).all():
            raise EditError(f"waypoint times must be {len(pts)} strictly increasing numbers, got {knots.tolist()}")
    else:
        if not (math.isfinite(speed_mps) and speed_mps > 0):
            raise EditError(f"speed_mps must be a positive number, got {speed_mps!r}")
        seg = np.linalg.norm(np.diff(pts, axis=0), axis=1)
        if np.any(seg <= 1e-6):
            raise EditError("consecutive waypoints must differ (a repeated waypoint has no direction)")
        knots = float(start_time_s) + np.concatenate([[0.0], np.cumsum(seg)]) / float(speed_mps)
    count = max(2, int(math.ceil((knots[-1] - knots[0]) / step_s)) + 1)
    q = np.linspace(knots[0], knots[-1], count)
    pos, vel = _catmull_rom(pts, knots, q)
    return Trajectory(q, make_pose(yaw_rotation(heading_from_motion(vel)), pos))


def heading_from_motion(velocity: np.ndarray) -> np.ndarray:
    """Yaw (N,) radians of planar velocities (N, 2+); where the actor stands still the last
    heading is kept (the first moving one before any motion)."""
    v = np.asarray(velocity, dtype=np.float64)[:, :2]
    moving = np.linalg.norm(v, axis=1) > 1e-6
    yaw = np.arctan2(v[:, 1], v[:, 0])
    if not moving.any():
        return np.zeros(len(v))
    idx = np.where(moving, np.arange(len(v)), -1)
    idx = np.maximum.accumulate(idx)
    idx[idx < 0] = int(np.argmax(moving))
    return np.unwrap(yaw[idx])


def static_pose(position: np.ndarray | list[float], heading_deg: float = 0.0, time_s: float = 0.0,
                until_s: float | None = None) -> Trajectory:
    """A parked actor: one pose (box centre ``position``, world heading) at ``time_s``, or held
    from ``time_s`` to ``until_s``. A standing actor (``dynamic=False``) is in the scene for the
    whole drive, whatever the span (the DriveLog's rule)."""
    p = np.asarray(position, dtype=np.float64).reshape(-1)
    if p.shape != (3,) or not np.isfinite(p).all():
        raise EditError(f"position must be a finite [x, y, z], got {p.tolist()}")
    pose = make_pose(yaw_rotation(math.radians(heading_deg)), p)
    if until_s is None:
        return Trajectory(np.array([float(time_s)]), pose[None])
    if not until_s > time_s:
        raise EditError(f"until_s ({until_s}) must come after time_s ({time_s})")
    return Trajectory(np.array([float(time_s), float(until_s)]), np.stack([pose, pose]))


__all__ = ["DEFAULT_STEP_S", "constant_velocity", "follow_ego", "heading_from_motion", "static_pose", "time_shift",
           "waypoint_spline"]
