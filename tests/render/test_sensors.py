import math

import numpy as np
import pytest

from redrive.geometry import se3
from redrive.render.errors import SensorSpecError
from redrive.render.rays import camera_rays, lidar_rays
from redrive.render.sensors import camera_from_spec, lidar_from_spec, rotation_from_rpy_deg


def test_camera_spec_field_of_view_and_placement():
    spec = camera_from_spec({"name": "left", "model": "pinhole", "width": 640, "height": 480, "hfov_deg": 90,
                             "position_m": [1.0, 0.8, 1.5], "rotation_deg": [0, 10, 90],
                             "rolling_shutter_s": 0.02})
    intr = spec.intrinsics
    assert intr.fx == pytest.approx(320.0) and (intr.cx, intr.cy) == (319.5, 239.5)
    np.testing.assert_allclose(spec.vehicle_from_camera[:3, 3], [1.0, 0.8, 1.5])
    sensor = spec.sensor(np.array([0.0, 0.1]))
    assert sensor.rolling_shutter_s == 0.02 and len(sensor) == 2
    # The optical axis: yawed 90 deg left and pitched 10 deg down.
    rays = camera_rays(sensor, np.eye(4), 0.0, uv=np.array([[intr.cx, intr.cy]]))
    pitch = math.radians(10)
    np.testing.assert_allclose(rays.directions[0], [0.0, math.cos(pitch), -math.sin(pitch)], atol=1e-12)
    np.testing.assert_allclose(rays.origins[0], [1.0, 0.8, 1.5], atol=1e-12)
    # The left image edge of a forward camera (no rotation) looks to the vehicle's left.
    fwd = camera_from_spec({"width": 640, "height": 480, "hfov_deg": 90}).sensor(np.zeros(1))
    edge = camera_rays(fwd, np.eye(4), 0.0, uv=np.array([[-0.5, 239.5]]))
    np.testing.assert_allclose(edge.directions[0], [math.sqrt(0.5), math.sqrt(0.5), 0.0], atol=1e-12)


def test_fisheye_field_of_view_is_equidistant():
    spec = camera_from_spec({"model": "fisheye", "width": 400, "height": 400, "hfov_deg": 200,
                             "distortion": [0, 0, 0, 0]})
    sensor = spec.sensor(np.zeros(1))
    rays = camera_rays(sensor, np.eye(4), 0.0, uv=np.array([[-0.5, 199.5]]))
    # The image edge is 100 deg from the axis (+x): behind the side.
    angle = math.degrees(math.acos(rays.directions[0] @ np.array([1.0, 0.0, 0.0])))
    assert angle == pytest.approx(100.0, abs=1e-9)


def test_lidar_spec_placement():
    spec = lidar_from_spec({"name": "roof", "model": "vlp-16", "position_m": [0.2, 0.0, 2.0], "rotation_deg": [0, 0, -90]})
    assert spec.model.name == "velodyne-vlp16"
    np.testing.assert_allclose(spec.vehicle_from_lidar[:3, :3], se3.yaw_rotation(-np.pi / 2), atol=1e-15)
    rays = lidar_rays(spec.model, np.eye(4), spec.vehicle_from_lidar, 0.0)
    # Column 0 fires at the sensor's 180 deg, which is the vehicle's +y (left) for this mount.
    first = rays.directions[(rays.column == 0) & (rays.beam == 0)][0]  # laser 0 fires at the column start
    np.testing.assert_allclose(first[:2] / np.linalg.norm(first[:2]), [0.0, 1.0], atol=1e-12)
    custom = lidar_from_spec({"name": "fan", "elevations_deg": [-2.0, 0.0, 2.0], "azimuth_count": 360, "max_range_m": 40})
    assert custom.model.beam_count == 3 and custom.model.max_range_m == 40


def test_rotation_convention():
    np.testing.assert_allclose(rotation_from_rpy_deg(0, 0, 90) @ [1, 0, 0], [0, 1, 0], atol=1e-15)
    np.testing.assert_allclose(rotation_from_rpy_deg(0, 90, 0) @ [1, 0, 0], [0, 0, -1], atol=1e-15)  # pitch looks down
    np.testing.assert_allclose(rotation_from_rpy_deg(90, 0, 0) @ [0, 1, 0], [0, 0, 1], atol=1e-15)


@pytest.mark.parametrize("spec, match", [
    ({"width": -640, "height": 480, "hfov_deg": 90}, r"'width' = -640: resolution must be a positive integer"),
    ({"width": 640, "height": 0, "hfov_deg": 90}, r"'height' = 0"),
    ({"width": 640.5, "height": 480, "hfov_deg": 90}, r"'width'"),
    ({"model": "orthographic", "width": 64, "height": 48, "hfov_deg": 90}, "unknown camera model; known models: pinhole, opencv, fisheye"),
    ({"width": 64, "height": 48, "hfov_deg": 190}, r"hfov_deg.*\(0, 180\)"),
    ({"width": 64, "height": 48}, "hfov_deg.*focal length"),
    ({"width": 64, "height": 48, "fx": -5.0}, "fx"),
    ({"model": "opencv", "width": 64, "height": 48, "fx": 50.0, "distortion": [0.1]}, "distortion"),
    ({"width": 64, "height": 48, "hfov_deg": 90, "rolling_shutter_s": -0.01}, "rolling_shutter_s"),
    ({"width": 64, "height": 48, "hfov_deg": 90, "rolling_shutter_direction": "diagonal"}, "rolling_shutter_direction"),
    ({"width": 64, "height": 48, "hfov_deg": 90, "position_m": [0, 0]}, "position_m.*3 finite numbers"),
    ({"width": 64, "height": 48, "hfov_deg": 90, "resolution": 3}, "unknown field"),
])
def test_bad_camera_specs(spec, match):
    with pytest.raises(SensorSpecError, match=match):
        camera_from_spec(spec)


@pytest.mark.parametrize("spec, match", [
    ({"model": "velodyne-vlp64"}, "unknown LiDAR model; known models: velodyne-vlp16"),
    ({"elevations_deg": [], "azimuth_count": 100}, "beam table is empty"),
    ({"elevations_deg": [0.0], "azimuth_count": -100}, "azimuth_count"),
    ({"model": "vlp16", "rotation_deg": [0, 0, "x"]}, "rotation_deg"),
])
def test_bad_lidar_specs(spec, match):
    with pytest.raises(SensorSpecError, match=match):
        lidar_from_spec(spec)
