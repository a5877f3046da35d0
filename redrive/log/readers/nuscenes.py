"""nuScenes (table layout: ``v1.0-*/scene.json, sample.json, sample_data.json, ...``) -> DriveLog.

``src`` is a dataroot (holding one ``v1.0-*`` table folder, ``samples/`` and ``sweeps/``) or the
table folder itself; ``ImportOptions.scene`` picks the scene by name (``scene-0061``) or token.

What is read: every camera channel and ``LIDAR_TOP`` of the scene, keyframes and sweeps (all
``sample_data`` of the scene's samples), the ego pose of every ``sample_data``, and
``sample_annotation`` boxes grouped into tracks by ``instance``. Radar channels are not imported.

Conversions:
- Poses are nuScenes' ``translation`` + ``rotation`` (w, x, y, z) records; camera frames are
  already OpenCV's; images are undistorted, so cameras are pinhole with ``camera_intrinsic``.
- Box size is ``[width, length, height]`` in nuScenes: stored as (length, width, height).
- LiDAR ``.pcd.bin``: float32 ``x, y, z, intensity, ring`` in the sensor frame; intensity
  0-255 -> [0, 1], ring -> beam. The format has no per-point time: every return carries its
  ``sample_data`` timestamp. No beam table (the format has none).
- Camera readout is not given: frames are stored with a global shutter at their timestamp.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from redrive.errors import LogFormatError, RedriveError
from redrive.geometry import se3
from redrive.geometry.cameras import CameraModel
from redrive.log import checks
from redrive.log.readers import _common
from redrive.log.readers.options import ImportOptions
from redrive.log.types import ActorTrack, LidarSweep, Trajectory
from redrive.log.writer import DriveLogWriter

TABLES = ("scene", "sample", "sample_data", "calibrated_sensor", "sensor", "ego_pose",
          "sample_annotation", "instance", "category", "log")
LIDARS = ("LIDAR_TOP",)
US = 1000
"""nuScenes timestamps are microseconds."""

CATEGORY_PREFIXES = (
    ("vehicle.car", "car"), ("vehicle.emergency.police", "car"), ("vehicle.emergency.ambulance", "truck"),
    ("vehicle.truck", "truck"), ("vehicle.construction", "truck"), ("vehicle.bus", "bus"),
    ("vehicle.trailer", "trailer"), ("vehicle.motorcycle", "motorcycle"), ("vehicle.bicycle", "bicycle"),
    ("human.pedestrian", "pedestrian"), ("animal", "animal"),
    ("movable_object.barrier", "barrier"), ("movable_object.trafficcone", "traffic_cone"),
)
"""nuScenes category name prefix -> DriveLog category; anything else becomes ``other``."""


def category_of(name: str) -> str:
    for prefix, ours in CATEGORY_PREFIXES:
        if name == prefix or name.startswith(prefix + "."):
            return ours
    return "other"


class _Tables:
    """The JSON tables of one nuScenes version folder, indexed by token."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.rows: dict[str, list[dict[str, Any]]] = {}
        self.by_token: dict[str, dict[str, dict[str, Any]]] = {}
        for name in TABLES:
            path = folder / f"{name}.json"
            if not path.is_file():
                raise LogFormatError(path, "", None, "table is missing (is this a nuScenes version folder?)")
            try:
                rows = json.loads(path.read_text())
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                raise LogFormatError(path, "", None, f"not valid JSON: {exc}") from None
            if not isinstance(rows, list) or not all(isinstance(r, dict) and "token" in r for r in rows):
                raise LogFormatError(path, "", type(rows).__name__, "expected a list of records with a 'token'")
            self.rows[name] = rows
            self.by_token[name] = {r["token"]: r for r in rows}

    def get(self, table: str, token: str, referrer: str) -> dict[str, Any]:
        if token not in self.by_token[table]:
            raise LogFormatError(self.folder / f"{table}.json", "token", token, f"no such record (referenced by {referrer})")
        return self.by_token[table][token]

    def field(self, table: str, row: dict[str, Any], name: str) -> Any:
        if name not in row:
            raise LogFormatError(self.folder / f"{table}.json", f"{row.get('token', '?')}.{name}", None, "field is missing")
        return row[name]

    def pose(self, table: str, row: dict[str, Any]) -> np.ndarray:
        where = self.folder / f"{table}.json"
        t = np.asarray(self.field(table, row, "translation"), dtype=np.float64)
        q = np.asarray(self.field(table, row, "rotation"), dtype=np.float64)
        if t.shape != (3,) or not np.isfinite(t).all():
            raise LogFormatError(where, f"{row['token']}.translation", t.tolist(), "expected 3 finite numbers")
        if q.shape != (4,):
            raise LogFormatError(where, f"{row['token']}.rotation", q.tolist(), "expected a quaternion w, x, y, z")
        return se3.make_pose(_common.quat_to_rotation(q, where, f"{row['token']}.rotation")[0], t)


