"""DriveLog -> KITTI (tracking, object or raw layout), read back by ``redrive.log.readers.kitti``.

Layouts (the standard ones; ``SEQ`` is ``KittiExportConfig.sequence``):

- ``tracking``: ``training/{image_02,image_03,velodyne}/SEQ/NNNNNN.*``, ``calib/SEQ.txt``,
  ``oxts/SEQ.txt``, ``label_02/SEQ.txt`` (frame, track id, ... per line).
- ``object``: ``training/{image_2,image_3,velodyne,calib,label_2}/NNNNNN.*``, one file each per frame.
- ``raw``: ``<date>/<date>_drive_SEQ_sync/{image_0i/data,velodyne_points/data,oxts/data}`` with
  ``timestamps.txt`` files (exact times), and the ``calib_*.txt`` files in ``<date>/``. KITTI raw
  keeps its labels as tracklet XML, which redrive does not write: this layout has no labels.

Conventions of the exported data:

- The first exported camera is ``image_02`` and defines the rect frame: ``R_rect = I`` and
  ``P2 = [K | 0]``. A second camera is ``image_03`` (``P3 = K [R | t]`` relative to it; ``R`` is
  the identity for a parallel stereo pair as in KITTI), a third and fourth ``image_00/01`` (raw).
- Images are rectified to pinhole (same K) when the camera has distortion, and stored as PNG.
- ``Tr_velo_cam`` is the LiDAR's pose in the camera, ``Tr_imu_velo`` the vehicle frame's pose in
  the LiDAR (KITTI's IMU frame = the DriveLog vehicle frame).
- OXTS: the ego pose at each frame time; the first frame is placed at the geographic position
  of the log's world point where it is (``source.origin`` of a KITTI import, else
  ``KittiExportConfig.origin``). Reading back gives the same poses with the world origin moved
  to the first exported frame (KITTI cannot store a world origin).
- Velodyne: for frame ``i``, the sweep that faces forward (mid-revolution) closest to the frame
  time, within half a revolution; points in the sensor frame, reflectance = intensity.
- Labels: ``redrive.export.labels`` (boxes in the rect frame at the frame time; track ids are
  indices of the log's actors, listed in ``redrive_export.json``).
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from redrive.errors import RedriveError
from redrive.export.common import ExportOptions, Rectifier, frame_indices, nearest, open_source, select_sensors, spin_period
from redrive.export.labels import frame_labels
from redrive.export.publish import PublishDir
from redrive.geometry.se3 import invert
from redrive.log import DriveLog
from redrive.log.readers import _kitti_formats as kf

LAYOUTS = ("tracking", "object", "raw")
CAMERA_SLOTS = (2, 3, 0, 1)
"""KITTI camera numbers given to the exported cameras, in order."""
DEFAULT_ORIGIN = {"lat": 49.011, "lon": 8.4236, "alt": 112.0}
"""Where a log without a geographic origin is placed (Karlsruhe, where KITTI was recorded)."""


@dataclass
class KittiExportConfig:
    """How to write KITTI."""

    layout: str = "tracking"
    """One of ``tracking``, ``object``, ``raw``."""
    sequence: int = 0
    """Tracking sequence number / raw drive number."""
    sync_tolerance_s: float = 0.005
    """Frames of the other cameras must be within this of the first camera's (tracking, object)."""
    origin: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_ORIGIN))
    """Latitude, longitude (degrees) and altitude (m) of the world origin when the log has none."""
    labels: bool = True
    """Write label files (tracking and object layouts)."""


def export(log_path: str | Path, out: str | Path, options: ExportOptions | None = None,
           config: KittiExportConfig | None = None) -> Path:
    """Write the log (or render) at ``log_path`` as a KITTI dataset at ``out``; returns ``out``."""
    options = options or ExportOptions()
    config = config or KittiExportConfig()
    if config.layout not in LAYOUTS:
        raise RedriveError(f"unknown KITTI layout {config.layout!r}; choose one of {', '.join(LAYOUTS)}")
    log = open_source(log_path)
    plan = _plan(log, options, config)
    with PublishDir(out, options.overwrite) as tmp:
        _write(log, plan, tmp, config)
    return Path(out)


