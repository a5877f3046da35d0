"""KITTI -> DriveLog: raw drives, tracking sequences and single object frames.

Accepted sources (``src``):

- **raw**: a ``<date>_drive_<n>_sync`` folder with ``image_0i/{data,timestamps.txt}``,
  ``velodyne_points/{data,timestamps*.txt}``, ``oxts/{data,timestamps.txt}``; the three
  ``calib_*.txt`` files beside it (the date folder) or inside it.
- **tracking**: a split folder (``training``/``testing``) with ``image_0i/<seq>/``,
  ``velodyne/<seq>/``, ``calib/<seq>.txt``, ``oxts/<seq>.txt``, ``label_02/<seq>.txt``, holding one
  sequence, or any per-sequence path inside it (``training/image_02/0003``,
  ``training/label_02/0003.txt``...) to choose one. Frames are 10 Hz (tracking has no timestamps).
- **object**: one frame of the object benchmark, given by any of its files
  (``training/velodyne/000008.bin`` with ``calib/``, ``image_2/``, ``label_2/`` beside), or a folder
  holding mmdetection3d's ``<id>_info.json`` with the frame's ``.bin`` and ``.png``.

The DriveLog's vehicle frame is the OXTS/IMU frame (x forward, y left, z up), its world is the
devkit's Mercator east-north-up frame with the origin at the first OXTS position (kept in
``source.origin``). Cameras are the rectified ones (pinhole, from ``P_i``); the LiDAR is
``velodyne`` with per-point times estimated from each return's azimuth (see
``_kitti_formats.spin_times``). Labels become actor tracks (object frames: one sample each).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from redrive.errors import LogFormatError, RedriveError
from redrive.log.readers import _kitti_formats as kf
from redrive.log.readers._common import covering_indices, is_dynamic, progress, select_sensors, time_window
from redrive.log.readers.options import ImportOptions
from redrive.log.types import ActorTrack, LidarSweep, Trajectory

NS = 1_000_000_000
FRAME_PERIOD_NS = 100_000_000
"""KITTI records at 10 Hz; tracking sequences have no timestamps, so frame i is at i * 0.1 s."""
SPIN_PERIOD_S = 0.1
"""One revolution of the HDL-64E (10 Hz)."""
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
MMDET3D_KITTI_CLASSES = ("Pedestrian", "Cyclist", "Car", "Van", "Truck", "Person_sitting", "Tram", "Misc")
"""mmdetection3d's KITTI class order (``bbox_label_3d`` indexes it; -1 is DontCare)."""


@dataclass
class KittiCamera:
    index: int
    """KITTI camera number (0..3)."""
    times_ns: np.ndarray
    """(F,) int64 frame times."""
    files: list[Path]
    """Image file per frame."""


@dataclass
class KittiSource:
    """Everything read from a KITTI source before the time window and sensors are applied."""

    kind: str
    """``raw``, ``tracking`` or ``object``."""
    name: str
    calib: kf.Calibration
    oxts: np.ndarray | None
    """(N, 30) OXTS values (None for an object frame: the vehicle stays at the origin)."""
    oxts_times_ns: np.ndarray
    """(N,) int64 (one entry for object frames)."""
    cameras: dict[str, KittiCamera] = field(default_factory=dict)
    velo_times_ns: np.ndarray | None = None
    """(S,) int64 times at which the LiDAR faced forward (the camera trigger)."""
    velo_files: list[Path] = field(default_factory=list)
    velo_start_ns: np.ndarray | None = None
    """(S,) int64 start of each revolution (raw ``timestamps_start.txt``), when known."""
    velo_end_ns: np.ndarray | None = None
    """(S,) int64 end of each revolution (raw ``timestamps_end.txt``), when known."""
    labels: list[kf.Label] = field(default_factory=list)
    """Labels; tracking labels' ``frame`` indexes ``frame_times_ns``."""
    frame_times_ns: np.ndarray | None = None
    label_path: Path | None = None


# ---------------------------------------------------------------------------- entry point
def read(src: Path, out: Path, options: ImportOptions) -> Path:
    """Convert the KITTI source at ``src`` into a DriveLog at ``out``."""
    source = load(Path(src), options.scene)
    return write_drivelog(source, Path(src), Path(out), options)


