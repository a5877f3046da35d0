"""KITTI file formats, read and written by the same code: calibration, OXTS, timestamps,
velodyne scans, object/tracking labels, and the KITTI box convention.

Shared by the reader (``redrive.log.readers.kitti``) and the exporter (``redrive.export.kitti``)
so that what redrive writes is exactly what it reads.

Frames (KITTI devkit):
- ``velo``: the Velodyne's frame (x forward, y left, z up).
- ``cam0``: the unrectified reference camera; ``Tr_velo_cam`` maps velo -> cam0.
- ``rect``: the rectified reference camera frame, ``R_rect`` maps cam0 -> rect. KITTI labels
  (object and tracking) are given in this frame, and ``P_i`` projects rect points into image i.
- ``imu``: the OXTS unit (x forward, y left, z up); ``Tr_imu_velo`` maps imu -> velo. redrive uses
  the IMU frame as the DriveLog vehicle frame.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from redrive.errors import LogFormatError
from redrive.geometry.cameras import CameraModel
from redrive.geometry.se3 import invert, make_pose

EARTH_RADIUS_M = 6378137.0
"""The devkit's Earth radius for the Mercator projection of OXTS positions."""

OXTS_FIELDS = (
    "lat", "lon", "alt", "roll", "pitch", "yaw", "vn", "ve", "vf", "vl", "vu",
    "ax", "ay", "az", "af", "al", "au", "wx", "wy", "wz", "wf", "wl", "wu",
    "pos_accuracy", "vel_accuracy", "navstat", "numsats", "posmode", "velmode", "orimode",
)
"""The 30 values of an OXTS line, in file order (KITTI raw devkit readme)."""

GRAVITY_M_S2 = 9.80665

KITTI_TO_CATEGORY = {
    "Car": "car", "Van": "car", "Truck": "truck", "Pedestrian": "pedestrian",
    "Person_sitting": "pedestrian", "Cyclist": "bicycle", "Tram": "other", "Misc": "other",
}
"""KITTI object types -> DriveLog categories (``DontCare`` regions are not actors)."""

CATEGORY_TO_KITTI = {
    "car": "Car", "truck": "Truck", "bus": "Misc", "trailer": "Misc", "motorcycle": "Cyclist",
    "bicycle": "Cyclist", "pedestrian": "Pedestrian", "animal": "Misc", "barrier": "Misc",
    "traffic_cone": "Misc", "other": "Misc",
}
"""DriveLog categories -> KITTI types. KITTI has no bus, trailer, animal, barrier or cone class;
those become ``Misc`` (and read back as ``other``)."""

KITTI_TYPES = tuple(KITTI_TO_CATEGORY) + ("DontCare",)