@dataclass
class _Plan:
    cameras: list[str]
    """DriveLog camera names, in slot order."""
    frames: dict[str, np.ndarray]
    """Camera -> frame indices, aligned with the first camera's (raw: each camera's own)."""
    times: np.ndarray
    """(F,) seconds of the first camera's exported frames (the frame timeline)."""
    lidar: str | None
    sweeps: list[int | None]
    """Per frame of the timeline, the sweep index (or None) (tracking, object)."""
    rectifiers: dict[str, Rectifier]
    calib: kf.Calibration
    origin: dict[str, float]


def _plan(log: DriveLog, options: ExportOptions, config: KittiExportConfig) -> _Plan:
    cameras = select_sensors(log, "camera", options.cameras)
    if not cameras:
        raise RedriveError(f"{log.root}: KITTI needs at least one camera; the log has none selected")
    if len(cameras) > len(CAMERA_SLOTS) or (config.layout != "raw" and len(cameras) > 2):
        limit = 4 if config.layout == "raw" else 2
        raise RedriveError(f"the KITTI {config.layout} layout holds at most {limit} cameras; "
                           f"select some of {', '.join(cameras)} with --cameras")
    lidars = select_sensors(log, "lidar", options.lidars)
    if len(lidars) > 1:
        raise RedriveError(f"KITTI has one LiDAR; select one of {', '.join(lidars)} with --lidars")
    lidar = lidars[0] if lidars else None
    primary = cameras[0]
    frames = {primary: frame_indices(log, primary, options)}
    times = log.camera(primary).frame_times[frames[primary]]
    for cam in cameras[1:]:
        own = log.camera(cam).frame_times
        if config.layout == "raw":
            frames[cam] = frame_indices(log, cam, options)
            continue
        matched = np.array([nearest(own, t) for t in times])
        offset = np.abs(own[matched] - times)
        if (offset > config.sync_tolerance_s).any():
            i = int(np.argmax(offset))
            raise RedriveError(f"camera {cam!r} is not synchronised with {primary!r}: its frame nearest to "
                               f"{times[i]:.4f} s is {offset[i] * 1e3:.1f} ms away (> {config.sync_tolerance_s * 1e3:g} ms). "
                               "KITTI's tracking/object layouts share one frame index; use --kitti-layout raw "
                               "or export the cameras separately")
        frames[cam] = matched
    sweeps: list[int | None] = []
    if lidar is not None:
        sweep_times = log.lidar(lidar).sweep_times
        period = spin_period(log, lidar)
        mids = sweep_times + period / 2.0
        for t in times:
            k = nearest(mids, t)
            sweeps.append(k if abs(mids[k] - t) <= period / 2.0 else None)
    rectifiers = {cam: Rectifier(log.camera(cam).intrinsics) for cam in cameras}
    calib = _calibration(log, cameras, lidar, rectifiers)
    origin = dict(config.origin)
    src_origin = log.source.get("origin") if isinstance(log.source, dict) else None
    if isinstance(src_origin, dict) and all(isinstance(src_origin.get(k), (int, float)) for k in ("lat", "lon", "alt")):
        origin = {k: float(src_origin[k]) for k in ("lat", "lon", "alt")}
    return _Plan(cameras, frames, times, lidar, sweeps, rectifiers, calib, origin)


def _calibration(log: DriveLog, cameras: list[str], lidar: str | None, rectifiers: dict[str, Rectifier]) -> kf.Calibration:
    primary = log.camera(cameras[0])
    vehicle_from_velo = log.lidar(lidar).vehicle_from_lidar if lidar else np.eye(4)
    rect_from_vehicle = invert(primary.vehicle_from_camera)
    projections, sizes = {}, {}
    for slot, cam in zip(CAMERA_SLOTS, cameras):
        k = rectifiers[cam].target.K
        cam_from_rect = invert(log.camera(cam).vehicle_from_camera) @ primary.vehicle_from_camera
        projections[slot] = k @ cam_from_rect[:3, :4]
        sizes[slot] = (log.camera(cam).intrinsics.width, log.camera(cam).intrinsics.height)
    # Slots without a camera (P0, P1 of a tracking export) repeat the reference camera, as
    # KITTI's files always list P0..P3.
    for slot in range(4):
        projections.setdefault(slot, projections[2])
    return kf.Calibration(projections, np.eye(4), rect_from_vehicle @ vehicle_from_velo, invert(vehicle_from_velo), sizes)