def load(src: Path, scene: str | None = None) -> KittiSource:
    """Detect the layout of ``src`` and read its calibration, poses, file lists and labels.

    ``scene`` chooses the sequence of a tracking split (``0003``) or the frame of an object split
    (``000008``).
    """
    if not src.exists():
        raise RedriveError(f"{src}: does not exist")
    if scene is not None and src.is_dir() and (src / "calib").is_dir():
        if (src / "oxts").is_dir():
            if not (src / "calib" / f"{scene}.txt").is_file():
                raise RedriveError(f"{src}: no tracking sequence {scene!r} (no calib/{scene}.txt)")
            return _load_tracking(src, scene)
        if not (src / "calib" / f"{scene}.txt").is_file():
            raise RedriveError(f"{src}: no object frame {scene!r} (no calib/{scene}.txt)")
        return _load_object_frame(src, scene)
    if src.is_dir() and any(src.glob("*_info.json")):
        return _load_mmdet3d_frame(src)
    if src.is_dir() and (src / "oxts" / "data").is_dir():
        return _load_raw(src)
    seq = _tracking_location(src)
    if seq is not None:
        return _load_tracking(*seq)
    obj = _object_location(src)
    if obj is not None:
        return _load_object_frame(*obj)
    raise RedriveError(
        f"{src}: not a KITTI source redrive knows. Expected a raw drive folder "
        "(<date>_drive_<n>_sync with oxts/data), a tracking split or sequence path "
        "(training/image_02/0003), an object frame file (training/velodyne/000008.bin) or a folder "
        "with an mmdetection3d <id>_info.json")


# ---------------------------------------------------------------------------- raw
def _load_raw(drive: Path) -> KittiSource:
    calib_dir = drive if (drive / "calib_cam_to_cam.txt").is_file() else drive.parent
    if not (calib_dir / "calib_cam_to_cam.txt").is_file():
        raise LogFormatError(drive.parent / "calib_cam_to_cam.txt", "", None,
                             "file does not exist (raw calibration files belong in the date folder or the drive folder)")
    calib = kf.read_raw_calib(calib_dir)
    oxts_files = _data_files(drive / "oxts" / "data", (".txt",))
    oxts_times = _stamps(drive / "oxts" / "timestamps.txt", len(oxts_files))
    oxts = np.concatenate([kf.read_oxts(f) for f in progress(oxts_files, len(oxts_files), "kitti oxts")])
    if len(oxts) != len(oxts_files):
        raise LogFormatError(drive / "oxts" / "data", "", len(oxts), "each OXTS file must hold exactly one line")
    source = KittiSource("raw", drive.name, calib, oxts, oxts_times)
    for i in range(4):
        folder = drive / f"image_0{i}"
        if (folder / "data").is_dir():
            files = _data_files(folder / "data", IMAGE_SUFFIXES)
            if i not in calib.projections:
                raise LogFormatError(calib.path, f"P_rect_0{i}", None, f"missing, but {folder} has images")
            source.cameras[f"image_0{i}"] = KittiCamera(i, _stamps(folder / "timestamps.txt", len(files)), files)
    velo = drive / "velodyne_points"
    if (velo / "data").is_dir():
        source.velo_files = _data_files(velo / "data", (".bin",))
        source.velo_times_ns = _stamps(velo / "timestamps.txt", len(source.velo_files))
        if (velo / "timestamps_start.txt").is_file() and (velo / "timestamps_end.txt").is_file():
            source.velo_start_ns = _stamps(velo / "timestamps_start.txt", len(source.velo_files))
            source.velo_end_ns = _stamps(velo / "timestamps_end.txt", len(source.velo_files))
            bad = (source.velo_end_ns <= source.velo_start_ns) | (source.velo_times_ns < source.velo_start_ns) | (source.velo_times_ns > source.velo_end_ns)
            if bad.any():
                i = int(np.argmax(bad))
                raise LogFormatError(velo / "timestamps.txt", f"line {i + 1}", kf.format_timestamp(source.velo_times_ns[i]),
                                     "the forward-facing time must lie between timestamps_start and timestamps_end")
    return source


def _data_files(folder: Path, suffixes: tuple[str, ...]) -> list[Path]:
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in suffixes)
    if not files:
        raise LogFormatError(folder, "", None, f"holds no {'/'.join(suffixes)} files")
    return files


def _stamps(path: Path, count: int) -> np.ndarray:
    stamps = kf.parse_timestamps(path)
    if len(stamps) != count:
        raise LogFormatError(path, "", len(stamps), f"has {len(stamps)} timestamps for {count} data files")
    steps = np.diff(stamps)
    if (steps <= 0).any():
        i = int(np.argmax(steps <= 0)) + 1
        raise LogFormatError(path, f"line {i + 1}", kf.format_timestamp(stamps[i]), "timestamps must be strictly increasing")
    return stamps