# ---------------------------------------------------------------------------- text helpers
def _read_text(path: Path) -> str:
    try:
        return Path(path).read_text(encoding="ascii", errors="strict")
    except FileNotFoundError:
        raise LogFormatError(path, "", None, "file does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise LogFormatError(path, "", None, f"cannot be read as text: {exc}") from None


def _floats(path: Path, field: str, text: str, count: int | None = None) -> np.ndarray:
    try:
        values = np.array([float(v) for v in text.split()], dtype=np.float64)
    except ValueError:
        raise LogFormatError(path, field, text.strip(), "expected numbers separated by spaces") from None
    if count is not None and len(values) != count:
        raise LogFormatError(path, field, text.strip(), f"expected {count} numbers, found {len(values)}")
    if not np.isfinite(values).all():
        raise LogFormatError(path, field, text.strip(), "numbers must be finite")
    return values


def _fmt(values: np.ndarray) -> str:
    # 13 significant digits as the KITTI files have; a round trip is exact to ~1e-12 relative.
    return " ".join(f"{v:.12e}" for v in np.asarray(values, dtype=np.float64).ravel())


def parse_key_values(path: Path) -> dict[str, str]:
    """Lines ``KEY: values`` or ``KEY values`` (tracking calib) -> {KEY: "values"}."""
    entries: dict[str, str] = {}
    for lineno, line in enumerate(_read_text(path).splitlines(), 1):
        if not line.strip():
            continue
        match = re.match(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*:?\s*(.*)$", line)
        if match is None:
            raise LogFormatError(path, f"line {lineno}", line, "expected 'KEY: values'")
        key, rest = match.groups()
        if key in entries:
            raise LogFormatError(path, key, rest, f"appears twice (line {lineno})")
        entries[key] = rest
    return entries


def _need(path: Path, entries: dict[str, str], *keys: str) -> tuple[str, str]:
    for key in keys:
        if key in entries:
            return key, entries[key]
    raise LogFormatError(path, keys[0], None, f"required entry is missing (has: {', '.join(entries) or 'none'})")


def _rigid(path: Path, field: str, values: np.ndarray) -> np.ndarray:
    """A 3x4 row-major [R|t] -> 4x4, checked to be a rotation (KITTI prints ~7 digits)."""
    pose = np.eye(4)
    pose[:3, :4] = values.reshape(3, 4)
    rot = pose[:3, :3]
    err = max(np.abs(rot.T @ rot - np.eye(3)).max(), abs(np.linalg.det(rot) - 1.0))
    if err > 1e-4:
        raise LogFormatError(path, field, values.tolist(), f"is not a rigid transform (rotation error {err:.1e})")
    # Re-orthonormalise so that DriveLog's 1e-5 rigidity check holds after chaining transforms.
    u, _, vt = np.linalg.svd(rot)
    pose[:3, :3] = u @ vt
    return pose


# ---------------------------------------------------------------------------- calibration
@dataclass
class Calibration:
    """One KITTI calibration: camera projections and the rigid transforms between sensors."""

    projections: dict[int, np.ndarray]
    """Camera index (0..3) -> (3, 4) rectified projection ``P_i`` from the rect frame to pixels."""
    rect_from_cam0: np.ndarray
    """(4, 4) ``R_rect`` (rotation only)."""
    cam0_from_velo: np.ndarray
    """(4, 4) ``Tr_velo_cam``."""
    velo_from_imu: np.ndarray | None = None
    """(4, 4) ``Tr_imu_velo``, None when the files do not give it (the vehicle is then the LiDAR)."""
    image_sizes: dict[int, tuple[int, int]] = field(default_factory=dict)
    """Camera index -> (width, height) of the rectified images, when the calibration says."""
    path: Path = Path()
    """The file the projections came from (for error messages)."""

    @property
    def rect_from_velo(self) -> np.ndarray:
        return self.rect_from_cam0 @ self.cam0_from_velo

    @property
    def vehicle_from_velo(self) -> np.ndarray:
        return np.eye(4) if self.velo_from_imu is None else invert(self.velo_from_imu)

    @property
    def vehicle_from_rect(self) -> np.ndarray:
        return self.vehicle_from_velo @ invert(self.rect_from_velo)

    def decompose(self, camera: int) -> tuple[np.ndarray, np.ndarray]:
        """``P_i = K [R | t]`` -> (K (3, 3), cam_i_from_rect (4, 4)).

        KITTI's own projections have R = I (cameras differ by a baseline); redrive's exporter
        writes a rotation for cameras that are not parallel to the reference camera.
        """
        if camera not in self.projections:
            raise LogFormatError(self.path, f"P{camera}", None, "the calibration has no projection for this camera")
        p = self.projections[camera]
        k, rot = _rq(p[:, :3])
        field = f"P{camera}"
        if abs(k[0, 1]) > 1e-6 * k[0, 0] or abs(k[1, 0]) > 1e-9 or abs(k[2, 0]) > 1e-9 or abs(k[2, 1]) > 1e-9:
            raise LogFormatError(self.path, field, p.tolist(), "skewed projections are not supported")
        if abs(np.linalg.det(rot) - 1.0) > 1e-6:
            raise LogFormatError(self.path, field, p.tolist(), "does not decompose into K [R | t] with a rotation R")
        pose = make_pose(rot, np.linalg.solve(k, p[:, 3]))
        return k, pose

    def camera_model(self, camera: int, width: int, height: int) -> CameraModel:
        k, _ = self.decompose(camera)
        return CameraModel("pinhole", int(width), int(height), float(k[0, 0]), float(k[1, 1]), float(k[0, 2]), float(k[1, 2]))

    def vehicle_from_camera(self, camera: int) -> np.ndarray:
        """(4, 4) extrinsics of rectified camera ``camera`` (OpenCV axes)."""
        return self.vehicle_from_rect @ invert(self.decompose(camera)[1])


def _rq(m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """RQ decomposition ``m = K R`` with K upper triangular and a positive diagonal."""
    flip = np.eye(3)[::-1]
    q, r = np.linalg.qr((flip @ m).T)
    k = flip @ r.T @ flip
    rot = flip @ q.T
    signs = np.diag(np.sign(np.diag(k)))
    k, rot = k @ signs, signs @ rot
    return k / k[2, 2], rot


def _rotation4(path: Path, field: str, values: np.ndarray) -> np.ndarray:
    """A row-major 3x3 rotation -> 4x4 pose."""
    return _rigid(path, field, np.concatenate([values.reshape(3, 3), np.zeros((3, 1))], 1).ravel())


def read_sequence_calib(path: Path) -> Calibration:
    """A tracking (``P0..P3, R_rect, Tr_velo_cam, Tr_imu_velo``) or object
    (``P0..P3, R0_rect, Tr_velo_to_cam, Tr_imu_to_velo``) calibration file."""
    path = Path(path)
    entries = parse_key_values(path)
    projections = {}
    for i in range(4):
        if f"P{i}" in entries:
            projections[i] = _floats(path, f"P{i}", entries[f"P{i}"], 12).reshape(3, 4)
    if 2 not in projections:
        raise LogFormatError(path, "P2", None, "required entry is missing (the left colour camera's projection)")
    key, text = _need(path, entries, "R_rect", "R0_rect")
    rect = _rotation4(path, key, _floats(path, key, text, 9))
    key, text = _need(path, entries, "Tr_velo_cam", "Tr_velo_to_cam")
    velo = _rigid(path, key, _floats(path, key, text, 12))
    imu = None
    for key in ("Tr_imu_velo", "Tr_imu_to_velo"):
        if key in entries:
            imu = _rigid(path, key, _floats(path, key, entries[key], 12))
    return Calibration(projections, rect, velo, imu, path=path)


def format_sequence_calib(calib: Calibration, kind: str) -> str:
    """The text of a tracking (``kind="tracking"``) or object (``"object"``) calibration file."""
    names = {"tracking": ("R_rect", "Tr_velo_cam", "Tr_imu_velo", " "),
             "object": ("R0_rect", "Tr_velo_to_cam", "Tr_imu_to_velo", ": ")}[kind]
    rect, velo, imu, sep = names
    lines = [f"P{i}: {_fmt(calib.projections[i])}" for i in range(4)]
    lines.append(f"{rect}{sep}{_fmt(calib.rect_from_cam0[:3, :3])}")
    lines.append(f"{velo}{sep}{_fmt(calib.cam0_from_velo[:3, :4])}")
    imu_pose = np.eye(4) if calib.velo_from_imu is None else calib.velo_from_imu
    lines.append(f"{imu}{sep}{_fmt(imu_pose[:3, :4])}")
    return "\n".join(lines) + "\n"


def read_raw_calib(directory: Path) -> Calibration:
    """``calib_cam_to_cam.txt``, ``calib_velo_to_cam.txt`` and ``calib_imu_to_velo.txt`` of a
    KITTI raw date folder (the rectified ``P_rect_0i``, ``R_rect_00`` are what _sync images use)."""
    directory = Path(directory)
    cam_path = directory / "calib_cam_to_cam.txt"
    cam = parse_key_values(cam_path)
    projections, sizes = {}, {}
    for i in range(4):
        key = f"P_rect_0{i}"
        if key in cam:
            projections[i] = _floats(cam_path, key, cam[key], 12).reshape(3, 4)
        if f"S_rect_0{i}" in cam:
            w, h = _floats(cam_path, f"S_rect_0{i}", cam[f"S_rect_0{i}"], 2)
            if w <= 0 or h <= 0 or w != int(w) or h != int(h):
                raise LogFormatError(cam_path, f"S_rect_0{i}", cam[f"S_rect_0{i}"], "image size must be two positive integers")
            sizes[i] = (int(w), int(h))
    if not projections:
        raise LogFormatError(cam_path, "P_rect_02", None, "required entry is missing (no rectified projection)")
    key, text = _need(cam_path, cam, "R_rect_00")
    rect = _rotation4(cam_path, key, _floats(cam_path, key, text, 9))
    velo = _read_rt(directory / "calib_velo_to_cam.txt")
    imu_path = directory / "calib_imu_to_velo.txt"
    imu = _read_rt(imu_path) if imu_path.is_file() else None
    return Calibration(projections, rect, velo, imu, sizes, path=cam_path)


def _read_rt(path: Path) -> np.ndarray:
    entries = parse_key_values(path)
    _, r = _need(path, entries, "R")
    _, t = _need(path, entries, "T")
    values = np.concatenate([_floats(path, "R", r, 9).reshape(3, 3), _floats(path, "T", t, 3)[:, None]], 1)
    return _rigid(path, "R", values.ravel())


def format_raw_calib(calib: Calibration, calib_time: str = "01-Jan-2000 00:00:00") -> dict[str, str]:
    """File name -> text of the three calibration files of a KITTI raw date folder.

    The unrectified entries (``K_0i, D_0i, R_0i, T_0i``) describe the already rectified
    cameras: K from ``P_rect_0i``, no distortion, and the pose of camera i relative to camera 0.
    """
    cam = [f"calib_time: {calib_time}", "corner_dist: 0.000000e+00"]
    for i in sorted(calib.projections):
        k, cam_from_rect = calib.decompose(i)
        # rect == cam0 frame rotated by R_rect; the unrectified camera i relative to camera 0:
        cam_i_from_cam0 = cam_from_rect @ calib.rect_from_cam0
        size = calib.image_sizes.get(i)
        cam += [f"S_0{i}: {_fmt(size)}"] if size else []
        cam += [
            f"K_0{i}: {_fmt(k)}",
            f"D_0{i}: {_fmt(np.zeros(5))}",
            f"R_0{i}: {_fmt(cam_i_from_cam0[:3, :3])}",
            f"T_0{i}: {_fmt(cam_i_from_cam0[:3, 3])}",
        ]
        cam += [f"S_rect_0{i}: {_fmt(size)}"] if size else []
        cam += [
            f"R_rect_0{i}: {_fmt(calib.rect_from_cam0[:3, :3])}",
            f"P_rect_0{i}: {_fmt(calib.projections[i])}",
        ]
    velo = calib.cam0_from_velo
    imu = np.eye(4) if calib.velo_from_imu is None else calib.velo_from_imu
    return {
        "calib_cam_to_cam.txt": "\n".join(cam) + "\n",
        "calib_velo_to_cam.txt": (f"calib_time: {calib_time}\nR: {_fmt(velo[:3, :3])}\nT: {_fmt(velo[:3, 3])}\n"
                                  "delta_f: 0.000000e+00 0.000000e+00\ndelta_c: 0.000000e+00 0.000000e+00\n"),
        "calib_imu_to_velo.txt": f"calib_time: {calib_time}\nR: {_fmt(imu[:3, :3])}\nT: {_fmt(imu[:3, 3])}\n",
    }


def calib_from_mmdet3d_info(path: Path, sample: dict) -> Calibration:
    """The calibration of one KITTI object frame as mmdetection3d's info files store it
    (``images.CAMi.cam2img``, ``images.R0_rect``, ``lidar_points.Tr_velo_to_cam / Tr_imu_to_velo``)."""
    images = sample.get("images")
    lidar = sample.get("lidar_points")
    if not isinstance(images, dict) or not isinstance(lidar, dict):
        raise LogFormatError(path, "data_list[0].images", None, "expected 'images' and 'lidar_points' objects")

    def matrix(where: str, value, rows: int) -> np.ndarray:
        array = np.asarray(value, dtype=np.float64) if isinstance(value, list) else None
        if array is None or array.shape not in ((rows, 4), (4, 4)) or not np.isfinite(array).all():
            raise LogFormatError(path, where, value, f"expected a {rows}x4 or 4x4 matrix of finite numbers")
        return array

    projections = {}
    for i in range(4):
        cam = images.get(f"CAM{i}")
        if isinstance(cam, dict) and "cam2img" in cam:
            projections[i] = matrix(f"images.CAM{i}.cam2img", cam["cam2img"], 3)[:3, :4]
    if 2 not in projections:
        raise LogFormatError(path, "images.CAM2.cam2img", None, "required entry is missing")
    rect = _rigid(path, "images.R0_rect", matrix("images.R0_rect", images.get("R0_rect"), 4)[:3, :4].ravel())
    velo = _rigid(path, "lidar_points.Tr_velo_to_cam", matrix("lidar_points.Tr_velo_to_cam", lidar.get("Tr_velo_to_cam"), 4)[:3, :4].ravel())
    imu = None
    if "Tr_imu_to_velo" in lidar:
        imu = _rigid(path, "lidar_points.Tr_imu_to_velo", matrix("lidar_points.Tr_imu_to_velo", lidar["Tr_imu_to_velo"], 4)[:3, :4].ravel())
    sizes = {}
    cam2 = images["CAM2"]
    if "width" in cam2 and "height" in cam2:
        sizes[2] = (int(cam2["width"]), int(cam2["height"]))
    return Calibration(projections, rect, velo, imu, sizes, path=path)


# ---------------------------------------------------------------------------- OXTS and poses
def read_oxts(path: Path, text: str | None = None) -> np.ndarray:
    """(N, 30) OXTS values of a file with one line per sample (raw: one file per frame)."""
    rows = []
    text = _read_text(path) if text is None else text
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        values = _floats(path, f"line {lineno}", line, len(OXTS_FIELDS))
        for name, lo, hi in (("lat", -90.0, 90.0), ("lon", -180.0, 180.0)):
            v = values[OXTS_FIELDS.index(name)]
            if not lo < v < hi:
                raise LogFormatError(path, f"line {lineno}.{name}", float(v), f"must be in ({lo:g}, {hi:g}) degrees")
        rows.append(values)
    if not rows:
        raise LogFormatError(path, "", None, "no OXTS line (expected 30 numbers per line)")
    return np.stack(rows)


def format_oxts(values: np.ndarray) -> str:
    """One OXTS line (30 numbers); the five status fields are written as integers."""
    parts = [repr(float(v)) for v in values[:25]] + [str(int(round(v))) for v in values[25:]]
    return " ".join(parts) + "\n"


def mercator_scale(lat0_deg: float) -> float:
    return math.cos(math.radians(lat0_deg))


def latlon_to_mercator(lat_deg: np.ndarray, lon_deg: np.ndarray, scale: float) -> tuple[np.ndarray, np.ndarray]:
    mx = scale * np.radians(lon_deg) * EARTH_RADIUS_M
    my = scale * EARTH_RADIUS_M * np.log(np.tan(np.radians(90.0 + np.asarray(lat_deg)) / 2.0))
    return mx, my


def mercator_to_latlon(mx: np.ndarray, my: np.ndarray, scale: float) -> tuple[np.ndarray, np.ndarray]:
    lon = np.degrees(np.asarray(mx) / (scale * EARTH_RADIUS_M))
    lat = np.degrees(2.0 * np.arctan(np.exp(np.asarray(my) / (scale * EARTH_RADIUS_M)))) - 90.0
    return lat, lon


def _euler_to_rotation(roll: np.ndarray, pitch: np.ndarray, yaw: np.ndarray) -> np.ndarray:
    """R = Rz(yaw) Ry(pitch) Rx(roll), as the devkit's convertOxtsToPose."""
    cr, sr, cp, sp, cy, sy = np.cos(roll), np.sin(roll), np.cos(pitch), np.sin(pitch), np.cos(yaw), np.sin(yaw)
    return np.stack([
        np.stack([cy * cp, cy * sp * sr - sy * cr, cy * sp * cr + sy * sr], -1),
        np.stack([sy * cp, sy * sp * sr + cy * cr, sy * sp * cr - cy * sr], -1),
        np.stack([-sp, cp * sr, cp * cr], -1),
    ], -2)


def _rotation_to_euler(rot: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    pitch = -np.arcsin(np.clip(rot[..., 2, 0], -1.0, 1.0))
    roll = np.arctan2(rot[..., 2, 1], rot[..., 2, 2])
    yaw = np.arctan2(rot[..., 1, 0], rot[..., 0, 0])
    return roll, pitch, yaw


def oxts_to_poses(oxts: np.ndarray) -> tuple[np.ndarray, dict[str, float]]:
    """(N, 30) OXTS values -> (N, 4, 4) ``world_from_imu`` and the world origin.

    As the devkit: Mercator projection with the scale of the first latitude, rotation
    Rz(yaw) Ry(pitch) Rx(roll). The world frame is east-north-up with its origin at the first
    OXTS position (returned as ``{"lat", "lon", "alt"}``), so coordinates stay small.
    """
    lat, lon, alt = oxts[:, 0], oxts[:, 1], oxts[:, 2]
    scale = mercator_scale(lat[0])
    mx, my = latlon_to_mercator(lat, lon, scale)
    translation = np.stack([mx - mx[0], my - my[0], alt - alt[0]], -1)
    rot = _euler_to_rotation(oxts[:, 3], oxts[:, 4], oxts[:, 5])
    return make_pose(rot, translation), {"lat": float(lat[0]), "lon": float(lon[0]), "alt": float(alt[0])}


def poses_to_oxts(times_s: np.ndarray, poses: np.ndarray, origin: dict[str, float]) -> np.ndarray:
    """(N, 4, 4) ``world_from_imu`` at times (N,) -> (N, 30) OXTS values, inverse of
    ``oxts_to_poses`` up to the world origin.

    ``origin`` (lat, lon, alt) is the geographic position of the world's origin: the first pose
    is placed where its world point is, and the others relative to it with the Mercator scale of
    the first latitude, as ``oxts_to_poses`` reads them (so reading back gives the poses minus
    the first one's translation, to rounding).

    Velocities, accelerations (specific force, gravity included, as an IMU measures) and angular
    rates are finite differences of the poses. Accuracies and the status fields are 0: the
    values come from the log's poses, not from a GNSS solution.
    """
    poses = np.asarray(poses, dtype=np.float64)
    n = len(poses)
    scale0 = mercator_scale(origin["lat"])
    mx0, my0 = latlon_to_mercator(origin["lat"], origin["lon"], scale0)
    first = poses[0, :3, 3]
    lat1, lon1 = mercator_to_latlon(mx0 + first[0], my0 + first[1], scale0)
    scale = mercator_scale(float(lat1))
    mx1, my1 = latlon_to_mercator(lat1, lon1, scale)
    offset = poses[:, :3, 3] - first
    lat, lon = mercator_to_latlon(mx1 + offset[:, 0], my1 + offset[:, 1], scale)
    roll, pitch, yaw = _rotation_to_euler(poses[:, :3, :3])
    out = np.zeros((n, len(OXTS_FIELDS)))
    out[:, 0], out[:, 1], out[:, 2] = lat, lon, origin["alt"] + first[2] + offset[:, 2]
    out[:, 3], out[:, 4], out[:, 5] = roll, pitch, yaw
    if n > 1:
        times_s = np.asarray(times_s, dtype=np.float64)
        vel = np.gradient(poses[:, :3, 3], times_s, axis=0)
        acc = np.gradient(vel, times_s, axis=0) + np.array([0.0, 0.0, GRAVITY_M_S2])
        rot_t = np.swapaxes(poses[:, :3, :3], -1, -2)
        body_vel = np.einsum("nij,nj->ni", rot_t, vel)
        body_acc = np.einsum("nij,nj->ni", rot_t, acc)
        from redrive.geometry.se3 import so3_log

        rel = so3_log(rot_t[:-1] @ poses[1:, :3, :3]) / np.diff(times_s)[:, None]
        omega = np.concatenate([rel, rel[-1:]], 0)
        out[:, 6], out[:, 7] = vel[:, 1], vel[:, 0]
        out[:, 8:11] = body_vel
        out[:, 11:14] = body_acc
        out[:, 14:17] = body_acc
        out[:, 17:20] = omega
        out[:, 20:23] = omega
    else:
        out[:, 13] = out[:, 16] = GRAVITY_M_S2
    return out


# ---------------------------------------------------------------------------- timestamps
_STAMP = re.compile(r"^(\d{4}-\d{2}-\d{2}) (\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?$")


def parse_timestamps(path: Path) -> np.ndarray:
    """(N,) int64 ns of a raw ``timestamps.txt`` (``YYYY-MM-DD hh:mm:ss.fffffffff``, read as UTC)."""
    stamps = []
    for lineno, line in enumerate(_read_text(path).splitlines(), 1):
        line = line.strip()
        if not line:
            continue
        match = _STAMP.match(line)
        if match is None:
            raise LogFormatError(path, f"line {lineno}", line, "expected 'YYYY-MM-DD hh:mm:ss.fffffffff'")
        date, hh, mm, ss, frac = match.groups()
        try:
            day = datetime.strptime(date, "%Y-%m-%d").replace(tzinfo=timezone.utc)
        except ValueError:
            raise LogFormatError(path, f"line {lineno}", line, "invalid date") from None
        seconds = int(day.timestamp()) + int(hh) * 3600 + int(mm) * 60 + int(ss)
        stamps.append(seconds * 1_000_000_000 + int((frac or "0").ljust(9, "0")))
    return np.array(stamps, dtype=np.int64)


def format_timestamp(ns: int) -> str:
    seconds, frac = divmod(int(ns), 1_000_000_000)
    day = datetime.fromtimestamp(seconds, tz=timezone.utc)
    return f"{day:%Y-%m-%d %H:%M:%S}.{frac:09d}"


# ---------------------------------------------------------------------------- velodyne
def read_velodyne(path: Path) -> np.ndarray:
    """(N, 4) float32 x, y, z, reflectance of a velodyne ``.bin`` file."""
    try:
        raw = np.fromfile(path, dtype="<f4")
    except FileNotFoundError:
        raise LogFormatError(path, "", None, "file does not exist") from None
    except OSError as exc:
        raise LogFormatError(path, "", None, f"cannot be read: {exc}") from None
    if raw.size % 4:
        raise LogFormatError(path, "", raw.size * 4, "size in bytes is not a multiple of 16 (float32 x, y, z, reflectance)")
    points = raw.reshape(-1, 4)
    if not np.isfinite(points).all():
        row = int(np.argmax(~np.isfinite(points).all(axis=1)))
        raise LogFormatError(path, f"point[{row}]", points[row].tolist(), "not finite")
    return points


def velodyne_bytes(points: np.ndarray, reflectance: np.ndarray) -> bytes:
    return np.concatenate([points, reflectance[:, None]], 1).astype("<f4").tobytes()


def spin_times(points: np.ndarray, forward_time_s: float, period_s: float) -> np.ndarray:
    """Estimated firing time of each return of a KITTI sweep.

    The HDL-64E spins clockwise seen from above (azimuth decreasing), starts facing backwards,
    and the cameras are triggered when it faces forward (KITTI raw devkit), so a return at
    azimuth ``a`` fired at ``forward_time - a / (2 pi) * period``.
    """
    azimuth = np.arctan2(points[:, 1], points[:, 0]).astype(np.float64)
    return forward_time_s - azimuth / (2.0 * np.pi) * period_s


# ---------------------------------------------------------------------------- labels
@dataclass
class Label:
    """One line of a KITTI object or tracking label file."""

    type: str
    """KITTI type (Car, Van, ..., DontCare)."""
    truncated: float
    """Fraction of the object outside the image, 0..1."""
    occluded: int
    """0 fully visible, 1 partly occluded, 2 largely occluded, 3 unknown."""
    alpha: float
    """Observation angle, radians in [-pi, pi]."""
    bbox: np.ndarray
    """(4,) left, top, right, bottom pixels."""
    dimensions: np.ndarray
    """(3,) height, width, length, metres."""
    location: np.ndarray
    """(3,) bottom centre in the rect camera frame, metres."""
    rotation_y: float
    """Rotation about the rect camera's y axis, radians in [-pi, pi]."""
    frame: int = -1
    """Frame index (tracking labels only)."""
    track_id: int = -1
    """Track id (tracking labels only; -1 for DontCare)."""
    score: float | None = None
    """Detection score (results files only)."""


def read_labels(path: Path, tracking: bool) -> list[Label]:
    """All lines of a label file (tracking: ``frame track_id`` first)."""
    labels = []
    lead = 2 if tracking else 0
    for lineno, line in enumerate(_read_text(path).splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        where = f"line {lineno}"
        if len(parts) not in (lead + 15, lead + 16):
            raise LogFormatError(path, where, line, f"expected {lead + 15} fields ({'frame track_id ' if tracking else ''}type "
                                 "truncated occluded alpha bbox(4) dimensions(3) location(3) rotation_y [score])")
        kind = parts[lead]
        if kind not in KITTI_TYPES:
            raise LogFormatError(path, f"{where}.type", kind, f"must be one of {', '.join(KITTI_TYPES)}")
        numbers = _floats(path, where, " ".join(parts[:lead] + parts[lead + 1:]))
        head, rest = numbers[:lead], numbers[lead:]
        for name, value in zip(("frame", "track_id"), head):
            if value != int(value):
                raise LogFormatError(path, f"{where}.{name}", value, "must be an integer")
        occluded = rest[1]
        if occluded not in (-1, 0, 1, 2, 3):
            raise LogFormatError(path, f"{where}.occluded", occluded, "must be 0, 1, 2 or 3 (-1 for DontCare)")
        label = Label(kind, float(rest[0]), int(occluded), float(rest[2]), rest[3:7].copy(), rest[7:10].copy(),
                      rest[10:13].copy(), float(rest[13]), score=float(rest[14]) if len(rest) > 14 else None)
        if tracking:
            label.frame, label.track_id = int(head[0]), int(head[1])
            if label.frame < 0:
                raise LogFormatError(path, f"{where}.frame", label.frame, "must be non-negative")
        if kind != "DontCare" and (label.dimensions <= 0).any():
            raise LogFormatError(path, f"{where}.dimensions", label.dimensions.tolist(), "box dimensions must be positive")
        labels.append(label)
    return labels


def format_label(label: Label, tracking: bool) -> str:
    """One label line. 2D quantities keep KITTI's 2 decimals; 3D ones get 6 so that boxes round
    trip to a micrometre (every KITTI parser reads them as floats)."""
    head = f"{label.frame} {label.track_id} " if tracking else ""
    text = (f"{head}{label.type} {label.truncated:.2f} {label.occluded:d} {label.alpha:.6f} "
            + " ".join(f"{v:.2f}" for v in label.bbox) + " "
            + " ".join(f"{v:.6f}" for v in label.dimensions) + " "
            + " ".join(f"{v:.6f}" for v in label.location) + f" {label.rotation_y:.6f}")
    if label.score is not None:
        text += f" {label.score:.6f}"
    return text + "\n"


def wrap_angle(a: np.ndarray | float) -> np.ndarray | float:
    return (np.asarray(a) + np.pi) % (2.0 * np.pi) - np.pi


def box_from_label(location: np.ndarray, dimensions_hwl: np.ndarray, rotation_y: float) -> tuple[np.ndarray, np.ndarray]:
    """KITTI box -> (rect_from_box (4, 4), size (length, width, height)).

    The DriveLog box frame is centred, x along the length, z up; KITTI's location is the bottom
    centre and its up is the camera's -y, so the centre is ``location - (0, h/2, 0)``.
    """
    h, w, l = (float(v) for v in dimensions_hwl)
    c, s = math.cos(rotation_y), math.sin(rotation_y)
    rot = np.array([[c, s, 0.0], [0.0, 0.0, -1.0], [-s, c, 0.0]])
    centre = np.asarray(location, dtype=np.float64) - np.array([0.0, h / 2.0, 0.0])
    return make_pose(rot, centre), np.array([l, w, h])


def label_from_box(rect_from_box: np.ndarray, size_lwh: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """(location, dimensions (h, w, l), rotation_y) of a box given in the rect frame.

    KITTI boxes turn about the camera's y axis only: the heading is the box's x axis projected
    onto the camera's x-z plane (a box tilted against the camera loses its tilt; the centre and
    size are kept exactly).
    """
    l, w, h = (float(v) for v in size_lwh)
    x_axis = rect_from_box[:3, 0]
    rotation_y = float(-math.atan2(x_axis[2], x_axis[0]))
    location = rect_from_box[:3, 3] + np.array([0.0, h / 2.0, 0.0])
    return location, np.array([h, w, l]), rotation_y


def alpha_from(rotation_y: float, location: np.ndarray) -> float:
    """KITTI's observation angle: ``rotation_y`` minus the azimuth of the box centre."""
    return float(wrap_angle(rotation_y - math.atan2(location[0], location[2])))
