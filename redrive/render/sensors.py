"""Sensors placed anywhere on the vehicle, from user specs (dicts read from JSON/YAML).

Placement (both kinds): ``position_m`` [x, y, z] in the vehicle frame (x forward, y left, z up)
and ``rotation_deg`` [roll, pitch, yaw] with ``R = Rz(yaw) Ry(pitch) Rx(roll)`` about the
vehicle axes; positive yaw turns left, positive pitch looks down (right-handed about +y).
A camera with zero rotation looks forward along the vehicle's +x, image right = vehicle -y,
image down = vehicle -z; a LiDAR with zero rotation has its frame aligned with the vehicle's.

Camera spec::

    {"name": "front_wide", "model": "pinhole" | "opencv" | "fisheye",
     "width": 1920, "height": 1080,
     "hfov_deg": 90            # or "fx", "fy" (pixels); "cx", "cy" default to the image centre
     "distortion": [...],      # as redrive.geometry.cameras defines per model
     "position_m": [1.5, 0, 1.6], "rotation_deg": [0, 5, 0],
     "rolling_shutter_s": 0.03, "rolling_shutter_direction": "top_to_bottom"}

LiDAR spec: ``{"name": "top", "model": "vlp-16", "position_m": [...], "rotation_deg": [...]}``
plus the overrides / full descriptions ``LidarModel.from_dict`` accepts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from redrive.geometry.cameras import CAMERA_MODELS, CameraModel, camera_model_problem
from redrive.geometry.se3 import make_pose
from redrive.log.types import ROLLING_SHUTTER_DIRECTIONS, CameraSensor
from redrive.render.errors import SensorSpecError
from redrive.render.lidar_models import LidarModel

VEHICLE_FROM_FORWARD_CAMERA = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])
"""Rotation taking OpenCV camera axes (x right, y down, z forward) to a forward-looking camera
on the vehicle (z -> +x, x -> -y, y -> -z)."""


def rotation_from_rpy_deg(roll: float, pitch: float, yaw: float) -> np.ndarray:
    """``Rz(yaw) @ Ry(pitch) @ Rx(roll)`` (3, 3), angles in degrees."""
    r, p, y = (math.radians(v) for v in (roll, pitch, yaw))
    rz = np.array([[math.cos(y), -math.sin(y), 0.0], [math.sin(y), math.cos(y), 0.0], [0.0, 0.0, 1.0]])
    ry = np.array([[math.cos(p), 0.0, math.sin(p)], [0.0, 1.0, 0.0], [-math.sin(p), 0.0, math.cos(p)]])
    rx = np.array([[1.0, 0.0, 0.0], [0.0, math.cos(r), -math.sin(r)], [0.0, math.sin(r), math.cos(r)]])
    return rz @ ry @ rx


def _numbers(what: str, spec: dict, key: str, length: int, default: list[float]) -> list[float]:
    value = spec.get(key, default)
    if (not isinstance(value, (list, tuple)) or len(value) != length
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in value)):
        raise SensorSpecError(what, key, value, f"must be a list of {length} finite numbers")
    return [float(v) for v in value]


def placement_pose(what: str, spec: dict, camera: bool) -> np.ndarray:
    """``vehicle_from_sensor`` (4, 4) of a spec's ``position_m`` and ``rotation_deg``."""
    position = _numbers(what, spec, "position_m", 3, [0.0, 0.0, 0.0])
    rpy = _numbers(what, spec, "rotation_deg", 3, [0.0, 0.0, 0.0])
    rot = rotation_from_rpy_deg(*rpy)
    return make_pose(rot @ VEHICLE_FROM_FORWARD_CAMERA if camera else rot, position)


@dataclass
class CameraSpec:
    """A camera to render: intrinsics, placement and shutter."""

    name: str
    intrinsics: CameraModel
    vehicle_from_camera: np.ndarray
    """(4, 4) float64 extrinsics (OpenCV camera frame)."""
    rolling_shutter_s: float = 0.0
    rolling_shutter_direction: str = "top_to_bottom"

    def sensor(self, frame_times: np.ndarray) -> CameraSensor:
        """The DriveLog camera with these settings and the given frame times."""
        return CameraSensor(self.name, self.intrinsics, self.vehicle_from_camera,
                            np.asarray(frame_times, dtype=np.float64), self.rolling_shutter_s,
                            self.rolling_shutter_direction)


_CAMERA_KEYS = {"name", "model", "width", "height", "hfov_deg", "fx", "fy", "cx", "cy", "distortion",
                "position_m", "rotation_deg", "rolling_shutter_s", "rolling_shutter_direction"}


