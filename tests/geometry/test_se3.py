import numpy as np
import pytest

from redrive.geometry import se3


def random_poses(rng, n, angle_scale=1.0):
    return se3.make_pose(se3.so3_exp(rng.normal(0, angle_scale, (n, 3))), rng.normal(0, 10, (n, 3)))


def test_exp_log_round_trip_including_small_and_near_pi_angles():
    rng = np.random.default_rng(0)
    axes = rng.normal(0, 1, (6, 3))
    axes /= np.linalg.norm(axes, axis=1, keepdims=True)
    angles = np.array([0.0, 1e-9, 1e-4, 1.0, np.pi - 1e-6, np.pi - 1e-3])
    omega = axes * angles[:, None]
    np.testing.assert_allclose(se3.so3_exp(se3.so3_log(se3.so3_exp(omega))), se3.so3_exp(omega), atol=1e-9)
    twists = np.concatenate([rng.normal(0, 5, (6, 3)), omega], axis=1)
    poses = se3.se3_exp(twists)
    np.testing.assert_allclose(se3.se3_exp(se3.se3_log(poses)), poses, atol=1e-8)
    assert se3.rigidity_error(poses).max() < 1e-12


def test_invert_and_transform():
    rng = np.random.default_rng(1)
    poses = random_poses(rng, 5)
    np.testing.assert_allclose(se3.invert(poses) @ poses, np.broadcast_to(np.eye(4), (5, 4, 4)), atol=1e-12)
    pts = rng.normal(0, 1, (7, 3))
    back = se3.transform_points(se3.invert(poses[0]), se3.transform_points(poses[0], pts))
    np.testing.assert_allclose(back, pts, atol=1e-12)


def test_interpolation_reproduces_constant_twist_motion():
    """A vehicle on a circle at constant speed is a constant twist: the SE(3) geodesic between
    two samples passes exactly through the true intermediate poses (a linear blend would cut the
    corner)."""
    radius, speed = 20.0, 10.0
    def truth(t):
        yaw = speed * t / radius
        return se3.make_pose(se3.yaw_rotation(yaw), np.stack([radius * np.sin(yaw), radius * (1 - np.cos(yaw)), 0.3 * t], -1))
    knots = np.array([0.0, 0.5, 1.0, 2.0])
    query = np.linspace(0.0, 2.0, 41)
    np.testing.assert_allclose(se3.interpolate_poses(knots, truth(knots), query), truth(query), atol=1e-10)


def test_interpolation_endpoints_and_holding_outside():
    rng = np.random.default_rng(2)
    times = np.array([1.0, 2.0, 4.0])
    poses = random_poses(rng, 3, angle_scale=0.5)
    np.testing.assert_allclose(se3.interpolate_poses(times, poses, times), poses, atol=1e-10)
    np.testing.assert_allclose(se3.interpolate_poses(times, poses, np.array([0.0, 9.0])), poses[[0, 2]], atol=1e-12)
    mid = se3.interpolate_poses(times, poses, 1.5)
    assert mid.shape == (4, 4) and se3.rigidity_error(mid) < 1e-12
    # Half way along the geodesic: applying the half-step twice lands on the next sample.
    half = se3.invert(poses[0]) @ mid
    np.testing.assert_allclose(poses[0] @ half @ half, poses[1], atol=1e-9)


def test_single_sample_trajectory_is_constant():
    pose = random_poses(np.random.default_rng(3), 1)
    out = se3.interpolate_poses(np.array([5.0]), pose, np.array([[0.0, 5.0], [6.0, 7.0]]))
    assert out.shape == (2, 2, 4, 4)
    np.testing.assert_array_equal(out[1, 1], pose[0])


@pytest.mark.parametrize("bad, expected", [(np.diag([2.0, 1, 1, 1]), 3.0), (np.eye(4) * [[1], [1], [1], [0.5]], 0.5)])
def test_rigidity_error_detects_scale_and_bad_last_row(bad, expected):
    assert se3.rigidity_error(bad) == pytest.approx(expected)
