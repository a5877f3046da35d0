"""Reading a DriveLog directory: the manifest is parsed and checked at open, images, sweeps and
ground-truth frames are loaded on access.

Layout (see docs/formats.md)::

    LOG/log.json                        manifest (format, version, sensors, file lists)
    LOG/ego_poses.npz                   timestamps_ns (N,) int64, world_from_vehicle (N, 4, 4)
    LOG/actors.npz                      actor_index (K,), timestamps_ns (K,), world_from_box (K, 4, 4)
    LOG/cameras/<name>/<frame>.png|jpg  images
    LOG/lidars/<name>/<sweep>.npz       points, timestamps_ns, intensity, beam [, drop_*]
    LOG/gt/...                          optional ground truth (meshes, depth and instance masks)
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from redrive.errors import LogFormatError, UnknownSensorError
from redrive.geometry.cameras import CameraModel, camera_model_problem
from redrive.log import checks
from redrive.log.manifest import (
    FORMAT_NAME,
    FORMAT_VERSION,
    MANIFEST_NAME,
    Fields,
    check_relpath,
    read_json,
)
from redrive.log.types import (
    ACTOR_CATEGORIES,
    ROLLING_SHUTTER_DIRECTIONS,
    ActorTrack,
    CameraSensor,
    GroundTruth,
    LidarBeams,
    LidarSensor,
    LidarSweep,
    Trajectory,
)

NS = 1_000_000_000


@dataclass
class DriveLog:
    """A driving log: sensors with their frames, the ego trajectory, actor tracks, ground truth."""

    root: Path
    """The log directory."""
    name: str
    """Human-readable name."""
    start_time_ns: int
    """Absolute time (ns) that in-memory times are relative to."""
    ego: Trajectory
    """``world_from_vehicle`` over time."""
    cameras: dict[str, CameraSensor] = field(default_factory=dict)
    lidars: dict[str, LidarSensor] = field(default_factory=dict)
    actors: dict[str, ActorTrack] = field(default_factory=dict)
    ground_truth: GroundTruth | None = None
    source: dict[str, Any] = field(default_factory=dict)
    """Free-form provenance (reader, dataset, seed, preset...)."""
    image_files: dict[str, list[str]] = field(default_factory=dict)
    """Camera name -> per-frame relative image paths."""
    sweep_files: dict[str, list[str]] = field(default_factory=dict)
    """LiDAR name -> per-sweep relative npz paths."""

    # ------------------------------------------------------------------ opening
    @classmethod
    def open(cls, root: str | Path) -> "DriveLog":
        """Open and check a DriveLog directory (no image or sweep is read yet)."""
        root = Path(root)
        manifest_path = root / MANIFEST_NAME
        if not root.is_dir():
            raise LogFormatError(root, "", None, "is not a directory (expected a DriveLog directory)")
        doc = Fields(manifest_path, read_json(manifest_path))
        fmt = doc.get("format", str)
        if fmt != FORMAT_NAME:
            raise LogFormatError(manifest_path, "format", fmt, f"expected {FORMAT_NAME!r}")
        version = doc.get("version", int)
        if version != FORMAT_VERSION:
            raise LogFormatError(
                manifest_path, "version", version, f"this redrive reads version {FORMAT_VERSION}"
            )
        start_ns = doc.get("start_time_ns", int)
        log = cls(
            root=root,
            name=doc.get("name", str),
            start_time_ns=start_ns,
            ego=_read_ego(root, doc.child("ego"), start_ns),
            source=doc.get("source", dict, {}),
        )
        seen: set[str] = set()
        for cam in doc.children("cameras", []):
            sensor, files = _parse_camera(root, cam, start_ns)
            _claim_name(manifest_path, cam, sensor.name, seen)
            log.cameras[sensor.name], log.image_files[sensor.name] = sensor, files
        for lid in doc.children("lidars", []):
            sensor, files = _parse_lidar(root, lid, start_ns)
            _claim_name(manifest_path, lid, sensor.name, seen)
            log.lidars[sensor.name], log.sweep_files[sensor.name] = sensor, files
        if doc.has("actors"):
            log.actors = _read_actors(root, doc.child("actors"), start_ns)
        if doc.has("ground_truth"):
            log.ground_truth = _parse_ground_truth(root, doc.child("ground_truth"), log)
        return log

    # ------------------------------------------------------------------ lookups
    def camera(self, name: str) -> CameraSensor:
        if name not in self.cameras:
            raise UnknownSensorError("camera", name, list(self.cameras), self.root)
        return self.cameras[name]

    def lidar(self, name: str) -> LidarSensor:
        if name not in self.lidars:
            raise UnknownSensorError("lidar", name, list(self.lidars), self.root)
        return self.lidars[name]

    def to_seconds(self, timestamp_ns: np.ndarray | int) -> np.ndarray:
        """Absolute int64 nanoseconds -> float64 seconds since the log start."""
        return (np.asarray(timestamp_ns, dtype=np.int64) - self.start_time_ns) / NS

    def to_ns(self, seconds: np.ndarray | float) -> np.ndarray:
        """Float64 seconds since the log start -> absolute int64 nanoseconds."""
        return np.round(np.asarray(seconds, dtype=np.float64) * NS).astype(np.int64) + self.start_time_ns

    @property
    def time_span(self) -> tuple[float, float]:
        """First and last time covered by the ego trajectory, seconds."""
        return self.ego.span

    def world_from_camera(self, name: str, t: np.ndarray | float) -> np.ndarray:
        """(..., 4, 4) camera poses at time(s) ``t``."""
        return self.ego.at(t) @ self.camera(name).vehicle_from_camera

    def world_from_lidar(self, name: str, t: np.ndarray | float) -> np.ndarray:
        """(..., 4, 4) LiDAR poses at time(s) ``t``."""
        return self.ego.at(t) @ self.lidar(name).vehicle_from_lidar

    # ------------------------------------------------------------------ lazy data
    def load_image(self, camera: str, index: int) -> np.ndarray:
        """(H, W, 3) uint8 RGB image of frame ``index`` of ``camera``."""
        import imageio.v3 as iio

        sensor = self.camera(camera)
        path = self.root / self.image_files[camera][_check_index(self.root, camera, index, len(sensor))]
        try:
            image = iio.imread(path)
        except Exception as exc:  # imageio raises many types for truncated/corrupt files
            raise LogFormatError(path, "", None, f"image cannot be decoded (truncated or corrupt?): {exc}") from None
        if image.ndim == 2:
            image = np.repeat(image[..., None], 3, axis=-1)
        image = image[..., :3]
        want = (sensor.intrinsics.height, sensor.intrinsics.width)
        if image.shape[:2] != want:
            raise LogFormatError(path, "", image.shape, f"image size differs from camera {camera!r} resolution {want}")
        if image.dtype != np.uint8:
            raise LogFormatError(path, "", str(image.dtype), "expected an 8-bit image")
        return image

    def load_sweep(self, lidar: str, index: int) -> LidarSweep:
        """The returns (and known drops) of sweep ``index`` of ``lidar``."""
        sensor = self.lidar(lidar)
        path = self.root / self.sweep_files[lidar][_check_index(self.root, lidar, index, len(sensor))]
        data = _load_npz(path)
        points = checks.check_array(path, "points", _need(path, data, "points"), (None, 3), "f")
        n = len(points)
        stamps = checks.check_array(path, "timestamps_ns", _need(path, data, "timestamps_ns"), (n,), "i")
        intensity = checks.check_array(path, "intensity", _need(path, data, "intensity"), (n,), "f")
        beam = checks.check_array(path, "beam", _need(path, data, "beam"), (n,), "i")
        sweep = LidarSweep(
            points=points.astype(np.float32),
            times=self.to_seconds(stamps),
            intensity=intensity.astype(np.float32),
            beam=beam.astype(np.int16),
        )
        if "drop_directions" in data:
            dirs = checks.check_array(path, "drop_directions", data["drop_directions"], (None, 3), "f")
            m = len(dirs)
            drop_ns = checks.check_array(path, "drop_timestamps_ns", _need(path, data, "drop_timestamps_ns"), (m,), "i")
            drop_beam = checks.check_array(path, "drop_beam", _need(path, data, "drop_beam"), (m,), "i")
            sweep.drop_directions = dirs.astype(np.float32)
            sweep.drop_times = self.to_seconds(drop_ns)
            sweep.drop_beam = drop_beam.astype(np.int16)
        return sweep

    def load_gt_camera_frame(self, camera: str, index: int) -> dict[str, np.ndarray]:
        """Ground-truth ``depth`` (H, W) float32 and ``instance`` (H, W) int32 of one frame."""
        gt = self.ground_truth
        sensor = self.camera(camera)
        if gt is None or camera not in gt.camera_frames:
            raise LogFormatError(self.root / MANIFEST_NAME, "ground_truth.camera_frames", camera,
                                 "the log has no ground-truth frames for this camera")
        path = self.root / gt.camera_frames[camera][_check_index(self.root, camera, index, len(sensor))]
        data = _load_npz(path)
        shape = (sensor.intrinsics.height, sensor.intrinsics.width)
        depth = checks.check_array(path, "depth", _need(path, data, "depth"), shape, "f", finite=False)
        instance = checks.check_array(path, "instance", _need(path, data, "instance"), shape, "iu")
        return {"depth": depth.astype(np.float32), "instance": instance.astype(np.int32)}

    def load_mesh(self, relative_path: str):
        """A ground-truth mesh (trimesh.Trimesh) by its relative path."""
        import trimesh

        path = self.root / relative_path
        try:
            mesh = trimesh.load(path, force="mesh", process=False)
        except Exception as exc:
            raise LogFormatError(path, "", None, f"mesh cannot be read: {exc}") from None
        if len(mesh.faces) == 0:
            raise LogFormatError(path, "", None, "mesh has no faces (truncated or empty?)")
        return mesh


# ---------------------------------------------------------------------- parsing helpers
def _claim_name(path: Path, node: Fields, name: str, seen: set[str]) -> None:
    if name in seen:
        raise LogFormatError(path, f"{node.where}.name", name, "sensor names must be unique")
    seen.add(name)


def _check_index(root: Path, sensor: str, index: int, count: int) -> int:
    if not 0 <= index < count:
        raise IndexError(f"{root}: sensor {sensor!r} has {count} frames, index {index} is out of range")
    return index


def _load_npz(path: Path) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as npz:
            return {k: npz[k] for k in npz.files}
    except FileNotFoundError:
        raise LogFormatError(path, "", None, "file does not exist") from None
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise LogFormatError(path, "", None, f"cannot be read (truncated or corrupt?): {exc}") from None


def _need(path: Path, data: dict[str, np.ndarray], key: str) -> np.ndarray:
    if key not in data:
        raise LogFormatError(path, key, None, f"required array is missing (has: {', '.join(sorted(data)) or 'none'})")
    return data[key]


def _frame_list(root: Path, node: Fields, key: str, file_key: str, start_ns: int) -> tuple[np.ndarray, list[str]]:
    frames = node.children(key)
    stamps = [f.get("timestamp_ns", int) for f in frames]
    files = [f.relpath(file_key, root) for f in frames]
    checks.check_increasing(node.path, node.name_of(key) + "[{i}].timestamp_ns", np.array(stamps, dtype=np.int64))
    return (np.array(stamps, dtype=np.int64) - start_ns) / NS, files


def _parse_camera(root: Path, node: Fields, start_ns: int) -> tuple[CameraSensor, list[str]]:
    intr = node.child("intrinsics")
    values = dict(
        model=intr.get("model", str),
        width=intr.get("width", int),
        height=intr.get("height", int),
        fx=intr.get("fx", float),
        fy=intr.get("fy", float),
        cx=intr.get("cx", float),
        cy=intr.get("cy", float),
        distortion=tuple(intr.numbers("distortion", default=[])),
    )
    problem = camera_model_problem(values)
    if problem is not None:
        bad, sentence = problem
        raise LogFormatError(node.path, f"{intr.where}.{bad}", values[bad], sentence)
    model = CameraModel(**values)
    extr = checks.check_poses(node.path, node.name_of("vehicle_from_camera"), np.array(node.matrix4("vehicle_from_camera")))
    times, files = _frame_list(root, node, "frames", "image", start_ns)
    rs = node.child("rolling_shutter") if node.has("rolling_shutter") else None
    sensor = CameraSensor(
        name=node.get("name", str),
        intrinsics=model,
        vehicle_from_camera=extr,
        frame_times=times,
        rolling_shutter_s=rs.positive("readout_s", float, 0.0, allow_zero=True) if rs else 0.0,
        rolling_shutter_direction=rs.choice("direction", ROLLING_SHUTTER_DIRECTIONS, "top_to_bottom") if rs else "top_to_bottom",
    )
    return sensor, files


def _parse_lidar(root: Path, node: Fields, start_ns: int) -> tuple[LidarSensor, list[str]]:
    extr = checks.check_poses(node.path, node.name_of("vehicle_from_lidar"), np.array(node.matrix4("vehicle_from_lidar")))
    beams = None
    if node.has("beams"):
        b = node.child("beams")
        elevations = b.numbers("elevations_deg")
        if not elevations:
            raise LogFormatError(node.path, f"{b.where}.elevations_deg", elevations, "beam table is empty")
        offsets = b.numbers("azimuth_offsets_deg", len(elevations), default=None)
        beams = LidarBeams(
            elevations_deg=np.array(elevations),
            azimuth_count=b.positive("azimuth_count", int),
            azimuth_offsets_deg=None if offsets is None else np.array(offsets),
            rotation_hz=b.positive("rotation_hz", float, 10.0),
            min_range_m=b.positive("min_range_m", float, 0.0, allow_zero=True),
            max_range_m=b.positive("max_range_m", float, 200.0),
        )
    times, files = _frame_list(root, node, "sweeps", "file", start_ns)
    return LidarSensor(node.get("name", str), extr, times, beams), files


def _read_ego(root: Path, node: Fields, start_ns: int) -> Trajectory:
    path = root / node.relpath("file", root)
    data = _load_npz(path)
    stamps = checks.check_increasing(path, "timestamps_ns", checks.check_array(path, "timestamps_ns", _need(path, data, "timestamps_ns"), (None,), "i"))
    if len(stamps) == 0:
        raise LogFormatError(path, "timestamps_ns", [], "the ego trajectory needs at least one pose")
    poses = checks.check_array(path, "world_from_vehicle", _need(path, data, "world_from_vehicle"), (len(stamps), 4, 4), "f", finite=False)
    return Trajectory((stamps - start_ns) / NS, checks.check_poses(path, "world_from_vehicle", poses))


def _read_actors(root: Path, node: Fields, start_ns: int) -> dict[str, ActorTrack]:
    path = root / node.relpath("file", root)
    data = _load_npz(path)
    index = checks.check_array(path, "actor_index", _need(path, data, "actor_index"), (None,), "iu")
    k = len(index)
    stamps = checks.check_array(path, "timestamps_ns", _need(path, data, "timestamps_ns"), (k,), "i")
    poses = checks.check_poses(path, "world_from_box", checks.check_array(path, "world_from_box", _need(path, data, "world_from_box"), (k, 4, 4), "f", finite=False))
    actors: dict[str, ActorTrack] = {}
    entries = node.children("list")
    if k and (index.min() < 0 or index.max() >= len(entries)):
        bad = int(index.max()) if index.max() >= len(entries) else int(index.min())
        raise LogFormatError(path, "actor_index", bad, f"refers to no entry of actors.list ({len(entries)} entries)")
    for i, entry in enumerate(entries):
        actor_id = entry.get("id", str)
        if actor_id in actors:
            raise LogFormatError(entry.path, f"{entry.where}.id", actor_id, "actor ids must be unique")
        size = np.array(entry.numbers("size", 3))
        if (size <= 0).any():
            raise LogFormatError(entry.path, f"{entry.where}.size", size.tolist(), "box sizes must be positive")
        rows = np.flatnonzero(index == i)
        if len(rows) == 0:
            raise LogFormatError(path, "actor_index", i, f"actor {actor_id!r} has no track samples")
        checks.check_increasing(path, f"timestamps_ns (actor {actor_id!r})", stamps[rows])
        actors[actor_id] = ActorTrack(
            id=actor_id,
            category=entry.choice("category", ACTOR_CATEGORIES),
            size=size,
            trajectory=Trajectory((stamps[rows] - start_ns) / NS, poses[rows]),
            dynamic=entry.get("dynamic", bool),
        )
    return actors


def _parse_ground_truth(root: Path, node: Fields, log: DriveLog) -> GroundTruth:
    gt = GroundTruth()
    if node.has("static_mesh"):
        gt.static_mesh = node.relpath("static_mesh", root)
    if node.has("actor_meshes"):
        meshes = node.child("actor_meshes")
        for actor_id in meshes.data:
            if actor_id not in log.actors:
                raise LogFormatError(node.path, f"{meshes.where}.{actor_id}", actor_id, "no actor has this id")
            gt.actor_meshes[actor_id] = meshes.relpath(actor_id, root)
    if node.has("camera_frames"):
        frames = node.child("camera_frames")
        for cam, files in frames.data.items():
            field_name = f"{frames.where}.{cam}"
            if cam not in log.cameras:
                raise LogFormatError(node.path, field_name, cam, f"unknown camera; the log has: {', '.join(log.cameras)}")
            if not isinstance(files, list) or len(files) != len(log.cameras[cam]):
                raise LogFormatError(node.path, field_name, files if not isinstance(files, list) else len(files),
                                     f"expected a list of {len(log.cameras[cam])} paths, one per frame")
            for i, f in enumerate(files):
                if not isinstance(f, str):
                    raise LogFormatError(node.path, f"{field_name}[{i}]", f, "expected a relative path")
                check_relpath(node.path, f"{field_name}[{i}]", f, root)
            gt.camera_frames[cam] = files
    gt.instance_actors = [str(a) for a in node.get("instance_actors", list, [])]
    for i, actor_id in enumerate(gt.instance_actors):
        if actor_id not in log.actors:
            raise LogFormatError(node.path, f"{node.where}.instance_actors[{i}]", actor_id, "no actor has this id")
    return gt
