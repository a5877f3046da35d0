"""Camera intrinsic models: projection of camera-frame points and unprojection of pixels.

Camera frame is OpenCV's: x right, y down, z forward. Pixel coordinates are OpenCV's too: the
centre of pixel column ``j`` and row ``i`` is at ``(u, v) = (j, i)``.

Models:
- ``pinhole``: no distortion.
- ``opencv``: radial-tangential, distortion ``(k1, k2, p1, p2[, k3[, k4, k5, k6]])`` in OpenCV's
  order (k4..k6 are the rational model's denominator).
- ``fisheye``: equidistant / Kannala-Brandt as in OpenCV's fisheye module, ``(k1, k2, k3, k4)``;
  the angle from the axis is used directly, so fields of view beyond 180 degrees project.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

CAMERA_MODELS = ("pinhole", "opencv", "fisheye")
_DISTORTION_LENGTHS = {"pinhole": (0,), "opencv": (4, 5, 8), "fisheye": (4,)}


@dataclass(frozen=True)
class CameraModel:
    """Intrinsics of one camera."""

    model: str
    """One of ``pinhole``, ``opencv``, ``fisheye``."""
    width: int
    """Image width in pixels."""
    height: int
    """Image height in pixels."""
    fx: float
    """Focal length along x, pixels."""
    fy: float
    """Focal length along y, pixels."""
    cx: float
    """Principal point x, pixels (pixel centres at integers)."""
    cy: float
    """Principal point y, pixels."""
    distortion: tuple[float, ...] = field(default=())
    """Distortion coefficients in the order the model defines (see module docstring)."""

    def __post_init__(self) -> None:
        # Checked here so that a model object is always usable; the DriveLog reader reports the
        # same problems with the file and field before constructing one.
        problem = camera_model_problem(self.to_dict())
        if problem is not None:
            raise ValueError(f"{problem[0]}: {problem[1]}")

    @property
    def K(self) -> np.ndarray:
        """The 3x3 intrinsic matrix."""
        return np.array([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]])

    def project(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Project camera-frame points (N, 3).

        Returns ``uv`` (N, 2) pixel coordinates, ``depth`` (N,) the z coordinate, and ``valid``
        (N,) bool: in front of the camera (any direction within the fisheye's model for
        ``fisheye``) and, for ``opencv``, inside the region where the distortion is monotonic.
        Points that are not valid get uv = nan. Inside-the-image is not tested here.
        """
        points = np.asarray(points, dtype=np.float64)
        x, y, z = points[:, 0], points[:, 1], points[:, 2]
        if self.model == "fisheye":
            r = np.hypot(x, y)
            theta = np.arctan2(r, z)
            scale = _fisheye_scale(theta, r, self.distortion)
            xy_d = np.stack([x, y], -1) * scale[:, None]
            valid = (r > 0) | (z > 0)
        else:
            valid = z > 1e-9
            safe_z = np.where(valid, z, 1.0)
            xy = np.stack([x / safe_z, y / safe_z], -1)
            if self.model == "opencv":
                xy_d, monotonic = _radtan_distort(xy, self._radtan(), check_monotonic=True)
                valid &= monotonic
            else:
                xy_d = xy
        uv = np.stack([self.fx * xy_d[:, 0] + self.cx, self.fy * xy_d[:, 1] + self.cy], -1)
        uv[~valid] = np.nan
        return uv, z, valid

    def unproject(self, uv: np.ndarray) -> np.ndarray:
        """Unit ray directions (N, 3) in the camera frame through pixel coordinates (N, 2)."""
        uv = np.asarray(uv, dtype=np.float64)
        xy_d = np.stack([(uv[:, 0] - self.cx) / self.fx, (uv[:, 1] - self.cy) / self.fy], -1)
        if self.model == "fisheye":
            theta_d = np.linalg.norm(xy_d, axis=-1)
            theta = _fisheye_undistort_angle(theta_d, self.distortion)
            safe = np.where(theta_d > 0, theta_d, 1.0)
            s = np.sin(theta) / safe
            dirs = np.stack([xy_d[:, 0] * s, xy_d[:, 1] * s, np.cos(theta)], -1)
        else:
            xy = _radtan_undistort(xy_d, self._radtan()) if self.model == "opencv" else xy_d
            dirs = np.concatenate([xy, np.ones((len(xy), 1))], -1)
        return dirs / np.linalg.norm(dirs, axis=-1, keepdims=True)

    def pixel_grid(self) -> np.ndarray:
        """Pixel centres (H*W, 2) in row-major order, (u, v) = (column, row)."""
        v, u = np.meshgrid(np.arange(self.height), np.arange(self.width), indexing="ij")
        return np.stack([u.ravel(), v.ravel()], -1).astype(np.float64)

    def _radtan(self) -> np.ndarray:
        return np.pad(np.asarray(self.distortion, dtype=np.float64), (0, 8 - len(self.distortion)))

    def to_dict(self) -> dict:
        return {
            "model": self.model,
            "width": self.width,
            "height": self.height,
            "fx": self.fx,
            "fy": self.fy,
            "cx": self.cx,
            "cy": self.cy,
            "distortion": list(self.distortion),
        }


