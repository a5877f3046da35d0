"""`redrive view LOG [LOG2] --out FILE.rrd`: a rerun recording of a log, or of two logs (before and
after an edit) side by side.

Entities (under ``before/`` and ``after/`` when two logs are given), on the ``time`` timeline
(seconds since each log's start):

- ``world/ego_path``: the whole ego path (static line strip); ``world/ego``: the vehicle pose.
- ``world/ego/<camera>``: the camera's extrinsics and pinhole (distortion is not drawn),
  ``world/ego/<camera>/image``: its frames (the encoded files, not decoded).
- ``world/lidar/<lidar>``: each sweep's returns in the world frame (every return at its own ego
  pose), coloured by intensity (viridis).
- ``world/actors``: actor boxes at every camera frame time (or sweep, or ego pose time when the
  log has no camera), labelled with their ids, coloured by class.

rerun-sdk is an optional extra: ``pip install 'redrive[viewer]'``.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from redrive.errors import RedriveError
from redrive.log import ACTOR_CATEGORIES, DriveLog

INSTALL_HINT = "the viewer needs rerun-sdk: pip install 'redrive[viewer]' (or pip install rerun-sdk)"


@dataclass
class ViewConfig:
    """What goes into the recording."""

    max_points: int = 60_000
    """LiDAR returns per sweep (evenly subsampled)."""
    images: bool = True
    """Log camera frames."""
    lidar: bool = True
    """Log LiDAR sweeps."""


def _rerun():
    try:
        import rerun as rr
    except ImportError:
        raise RedriveError(INSTALL_HINT) from None
    return rr


def write_recording(logs: list[str | Path], out: str | Path, config: ViewConfig | None = None) -> Path:
    """Write an .rrd recording of one log, or of two (``before/`` and ``after/``)."""
    rr = _rerun()
    from tqdm import tqdm

    config = config or ViewConfig()
    if not 1 <= len(logs) <= 2:
        raise RedriveError(f"view takes one or two logs, got {len(logs)}")
    opened = []
    for path in logs:
        if not (Path(path) / "log.json").is_file():
            raise RedriveError(f"{path}: not a DriveLog or render output (no log.json inside)")
        opened.append(DriveLog.open(path))
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.partial"
    rec = rr.RecordingStream("redrive", recording_id=f"redrive-view-{opened[0].name}")
    rec.save(str(tmp))
    prefixes = [""] if len(opened) == 1 else ["before/", "after/"]
    for prefix, log in zip(prefixes, opened):
        _log_one(rr, rec, log, prefix, config, tqdm)
    rec.flush()
    rec.disconnect()
    tmp.replace(out)
    return out


def _log_one(rr, rec, log: DriveLog, prefix: str, config: ViewConfig, tqdm) -> None:
    world = f"{prefix}world"
    rec.log(world, rr.ViewCoordinates.RIGHT_HAND_Z_UP, static=True)
    positions = log.ego.poses[:, :3, 3]
    rec.log(f"{world}/ego_path", rr.LineStrips3D([positions], colors=[[255, 200, 0]]), static=True)
    for t, pose in zip(log.ego.times, log.ego.poses):
        rec.set_time("time", duration=float(t))
        rec.log(f"{world}/ego", rr.Transform3D(translation=pose[:3, 3], mat3x3=pose[:3, :3]))
    for name, cam in log.cameras.items():
        intr = cam.intrinsics
        path = f"{world}/ego/{name}"
        ext = cam.vehicle_from_camera
        rec.log(path, rr.Transform3D(translation=ext[:3, 3], mat3x3=ext[:3, :3]), static=True)
        rec.log(path, rr.Pinhole(image_from_camera=intr.K, resolution=[intr.width, intr.height],
                                 camera_xyz=rr.ViewCoordinates.RDF, image_plane_distance=1.0), static=True)
        if config.images:
            for i, t in enumerate(tqdm(cam.frame_times, desc=f"view {name}", unit="frame", leave=False)):
                rec.set_time("time", duration=float(t))
                rec.log(f"{path}/image", rr.EncodedImage(path=log.root / log.image_files[name][i]))
    if config.lidar:
        from matplotlib import colormaps

        from redrive.log.readers._common import poses_at_times

        cmap = colormaps["viridis"]
        for name, lidar in log.lidars.items():
            for k, t in enumerate(tqdm(lidar.sweep_times, desc=f"view {name}", unit="sweep", leave=False)):
                sweep = log.load_sweep(name, k)
                keep = np.arange(len(sweep))
                if len(keep) > config.max_points:
                    keep = np.linspace(0, len(keep) - 1, config.max_points).round().astype(np.int64)
                pose = poses_at_times(log.ego, np.round(sweep.times[keep], 6)) @ lidar.vehicle_from_lidar
                pts = np.einsum("nij,nj->ni", pose[:, :3, :3], sweep.points[keep].astype(np.float64)) + pose[:, :3, 3]
                colors = (cmap(np.clip(sweep.intensity[keep], 0, 1))[:, :3] * 255).astype(np.uint8)
                rec.set_time("time", duration=float(t))
                rec.log(f"{world}/lidar/{name}", rr.Points3D(pts, colors=colors, radii=0.03))
    _log_actors(rr, rec, log, world)


def _actor_times(log: DriveLog) -> np.ndarray:
    if log.cameras:
        return np.unique(np.concatenate([c.frame_times for c in log.cameras.values()]))
    if log.lidars:
        return np.unique(np.concatenate([lid.sweep_times for lid in log.lidars.values()]))
    return log.ego.times


def _log_actors(rr, rec, log: DriveLog, world: str) -> None:
    from matplotlib import colormaps
    from scipy.spatial.transform import Rotation

    if not log.actors:
        return
    palette = colormaps["tab20"]
    colours = {c: (np.array(palette(i % 20)[:3]) * 255).astype(np.uint8) for i, c in enumerate(ACTOR_CATEGORIES)}
    for t in _actor_times(log):
        present = [a for a in log.actors.values() if a.exists_at(t)]
        rec.set_time("time", duration=float(t))
        if not present:
            rec.log(f"{world}/actors", rr.Clear(recursive=False))
            continue
        poses = np.stack([a.trajectory.at(t) for a in present])
        quats = Rotation.from_matrix(poses[:, :3, :3]).as_quat()  # x, y, z, w as rerun expects
        rec.log(f"{world}/actors", rr.Boxes3D(
            centers=poses[:, :3, 3], half_sizes=np.stack([a.size / 2 for a in present]),
            quaternions=[rr.Quaternion(xyzw=q) for q in quats],
            colors=np.stack([colours[a.category] for a in present]), labels=[a.id for a in present]))


# ---------------------------------------------------------------------------- command
def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("logs", nargs="+", type=Path, metavar="LOG", help="one DriveLog (or render), or two: before and after an edit")
    parser.add_argument("--out", required=True, type=Path, help="recording to write (.rrd); open it with `rerun FILE.rrd`")
    parser.add_argument("--max-points", type=int, default=60_000, help="LiDAR returns per sweep")
    parser.add_argument("--no-images", action="store_true", help="leave camera frames out")
    parser.add_argument("--no-lidar", action="store_true", help="leave LiDAR sweeps out")


def run(args: argparse.Namespace) -> int:
    out = write_recording(args.logs, args.out, ViewConfig(max_points=args.max_points, images=not args.no_images, lidar=not args.no_lidar))
    print(f"wrote {out}; open it with: rerun {out}")
    return 0
