"""Writing an edited scene as a DriveLog through the simulator (``redrive.render.simulate``):
rendered sensors, the edited actor tracks as labels (so exports follow the edit), the simulator's
previews, plus the edit list, the scenario, and before/after MP4s side by side.

Everything is validated before the first frame is rendered. The simulator publishes its DriveLog
into a temporary sibling of the output; the edit's own files are added there and the directory is
renamed into place last: a failed edit leaves nothing at the output path.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from redrive.editing.meshes import Lighting
from redrive.editing.render import EditRenderer, frames, rendered_times, resolve_sensors
from redrive.errors import RedriveError
from redrive.log.types import ActorTrack, Trajectory

GENERATOR = "redrive.editing"
PREVIEW_FPS = 10.0


def edited_tracks(es) -> list[ActorTrack]:
    """The edited scene's actors as DriveLog tracks (world frame)."""
    return [ActorTrack(a, n.category, np.asarray(n.size, float),
                       Trajectory(n.trajectory.times, es.graph.world_from_scene @ n.trajectory.poses), bool(n.dynamic))
            for a, n in es.graph.actors.items()]


def _before_frames(es, cams, mode: str, renderer: EditRenderer) -> dict[str, list[np.ndarray]]:
    """Left halves of the before/after previews: the recorded images where the camera, time and
    ego path are the recording's, else (or with ``mode="rendered"``) the unedited reconstruction."""
    out: dict[str, list[np.ndarray]] = {}
    need = []
    for job in cams:
        rec = es.log.cameras.get(job.name)
        if mode == "recorded" and rec is not None and not es.ego_changed:
            idx = [int(np.argmin(np.abs(rec.frame_times - t))) for t in job.sensor.frame_times]
            if all(abs(rec.frame_times[i] - t) < 1e-6 for i, t in zip(idx, job.sensor.frame_times)) and \
                    rec.intrinsics == job.sensor.intrinsics:
                out[job.name] = [es.log.load_image(job.name, i) for i in idx]
                continue
        need.append(job)
    if need:
        from redrive.editing.scene import EditableScene

        original = EditableScene(es.run)
        original._log, original._models, original._steps, original._neural = es._log, es._models, es._steps, es._neural
        if es.ego_changed:
            original.graph.ego = es.graph.ego
        for _, name, _, _, payload in frames(original, need, [], renderer=EditRenderer(original, renderer.scene.lighting)):
            out.setdefault(name, []).append(payload[0])
    return out


def write_log(es, out_dir: str | Path, sensors: Any = None, times: Any = None, *, lighting: Lighting | None = None,
              previews: str = "recorded", overwrite: bool = False, progress: bool = True, lidar_surface: bool = True,
              scenario_text: str | None = None) -> Path:
    """Validate, render (``redrive.render.simulate``) and write the edited scene as a DriveLog at
    ``out_dir``, atomically. ``previews``: left half of ``previews/<camera>_before_after.mp4`` =
    ``recorded`` | ``rendered`` | ``none`` (no previews at all)."""
    from redrive.log.writer import atomic_write_bytes, replace_directory
    from redrive.render.previews import VideoWriter
    from redrive.render.sensors import CameraSpec, LidarSpec
    from redrive.render.simulate import CameraJob as SimCamera
    from redrive.render.simulate import LidarJob as SimLidar
    from redrive.render.simulate import SimulateOptions, simulate

    cams, lids = resolve_sensors(es, sensors, times)
    es.validate(rendered_times(cams, lids))
    out_dir = Path(out_dir)
    if out_dir.exists() and not overwrite:
        raise RedriveError(f"{out_dir} already exists (pass --overwrite to replace it)")
    renderer = EditRenderer(es, lighting)
    tmp = out_dir.parent / f".{out_dir.name}.edit-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        sim_cams = [SimCamera(CameraSpec(j.name, j.sensor.intrinsics, j.sensor.vehicle_from_camera,
                                         j.sensor.rolling_shutter_s, j.sensor.rolling_shutter_direction),
                              j.sensor.frame_times) for j in cams]
        sim_lids = [SimLidar(LidarSpec(j.name, j.model, j.vehicle_from_lidar), j.times) for j in lids]
        options = SimulateOptions(lidar_surface=lidar_surface, previews=previews != "none", name=f"{es.log.name}+edited",
                                  source={"editor": GENERATOR, "source_log": str(es.log_path), "edits": len(es.edits)},
                                  overwrite=True, progress=progress, point_clouds=False)
        simulate(renderer.scene, es.graph, es.ego, sim_cams, sim_lids, tmp, options, start_time_ns=es.log.start_time_ns)
        atomic_write_bytes(tmp / "edits.json", (json.dumps(es.to_dict(), indent=1) + "\n").encode())
        if scenario_text is not None:
            atomic_write_bytes(tmp / "scenario.yaml", scenario_text.encode())
        if previews != "none" and cams:
            from redrive.log import DriveLog

            rendered = DriveLog.open(tmp)
            before = _before_frames(es, cams, previews, renderer)
            for job in cams:
                video = VideoWriter(tmp / "previews" / f"{job.name}_before_after.mp4", PREVIEW_FPS)
                try:
                    for k, left in enumerate(before.get(job.name, [])):
                        video.append(np.concatenate([left, rendered.load_image(job.name, k)], axis=1))
                finally:
                    video.close()
        replace_directory(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out_dir


__all__ = ["GENERATOR", "edited_tracks", "write_log"]
