import numpy as np
import pytest

from redrive.geometry import se3
from redrive.geometry.cameras import CameraModel
from redrive.log.types import CameraSensor, Trajectory
from redrive.render.errors import SensorSpecError
from redrive.render.lidar_models import LidarModel, SpinningScan, lidar_model
from redrive.render.rays import camera_rays, lidar_rays, move_sensor_rays, sensor_poses
from redrive.render.sensors import VEHICLE_FROM_FORWARD_CAMERA


def straight(speed: float, duration: float = 10.0) -> Trajectory:
    """Ego driving along world +x at constant speed from the origin, sampled at 10 Hz."""
    t = np.linspace(0.0, duration, int(duration * 10) + 1)
    return Trajectory(t, se3.make_pose(np.broadcast_to(np.eye(3), (len(t), 3, 3)), np.stack([speed * t, 0 * t, 0 * t], -1)))


def turning(yaw_rate: float, speed: float = 0.0, duration: float = 4.0) -> Trajectory:
    """Constant yaw rate (and speed along the heading): a circular arc, sampled coarsely (2 Hz) so
    that interpolation must reproduce the constant-twist motion between samples."""
    t = np.linspace(0.0, duration, int(duration * 2) + 1)
    yaw = yaw_rate * t
    if yaw_rate == 0.0:
        xy = np.stack([speed * t, 0 * t], -1)
    else:
        r = speed / yaw_rate
        xy = np.stack([r * np.sin(yaw), r * (1 - np.cos(yaw))], -1)
    return Trajectory(t, se3.make_pose(se3.yaw_rotation(yaw), np.concatenate([xy, 0 * t[:, None]], -1)))


def test_moved_rays_match_the_trajectory_poses_exactly():
    t = np.linspace(0, 3, 13)
    rot = se3.so3_exp(np.stack([0.05 * np.sin(t), 0.03 * t, 0.4 * t], -1))
    ego = Trajectory(t, se3.make_pose(rot, np.stack([12 * t, 2 * np.sin(t), 0.1 * t], -1)))
    mount = se3.make_pose(se3.so3_exp(np.array([0.1, -0.2, 1.2])), [1.2, -0.4, 1.9])
    rng = np.random.default_rng(0)
    times = np.concatenate([rng.uniform(-0.5, 3.5, 2000), np.repeat(rng.uniform(0, 3, 10), 50)])
    d = rng.normal(size=(len(times), 3))
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    truth = ego.at(times) @ mount
    np.testing.assert_allclose(sensor_poses(ego, mount, times), truth, atol=1e-12)
    origins, dirs = move_sensor_rays(ego, mount, times, d)
    np.testing.assert_allclose(origins, truth[:, :3, 3], atol=1e-12)
    np.testing.assert_allclose(dirs, np.einsum("nij,nj->ni", truth[:, :3, :3], d), atol=1e-12)
    # Sorted and unsorted times give the same rays.
    order = np.argsort(times)
    o2, d2 = move_sensor_rays(ego, mount, times[order], d[order])
    np.testing.assert_allclose(o2, origins[order], atol=1e-12)
    np.testing.assert_allclose(d2, dirs[order], atol=1e-12)


def test_lidar_per_point_time_and_origin_on_a_moving_vehicle():
    speed, start = 15.0, 2.0
    model = lidar_model("vlp16")
    mount = se3.make_pose(np.eye(3), [1.0, 0.5, 1.8])
    rays = lidar_rays(model, straight(speed), mount, sweep_start=start)
    assert len(rays) == 16 * 1800
    column_period = 0.1 / 1800
    np.testing.assert_allclose(rays.times, start + rays.column * column_period + rays.beam * 2.304e-6, atol=1e-12)
    # Analytic: the sensor is at (1 + v t, 0.5, 1.8) when it fires at time t.
    expected = np.stack([1.0 + speed * rays.times, np.full(len(rays), 0.5), np.full(len(rays), 1.8)], -1)
    np.testing.assert_allclose(rays.origins, expected, atol=1e-9)
    # Directions do not turn with a translating vehicle: they equal the sensor-frame ones.
    np.testing.assert_allclose(rays.directions, rays.directions_sensor, atol=1e-12)
    # The sweep's first and last firings are ~0.1 s apart, i.e. 1.5 m of travel.
    assert rays.origins[:, 0].max() - rays.origins[:, 0].min() == pytest.approx(speed * 0.1, rel=1e-3)


