"""Trajectory helpers and the oriented-box overlap test (no reconstruction needed)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from redrive.editing import EditError, constant_velocity, follow_ego, static_pose, time_shift, waypoint_spline
from redrive.editing.validation import boxes_overlap
from redrive.geometry.se3 import make_pose, yaw_rotation
from redrive.log.types import Trajectory


def _yaw(poses: np.ndarray) -> np.ndarray:
    return np.arctan2(poses[:, 1, 0], poses[:, 0, 0])


def test_constant_velocity_moves_along_heading():
    t = np.linspace(0.0, 2.0, 5)
    tr = constant_velocity([1.0, 2.0, 0.7], 90.0, 5.0, t)
    np.testing.assert_allclose(tr.poses[:, :3, 3], np.stack([np.full(5, 1.0), 2.0 + 5.0 * t, np.full(5, 0.7)], 1), atol=1e-9)
    np.testing.assert_allclose(_yaw(tr.poses), math.pi / 2, atol=1e-9)


def test_waypoint_spline_passes_through_points_with_heading_from_motion():
    pts = [[0.0, 0.0, 0.5], [10.0, 0.0, 0.5], [20.0, 10.0, 0.5]]
    tr = waypoint_spline(pts, speed_mps=5.0, start_time_s=1.0)
    assert tr.times[0] == pytest.approx(1.0)
    np.testing.assert_allclose(tr.at(tr.times[0])[:3, 3], pts[0], atol=1e-6)
    np.testing.assert_allclose(tr.at(tr.times[-1])[:3, 3], pts[2], atol=1e-6)
    # heading follows the velocity: east at the start, turning north-east at the end
    assert abs(_yaw(tr.poses[:1])[0]) < 0.3
    assert 0.6 < _yaw(tr.poses[-1:])[0] < 1.2
    # the box x axis is tangent to the path everywhere
    vel = np.gradient(tr.poses[:, :2, 3], tr.times, axis=0)
    heading = np.arctan2(vel[:, 1], vel[:, 0])
    np.testing.assert_allclose(np.angle(np.exp(1j * (heading - _yaw(tr.poses))))[2:-2], 0, atol=0.05)
    with pytest.raises(EditError, match="either times"):
        waypoint_spline(pts)
    with pytest.raises(EditError, match="waypoints must be"):
        waypoint_spline([[0, 0]], speed_mps=1.0)


def test_follow_ego_offsets_and_time_gap():
    t = np.linspace(0, 4, 41)
    ego = Trajectory(t, make_pose(yaw_rotation(np.zeros_like(t)), np.stack([10 * t, 0 * t, 0 * t], 1)))
    f = follow_ego(ego, lateral_m=3.5, ahead_m=2.0, centre_height_m=0.7)
    np.testing.assert_allclose(f.poses[:, :3, 3], np.stack([10 * t + 2.0, np.full_like(t, 3.5), np.full_like(t, 0.7)], 1), atol=1e-9)
    g = follow_ego(ego, time_offset_s=1.0, centre_height_m=0.0)
    np.testing.assert_allclose(g.at(1.0)[:3, 3], [20.0, 0.0, 0.0], atol=1e-6)
    np.testing.assert_allclose(time_shift(g, 0.5).at(1.5)[:3, 3], [20.0, 0.0, 0.0], atol=1e-6)
    assert static_pose([1, 2, 3], 90).poses.shape == (1, 4, 4)


def test_box_overlap_separating_axes():
    size = np.array([4.0, 2.0, 1.5])
    a = make_pose(np.eye(3), [0.0, 0.0, 0.0])[None]
    cases = [
        (make_pose(np.eye(3), [3.9, 0.0, 0.0]), True),     # bumpers 10 cm deep into each other
        (make_pose(np.eye(3), [4.2, 0.0, 0.0]), False),    # 20 cm gap
        (make_pose(yaw_rotation(math.pi / 4), [3.5, 1.9, 0.0]), True),   # rotated corner inside
        (make_pose(yaw_rotation(math.pi / 4), [4.0, 2.6, 0.0]), False),  # rotated, corner just clear
        (make_pose(np.eye(3), [0.0, 0.0, 1.6]), False),    # stacked above
    ]
    for pose, expect in cases:
        assert bool(boxes_overlap(a, size, pose[None], size, 0.05)[0]) == expect, pose[:3, 3]