def camera_from_spec(spec: dict) -> CameraSpec:
    """A ``CameraSpec`` from a user's description (see the module doc); every problem raises
    ``SensorSpecError`` naming the camera, the field and the value."""
    if not isinstance(spec, dict):
        raise SensorSpecError("camera spec", "", spec, "must be a mapping")
    name = spec.get("name", "camera")
    what = f"camera spec {name!r}"
    unknown = sorted(set(spec) - _CAMERA_KEYS)
    if unknown:
        raise SensorSpecError(what, unknown[0], spec[unknown[0]], f"unknown field (known: {', '.join(sorted(_CAMERA_KEYS))})")
    model = spec.get("model", "pinhole")
    if model not in CAMERA_MODELS:
        raise SensorSpecError(what, "model", model, f"unknown camera model; known models: {', '.join(CAMERA_MODELS)}")
    for key in ("width", "height"):
        v = spec.get(key)
        if not isinstance(v, int) or isinstance(v, bool) or v <= 0:
            raise SensorSpecError(what, key, v, "resolution must be a positive integer number of pixels")
    width, height = spec["width"], spec["height"]
    if "hfov_deg" in spec:
        if "fx" in spec or "fy" in spec:
            raise SensorSpecError(what, "hfov_deg", spec["hfov_deg"], "give either hfov_deg or fx/fy, not both")
        hfov = spec["hfov_deg"]
        limit = 360.0 if model == "fisheye" else 180.0
        if not isinstance(hfov, (int, float)) or isinstance(hfov, bool) or not 0 < hfov < limit:
            raise SensorSpecError(what, "hfov_deg", hfov, f"must be in (0, {limit:g}) degrees for a {model} camera")
        half = math.radians(hfov) / 2.0
        # Equidistant fisheye: r = f * theta; perspective models: r = f * tan(theta).
        fx = (width / 2.0) / (half if model == "fisheye" else math.tan(half))
        fy = fx
    elif "fx" in spec:
        fx = spec["fx"]
        fy = spec.get("fy", fx)
    else:
        raise SensorSpecError(what, "hfov_deg", None, "give the field of view (hfov_deg) or the focal length (fx, fy)")
    values = dict(model=model, width=width, height=height, fx=fx, fy=fy,
                  cx=spec.get("cx", (width - 1) / 2.0), cy=spec.get("cy", (height - 1) / 2.0),
                  distortion=tuple(spec.get("distortion", ())))
    for key in ("fx", "fy", "cx", "cy"):
        if not isinstance(values[key], (int, float)) or isinstance(values[key], bool):
            raise SensorSpecError(what, key, values[key], "must be a number")
    try:
        problem = camera_model_problem(values)
    except TypeError:
        problem = ("distortion", "coefficients must be numbers")
    if problem is not None:
        raise SensorSpecError(what, problem[0], values[problem[0]], problem[1])
    readout = spec.get("rolling_shutter_s", 0.0)
    if not isinstance(readout, (int, float)) or isinstance(readout, bool) or not math.isfinite(readout) or readout < 0:
        raise SensorSpecError(what, "rolling_shutter_s", readout, "must be a non-negative number of seconds")
    direction = spec.get("rolling_shutter_direction", "top_to_bottom")
    if direction not in ROLLING_SHUTTER_DIRECTIONS:
        raise SensorSpecError(what, "rolling_shutter_direction", direction, f"must be one of {', '.join(ROLLING_SHUTTER_DIRECTIONS)}")
    return CameraSpec(name=str(name), intrinsics=CameraModel(**values),
                      vehicle_from_camera=placement_pose(what, spec, camera=True),
                      rolling_shutter_s=float(readout), rolling_shutter_direction=direction)


@dataclass
class LidarSpec:
    """A LiDAR to render: its model and placement."""

    name: str
    model: LidarModel
    vehicle_from_lidar: np.ndarray
    """(4, 4) float64 extrinsics."""


def lidar_from_spec(spec: dict) -> LidarSpec:
    """A ``LidarSpec`` from ``{"name", "model" | full description, "position_m", "rotation_deg"}``."""
    if not isinstance(spec, dict):
        raise SensorSpecError("lidar spec", "", spec, "must be a mapping")
    name = spec.get("name", "lidar")
    what = f"lidar spec {name!r}"
    pose = placement_pose(what, spec, camera=False)
    model_spec: dict[str, Any] = {k: v for k, v in spec.items() if k not in ("position_m", "rotation_deg")}
    if "model" not in model_spec:
        model_spec.setdefault("kind", "spinning")
    model_spec.pop("name", None)
    model = LidarModel.from_dict(model_spec)
    return LidarSpec(name=str(name), model=model, vehicle_from_lidar=pose)


__all__ = ["CameraSpec", "LidarSpec", "VEHICLE_FROM_FORWARD_CAMERA", "camera_from_spec", "lidar_from_spec",
           "placement_pose", "rotation_from_rpy_deg"]