def _locate(src: Path) -> tuple[Path, Path]:
    """(dataroot, table folder) of ``src``."""
    if (src / "scene.json").is_file():
        return src.parent, src
    if not src.is_dir():
        raise RedriveError(f"{src}: not a directory (expected a nuScenes dataroot or its v1.0-* table folder)")
    versions = sorted(p for p in src.iterdir() if p.is_dir() and (p / "scene.json").is_file())
    if len(versions) != 1:
        found = ", ".join(p.name for p in versions) or "none"
        raise RedriveError(f"{src}: expected one nuScenes table folder (v1.0-*) with scene.json, found: {found}; "
                           "pass the table folder itself")
    return src, versions[0]


def _scene(tables: _Tables, wanted: str | None) -> dict[str, Any]:
    scenes = tables.rows["scene"]
    if wanted is None:
        if len(scenes) != 1:
            names = ", ".join(s.get("name", s["token"]) for s in scenes[:12])
            raise RedriveError(f"{tables.folder}: holds {len(scenes)} scenes; choose one with the scene option "
                               f"(e.g. {names}{' ...' if len(scenes) > 12 else ''})")
        return scenes[0]
    for s in scenes:
        if wanted in (s["token"], s.get("name")):
            return s
    raise RedriveError(f"{tables.folder}: no scene named or with token {wanted!r} "
                       f"(has: {', '.join(s.get('name', s['token']) for s in scenes[:12])})")


def read(src: Path, out: Path, options: ImportOptions) -> Path:
    """Convert one scene of the nuScenes dataroot ``src`` into a DriveLog at ``out``."""
    dataroot, folder = _locate(Path(src))
    tables = _Tables(folder)
    scene = _scene(tables, options.scene)

    samples = _scene_samples(tables, scene)
    sample_tokens = {s["token"] for s in samples}
    channels: dict[str, list[dict]] = defaultdict(list)
    modality: dict[str, str] = {}
    for sd in tables.rows["sample_data"]:
        if sd.get("sample_token") not in sample_tokens:
            continue
        cs = tables.get("calibrated_sensor", tables.field("sample_data", sd, "calibrated_sensor_token"), f"sample_data {sd['token']}")
        sensor = tables.get("sensor", tables.field("calibrated_sensor", cs, "sensor_token"), f"calibrated_sensor {cs['token']}")
        channel = tables.field("sensor", sensor, "channel")
        modality[channel] = tables.field("sensor", sensor, "modality")
        channels[channel].append(sd)
    for rows in channels.values():
        rows.sort(key=lambda r: int(tables.field("sample_data", r, "timestamp")))

    stamps_us = [int(s["timestamp"]) for s in samples] + [int(r["timestamp"]) for rows in channels.values() for r in rows]
    origin_ns = min(stamps_us) * US
    window = _common.time_window(origin_ns, options, folder)
    camera_names = _common.select_sensors("camera", options.cameras,
                                          [c for c in sorted(channels) if modality[c] == "camera"], folder)
    lidar_names = _common.select_sensors("lidar", options.lidars,
                                         [c for c in sorted(channels) if c in LIDARS], folder)

    ego_ns, ego_poses = _ego(tables, [r for rows in channels.values() for r in rows])
    selected = {c: [r for r in channels[c] if window.mask([int(r["timestamp"]) * US])[0]]
                for c in camera_names + lidar_names}
    ann_samples = [s for s in samples if window.mask([int(s["timestamp"]) * US])[0]]
    needed = [int(r["timestamp"]) * US for rows in selected.values() for r in rows] + \
             [int(s["timestamp"]) * US for s in ann_samples]
    if not needed:
        raise RedriveError(f"{folder}: nothing of scene {scene.get('name')!r} lies in the selected time window")
    _common.require_covered(ego_ns, np.array(needed), folder / "ego_pose.json", "timestamp", "a sample or sample_data")
    keep = _common.covering_indices(ego_ns, min(needed), max(needed))
    start_ns = int(ego_ns[keep[0]])
    ego = Trajectory((ego_ns[keep] - start_ns) / _common.NS, ego_poses[keep])

    tracks, instance_categories = _tracks(tables, ann_samples, start_ns)
    log_row = tables.get("log", tables.field("scene", scene, "log_token"), f"scene {scene['token']}")
    source = {
        "dataset": "nuscenes",
        "reader": "redrive.log.readers.nuscenes",
        "version": folder.name,
        "scene_token": scene["token"],
        "scene_name": scene.get("name"),
        "location": log_row.get("location"),
        "sample_tokens": [s["token"] for s in samples],
        "instance_categories": instance_categories,
    }
    name = f"nuscenes-{scene.get('name', scene['token'])}"
    with DriveLogWriter(out, name=name, start_time_ns=start_ns, source=source, overwrite=options.overwrite) as w:
        w.set_ego(ego)
        for channel in camera_names:
            if not selected[channel]:
                continue
            model, extr = _camera(tables, channel, selected[channel])
            w.add_camera(channel.lower(), model, extr, image_format="jpg")
        for channel in lidar_names:
            if selected[channel]:
                w.add_lidar(channel.lower(), _static_extrinsics(tables, channel, selected[channel]))
        rows = sorted(((int(r["timestamp"]), c, r) for c, rs in selected.items() for r in rs), key=lambda x: x[0])
        for stamp_us, channel, row in _common.progress(rows, len(rows), "nuscenes sample_data"):
            file = dataroot / tables.field("sample_data", row, "filename")
            t = (stamp_us * US - start_ns) / _common.NS
            if channel in lidar_names:
                w.add_sweep(channel.lower(), t, _read_pcd_bin(file, t))
            else:
                if not file.is_file():
                    raise LogFormatError(file, "", None, f"image of sample_data {row['token']} does not exist")
                w.add_camera_frame_file(channel.lower(), t, file)
        for track in tracks:
            w.add_actor(track)
    return Path(out)


