"""DriveLog -> DriveLog: a time window and a selection of sensors of a log (or render), as a
new self-contained log with its ground truth.

The ego trajectory keeps one pose on each side of the window (so interpolation inside it is
unchanged); actor tracks, meshes and the static mesh are kept whole.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from redrive.export.common import ExportOptions, frame_indices, open_source, select_sensors, sweep_indices
from redrive.export.publish import clean_stale_partials
from redrive.log import DriveLogWriter, Trajectory
from redrive.log.readers._common import covering_indices


def export(log_path: str | Path, out: str | Path, options: ExportOptions | None = None) -> Path:
    """Write the selected part of the log at ``log_path`` as a DriveLog at ``out``."""
    from tqdm import tqdm

    options = options or ExportOptions()
    log = open_source(log_path)
    out = Path(out)
    cameras = select_sensors(log, "camera", options.cameras)
    lidars = select_sensors(log, "lidar", options.lidars)
    frames = {cam: frame_indices(log, cam, options) for cam in cameras}
    sweeps = {lid: sweep_indices(log, lid, options) for lid in lidars}
    lo = options.start_s if options.start_s is not None else -np.inf
    hi = options.end_s if options.end_s is not None else np.inf
    keep = covering_indices(log.to_ns(log.ego.times), int(log.to_ns(max(lo, log.ego.times[0]))),
                            int(log.to_ns(min(hi, log.ego.times[-1]))))
    gt = log.ground_truth
    clean_stale_partials(out)
    source = dict(log.source, exported_from=str(log.root))
    with DriveLogWriter(out, name=log.name, start_time_ns=log.start_time_ns, source=source, overwrite=options.overwrite) as w:
        w.set_ego(Trajectory(log.ego.times[keep], log.ego.poses[keep]))
        for actor in log.actors.values():
            w.add_actor(actor)
        for cam in cameras:
            sensor = log.camera(cam)
            w.add_camera(cam, sensor.intrinsics, sensor.vehicle_from_camera, sensor.rolling_shutter_s,
                         sensor.rolling_shutter_direction, image_format=Path(log.image_files[cam][0]).suffix.lstrip(".").lower())
        for lid in lidars:
            sensor = log.lidar(lid)
            w.add_lidar(lid, sensor.vehicle_from_lidar, sensor.beams)
        total = sum(len(v) for v in frames.values()) + sum(len(v) for v in sweeps.values())
        bar = tqdm(total=total, desc="export drivelog", unit="frame", dynamic_ncols=True, leave=False)
        with_gt = {cam for cam in cameras if gt is not None and cam in gt.camera_frames}
        for cam, indices in frames.items():
            for j, i in enumerate(indices):
                w.add_camera_frame_file(cam, float(log.camera(cam).frame_times[i]), log.root / log.image_files[cam][i])
                if cam in with_gt:
                    frame = log.load_gt_camera_frame(cam, int(i))
                    w.add_gt_camera_frame(cam, j, frame["depth"], frame["instance"])
                bar.update(1)
        for lid, indices in sweeps.items():
            for k in indices:
                w.add_sweep(lid, float(log.lidar(lid).sweep_times[k]), log.load_sweep(lid, int(k)))
                bar.update(1)
        bar.close()
        if gt is not None:
            if gt.static_mesh:
                mesh = log.load_mesh(gt.static_mesh)
                w.add_gt_mesh(np.asarray(mesh.vertices), np.asarray(mesh.faces), vertex_colors=_colors(mesh))
            for actor_id, rel in gt.actor_meshes.items():
                mesh = log.load_mesh(rel)
                w.add_gt_mesh(np.asarray(mesh.vertices), np.asarray(mesh.faces), actor_id=actor_id, vertex_colors=_colors(mesh))
            if gt.instance_actors:
                w.set_instance_actors(gt.instance_actors)
    return out


def _colors(mesh) -> np.ndarray | None:
    colors = getattr(mesh.visual, "vertex_colors", None)
    return None if colors is None or len(colors) != len(mesh.vertices) else np.asarray(colors)