# ---------------------------------------------------------------------------- tracking
_TRACKING_DIRS = ("image_00", "image_01", "image_02", "image_03", "velodyne", "calib", "oxts", "label_02")


def _tracking_location(src: Path) -> tuple[Path, str] | None:
    """(split folder, sequence) for a tracking split or a per-sequence path, else None."""
    if src.is_dir() and (src / "calib").is_dir() and (src / "oxts").is_dir():
        sequences = sorted(p.stem for p in (src / "calib").glob("*.txt"))
        if len(sequences) == 1:
            return src, sequences[0]
        if not sequences:
            raise LogFormatError(src / "calib", "", None, "holds no <sequence>.txt calibration")
        raise RedriveError(f"{src}: holds {len(sequences)} tracking sequences ({', '.join(sequences[:8])}"
                           f"{'...' if len(sequences) > 8 else ''}); choose one with the scene option (e.g. {sequences[0]}) "
                           f"or by passing a sequence path such as {src / 'image_02' / sequences[0]}")
    if src.parent.name in _TRACKING_DIRS and (src.parent.parent / "calib").is_dir() and (src.parent.parent / "oxts").is_dir():
        return src.parent.parent, src.stem if src.is_file() else src.name
    return None


def _load_tracking(split: Path, seq: str) -> KittiSource:
    calib = kf.read_sequence_calib(split / "calib" / f"{seq}.txt")
    oxts_path = split / "oxts" / f"{seq}.txt"
    oxts = kf.read_oxts(oxts_path)
    frame_times = np.arange(len(oxts), dtype=np.int64) * FRAME_PERIOD_NS
    source = KittiSource("tracking", f"kitti-tracking-{split.name}-{seq}", calib, oxts, frame_times,
                         frame_times_ns=frame_times)
    for i in range(4):
        folder = split / f"image_0{i}" / seq
        if folder.is_dir():
            files = _data_files(folder, IMAGE_SUFFIXES)
            source.cameras[f"image_0{i}"] = KittiCamera(i, _frame_times(folder, files, len(oxts), oxts_path), files)
    velo = split / "velodyne" / seq
    if velo.is_dir():
        source.velo_files = _data_files(velo, (".bin",))
        source.velo_times_ns = _frame_times(velo, source.velo_files, len(oxts), oxts_path)
    label_path = split / "label_02" / f"{seq}.txt"
    if label_path.is_file():
        source.labels = kf.read_labels(label_path, tracking=True)
        source.label_path = label_path
        for lineno, label in enumerate(source.labels, 1):
            if label.frame >= len(oxts):
                raise LogFormatError(label_path, f"line {lineno}.frame", label.frame,
                                     f"the sequence has {len(oxts)} frames ({oxts_path})")
    return source


def _frame_times(folder: Path, files: list[Path], frames: int, oxts_path: Path) -> np.ndarray:
    """Frame times from file names ``000123.ext`` (frame 123), checked against the OXTS length."""
    indices = []
    for f in files:
        if not re.fullmatch(r"\d+", f.stem):
            raise LogFormatError(f, "", f.name, "tracking file names must be frame numbers (000123.png)")
        indices.append(int(f.stem))
    if indices[-1] >= frames:
        raise LogFormatError(folder / files[-1].name, "", indices[-1], f"frame beyond the {frames} OXTS lines of {oxts_path}")
    return np.array(indices, dtype=np.int64) * FRAME_PERIOD_NS


# ---------------------------------------------------------------------------- object frames
def _object_location(src: Path) -> tuple[Path, str] | None:
    folders = ("velodyne", "image_2", "image_3", "calib", "label_2")
    if src.is_file() and src.parent.name in folders and (src.parent.parent / "calib").is_dir():
        return src.parent.parent, src.stem
    return None


def _load_object_frame(split: Path, frame: str) -> KittiSource:
    calib = kf.read_sequence_calib(split / "calib" / f"{frame}.txt")
    source = KittiSource("object", f"kitti-object-{split.name}-{frame}", calib, None, np.zeros(1, np.int64))
    for i, folder in ((2, "image_2"), (3, "image_3")):
        files = [p for s in IMAGE_SUFFIXES if (p := split / folder / f"{frame}{s}").is_file()]
        if files:
            source.cameras[f"image_0{i}"] = KittiCamera(i, np.zeros(1, np.int64), files[:1])
    velo = split / "velodyne" / f"{frame}.bin"
    if velo.is_file():
        source.velo_files, source.velo_times_ns = [velo], np.zeros(1, np.int64)
    label_path = split / "label_2" / f"{frame}.txt"
    if label_path.is_file():
        source.labels, source.label_path = kf.read_labels(label_path, tracking=False), label_path
        for k, label in enumerate(source.labels):
            label.frame, label.track_id = 0, k  # object labels have no ids: one actor per line
    source.frame_times_ns = np.zeros(1, np.int64)
    return source