def _scene_samples(tables: _Tables, scene: dict) -> list[dict]:
    """The scene's samples in order, following the ``next`` chain from ``first_sample_token``."""
    samples, token, seen = [], tables.field("scene", scene, "first_sample_token"), set()
    while token:
        if token in seen:
            raise LogFormatError(tables.folder / "sample.json", f"{token}.next", token, "the sample chain loops")
        seen.add(token)
        sample = tables.get("sample", token, f"scene {scene['token']}")
        if sample.get("scene_token") != scene["token"]:
            raise LogFormatError(tables.folder / "sample.json", f"{token}.scene_token", sample.get("scene_token"),
                                 f"sample chained from scene {scene['token']} belongs to another scene")
        samples.append(sample)
        token = sample.get("next", "")
    stamps = [int(tables.field("sample", s, "timestamp")) for s in samples]
    if any(b <= a for a, b in zip(stamps, stamps[1:])):
        raise LogFormatError(tables.folder / "sample.json", "timestamp", stamps, "samples of a scene must be in time order")
    return samples


def _ego(tables: _Tables, sample_data: list[dict]) -> tuple[np.ndarray, np.ndarray]:
    """Ego poses of all the scene's sample_data, by timestamp (channels sharing an instant must agree)."""
    poses: dict[int, np.ndarray] = {}
    for sd in sample_data:
        row = tables.get("ego_pose", tables.field("sample_data", sd, "ego_pose_token"), f"sample_data {sd['token']}")
        stamp = int(tables.field("ego_pose", row, "timestamp")) * US
        pose = tables.pose("ego_pose", row)
        if stamp in poses:
            gap = float(np.linalg.norm(poses[stamp][:3, 3] - pose[:3, 3]))
            if gap > 0.01:
                raise LogFormatError(tables.folder / "ego_pose.json", f"{row['token']}.translation", pose[:3, 3].tolist(),
                                     f"another ego pose at the same timestamp differs by {gap:.3f} m")
            continue
        poses[stamp] = pose
    stamps = np.array(sorted(poses), dtype=np.int64)
    if len(stamps) == 0:
        raise LogFormatError(tables.folder / "sample_data.json", "", None, "the scene has no sample_data")
    return stamps, np.stack([poses[int(s)] for s in stamps])


def _static_extrinsics(tables: _Tables, channel: str, rows: list[dict]) -> np.ndarray:
    """The channel's ``calibrated_sensor`` pose, which must not change within the scene."""
    tokens = {r["calibrated_sensor_token"] for r in rows}
    poses = [tables.pose("calibrated_sensor", tables.get("calibrated_sensor", t, channel)) for t in sorted(tokens)]
    for t, p in zip(sorted(tokens), poses):
        if np.abs(p - poses[0]).max() > 1e-6:
            raise LogFormatError(tables.folder / "calibrated_sensor.json", t, channel,
                                 "the channel's calibration changes within the scene")
    return poses[0]


