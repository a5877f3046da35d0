"""Waymo Open Dataset v1 (``Frame`` messages in a TFRecord segment file) -> DriveLog.

Parsed with ``protobuf`` alone (the message subset is in ``_waymo_proto``), no TensorFlow.

Conversions:
- Ego trajectory: the vehicle poses that come with each camera image (``CameraImage.pose`` at
  ``pose_timestamp``, the precisely timed poses of the format). A frame without images
  contributes its frame pose at ``timestamp_micros + 50 ms`` (the format says the frame pose is
  roughly the middle of the 0.1 s frame).
- Cameras: Waymo's camera frame is x forward, y left, z up; the extrinsic is turned into the
  OpenCV frame. Intrinsics ``f_u, f_v, c_u, c_v, k1, k2, p1, p2, k3`` -> OpenCV model. A frame's
  time is the middle of its rolling-shutter readout, ``(trigger + readout_done) / 2``, and the
  readout time (first to last column, each at the middle of its exposure) is
  ``readout_done - trigger - shutter`` (median over the imported frames).
- LiDAR range images (first return) -> points. Rows map to beam inclinations (row 0 is the
  highest beam), columns to azimuth as in the format. The TOP LiDAR's per-pixel vehicle pose
  places each return in the world; the other LiDARs use the frame pose. The format has no
  per-point time: each column's time is estimated as the frame start plus its fraction of one
  10 Hz revolution, and the stored sensor-frame coordinates are those that the DriveLog rule
  ``ego(t_i) @ vehicle_from_lidar @ p_i`` maps exactly onto Waymo's world position. Pixels without
  a return are stored as dropped rays. Intensity is kept as given (the format does not define
  its scale).
- Laser labels -> tracks by object id, in the world through the frame pose, at the frame's
  ``timestamp_micros``. Types: vehicle -> car (the format does not split trucks and buses),
  pedestrian, cyclist -> bicycle, sign and unknown -> other.
"""

from __future__ import annotations

import tempfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from redrive.errors import LogFormatError, RedriveError
from redrive.geometry import se3
from redrive.geometry.cameras import CameraModel
from redrive.log import checks
from redrive.log.readers import _common
from redrive.log.readers._tfrecord import iter_records
from redrive.log.readers._waymo_proto import CAMERA_NAMES, LABEL_TYPES, LASER_NAMES, ROLLING_SHUTTER, messages
from redrive.log.readers.options import ImportOptions
from redrive.log.types import ActorTrack, LidarBeams, LidarSweep, Trajectory
from redrive.log.writer import DriveLogWriter

WAYMO_CAMERA_FROM_OPENCV = np.array([[0.0, 0.0, 1.0, 0.0], [-1.0, 0.0, 0.0, 0.0], [0.0, -1.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0]])
"""Waymo camera axes (x forward, y left, z up) from OpenCV axes (x right, y down, z forward)."""
CATEGORIES = {"vehicle": "car", "pedestrian": "pedestrian", "cyclist": "bicycle", "sign": "other", "unknown": "other"}
SPIN_S = 0.1
"""Revolution time of the spinning LiDARs (10 Hz), used to estimate per-column times."""
MAX_RANGE_M = {"top": 75.0}
"""Range to which the format truncates returns: 75 m for the mid-range TOP LiDAR, 20 m for the others."""
SHORT_RANGE_M = 20.0
POSE_DISAGREEMENT_M = 0.01
"""Two poses given for the same instant must agree to this (else the input is inconsistent)."""


@dataclass
class _FrameSummary:
    """What the first pass keeps of one frame (no images, no range images)."""

    index: int
    timestamp_ns: int
    pose: np.ndarray
    camera_poses: list[tuple[int, np.ndarray]] = field(default_factory=list)
    labels: list[tuple[str, int, np.ndarray, np.ndarray]] = field(default_factory=list)
    """(id, type, world_from_box (4, 4), size (3,)) per laser label."""