# ---------------------------------------------------------------------------- writing
def _write(log: DriveLog, plan: _Plan, root: Path, config: KittiExportConfig) -> None:
    from tqdm import tqdm

    layout = config.layout
    seq = f"{config.sequence:04d}"
    n = len(plan.times)
    ego_poses = log.ego.at(plan.times)
    oxts = kf.poses_to_oxts(plan.times, ego_poses, plan.origin)
    track_ids = {actor_id: i for i, actor_id in enumerate(log.actors)}
    label_lines: list[str] = []
    stats = {"labels": 0, "occlusion_source": set()}
    paths = _Paths(root, layout, seq, log)

    for slot, text in _calib_files(plan, layout).items():
        paths.write_calib(slot, text, n)
    if layout == "tracking":
        paths.write_text(f"training/oxts/{seq}.txt", "".join(kf.format_oxts(row) for row in oxts))
    bar = tqdm(total=n, desc=f"export kitti {layout}", unit="frame", dynamic_ncols=True, leave=False)
    for f in range(n):
        for slot, cam in zip(CAMERA_SLOTS, plan.cameras):
            if layout == "raw" and cam != plan.cameras[0]:
                continue
            _write_image(log, cam, int(plan.frames[cam][f]), plan.rectifiers[cam], paths.image(slot, f))
        if plan.lidar is not None and layout != "raw" and plan.sweeps[f] is not None:
            sweep = log.load_sweep(plan.lidar, plan.sweeps[f])
            paths.write_bytes(paths.velodyne(f), kf.velodyne_bytes(sweep.points, sweep.intensity))
        if config.labels and layout != "raw":
            frame = frame_labels(log, plan.cameras[0], int(plan.frames[plan.cameras[0]][f]), rectifier=plan.rectifiers[plan.cameras[0]])
            lines = []
            for item in frame:
                item.label.frame, item.label.track_id = f, track_ids[item.actor_id]
                lines.append(kf.format_label(item.label, tracking=layout == "tracking"))
                stats["occlusion_source"].add(item.occlusion_source)
            stats["labels"] += len(lines)
            if layout == "tracking":
                label_lines += lines
            else:
                paths.write_text(f"training/label_2/{f:06d}.txt", "".join(lines))
        bar.update(1)
    bar.close()
    if layout == "tracking" and config.labels:
        paths.write_text(f"training/label_02/{seq}.txt", "".join(label_lines))
    if layout == "raw":
        _write_raw_streams(log, plan, paths, oxts)
    manifest = {
        "exported_by": "redrive", "layout": layout, "source_log": str(log.root), "frames": n,
        "cameras": {f"image_0{slot}": cam for slot, cam in zip(CAMERA_SLOTS, plan.cameras)},
        "rectified": [cam for cam in plan.cameras if not plan.rectifiers[cam].identity],
        "lidar": plan.lidar, "frame_times_s": plan.times.tolist(),
        "world_origin_of_first_frame": ego_poses[0, :3, 3].tolist(), "geo_origin": plan.origin,
        "track_ids": {str(i): actor_id for actor_id, i in track_ids.items()} if layout != "raw" else {},
        "labels": stats["labels"], "occlusion_source": sorted(stats["occlusion_source"]),
    }
    paths.write_text("redrive_export.json", json.dumps(manifest, indent=1) + "\n")


def _calib_files(plan: _Plan, layout: str) -> dict[object, str]:
    if layout == "raw":
        return dict(kf.format_raw_calib(plan.calib).items())
    return {"sequence": kf.format_sequence_calib(plan.calib, layout)}