def test_lidar_azimuth_on_a_turning_vehicle_is_yaw_plus_head_angle():
    yaw_rate = 0.8  # rad/s, a tight turn
    ego = turning(yaw_rate, speed=10.0)
    model = lidar_model("os1-64")
    mount = se3.make_pose(se3.yaw_rotation(np.pi / 2), [0.0, 0.0, 2.0])  # mounted facing left
    rays = lidar_rays(model, ego, mount, sweep_start=1.3)
    dt = rays.times - 0.0
    head = np.pi - 2 * np.pi * 10.0 * (rays.times - 1.3)  # clockwise from 180 deg
    expected_az = yaw_rate * dt + np.pi / 2 + head
    world_az = np.arctan2(rays.directions[:, 1], rays.directions[:, 0])
    err = np.angle(np.exp(1j * (world_az - expected_az)))
    assert np.abs(err).max() < 1e-9
    # Elevations are untouched by a yaw.
    np.testing.assert_allclose(rays.directions[:, 2], rays.directions_sensor[:, 2], atol=1e-12)
    # Origins lie on the circle of radius speed / yaw_rate around (0, r).
    r = 10.0 / yaw_rate
    np.testing.assert_allclose(np.hypot(rays.origins[:, 0], rays.origins[:, 1] - r), r, atol=1e-9)


def test_windows_reassemble_the_full_sweep():
    model = lidar_model("hdl64e")
    ego = turning(0.3, speed=20.0)
    mount = se3.make_pose(np.eye(3), [0.5, 0.0, 1.7])
    full = lidar_rays(model, ego, mount, 0.7)
    parts = [lidar_rays(model, ego, mount, 0.7, window=w) for w in model.windows(5)]
    for name in ("times", "origins", "directions", "beam", "column"):
        np.testing.assert_array_equal(np.concatenate([getattr(p, name) for p in parts]), getattr(full, name))
    for (t0, t1), p in zip(model.windows(5), parts):
        assert p.times.min() >= 0.7 + t0 - 1e-12 and p.times.max() < 0.7 + t1 + 1e-4


def test_rosette_rays_depend_on_absolute_time():
    model = lidar_model("livox-mid40")
    mount = se3.make_pose(np.eye(3), [2.0, 0.0, 1.0])
    a = lidar_rays(model, straight(0.0), mount, sweep_start=0.3)
    b = lidar_rays(model, straight(0.0), mount, sweep_start=0.4)
    assert len(a) == len(b) == 10_000
    assert np.abs(a.directions - b.directions).max() > 0.01
    np.testing.assert_allclose(a.times[-1] + 1e-5, b.times[0], atol=1e-12)


def test_to_sweep_follows_the_drivelog_convention():
    model = LidarModel("small", SpinningScan(np.array([-10.0, 0.0, 10.0]), 36, 10.0), max_range_m=50.0, min_range_m=1.0)
    ego = turning(0.5, speed=8.0)
    mount = se3.make_pose(se3.yaw_rotation(0.3), [1.0, 0.2, 1.5])
    rays = lidar_rays(model, ego, mount, 0.5)
    rng = np.random.default_rng(1)
    ranges = rng.uniform(0.5, 60.0, len(rays))
    ranges[:5] = np.inf
    returned = rng.uniform(size=len(rays)) > 0.1
    sweep = rays.to_sweep(ranges, intensity=np.full(len(rays), 0.5), returned=returned)
    keep = np.isfinite(ranges) & (ranges >= 1.0) & (ranges <= 50.0) & returned
    assert len(sweep) == keep.sum() and len(sweep.drop_directions) == (~keep).sum()
    # A return is in the world at ego.at(t) @ vehicle_from_lidar @ p.
    poses = ego.at(sweep.times) @ mount
    world = np.einsum("nij,nj->ni", poses[:, :3, :3], sweep.points.astype(np.float64)) + poses[:, :3, 3]
    np.testing.assert_allclose(world, rays.points_world(np.where(keep, ranges, 0.0))[keep], atol=1e-4)  # float32 points
    np.testing.assert_array_equal(sweep.beam, rays.beam[keep])
    np.testing.assert_allclose(np.linalg.norm(sweep.drop_directions, axis=1), 1.0, atol=1e-6)


def _camera(readout: float, direction: str = "top_to_bottom", model: CameraModel | None = None) -> CameraSensor:
    intr = model or CameraModel("pinhole", 40, 30, 30.0, 30.0, 19.5, 14.5)
    mount = se3.make_pose(VEHICLE_FROM_FORWARD_CAMERA, [1.5, 0.0, 1.6])
    return CameraSensor("cam", intr, mount, np.array([1.0]), readout, direction)