def _load_mmdet3d_frame(folder: Path) -> KittiSource:
    infos = sorted(folder.glob("*_info.json"))
    if len(infos) != 1:
        raise RedriveError(f"{folder}: holds {len(infos)} *_info.json files; pass a folder with one frame")
    path = infos[0]
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise LogFormatError(path, "", None, f"cannot be read as JSON: {exc}") from None
    samples = doc.get("data_list") if isinstance(doc, dict) else None
    if not isinstance(samples, list) or len(samples) != 1 or not isinstance(samples[0], dict):
        raise LogFormatError(path, "data_list", None if samples is None else len(samples), "expected a list with one frame")
    sample = samples[0]
    calib = kf.calib_from_mmdet3d_info(path, sample)
    source = KittiSource("object", f"kitti-object-{path.stem.removesuffix('_info')}", calib, None, np.zeros(1, np.int64),
                         frame_times_ns=np.zeros(1, np.int64))
    for i in range(4):
        cam = sample["images"].get(f"CAM{i}", {})
        if isinstance(cam, dict) and cam.get("img_path"):
            image = folder / Path(str(cam["img_path"])).name
            if not image.is_file():
                raise LogFormatError(path, f"images.CAM{i}.img_path", cam["img_path"], f"no such file in {folder}")
            source.cameras[f"image_0{i}"] = KittiCamera(i, np.zeros(1, np.int64), [image])
    lidar_path = sample["lidar_points"].get("lidar_path")
    if lidar_path:
        velo = folder / Path(str(lidar_path)).name
        if not velo.is_file():
            raise LogFormatError(path, "lidar_points.lidar_path", lidar_path, f"no such file in {folder}")
        source.velo_files, source.velo_times_ns = [velo], np.zeros(1, np.int64)
    for k, inst in enumerate(sample.get("instances", [])):
        where = f"data_list[0].instances[{k}]"
        label_index = inst.get("bbox_label_3d", -1)
        if label_index == -1:
            continue  # DontCare region
        if not isinstance(label_index, int) or not 0 <= label_index < len(MMDET3D_KITTI_CLASSES):
            raise LogFormatError(path, f"{where}.bbox_label_3d", label_index, f"must index {MMDET3D_KITTI_CLASSES} or be -1")
        box = np.asarray(inst.get("bbox_3d"), dtype=np.float64)
        if box.shape != (7,) or not np.isfinite(box).all() or (box[3:6] <= 0).any():
            raise LogFormatError(path, f"{where}.bbox_3d", inst.get("bbox_3d"), "expected [x, y, z, l, h, w, rotation_y] with positive sizes")
        source.labels.append(kf.Label(
            MMDET3D_KITTI_CLASSES[label_index], float(inst.get("truncated", 0.0)), int(inst.get("occluded", 3)),
            float(inst.get("alpha", 0.0)), np.asarray(inst.get("bbox", [0, 0, 0, 0]), float),
            np.array([box[4], box[5], box[3]]), box[:3].copy(), float(box[6]), frame=0, track_id=k))
    source.label_path = path
    return source