class _Paths:
    """Where each file of a layout goes (relative to the export root)."""

    def __init__(self, root: Path, layout: str, seq: str, log: DriveLog):
        self.root, self.layout, self.seq = root, layout, seq
        date = np.datetime64(int(log.start_time_ns), "ns").astype("datetime64[D]").astype(str).replace("-", "_")
        self.date = date
        self.drive = f"{date}/{date}_drive_{seq}_sync"

    def _file(self, rel: str) -> Path:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def write_text(self, rel: str, text: str) -> None:
        self._file(rel).write_text(text)

    def write_bytes(self, rel: str, data: bytes) -> None:
        self._file(rel).write_bytes(data)

    def write_calib(self, key: object, text: str, frames: int) -> None:
        if self.layout == "tracking":
            self.write_text(f"training/calib/{self.seq}.txt", text)
        elif self.layout == "object":
            for f in range(frames):
                self.write_text(f"training/calib/{f:06d}.txt", text)
        else:
            self.write_text(f"{self.date}/{key}", text)

    def image(self, slot: int, f: int) -> Path:
        if self.layout == "tracking":
            return self._file(f"training/image_0{slot}/{self.seq}/{f:06d}.png")
        if self.layout == "object":
            return self._file(f"training/image_{slot}/{f:06d}.png")
        return self._file(f"{self.drive}/image_0{slot}/data/{f:010d}.png")

    def velodyne(self, f: int) -> str:
        if self.layout == "tracking":
            return f"training/velodyne/{self.seq}/{f:06d}.bin"
        if self.layout == "object":
            return f"training/velodyne/{f:06d}.bin"
        return f"{self.drive}/velodyne_points/data/{f:010d}.bin"


def _write_image(log: DriveLog, camera: str, index: int, rectifier: Rectifier, path: Path) -> None:
    import imageio.v3 as iio

    source = log.root / log.image_files[camera][index]
    if rectifier.identity and source.suffix.lower() == ".png":
        shutil.copyfile(source, path)
        return
    iio.imwrite(path, rectifier(log.load_image(camera, index)), extension=".png", compress_level=3)


def _write_raw_streams(log: DriveLog, plan: _Plan, paths: _Paths, oxts: np.ndarray) -> None:
    """The raw layout's other cameras, sweeps, OXTS files and their timestamps."""
    drive = paths.drive
    stamps = lambda seconds: "".join(kf.format_timestamp(int(ns)) + "\n" for ns in log.to_ns(np.asarray(seconds)))  # noqa: E731
    for slot, cam in zip(CAMERA_SLOTS, plan.cameras):
        idx = plan.frames[cam]
        if cam != plan.cameras[0]:
            for f, i in enumerate(idx):
                _write_image(log, cam, int(i), plan.rectifiers[cam], paths.image(slot, f))
        paths.write_text(f"{drive}/image_0{slot}/timestamps.txt", stamps(log.camera(cam).frame_times[idx]))
    for f, row in enumerate(oxts):
        paths.write_text(f"{drive}/oxts/data/{f:010d}.txt", kf.format_oxts(row))
    paths.write_text(f"{drive}/oxts/timestamps.txt", stamps(plan.times))
    paths.write_text(f"{drive}/oxts/dataformat.txt", "".join(f"{name}\n" for name in kf.OXTS_FIELDS))
    if plan.lidar is None:
        return
    sensor = log.lidar(plan.lidar)
    period = spin_period(log, plan.lidar)
    lo, hi = plan.times[0] - period, plan.times[-1] + period
    keep = np.flatnonzero((sensor.sweep_times >= lo) & (sensor.sweep_times <= hi))
    for f, k in enumerate(keep):
        sweep = log.load_sweep(plan.lidar, int(k))
        paths.write_bytes(paths.velodyne(f), kf.velodyne_bytes(sweep.points, sweep.intensity))
    starts = sensor.sweep_times[keep]
    base = f"{drive}/velodyne_points"
    paths.write_text(f"{base}/timestamps_start.txt", stamps(starts))
    paths.write_text(f"{base}/timestamps.txt", stamps(starts + period / 2.0))
    paths.write_text(f"{base}/timestamps_end.txt", stamps(starts + period))