def _camera(tables: _Tables, channel: str, rows: list[dict]) -> tuple[CameraModel, np.ndarray]:
    extr = _static_extrinsics(tables, channel, rows)
    cs = tables.get("calibrated_sensor", rows[0]["calibrated_sensor_token"], channel)
    where = tables.folder / "calibrated_sensor.json"
    K = np.asarray(tables.field("calibrated_sensor", cs, "camera_intrinsic"), dtype=np.float64)
    if K.shape != (3, 3) or abs(K[0, 1]) > 1e-9 or np.abs(K[2] - [0, 0, 1]).max() > 1e-9:
        raise LogFormatError(where, f"{cs['token']}.camera_intrinsic", K.tolist(), "expected a 3x3 pinhole matrix without skew")
    sizes = {(int(r.get("width", 0)), int(r.get("height", 0))) for r in rows}
    if len(sizes) != 1 or min(next(iter(sizes))) <= 0:
        raise LogFormatError(tables.folder / "sample_data.json", f"{channel}.width/height", sorted(sizes),
                             "a camera's images must all have one positive size")
    width, height = sizes.pop()
    try:
        model = CameraModel("pinhole", width, height, K[0, 0], K[1, 1], K[0, 2], K[1, 2])
    except ValueError as exc:
        raise LogFormatError(where, f"{cs['token']}.camera_intrinsic", K.tolist(), str(exc)) from None
    return model, extr


def _read_pcd_bin(path: Path, t: float) -> LidarSweep:
    if not path.is_file():
        raise LogFormatError(path, "", None, "LiDAR file does not exist")
    raw = np.fromfile(path, dtype="<f4")
    if raw.size % 5:
        raise LogFormatError(path, "", raw.size, "size is not a multiple of 5 float32 (x, y, z, intensity, ring)")
    data = raw.reshape(-1, 5)
    checks.check_array(path, "x,y,z", data[:, :3], (None, 3), "f")
    intensity, ring = data[:, 3], data[:, 4]
    if (intensity < 0).any() or (intensity > 255).any():
        raise LogFormatError(path, "intensity", float(intensity[(intensity < 0) | (intensity > 255)][0]), "must lie in 0-255")
    return LidarSweep(points=data[:, :3].copy(), times=np.full(len(data), t), intensity=intensity / 255.0,
                      beam=ring.astype(np.int16))


def _tracks(tables: _Tables, samples: list[dict], start_ns: int) -> tuple[list[ActorTrack], dict[str, str]]:
    sample_time = {s["token"]: int(s["timestamp"]) * US for s in samples}
    by_instance: dict[str, list] = defaultdict(list)
    for ann in tables.rows["sample_annotation"]:
        if ann.get("sample_token") in sample_time:
            by_instance[tables.field("sample_annotation", ann, "instance_token")].append(ann)
    where = tables.folder / "sample_annotation.json"
    tracks, categories = [], {}
    for token, anns in by_instance.items():
        instance = tables.get("instance", token, "sample_annotation")
        category = tables.get("category", tables.field("instance", instance, "category_token"), f"instance {token}")
        categories[token] = category["name"]
        anns.sort(key=lambda a: sample_time[a["sample_token"]])
        stamps = np.array([sample_time[a["sample_token"]] for a in anns], np.int64)
        if np.any(np.diff(stamps) == 0):
            raise LogFormatError(where, "instance_token", token, "an instance is annotated twice in one sample")
        sizes = np.array([tables.field("sample_annotation", a, "size") for a in anns], dtype=np.float64)
        if sizes.shape != (len(anns), 3) or not (np.isfinite(sizes).all() and (sizes > 0).all()):
            raise LogFormatError(where, f"{anns[0]['token']}.size", sizes.tolist()[:3], "expected positive [width, length, height]")
        poses = np.stack([tables.pose("sample_annotation", a) for a in anns])
        tracks.append(ActorTrack(
            id=token, category=category_of(category["name"]),
            size=np.median(sizes[:, [1, 0, 2]], axis=0),
            trajectory=Trajectory((stamps - start_ns) / _common.NS, poses),
            dynamic=_common.is_dynamic(poses[:, :3, 3]),
        ))
    return tracks, categories