def test_rolling_shutter_rows_see_the_camera_where_it_was():
    speed, readout, frame_time = 20.0, 0.03, 1.0
    rays = camera_rays(_camera(readout), straight(speed), frame_time)
    rows = rays.uv[:, 1]
    expected_t = frame_time + ((rows + 0.5) / 30 - 0.5) * readout
    np.testing.assert_allclose(rays.times, expected_t, atol=1e-12)
    np.testing.assert_allclose(rays.origins[:, 0], 1.5 + speed * expected_t, atol=1e-9)
    # First to last row: the camera moved speed * readout * (H - 1) / H.
    span = rays.origins[rays.uv[:, 1] == 29, 0][0] - rays.origins[rays.uv[:, 1] == 0, 0][0]
    assert span == pytest.approx(speed * readout * 29 / 30, rel=1e-9)
    # Bottom-to-top readout reverses the order; a global shutter has one time.
    up = camera_rays(_camera(readout, "bottom_to_top"), straight(speed), frame_time)
    assert up.times[up.uv[:, 1] == 0][0] > up.times[up.uv[:, 1] == 29][0]
    glob = camera_rays(_camera(0.0), straight(speed), frame_time)
    assert np.ptp(glob.times) == 0 and np.ptp(glob.origins[:, 0]) == 0


def test_rolling_shutter_on_a_turning_vehicle_rotates_each_row():
    yaw_rate, readout = 1.0, 0.05
    cam = _camera(readout, "left_to_right")
    rays = camera_rays(cam, turning(yaw_rate), 2.0)
    # Column u is exposed at t(u); its rays are the static camera's rays yawed by yaw_rate * t(u).
    t = rays.times
    static = rays.directions_camera @ cam.vehicle_from_camera[:3, :3].T
    yawed = np.einsum("nij,nj->ni", se3.yaw_rotation(yaw_rate * t), static)
    np.testing.assert_allclose(rays.directions, yawed, atol=1e-12)


@pytest.mark.parametrize("intr", [
    CameraModel("pinhole", 32, 24, 20.0, 20.0, 15.5, 11.5),
    CameraModel("opencv", 32, 24, 20.0, 21.0, 15.5, 11.5, (-0.1, 0.01, 0.001, -0.001, 0.0)),
    CameraModel("fisheye", 32, 24, 14.0, 14.0, 15.5, 11.5, (0.02, -0.003, 0.0, 0.0)),
])
def test_camera_rays_project_back_to_their_pixels(intr):
    cam = _camera(0.0, model=intr)
    pose = se3.make_pose(se3.yaw_rotation(0.7), [5.0, -3.0, 0.2])
    rays = camera_rays(cam, pose, 0.0)
    assert len(rays) == 32 * 24
    assert not rays.directions_camera.flags.writeable  # shared with the per-camera cache
    points = rays.origins + 7.0 * rays.directions
    cam_from_world = se3.invert(pose @ cam.vehicle_from_camera)
    uv, _, valid = intr.project(se3.transform_points(cam_from_world, points))
    assert valid.all()
    np.testing.assert_allclose(uv, rays.uv, atol=1e-6)
    # A subset of pixels gives the same rays as the full grid.
    some = camera_rays(cam, pose, 0.0, uv=rays.uv[::7])
    np.testing.assert_allclose(some.directions, rays.directions[::7], atol=1e-15)


def test_bad_ray_requests_are_refused():
    model = lidar_model("vlp16")
    skew = np.eye(4)
    skew[0, 1] = 0.3
    with pytest.raises(SensorSpecError, match="vehicle_from_sensor.*not rigid"):
        lidar_rays(model, straight(1.0), skew, 0.0)
    with pytest.raises(SensorSpecError, match="window"):
        lidar_rays(model, straight(1.0), np.eye(4), 0.0, window=(0.05, 0.01))
    with pytest.raises(SensorSpecError, match="sweep_start"):
        lidar_rays(model, straight(1.0), np.eye(4), float("nan"))
    with pytest.raises(SensorSpecError, match="ranges"):
        lidar_rays(model, straight(1.0), np.eye(4), 0.0).to_sweep(np.ones(3))


def test_camera_with_list_distortion_is_not_cached_but_works():
    intr = CameraModel("opencv", 8, 6, 5.0, 5.0, 3.5, 2.5, [0.1, 0.0, 0.0, 0.0])  # a list: unhashable
    rays = camera_rays(_camera(0.0, model=intr), np.eye(4), 0.0)
    np.testing.assert_allclose(rays.directions_camera, intr.unproject(intr.pixel_grid()), atol=0)