def _frames(path: Path):
    """Yield ``(record index, Frame)`` from the segment file."""
    from google.protobuf.message import DecodeError

    Frame = messages()["Frame"]
    for index, offset, payload in iter_records(path):
        frame = Frame()
        try:
            frame.ParseFromString(payload)
        except DecodeError as exc:
            raise LogFormatError(path, f"record {index} (byte {offset})", len(payload),
                                 f"not a Waymo Open Dataset Frame message: {exc}") from None
        yield index, frame


def _matrix4(msg, where: Path, field_name: str) -> np.ndarray:
    values = list(msg.transform)
    if len(values) != 16:
        raise LogFormatError(where, field_name, len(values), "a Transform must hold 16 numbers (4x4 row-major)")
    return checks.check_poses(where, field_name, np.array(values, dtype=np.float64).reshape(4, 4))


def _micros_to_ns(seconds: float) -> int:
    """Waymo's float seconds -> int ns, rounded to the microsecond the format resolves."""
    return int(round(seconds * 1e6)) * 1000


def read(src: Path, out: Path, options: ImportOptions) -> Path:
    """Convert the Waymo v1 segment ``src`` (a ``.tfrecord`` file) into a DriveLog at ``out``."""
    path = _segment_file(Path(src))
    summaries, context = _first_pass(path)
    origin_ns = min(s.timestamp_ns for s in summaries)
    window = _common.time_window(origin_ns, options, path)
    selected = [i for i, s in enumerate(summaries) if window.mask([s.timestamp_ns])[0]]
    if not selected:
        raise RedriveError(f"{path}: no frame lies in the selected time window")

    calib_cams = {CAMERA_NAMES.get(c.name, f"camera_{c.name}"): c for c in context.camera_calibrations}
    calib_lasers = {LASER_NAMES.get(c.name, f"laser_{c.name}"): c for c in context.laser_calibrations}
    camera_names = _common.select_sensors("camera", options.cameras, calib_cams, path)
    lidar_names = _common.select_sensors("lidar", options.lidars, calib_lasers, path)

    # Ego samples of the selected frames and their neighbours, so interpolation at the window's
    # edges is the same as in the whole segment.
    around = range(max(selected[0] - 1, 0), min(selected[-1] + 2, len(summaries)))
    ego_ns, ego_poses = _ego_samples(path, [summaries[i] for i in around])
    start_ns = int(min(ego_ns[0], summaries[selected[0]].timestamp_ns))
    ego = Trajectory((ego_ns - start_ns) / _common.NS, ego_poses)

    plan = _plan_sensors(path, selected, camera_names, lidar_names, calib_cams, calib_lasers)
    tracks, label_types = _tracks(path, [summaries[i] for i in selected], start_ns)
    source = {
        "dataset": "waymo-open-dataset-v1",
        "reader": "redrive.log.readers.waymo",
        "segment": context.name,
        "stats": {"time_of_day": context.stats.time_of_day, "location": context.stats.location,
                  "weather": context.stats.weather},
        "frame_timestamps_micros": [summaries[i].timestamp_ns // 1000 for i in selected],
        "label_types": label_types,
        "cameras_without_images": [n for n in camera_names if n not in plan.cameras],
        "lidars_without_returns": [n for n in lidar_names if n not in plan.lidars],
    }
    with DriveLogWriter(out, name=f"waymo-{context.name}", start_time_ns=start_ns, source=source,
                        overwrite=options.overwrite) as w, tempfile.TemporaryDirectory() as tmp:
        w.set_ego(ego)
        for name, (calib, readout, direction) in plan.cameras.items():
            w.add_camera(name, _camera_model(path, calib), _vehicle_from_opencv_camera(path, calib),
                         rolling_shutter_s=readout, rolling_shutter_direction=direction, image_format="jpg")
        for name, (calib, beams) in plan.lidars.items():
            w.add_lidar(name, _matrix4(calib.extrinsic, path, f"context.laser_calibrations[{name}].extrinsic"), beams)
        wanted = set(selected)
        frames = (f for f in _frames(path) if f[0] in wanted)
        for index, frame in _common.progress(frames, len(selected), "waymo frames"):
            _write_frame(w, path, index, frame, start_ns, ego, plan, Path(tmp))
        for track in tracks:
            w.add_actor(track)
    return Path(out)


def _segment_file(src: Path) -> Path:
    if src.is_dir():
        files = sorted(src.glob("*.tfrecord"))
        if len(files) != 1:
            raise RedriveError(f"{src}: expected one Waymo segment .tfrecord file in the directory, found {len(files)}"
                               " (pass the file itself)")
        return files[0]
    if not src.is_file():
        raise RedriveError(f"{src}: no such file (expected a Waymo Open Dataset v1 segment .tfrecord)")
    return src


def _first_pass(path: Path):
    summaries: list[_FrameSummary] = []
    context = None
    for index, frame in _frames(path):
        where = f"record {index}"
        if context is None:
            if not frame.context.camera_calibrations and not frame.context.laser_calibrations:
                raise LogFormatError(path, f"{where}.context", None, "the first frame carries no calibration")
            context = frame.context
        elif frame.context.name != context.name:
            raise LogFormatError(path, f"{where}.context.name", frame.context.name,
                                 f"frames of two segments in one file (the first is {context.name!r})")
        stamp = int(frame.timestamp_micros) * 1000
        if summaries and stamp <= summaries[-1].timestamp_ns:
            raise LogFormatError(path, f"{where}.timestamp_micros", frame.timestamp_micros,
                                 "frames must be in increasing time order")
        pose = _matrix4(frame.pose, path, f"{where}.pose")
        s = _FrameSummary(index, stamp, pose)
        for k, image in enumerate(frame.images):
            if image.HasField("pose") and image.pose_timestamp > 0:
                s.camera_poses.append((_micros_to_ns(image.pose_timestamp),
                                       _matrix4(image.pose, path, f"{where}.images[{k}].pose")))
        for k, label in enumerate(frame.laser_labels):
            box = label.box
            size = np.array([box.length, box.width, box.height])
            values = [box.center_x, box.center_y, box.center_z, box.heading, *size]
            if not (np.isfinite(values).all() and (size > 0).all()):
                raise LogFormatError(path, f"{where}.laser_labels[{k}].box", values,
                                     "box centre and heading must be finite and its sizes positive")
            if not label.id:
                raise LogFormatError(path, f"{where}.laser_labels[{k}].id", label.id, "a laser label needs an object id")
            vehicle_from_box = se3.make_pose(se3.yaw_rotation(box.heading), [box.center_x, box.center_y, box.center_z])
            s.labels.append((label.id, int(label.type), pose @ vehicle_from_box, size))
        summaries.append(s)
    if context is None:
        raise LogFormatError(path, "", None, "the file holds no records")
    return summaries, context


def _ego_samples(path: Path, summaries: list[_FrameSummary]) -> tuple[np.ndarray, np.ndarray]:
    samples: dict[int, np.ndarray] = {}
    for s in summaries:
        pairs = s.camera_poses or [(s.timestamp_ns + int(0.05 * _common.NS), s.pose)]
        for stamp, pose in pairs:
            if stamp in samples:
                gap = np.linalg.norm(samples[stamp][:3, 3] - pose[:3, 3])
                if gap > POSE_DISAGREEMENT_M:
                    raise LogFormatError(path, f"record {s.index}.images[].pose", pose[:3, 3].tolist(),
                                         f"two vehicle poses at {stamp} ns differ by {gap:.3f} m")
                continue
            samples[stamp] = pose
    stamps = np.array(sorted(samples), dtype=np.int64)
    return stamps, np.stack([samples[int(t)] for t in stamps])


@dataclass
class _Plan:
    cameras: dict[str, tuple] = field(default_factory=dict)
    """name -> (calibration, readout_s, direction) of cameras that have images in the window."""
    lidars: dict[str, tuple] = field(default_factory=dict)
    """name -> (calibration, LidarBeams or None) of LiDARs that have returns in the window."""
    camera_ids: dict[int, str] = field(default_factory=dict)
    laser_ids: dict[int, str] = field(default_factory=dict)


def _plan_sensors(path: Path, selected: list[int], camera_names: list[str], lidar_names: list[str],
                  calib_cams: dict, calib_lasers: dict) -> _Plan:
    """Which sensors have data in the window, their readout times and range-image sizes (a pass
    over the selected frames that reads headers of the images and one range image per LiDAR)."""
    plan = _Plan()
    readouts: dict[str, list[float]] = {n: [] for n in camera_names}
    shapes: dict[str, tuple[int, int]] = {}
    wanted = set(selected)
    ids_cam = {c.name: n for n, c in calib_cams.items() if n in camera_names}
    ids_laser = {c.name: n for n, c in calib_lasers.items() if n in lidar_names}
    for index, frame in _frames(path):
        if index not in wanted:
            continue
        for image in frame.images:
            name = ids_cam.get(image.name)
            if name is not None and image.image:
                readouts[name].append(image.camera_readout_done_time - image.camera_trigger_time - image.shutter)
        for laser in frame.lasers:
            name = ids_laser.get(laser.name)
            if name is not None and name not in shapes and laser.ri_return1.range_image_compressed:
                ri = _matrix_float(laser.ri_return1.range_image_compressed, path, f"record {index}.lasers[{name}]")
                shapes[name] = ri.shape[:2]
    for name in camera_names:
        if not readouts[name]:
            continue
        calib = calib_cams[name]
        direction = ROLLING_SHUTTER.get(int(calib.rolling_shutter_direction), "global")
        readout = float(np.median(readouts[name])) if direction != "global" else 0.0
        if not np.isfinite(readout) or readout < 0 or readout > 1.0:
            raise LogFormatError(path, f"images[{name}].camera_readout_done_time", readout,
                                 "readout time (done - trigger - shutter) must lie in [0, 1] s")
        plan.cameras[name] = (calib, readout, "top_to_bottom" if direction == "global" else direction)
    for name in lidar_names:
        if name in shapes:
            plan.lidars[name] = (calib_lasers[name], _beams(path, name, calib_lasers[name], *shapes[name]))
    plan.camera_ids = {k: v for k, v in ids_cam.items() if v in plan.cameras}
    plan.laser_ids = {k: v for k, v in ids_laser.items() if v in plan.lidars}
    return plan


def _camera_model(path: Path, calib) -> CameraModel:
    intr = list(calib.intrinsic)
    field_name = f"context.camera_calibrations[{calib.name}]"
    if len(intr) != 9:
        raise LogFormatError(path, f"{field_name}.intrinsic", intr, "expected 9 values f_u, f_v, c_u, c_v, k1, k2, p1, p2, k3")
    fu, fv, cu, cv, k1, k2, p1, p2, k3 = intr
    try:
        return CameraModel("opencv", int(calib.width), int(calib.height), fu, fv, cu, cv, (k1, k2, p1, p2, k3))
    except ValueError as exc:
        raise LogFormatError(path, field_name, intr + [calib.width, calib.height], str(exc)) from None


def _vehicle_from_opencv_camera(path: Path, calib) -> np.ndarray:
    return _matrix4(calib.extrinsic, path, f"context.camera_calibrations[{calib.name}].extrinsic") @ WAYMO_CAMERA_FROM_OPENCV


def _inclinations(path: Path, name: str, calib, rows: int) -> np.ndarray:
    """(rows,) inclination of each beam in ascending order (radians)."""
    given = np.array(calib.beam_inclinations, dtype=np.float64)
    if len(given):
        if len(given) != rows:
            raise LogFormatError(path, f"context.laser_calibrations[{name}].beam_inclinations", len(given),
                                 f"the range images have {rows} rows")
        return given
    lo, hi = calib.beam_inclination_min, calib.beam_inclination_max
    if not (np.isfinite([lo, hi]).all() and hi > lo):
        raise LogFormatError(path, f"context.laser_calibrations[{name}].beam_inclination_min/max", [lo, hi],
                             "needs max > min when beam_inclinations is empty")
    # Uniform spacing between the extreme beams, as the format defines it.
    return np.linspace(lo, hi, rows)


def _beams(path: Path, name: str, calib, rows: int, cols: int) -> LidarBeams:
    return LidarBeams(np.degrees(_inclinations(path, name, calib, rows)), azimuth_count=cols,
                      rotation_hz=1.0 / SPIN_S, max_range_m=MAX_RANGE_M.get(name, SHORT_RANGE_M))


def _matrix_float(compressed: bytes, path: Path, where: str) -> np.ndarray:
    """Decode a zlib-compressed ``MatrixFloat`` into an array of its shape."""
    try:
        raw = zlib.decompress(compressed)
    except zlib.error as exc:
        raise LogFormatError(path, where, len(compressed), f"range image is not zlib data: {exc}") from None
    data, dims = _parse_matrix_float(raw)
    if data is None:  # not the packed layout: let protobuf parse it
        from google.protobuf.message import DecodeError

        msg = messages()["MatrixFloat"]()
        try:
            msg.ParseFromString(raw)
        except DecodeError as exc:
            raise LogFormatError(path, where, len(raw), f"not a MatrixFloat: {exc}") from None
        data, dims = np.array(msg.data, dtype=np.float32), list(msg.shape.dims)
    if len(dims) != 3 or int(np.prod(dims)) != data.size:
        raise LogFormatError(path, where, dims, f"matrix shape does not match its {data.size} values (expected [H, W, C])")
    return data.reshape(dims)


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        if pos >= len(buf):
            raise ValueError("truncated varint")
        b = buf[pos]
        value |= (b & 0x7F) << shift
        pos += 1
        if not b & 0x80:
            return value, pos
        shift += 7


def _parse_matrix_float(raw: bytes) -> tuple[np.ndarray | None, list[int]]:
    """Fast path for the packed encoding: the floats are read straight from the buffer (going
    through protobuf's repeated field would cost ~100 ms per range image)."""
    data, dims, pos = None, [], 0
    try:
        while pos < len(raw):
            key, pos = _varint(raw, pos)
            if key & 7 != 2:
                return None, []
            length, pos = _varint(raw, pos)
            chunk = raw[pos: pos + length]
            pos += length
            if key >> 3 == 1:
                if data is not None or length % 4:
                    return None, []
                data = np.frombuffer(chunk, dtype="<f4")
            elif key >> 3 == 2:
                sub = 0
                while sub < len(chunk):
                    k, sub = _varint(chunk, sub)
                    if k == (1 << 3 | 2):  # packed dims
                        n, sub = _varint(chunk, sub)
                        end = sub + n
                        while sub < end:
                            d, sub = _varint(chunk, sub)
                            dims.append(d)
                    elif k == (1 << 3 | 0):
                        d, sub = _varint(chunk, sub)
                        dims.append(d)
                    else:
                        return None, []
    except ValueError:
        return None, []
    return (np.zeros(0, np.float32) if data is None else data), dims


def _rpy_poses(rpy_xyz: np.ndarray) -> np.ndarray:
    """Poses (..., 4, 4) from (..., 6) roll, pitch, yaw (z-y-x order), x, y, z."""
    roll, pitch, yaw = rpy_xyz[..., 0], rpy_xyz[..., 1], rpy_xyz[..., 2]
    cr, sr, cp, sp, cy, sy = np.cos(roll), np.sin(roll), np.cos(pitch), np.sin(pitch), np.cos(yaw), np.sin(yaw)
    rot = np.stack([
        np.stack([cy * cp, cy * sp * sr - sy * cr, cy * sp * cr + sy * sr], -1),
        np.stack([sy * cp, sy * sp * sr + cy * cr, sy * sp * cr - cy * sr], -1),
        np.stack([-sp, cp * sr, cp * cr], -1),
    ], -2)
    return se3.make_pose(rot, rpy_xyz[..., 3:6].astype(np.float64))


def range_image_to_sweep(ri: np.ndarray, pixel_pose: np.ndarray | None, frame_pose: np.ndarray,
                         vehicle_from_lidar: np.ndarray, inclinations: np.ndarray, frame_time_s: float,
                         ego: Trajectory) -> LidarSweep:
    """One range image (H, W, >=2: range, intensity) -> a sweep in the DriveLog's convention.

    ``pixel_pose`` (H, W, 6) holds the per-pixel ``world_from_vehicle`` (TOP LiDAR) or is None
    (the frame pose applies). ``inclinations`` (H,) ascending radians; row 0 is the highest beam.
    """
    rows, cols = ri.shape[:2]
    incl = inclinations[::-1][:, None]
    az_correction = np.arctan2(vehicle_from_lidar[1, 0], vehicle_from_lidar[0, 0])
    azimuth = ((cols - np.arange(cols) - 0.5) / cols * 2.0 - 1.0) * np.pi - az_correction
    dirs = np.stack(np.broadcast_arrays(np.cos(incl) * np.cos(azimuth), np.cos(incl) * np.sin(azimuth),
                                        np.sin(incl) + 0 * azimuth), -1)  # (H, W, 3) sensor frame
    times = frame_time_s + (np.arange(cols) + 0.5) / cols * SPIN_S  # estimated firing time per column
    # Column-major order: returns come out in (estimated) firing order.
    dirs_cm = dirs.transpose(1, 0, 2).reshape(-1, 3)
    rng = ri[..., 0].T.reshape(-1).astype(np.float64)
    t = np.repeat(times, rows)
    beam = np.tile(np.arange(rows - 1, -1, -1, dtype=np.int16), cols)
    if pixel_pose is not None:
        world_from_vehicle = _rpy_poses(pixel_pose.transpose(1, 0, 2).reshape(-1, 6))
    else:
        world_from_vehicle = np.broadcast_to(frame_pose, (len(t), 4, 4))
    world_from_sensor = world_from_vehicle @ vehicle_from_lidar
    ego_at = _common.poses_at_times(ego, t)
    sensor_now_from_world = se3.invert(ego_at @ vehicle_from_lidar)
    # Re-express each ray (origin and direction) in the sensor frame at its time in the DriveLog.
    rel = sensor_now_from_world @ world_from_sensor
    hit = rng > 0
    p_sensor = dirs_cm[hit] * rng[hit, None]
    points = np.einsum("nij,nj->ni", rel[hit, :3, :3], p_sensor) + rel[hit, :3, 3]
    drop_dirs = np.einsum("nij,nj->ni", rel[~hit, :3, :3], dirs_cm[~hit])
    intensity = ri[..., 1].T.reshape(-1)
    return LidarSweep(
        points=points.astype(np.float32), times=t[hit], intensity=intensity[hit].astype(np.float32), beam=beam[hit],
        drop_directions=drop_dirs.astype(np.float32), drop_times=t[~hit], drop_beam=beam[~hit],
    )


def _write_frame(w: DriveLogWriter, path: Path, index: int, frame, start_ns: int, ego: Trajectory,
                 plan: _Plan, tmp: Path) -> None:
    for k, image in enumerate(frame.images):
        name = plan.camera_ids.get(image.name)
        if name is None or not image.image:
            continue
        calib = plan.cameras[name][0]
        _check_jpeg(path, f"record {index}.images[{k}] ({name})", image.image, calib.width, calib.height)
        if image.camera_trigger_time > 0 and image.camera_readout_done_time > image.camera_trigger_time:
            mid_ns = _micros_to_ns((image.camera_trigger_time + image.camera_readout_done_time) / 2.0)
        else:
            mid_ns = _micros_to_ns(image.pose_timestamp)
        file = tmp / f"{name}.jpg"
        file.write_bytes(image.image)
        w.add_camera_frame_file(name, (mid_ns - start_ns) / _common.NS, file)
    frame_time = (int(frame.timestamp_micros) * 1000 - start_ns) / _common.NS
    frame_pose = _matrix4(frame.pose, path, f"record {index}.pose")
    for laser in frame.lasers:
        name = plan.laser_ids.get(laser.name)
        if name is None or not laser.ri_return1.range_image_compressed:
            continue
        where = f"record {index}.lasers[{name}].ri_return1"
        ri = _matrix_float(laser.ri_return1.range_image_compressed, path, f"{where}.range_image_compressed")
        pixel_pose = None
        if laser.ri_return1.range_image_pose_compressed:
            pixel_pose = _matrix_float(laser.ri_return1.range_image_pose_compressed, path, f"{where}.range_image_pose_compressed")
            if pixel_pose.shape != ri.shape[:2] + (6,):
                raise LogFormatError(path, f"{where}.range_image_pose_compressed", list(pixel_pose.shape),
                                     f"expected [{ri.shape[0]}, {ri.shape[1]}, 6] to match the range image")
        if ri.shape[2] < 2:
            raise LogFormatError(path, f"{where}.range_image_compressed", list(ri.shape), "expected at least 2 channels")
        calib = plan.lidars[name][0]
        extr = _matrix4(calib.extrinsic, path, f"context.laser_calibrations[{name}].extrinsic")
        sweep = range_image_to_sweep(ri, pixel_pose, frame_pose, extr, _inclinations(path, name, calib, ri.shape[0]),
                                     frame_time, ego)
        w.add_sweep(name, frame_time, sweep)


def _check_jpeg(path: Path, where: str, data: bytes, width: int, height: int) -> None:
    import io

    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as im:
            fmt, size = im.format, im.size
    except (UnidentifiedImageError, OSError) as exc:
        raise LogFormatError(path, where, len(data), f"image cannot be decoded: {exc}") from None
    if fmt != "JPEG":
        raise LogFormatError(path, where, fmt, "camera images must be JPEG")
    if size != (width, height):
        raise LogFormatError(path, where, list(size), f"image size differs from the calibration's {width}x{height}")


def _tracks(path: Path, summaries: list[_FrameSummary], start_ns: int) -> tuple[list[ActorTrack], dict[str, str]]:
    by_id: dict[str, list] = {}
    for s in summaries:
        for label_id, kind, pose, size in s.labels:
            by_id.setdefault(label_id, []).append((s.timestamp_ns, kind, pose, size))
    tracks, types = [], {}
    for label_id, obs in by_id.items():
        kinds = {o[1] for o in obs}
        if len(kinds) != 1:
            raise LogFormatError(path, "laser_labels[].type", sorted(kinds), f"object {label_id!r} changes type")
        stamps = np.array([o[0] for o in obs], np.int64)
        if np.any(np.diff(stamps) == 0):
            raise LogFormatError(path, "laser_labels[].id", label_id, "the same object id appears twice in one frame")
        kind = LABEL_TYPES.get(kinds.pop(), "unknown")
        types[label_id] = kind
        poses = np.stack([o[2] for o in obs])
        tracks.append(ActorTrack(
            id=label_id, category=CATEGORIES[kind], size=np.median(np.stack([o[3] for o in obs]), axis=0),
            trajectory=Trajectory((stamps - start_ns) / _common.NS, poses), dynamic=_common.is_dynamic(poses[:, :3, 3]),
        ))
    return tracks, types
