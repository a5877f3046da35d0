"""Writing an edited scene as a DriveLog: rendered sensors, the edited actor tracks (so exported
labels follow the edit), the edit list, and before/after MP4 previews side by side.

Everything is validated before the first frame is rendered, and the log is assembled in a
temporary sibling directory that is renamed into place at the end (``DriveLogWriter``): a failed
edit leaves nothing at the output path.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from redrive.editing.meshes import Lighting
from redrive.editing.render import EditRenderer, frames, rendered_times, resolve_sensors
from redrive.log.types import ActorTrack, Trajectory

GENERATOR = "redrive.editing"
PREVIEW_FPS = 10


def edited_tracks(es) -> list[ActorTrack]:
    """The edited scene's actors as DriveLog tracks (world frame)."""
    return [ActorTrack(a, n.category, np.asarray(n.size, float),
                       Trajectory(n.trajectory.times, es.graph.world_from_scene @ n.trajectory.poses), bool(n.dynamic))
            for a, n in es.graph.actors.items()]


def _video_bytes(frames_rgb: list[np.ndarray], fps: int) -> bytes | None:
    """H.264 MP4 of uint8 frames (None, with a message, when no encoder is installed)."""
    import importlib.util

    if importlib.util.find_spec("imageio_ffmpeg") is None:  # the encoder binary
        print("note: MP4 previews need imageio-ffmpeg (pip install imageio-ffmpeg); skipped")
        return None
    import imageio.v2 as imageio

    h, w = frames_rgb[0].shape[:2]
    ph, pw = h + h % 2, w + w % 2  # H.264 wants even sizes
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "preview.mp4"
        with imageio.get_writer(str(path), fps=fps, codec="libx264", quality=7, macro_block_size=1,
                                ffmpeg_log_level="error", pixelformat="yuv420p") as out:
            for f in frames_rgb:
                if (ph, pw) != (h, w):
                    f = np.pad(f, ((0, ph - h), (0, pw - w), (0, 0)))
                out.append_data(f)
        return path.read_bytes()


def _before_frames(es, cams, mode: str, lighting: Lighting) -> dict[str, list[np.ndarray]]:
    """Left halves of the previews: the recorded images where the camera, time and ego path are
    the recording's, else (or with ``mode="rendered"``) the unedited reconstruction."""
    out: dict[str, list[np.ndarray]] = {}
    if mode == "none":
        return out
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
        original._log, original._models = es._log, es._models
        if es.ego_changed:
            original.graph.ego = es.graph.ego
        for kind, name, _, _, payload in frames(original, need, [], progress=False,
                                                renderer=EditRenderer(original, lighting)):
            out.setdefault(name, []).append(payload[0])
    return out


def write_log(es, out_dir: str | Path, sensors: Any = None, times: Any = None, *, lighting: Lighting | None = None,
              previews: str = "recorded", overwrite: bool = False, progress: bool = True,
              scenario_text: str | None = None) -> Path:
    """Validate, render and write the edited scene as a DriveLog at ``out_dir`` (atomically).
    ``previews``: left half of ``previews/<camera>.mp4`` = ``recorded`` | ``rendered`` | ``none``
    (no previews)."""
    from redrive.log.writer import DriveLogWriter

    cams, lids = resolve_sensors(es, sensors, times)
    es.validate(rendered_times(cams, lids))
    lighting = lighting or Lighting()
    renderer = EditRenderer(es, lighting)
    log = es.log
    out_dir = Path(out_dir)
    source = {"generator": GENERATOR, "run": str(es.run), "source_log": str(es.log_path), "edits": len(es.edits)}
    after: dict[str, list[np.ndarray]] = {}
    with DriveLogWriter(out_dir, f"{log.name}+edited", log.start_time_ns, source=source, overwrite=overwrite) as w:
        w.set_ego(Trajectory(es.graph.ego.times, es.graph.world_from_scene @ es.graph.ego.poses))
        for track in edited_tracks(es):
            w.add_actor(track)
        for job in cams:
            s = job.sensor
            w.add_camera(job.name, s.intrinsics, s.vehicle_from_camera, s.rolling_shutter_s, s.rolling_shutter_direction)
        for job in lids:
            beams = job.model.to_beams() if job.model.kind == "spinning" else None
            w.add_lidar(job.name, job.vehicle_from_lidar, beams)
        for kind, name, _, t, payload in frames(es, cams, lids, progress, renderer):
            if kind == "camera":
                w.add_camera_frame(name, t, payload[0])
                if previews != "none":
                    after.setdefault(name, []).append(payload[0])
            else:
                w.add_sweep(name, t, payload)
        w.add_file("edits.json", (json.dumps(es.to_dict(), indent=1) + "\n").encode())
        if scenario_text is not None:
            w.add_file("scenario.yaml", scenario_text.encode())
        if previews != "none" and after:
            before = _before_frames(es, cams, previews, lighting)
            for name, frames_after in after.items():
                left = before.get(name)
                pairs = [np.concatenate([b, a], axis=1) for b, a in zip(left, frames_after)] if left else frames_after
                data = _video_bytes(pairs, PREVIEW_FPS)
                if data is not None:
                    w.add_file(f"previews/{name}.mp4", data)
    return out_dir


__all__ = ["GENERATOR", "edited_tracks", "write_log"]