def camera_model_problem(values: dict) -> tuple[str, str] | None:
    """``(field, sentence)`` saying why intrinsics (as in ``CameraModel.to_dict``) are unusable,
    or None when they are fine."""
    model = values["model"]
    if model not in CAMERA_MODELS:
        return "model", f"must be one of {', '.join(CAMERA_MODELS)}"
    for name in ("width", "height"):
        v = values[name]
        if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v <= 0:
            return name, "must be a positive integer"
    for name in ("fx", "fy"):
        if not np.isfinite(values[name]) or values[name] <= 0:
            return name, "must be a positive finite number"
    for name in ("cx", "cy"):
        if not np.isfinite(values[name]):
            return name, "must be finite"
    distortion = values["distortion"]
    if len(distortion) not in _DISTORTION_LENGTHS[model]:
        lengths = " or ".join(str(n) for n in _DISTORTION_LENGTHS[model])
        return "distortion", f"model {model!r} takes {lengths} coefficients"
    if not all(np.isfinite(distortion)):
        return "distortion", "coefficients must be finite"
    return None


def _radtan_distort(
    xy: np.ndarray, d: np.ndarray, check_monotonic: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    k1, k2, p1, p2, k3, k4, k5, k6 = d
    x, y = xy[:, 0], xy[:, 1]
    r2 = x * x + y * y
    num = 1 + r2 * (k1 + r2 * (k2 + r2 * k3))
    den = 1 + r2 * (k4 + r2 * (k5 + r2 * k6))
    radial = num / den
    xd = x * radial + 2 * p1 * x * y + p2 * (r2 + 2 * x * x)
    yd = y * radial + p1 * (r2 + 2 * y * y) + 2 * p2 * x * y
    monotonic = np.ones(len(xy), dtype=bool)
    if check_monotonic:
        # The radial map r -> r * radial(r^2) folds back beyond its first stationary point;
        # points past it would project onto the wrong pixels.
        dnum = k1 + r2 * (2 * k2 + 3 * k3 * r2)
        dden = k4 + r2 * (2 * k5 + 3 * k6 * r2)
        d_radial = (dnum * den - num * dden) / den**2
        monotonic = (radial + 2 * r2 * d_radial) > 0
    return np.stack([xd, yd], -1), monotonic


def _radtan_undistort(xy_d: np.ndarray, d: np.ndarray, iterations: int = 20) -> np.ndarray:
    """Invert the radial-tangential map by Newton's method with the analytic Jacobian."""
    k1, k2, p1, p2, k3, k4, k5, k6 = d
    xy = xy_d.copy()
    for _ in range(iterations):
        x, y = xy[:, 0], xy[:, 1]
        r2 = x * x + y * y
        num = 1 + r2 * (k1 + r2 * (k2 + r2 * k3))
        den = 1 + r2 * (k4 + r2 * (k5 + r2 * k6))
        radial = num / den
        dnum = k1 + r2 * (2 * k2 + 3 * k3 * r2)
        dden = k4 + r2 * (2 * k5 + 3 * k6 * r2)
        dr = (dnum * den - num * dden) / den**2  # d radial / d r2
        fx = x * radial + 2 * p1 * x * y + p2 * (r2 + 2 * x * x) - xy_d[:, 0]
        fy = y * radial + p1 * (r2 + 2 * y * y) + 2 * p2 * x * y - xy_d[:, 1]
        jxx = radial + 2 * x * x * dr + 2 * p1 * y + 6 * p2 * x
        jxy = 2 * x * y * dr + 2 * p1 * x + 2 * p2 * y
        jyy = radial + 2 * y * y * dr + 6 * p1 * y + 2 * p2 * x
        det = jxx * jyy - jxy * jxy
        det = np.where(np.abs(det) < 1e-12, 1e-12, det)
        step_x = (jyy * fx - jxy * fy) / det
        step_y = (jxx * fy - jxy * fx) / det
        xy = xy - np.stack([step_x, step_y], -1)
        if max(np.abs(step_x).max(initial=0.0), np.abs(step_y).max(initial=0.0)) < 1e-14:
            break
    return xy


def _fisheye_scale(theta: np.ndarray, r: np.ndarray, d: tuple[float, ...]) -> np.ndarray:
    """theta_d / r for the equidistant model, with the r -> 0 limit handled."""
    k1, k2, k3, k4 = d
    t2 = theta * theta
    theta_d = theta * (1 + t2 * (k1 + t2 * (k2 + t2 * (k3 + t2 * k4))))
    small = r < 1e-12
    return np.where(small, 1.0, theta_d / np.where(small, 1.0, r))


def _fisheye_undistort_angle(theta_d: np.ndarray, d: tuple[float, ...]) -> np.ndarray:
    k1, k2, k3, k4 = d
    theta = theta_d.copy()
    for _ in range(20):
        t2 = theta * theta
        f = theta * (1 + t2 * (k1 + t2 * (k2 + t2 * (k3 + t2 * k4)))) - theta_d
        df = 1 + t2 * (3 * k1 + t2 * (5 * k2 + t2 * (7 * k3 + 9 * k4 * t2)))
        step = f / np.where(np.abs(df) < 1e-12, 1e-12, df)
        theta = theta - step
        if np.abs(step).max(initial=0.0) < 1e-14:
            break
    return theta
