"""Argoverse 2 Sensor logs (feather files) -> DriveLog.

A log directory holds ``city_SE3_egovehicle.feather`` (ego poses), ``calibration/``
(``egovehicle_SE3_sensor.feather``, ``intrinsics.feather``), ``sensors/lidar/<ns>.feather``
(merged sweeps of the two 32-beam LiDARs, points in the ego frame at the sweep timestamp, with
``offset_ns`` per point), ``sensors/cameras/<name>/<ns>.jpg`` and ``annotations.feather`` (cuboids
in the ego frame at each sweep timestamp).

Conversions:
- Each sweep is split by ``laser_number`` into ``up_lidar`` (lasers 0-31) and ``down_lidar``
  (32-63, beam index minus 32): the two physical sensors, each stored in its own frame.
- A point's time is ``sweep timestamp + offset_ns``. Its stored coordinates are those that the
  DriveLog rule ``ego(t_i) @ vehicle_from_lidar @ p_i`` maps back onto the source's world point
  ``ego(t_sweep) @ p_ego`` (computed with the very trajectory that is written), so the source's
  motion-compensated geometry is kept exactly while each point keeps its own firing time.
- Intensity 0-255 -> [0, 1]. Cuboids -> ``world_from_box`` through the ego pose at their sweep.
- Cameras: OpenCV model with AV2's radial ``k1, k2, k3`` (tangential terms zero); AV2 calibrates
  the ring cameras with a global-shutter model, so the readout time is 0.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from redrive.errors import LogFormatError, RedriveError
from redrive.geometry import se3
from redrive.geometry.cameras import CameraModel
from redrive.log.readers import _common
from redrive.log.readers.options import ImportOptions
from redrive.log.types import ActorTrack, LidarSweep, Trajectory
from redrive.log.writer import DriveLogWriter

LIDARS = {"up_lidar": (0, 32), "down_lidar": (32, 64)}
"""LiDAR name -> range of ``laser_number`` it fires (AV2 merges both sensors into one sweep)."""

CATEGORIES = {
    "REGULAR_VEHICLE": "car",
    "LARGE_VEHICLE": "truck", "BOX_TRUCK": "truck", "TRUCK": "truck", "TRUCK_CAB": "truck",
    "BUS": "bus", "ARTICULATED_BUS": "bus", "SCHOOL_BUS": "bus",
    "VEHICULAR_TRAILER": "trailer", "MESSAGE_BOARD_TRAILER": "trailer", "TRAFFIC_LIGHT_TRAILER": "trailer",
    "MOTORCYCLE": "motorcycle", "MOTORCYCLIST": "motorcycle",
    "BICYCLE": "bicycle", "BICYCLIST": "bicycle", "WHEELED_RIDER": "bicycle",
    "PEDESTRIAN": "pedestrian", "OFFICIAL_SIGNALER": "pedestrian", "STROLLER": "pedestrian",
    "WHEELCHAIR": "pedestrian",
    "DOG": "animal", "ANIMAL": "animal",
    "CONSTRUCTION_CONE": "traffic_cone", "CONSTRUCTION_BARREL": "traffic_cone",
    "BOLLARD": "barrier",
}
"""AV2 category -> DriveLog category; anything else (signs, wheeled devices, railed vehicles,
categories added after this table) becomes ``other``, and the original is kept in ``source``."""

_POSE_COLUMNS = ("qw", "qx", "qy", "qz", "tx_m", "ty_m", "tz_m")


def _table(path: Path, columns: tuple[str, ...]) -> dict[str, np.ndarray]:
    """Columns of a feather file as numpy arrays; missing file or column is a LogFormatError."""
    import pyarrow as pa
    import pyarrow.feather as feather

    if not path.is_file():
        raise LogFormatError(path, "", None, "file does not exist (is this an Argoverse 2 sensor log directory?)")
    try:
        table = feather.read_table(path)
    except Exception as exc:  # pyarrow raises several types for truncated or foreign files
        raise LogFormatError(path, "", None, f"cannot be read as a feather table: {exc}") from None
    missing = [c for c in columns if c not in table.column_names]
    if missing:
        raise LogFormatError(path, missing[0], None, f"required column is missing (has: {', '.join(table.column_names)})")
    out = {}
    for c in columns:
        col = table.column(c)
        is_text = pa.types.is_string(col.type) or pa.types.is_large_string(col.type)
        out[c] = np.asarray(col.to_pylist(), dtype=str) if is_text else col.to_numpy()
    return out


def _poses(path: Path, rows: dict[str, np.ndarray]) -> np.ndarray:
    rot = _common.quat_to_rotation(np.stack([rows["qw"], rows["qx"], rows["qy"], rows["qz"]], -1), path, "qw..qz")
    trans = np.stack([rows["tx_m"], rows["ty_m"], rows["tz_m"]], -1).astype(np.float64)
    if not np.isfinite(trans).all():
        i = int(np.argmax(~np.isfinite(trans).all(axis=1)))
        raise LogFormatError(path, f"tx_m..tz_m[{i}]", trans[i].tolist(), "translation must be finite")
    return se3.make_pose(rot, trans)


def _stamp_files(folder: Path, suffix: str) -> tuple[np.ndarray, list[Path]]:
    """Files ``<timestamp_ns><suffix>`` in ``folder``, sorted by time."""
    if not folder.is_dir():
        return np.zeros(0, np.int64), []
    files = sorted(folder.glob(f"*{suffix}"))
    stamps = []
    for f in files:
        stem = f.name[: -len(suffix)]
        if not stem.isdigit():
            raise LogFormatError(f, "", f.name, f"file name must be <timestamp_ns>{suffix}")
        stamps.append(int(stem))
    order = np.argsort(stamps, kind="stable")
    return np.asarray(stamps, np.int64)[order], [files[i] for i in order]


def read(src: Path, out: Path, options: ImportOptions) -> Path:
    """Convert the AV2 sensor log directory ``src`` into a DriveLog at ``out``."""
    src = Path(src)
    if not src.is_dir():
        raise RedriveError(f"{src}: not a directory (expected an Argoverse 2 sensor log directory)")
    pose_path = src / "city_SE3_egovehicle.feather"
    ego_rows = _table(pose_path, ("timestamp_ns",) + _POSE_COLUMNS)
    ego_ns = ego_rows["timestamp_ns"].astype(np.int64)
    order = np.argsort(ego_ns, kind="stable")
    ego_ns, ego_rows = ego_ns[order], {k: v[order] for k, v in ego_rows.items()}
    if len(ego_ns) == 0:
        raise LogFormatError(pose_path, "timestamp_ns", [], "the log has no ego poses")
    if np.any(np.diff(ego_ns) == 0):
        dup = int(ego_ns[np.argmax(np.diff(ego_ns) == 0)])
        raise LogFormatError(pose_path, "timestamp_ns", dup, "two ego poses share this timestamp")
    ego_poses = _poses(pose_path, ego_rows)

    sweep_ns, sweep_files = _stamp_files(src / "sensors" / "lidar", ".feather")
    cam_root = src / "sensors" / "cameras"
    cam_dirs = sorted(p.name for p in cam_root.iterdir() if p.is_dir()) if cam_root.is_dir() else []
    images = {name: _stamp_files(cam_root / name, ".jpg") for name in cam_dirs}
    ann_path = src / "annotations.feather"
    ann = _table(ann_path, ("timestamp_ns", "track_uuid", "category", "length_m", "width_m", "height_m")
                 + _POSE_COLUMNS) if ann_path.is_file() else None

    firsts = [ego_ns[0]] + [s[0] for s in [sweep_ns] + [v[0] for v in images.values()] if len(s)]
    if ann is not None and len(ann["timestamp_ns"]):
        firsts.append(int(ann["timestamp_ns"].min()))
    origin_ns = int(min(firsts))
    window = _common.time_window(origin_ns, options, src)

    lidar_names = _common.select_sensors("lidar", options.lidars, LIDARS, src)
    camera_names = _select_cameras(src, options, images)
    needs_calibration = bool(camera_names) or (bool(lidar_names) and len(sweep_ns) > 0)
    sensor_poses, intrinsics = _calibration(src, needs_calibration, camera_names, lidar_names)

    sweep_keep = window.mask(sweep_ns) if lidar_names else np.zeros(len(sweep_ns), bool)
    sweep_ns = sweep_ns[sweep_keep]
    sweep_files = [f for f, k in zip(sweep_files, sweep_keep) if k]
    frames = {name: (images[name][0][window.mask(images[name][0])],
                     [f for f, k in zip(images[name][1], window.mask(images[name][0])) if k]) for name in camera_names}
    ann_keep = window.mask(ann["timestamp_ns"]) if ann is not None else None

    # Ego poses covering everything written (sweeps reach ~0.1 s past their timestamp).
    needed = [sweep_ns, sweep_ns + int(0.2 * _common.NS)] + [f[0] for f in frames.values()]
    if ann is not None:
        needed.append(ann["timestamp_ns"][ann_keep])
    needed_ns = np.concatenate([np.asarray(n, np.int64) for n in needed])
    _common.require_covered(ego_ns, sweep_ns, src / "sensors" / "lidar", "timestamp", "a LiDAR sweep")
    for name, (stamps, _) in frames.items():
        _common.require_covered(ego_ns, stamps, cam_root / name, "timestamp", f"a {name} image")
    if ann is not None:
        _common.require_covered(ego_ns, ann["timestamp_ns"][ann_keep], ann_path, "timestamp_ns", "an annotation")
    if len(needed_ns) == 0:
        needed_ns = ego_ns[window.mask(ego_ns)]
        if len(needed_ns) == 0:
            raise RedriveError(f"{src}: nothing of the log lies in the selected time window")
    keep = _common.covering_indices(ego_ns, int(needed_ns.min()), int(needed_ns.max()))
    start_ns = int(ego_ns[keep[0]])
    ego = Trajectory((ego_ns[keep] - start_ns) / _common.NS, ego_poses[keep])

    source = {
        "dataset": "argoverse2-sensor",
        "reader": "redrive.log.readers.av2",
        "log_id": src.name,
        "source_origin_ns": origin_ns,
        "sweep_timestamps_ns": [int(s) for s in sweep_ns],
        "cameras_without_images": [n for n in _known_cameras(intrinsics) if n not in images],
    }
    tracks: list[ActorTrack] = []
    if ann is not None:
        tracks, source["original_categories"] = _tracks(ann_path, {k: v[ann_keep] for k, v in ann.items()}, start_ns, ego)
    name = f"av2-{src.name}"
    with DriveLogWriter(out, name=name, start_time_ns=start_ns, source=source, overwrite=options.overwrite) as w:
        w.set_ego(ego)
        for cam in camera_names:
            w.add_camera(cam, intrinsics[cam], sensor_poses[cam], image_format="jpg")
            for stamp, path in zip(*frames[cam]):
                w.add_camera_frame_file(cam, (stamp - start_ns) / _common.NS, path)
        for lidar in lidar_names:
            w.add_lidar(lidar, sensor_poses[lidar])
        for stamp, path in _common.progress(zip(sweep_ns, sweep_files), len(sweep_ns), "av2 sweeps"):
            for lidar, sweep in _read_sweep(path, int(stamp), start_ns, ego, sensor_poses, lidar_names).items():
                w.add_sweep(lidar, (stamp - start_ns) / _common.NS, sweep)
        for track in tracks:
            w.add_actor(track)
    return Path(out)


def _known_cameras(intrinsics: dict[str, CameraModel]) -> list[str]:
    return sorted(intrinsics)


def _select_cameras(src: Path, options: ImportOptions, images: dict) -> list[str]:
    """Cameras with image folders, filtered by ``options.cameras``; a calibrated camera without
    images can be named (it is then an error that it has none)."""
    with_images = [n for n, (stamps, _) in images.items() if len(stamps)]
    if options.cameras is None:
        return with_images
    known = sorted(set(images) | _calibrated_cameras(src))
    chosen = _common.select_sensors("camera", options.cameras, known, src)
    for name in chosen:
        if name not in with_images:
            raise RedriveError(f"{src}: camera {name!r} has no images in sensors/cameras/{name}/")
    return chosen


def _calibrated_cameras(src: Path) -> set[str]:
    path = src / "calibration" / "intrinsics.feather"
    return set(_table(path, ("sensor_name",))["sensor_name"].tolist()) if path.is_file() else set()


def _calibration(src: Path, needed: bool, cameras: list[str], lidars: list[str]
                 ) -> tuple[dict[str, np.ndarray], dict[str, CameraModel]]:
    """Extrinsics (``egovehicle_SE3_sensor``) and camera models (``intrinsics``)."""
    extr_path = src / "calibration" / "egovehicle_SE3_sensor.feather"
    intr_path = src / "calibration" / "intrinsics.feather"
    if not needed:
        return {}, {}
    if not extr_path.is_file():
        raise LogFormatError(extr_path, "", None, "file does not exist; the sensor extrinsics are needed to "
                             "import sensors (select none with --cameras '' --lidars '' to import poses and tracks only)")
    rows = _table(extr_path, ("sensor_name",) + _POSE_COLUMNS)
    poses = dict(zip(rows["sensor_name"].tolist(), _poses(extr_path, rows)))
    for name in cameras + lidars:
        if name not in poses:
            raise LogFormatError(extr_path, "sensor_name", name, f"no extrinsics for this sensor (has: {', '.join(poses)})")
    models: dict[str, CameraModel] = {}
    if cameras or intr_path.is_file():
        cols = ("sensor_name", "fx_px", "fy_px", "cx_px", "cy_px", "k1", "k2", "k3", "width_px", "height_px")
        intr = _table(intr_path, cols)
        for i, name in enumerate(intr["sensor_name"].tolist()):
            try:
                models[name] = CameraModel(
                    "opencv", int(intr["width_px"][i]), int(intr["height_px"][i]),
                    float(intr["fx_px"][i]), float(intr["fy_px"][i]), float(intr["cx_px"][i]), float(intr["cy_px"][i]),
                    (float(intr["k1"][i]), float(intr["k2"][i]), 0.0, 0.0, float(intr["k3"][i])))
            except ValueError as exc:
                raise LogFormatError(intr_path, f"row {i} ({name})", None, str(exc)) from None
        for name in cameras:
            if name not in models:
                raise LogFormatError(intr_path, "sensor_name", name, f"no intrinsics for this camera (has: {', '.join(models)})")
    return poses, models


def _read_sweep(path: Path, stamp_ns: int, start_ns: int, ego: Trajectory, sensor_poses: dict[str, np.ndarray],
                lidars: list[str]) -> dict[str, LidarSweep]:
    cols = _table(path, ("x", "y", "z", "intensity", "laser_number", "offset_ns"))
    p_ego = np.stack([cols["x"], cols["y"], cols["z"]], -1).astype(np.float64)
    if not np.isfinite(p_ego).all():
        i = int(np.argmax(~np.isfinite(p_ego).all(axis=1)))
        raise LogFormatError(path, f"x,y,z[{i}]", p_ego[i].tolist(), "point coordinates must be finite")
    laser = cols["laser_number"].astype(np.int64)
    offset = cols["offset_ns"].astype(np.int64)
    if (offset < 0).any() or (offset > _common.NS // 5).any():
        i = int(np.argmax((offset < 0) | (offset > _common.NS // 5)))
        raise LogFormatError(path, f"offset_ns[{i}]", int(offset[i]), "offsets must lie within one 10 Hz sweep (0-200 ms)")
    bad = (laser < 0) | (laser >= 64)
    if bad.any():
        raise LogFormatError(path, f"laser_number[{int(np.argmax(bad))}]", int(laser[bad][0]), "must be 0-63")
    world_from_ego_sweep = ego.at((stamp_ns - start_ns) / _common.NS)
    p_world = se3.transform_points(world_from_ego_sweep, p_ego)
    intensity = cols["intensity"].astype(np.float32) / 255.0
    out = {}
    for name in lidars:
        lo, hi = LIDARS[name]
        m = (laser >= lo) & (laser < hi)
        # Times relative to the writer's start computed from integer ns, exactly as they are read back.
        t = ((stamp_ns + offset[m]) - start_ns) / _common.NS
        order = np.argsort(t, kind="stable")
        t = t[order]
        idx = np.flatnonzero(m)[order]
        points = _common.sensor_frame_points(_common.poses_at_times(ego, t), sensor_poses[name], p_world[idx])
        out[name] = LidarSweep(points=points.astype(np.float32), times=t, intensity=intensity[idx],
                               beam=(laser[idx] - lo).astype(np.int16))
    return out


def _tracks(path: Path, ann: dict[str, np.ndarray], start_ns: int, ego: Trajectory
            ) -> tuple[list[ActorTrack], dict[str, str]]:
    """One ActorTrack per ``track_uuid``, and uuid -> original AV2 category."""
    uuids = ann["track_uuid"]
    stamps = ann["timestamp_ns"].astype(np.int64)
    ego_from_box = _poses(path, ann)
    size = np.stack([ann["length_m"], ann["width_m"], ann["height_m"]], -1).astype(np.float64)
    bad = ~(np.isfinite(size).all(axis=1) & (size > 0).all(axis=1))
    if bad.any():
        i = int(np.argmax(bad))
        raise LogFormatError(path, f"length_m,width_m,height_m[{i}]", size[i].tolist(), "box sizes must be positive")
    times = (stamps - start_ns) / _common.NS
    world_from_box = ego.at(times) @ ego_from_box
    originals: dict[str, str] = {}
    tracks = []
    for uuid in dict.fromkeys(uuids.tolist()):
        m = np.flatnonzero(uuids == uuid)
        m = m[np.argsort(stamps[m], kind="stable")]
        if np.any(np.diff(stamps[m]) == 0):
            raise LogFormatError(path, "timestamp_ns", int(stamps[m][np.argmax(np.diff(stamps[m]) == 0)]),
                                 f"track {uuid} has two annotations at this timestamp")
        cats = set(ann["category"][m].tolist())
        if len(cats) != 1:
            raise LogFormatError(path, "category", sorted(cats), f"track {uuid} changes category")
        original = cats.pop()
        originals[uuid] = original
        poses = world_from_box[m]
        tracks.append(ActorTrack(
            id=uuid,
            category=CATEGORIES.get(original, "other"),
            size=np.median(size[m], axis=0),
            trajectory=Trajectory(times[m], poses),
            dynamic=_common.is_dynamic(poses[:, :3, 3]),
        ))
    return tracks, originals
