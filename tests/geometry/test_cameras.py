import numpy as np
import pytest

from redrive.geometry.cameras import CameraModel
from redrive.log.types import CameraSensor

MODELS = {
    "pinhole": CameraModel("pinhole", 64, 48, 50.0, 52.0, 31.5, 23.5),
    "opencv": CameraModel("opencv", 64, 48, 40.0, 40.0, 32.0, 24.0, (-0.15, 0.04, 0.001, -0.002, -0.005)),
    "opencv8": CameraModel("opencv", 64, 48, 40.0, 40.0, 32.0, 24.0, (-0.2, 0.05, 0.0, 0.001, 0.0, 0.1, 0.0, 0.0)),
    "fisheye": CameraModel("fisheye", 64, 48, 25.0, 25.0, 32.0, 24.0, (0.05, -0.01, 0.002, -0.0003)),
}


@pytest.mark.parametrize("name", list(MODELS))
def test_unproject_then_project_returns_every_pixel(name):
    cam = MODELS[name]
    uv = cam.pixel_grid()
    dirs = cam.unproject(uv)
    np.testing.assert_allclose(np.linalg.norm(dirs, axis=1), 1.0, atol=1e-12)
    uv_back, depth, valid = cam.project(dirs * 7.0)
    assert valid.all()
    np.testing.assert_allclose(uv_back, uv, atol=1e-6)


@pytest.mark.parametrize("name", list(MODELS))
def test_project_then_unproject_returns_the_direction(name):
    cam = MODELS[name]
    rng = np.random.default_rng(0)
    dirs = rng.normal(0, 0.4, (200, 3)) + [0, 0, 1]
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    uv, _, valid = cam.project(dirs * rng.uniform(1, 50, (200, 1)))
    np.testing.assert_allclose(cam.unproject(uv[valid]), dirs[valid], atol=1e-8)


def test_pinhole_matches_the_intrinsic_matrix():
    cam = MODELS["pinhole"]
    pts = np.array([[1.0, -2.0, 4.0], [0.0, 0.0, 1.0]])
    uv, depth, valid = cam.project(pts)
    hom = pts @ cam.K.T
    np.testing.assert_allclose(uv, hom[:, :2] / hom[:, 2:], atol=1e-12)
    np.testing.assert_array_equal(depth, [4.0, 1.0])
    assert valid.all()
    _, _, valid = cam.project(np.array([[0.0, 0.0, -1.0]]))
    assert not valid.any()


def test_opencv_distortion_matches_the_formula():
    cam = CameraModel("opencv", 10, 10, 100.0, 100.0, 5.0, 5.0, (0.1, 0.01, 0.002, 0.003, 0.001))
    x, y = 0.2, -0.1
    r2 = x * x + y * y
    radial = 1 + 0.1 * r2 + 0.01 * r2**2 + 0.001 * r2**3
    xd = x * radial + 2 * 0.002 * x * y + 0.003 * (r2 + 2 * x * x)
    yd = y * radial + 0.002 * (r2 + 2 * y * y) + 2 * 0.003 * x * y
    uv, _, _ = cam.project(np.array([[x * 3, y * 3, 3.0]]))
    np.testing.assert_allclose(uv[0], [100 * xd + 5, 100 * yd + 5], atol=1e-12)


def test_opencv_points_beyond_the_fold_are_invalid():
    cam = CameraModel("opencv", 10, 10, 100.0, 100.0, 5.0, 5.0, (-0.5, 0.0, 0.0, 0.0))
    # r * (1 - 0.5 r^2) folds back at r = sqrt(2/3): a point at r = 1.2 would land inside the image.
    _, _, valid = cam.project(np.array([[0.5, 0.0, 1.0], [1.2, 0.0, 1.0]]))
    assert valid.tolist() == [True, False]


def test_fisheye_sees_behind_90_degrees():
    cam = MODELS["fisheye"]
    direction = np.array([[np.sin(np.radians(100)), 0.0, np.cos(np.radians(100))]])
    uv, _, valid = cam.project(direction)
    assert valid.all() and uv[0, 0] > cam.cx
    np.testing.assert_allclose(cam.unproject(uv), direction, atol=1e-9)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(model="kb4"), "model: must be one of"),
        (dict(width=0), "width: must be a positive integer"),
        (dict(fx=-1.0), "fx: must be a positive finite number"),
        (dict(distortion=(0.1, 0.2)), "distortion: model 'opencv' takes 4 or 5 or 8"),
    ],
)
def test_invalid_intrinsics_are_refused(kwargs, message):
    args = dict(model="opencv", width=8, height=8, fx=5.0, fy=5.0, cx=4.0, cy=4.0, distortion=(0.0,) * 4)
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        CameraModel(**args)


def test_rolling_shutter_pixel_times_span_the_readout_around_the_middle_row():
    cam = CameraSensor("c", MODELS["pinhole"], np.eye(4), np.array([0.0]), rolling_shutter_s=0.03)
    uv = np.array([[0.0, 0.0], [10.0, 23.5], [5.0, 47.0]])
    offsets = cam.pixel_time_offsets(uv)
    np.testing.assert_allclose(offsets, [0.03 * (0.5 / 48 - 0.5), 0.0, 0.03 * (47.5 / 48 - 0.5)], atol=1e-12)
    cam.rolling_shutter_direction = "bottom_to_top"
    np.testing.assert_allclose(cam.pixel_time_offsets(uv), -offsets, atol=1e-12)