# ---------------------------------------------------------------------------- DriveLog
def write_drivelog(source: KittiSource, src: Path, out: Path, options: ImportOptions) -> Path:
    """Write the selected window and sensors of ``source`` as a DriveLog."""
    from redrive.log.writer import DriveLogWriter

    times = [source.oxts_times_ns] + [c.times_ns for c in source.cameras.values()]
    if source.velo_times_ns is not None:
        times.append(source.velo_times_ns)
    origin_ns = int(min(t[0] for t in times))
    window = time_window(origin_ns, options, src)
    cameras = select_sensors("camera", options.cameras, list(source.cameras), src)
    lidars = select_sensors("lidar", options.lidars, ["velodyne"] if source.velo_files else [], src)

    if source.oxts is not None:
        world_from_imu, origin = kf.oxts_to_poses(source.oxts)
        keep = covering_indices(source.oxts_times_ns, window.lo_ns, window.hi_ns)
        ego_times_ns, ego_poses = source.oxts_times_ns[keep], world_from_imu[keep]
    else:
        origin = None
        ego_times_ns, ego_poses = source.oxts_times_ns, np.eye(4)[None]
    if not window.mask(np.concatenate([ego_times_ns, *[source.cameras[c].times_ns for c in cameras]])).any():
        raise RedriveError(f"{src}: the time window [{options.start_s}, {options.end_s}] s selects no frame")
    start_ns = int(max(window.lo_ns, ego_times_ns[0]))
    info = {"kind": "kitti", "layout": source.kind, "path": str(src)}
    if origin is not None:
        info["origin"] = origin
    calib = source.calib
    ego = Trajectory((ego_times_ns - start_ns) / NS, ego_poses)

    with DriveLogWriter(out, name=source.name, start_time_ns=start_ns, source=info, overwrite=options.overwrite) as w:
        w.set_ego(ego)
        for name in cameras:
            cam = source.cameras[name]
            width, height = calib.image_sizes.get(cam.index) or _image_size(cam.files[0])
            w.add_camera(name, calib.camera_model(cam.index, width, height), calib.vehicle_from_camera(cam.index))
        if lidars:
            w.add_lidar("velodyne", calib.vehicle_from_velo)
        jobs = []
        for name in cameras:
            cam = source.cameras[name]
            jobs += [(t, "camera", name, f) for t, f in zip(cam.times_ns, cam.files) if window.mask(t)]
        if lidars:
            jobs += [(t, "lidar", k, f) for k, (t, f) in enumerate(zip(source.velo_times_ns, source.velo_files)) if window.mask(t)]
        for t, kind, name, f in progress(jobs, len(jobs), f"kitti {source.name}"):
            seconds = (int(t) - start_ns) / NS
            if kind == "camera":
                w.add_camera_frame_file(name, seconds, f)
            else:
                points = kf.read_velodyne(f)
                single = source.kind == "object"  # no motion known: every return at the frame time
                period, sweep_start = SPIN_PERIOD_S, seconds - SPIN_PERIOD_S / 2.0
                if source.velo_start_ns is not None:
                    sweep_start = (int(source.velo_start_ns[name]) - start_ns) / NS
                    period = (int(source.velo_end_ns[name]) - int(source.velo_start_ns[name])) / NS
                times = np.full(len(points), seconds) if single else kf.spin_times(points, seconds, period)
                sweep_start = seconds if single else sweep_start
                name = "velodyne"
                w.add_sweep(name, sweep_start, LidarSweep(
                    points=points[:, :3].copy(), times=times, intensity=np.clip(points[:, 3], 0.0, 1.0),
                    beam=np.full(len(points), -1, np.int16)))
        for track in _label_tracks(source, ego, start_ns, window):
            w.add_actor(track)
    return out


def _image_size(path: Path) -> tuple[int, int]:
    import imageio.v3 as iio

    try:
        props = iio.improps(path)
    except Exception as exc:
        raise LogFormatError(path, "", None, f"image cannot be read: {exc}") from None
    h, w = props.shape[:2]
    return int(w), int(h)


def _label_tracks(source: KittiSource, ego: Trajectory, start_ns: int, window) -> list[ActorTrack]:
    """Labels -> actor tracks in the world frame (tracking: one per track id)."""
    if not source.labels:
        return []
    vehicle_from_rect = source.calib.vehicle_from_rect
    groups: dict[int, list[kf.Label]] = {}
    for label in source.labels:
        if label.type == "DontCare":
            continue
        t = int(source.frame_times_ns[label.frame])
        if window.mask(t):
            groups.setdefault(label.track_id, []).append(label)
    tracks = []
    for track_id, labels in sorted(groups.items()):
        labels.sort(key=lambda lab: lab.frame)
        frames = [lab.frame for lab in labels]
        if len(set(frames)) != len(frames):
            dup = next(f for f in frames if frames.count(f) > 1)
            raise LogFormatError(source.label_path, f"frame {dup}", track_id, "track id appears twice in one frame")
        times = (source.frame_times_ns[frames] - start_ns) / NS
        poses, sizes = [], []
        world_from_rect = ego.at(times) @ vehicle_from_rect
        for lab, w_from_r in zip(labels, world_from_rect):
            rect_from_box, size = kf.box_from_label(lab.location, lab.dimensions, lab.rotation_y)
            poses.append(w_from_r @ rect_from_box)
            sizes.append(size)
        poses = np.stack(poses)
        category = kf.KITTI_TO_CATEGORY[Counter(lab.type for lab in labels).most_common(1)[0][0]]
        prefix = "track" if source.kind != "object" else "object"
        tracks.append(ActorTrack(
            id=f"{prefix}_{track_id}", category=category, size=np.median(np.stack(sizes), axis=0),
            trajectory=Trajectory(times, poses), dynamic=is_dynamic(poses[:, :3, 3])))
    return tracks


__all__ = ["KittiSource", "load", "read", "write_drivelog"]
