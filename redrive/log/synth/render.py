"""Rendering a scene description into a DriveLog with ground truth."""

from __future__ import annotations

import json
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np

from redrive.errors import LogFormatError, RedriveError
from redrive.log.synth.camera import CameraRenderer
from redrive.log.synth.layout import build_scene
from redrive.log.synth.lidar import LidarRenderer
from redrive.log.synth.presets import preset as preset_config
from redrive.log.synth.raycast import World
from redrive.log.synth.meshes import subdivide
from redrive.log.synth.scene import SCENE_FILE, STATIC_MAX_EDGE_M, SynthScene
from redrive.log.types import ActorTrack, LidarSweep

GENERATOR = "redrive.log.synth"


class SceneRenderer:
    """Renders single frames of a scene in memory (for tests and ground truth of novel views)."""

    def __init__(self, scene: SynthScene):
        self.scene = scene
        self.world = World(scene)
        self._cameras: dict[str, CameraRenderer] = {}
        self._lidars: dict[str, LidarRenderer] = {}
        self._lock = threading.Lock()

    def camera_frame(self, camera: str, index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Image (H, W, 3) uint8, z-depth (H, W) float32, instance (H, W) int32 of one frame."""
        sensor = self.scene.camera(camera)
        _check_index(camera, index, len(sensor.frame_times))
        with self._lock:
            if camera not in self._cameras:
                self._cameras[camera] = CameraRenderer(self.world, sensor, self.scene.render)
        return self._cameras[camera].render(self.scene.ego, float(sensor.frame_times[index]))

    def lidar_sweep(self, lidar: str, index: int) -> LidarSweep:
        """One sweep (points in the sensor frame at their own times, drops included)."""
        sensor = self.scene.lidar(lidar)
        _check_index(lidar, index, len(sensor.sweep_times))
        with self._lock:
            if lidar not in self._lidars:
                k = [s.name for s in self.scene.lidars].index(lidar)
                self._lidars[lidar] = LidarRenderer(self.world, sensor, self.scene.render, self.scene.seed, k)
        return self._lidars[lidar].render(self.scene.ego, index)

    def actor_tracks(self) -> list[ActorTrack]:
        return [ActorTrack(a.id, self.world.actor_categories[i], np.asarray(self.world.actor_sizes[i], float),
                           a.trajectory, a.dynamic) for i, a in enumerate(self.scene.actors)]


def _check_index(sensor: str, index: int, count: int) -> None:
    if not 0 <= index < count:
        raise IndexError(f"sensor {sensor!r} has {count} frames, index {index} is out of range")


def _vertex_colors(mesh, materials) -> np.ndarray:
    """(V, 4) uint8 per-vertex base colours (for viewing the truth meshes)."""
    colors = np.full((len(mesh.vertices), 4), 255, np.uint8)
    base = np.array([m.color for m in materials], np.float32)
    colors[mesh.faces.ravel(), :3] = np.round(np.clip(base[np.repeat(mesh.material, 3)], 0, 1) ** (1 / 2.2) * 255)
    return colors


RENDER_THREADS = 2
"""Frames rendered concurrently by ``render_scene`` (the machine has 2 cores)."""


def _drain(item, w, writer: ThreadPoolExecutor, writing: list) -> None:
    """Hand a rendered frame to the writer thread (in job order) and reap finished writes."""
    (name, kind, index, time), future = item
    result = future.result()
    if kind == "camera":
        writing.append(writer.submit(_write_camera, w, name, index, time, *result))
    else:
        writing.append(writer.submit(w.add_sweep, name, time, result))
    while writing and (writing[0].done() or len(writing) > 4):
        writing.pop(0).result()


def _write_camera(w, name: str, index: int, time: float, image, depth, instance) -> None:
    w.add_camera_frame(name, time, image)
    w.add_gt_camera_frame(name, index, depth, instance)


def render_scene(scene: SynthScene, out_dir: str | Path, overwrite: bool = False, progress: bool = True) -> Path:
    """Render every camera frame and LiDAR sweep of ``scene`` into a DriveLog at ``out_dir``,
    with ground truth (static and actor meshes, per-frame depth and instance masks) and the scene
    description itself (``synth_scene.json``). Returns the log directory."""
    from tqdm import tqdm

    from redrive.log.writer import DriveLogWriter

    out_dir = Path(out_dir)
    renderer = SceneRenderer(scene)
    world = renderer.world
    source = {"generator": GENERATOR, "preset": scene.preset, "seed": scene.seed, "scene_file": SCENE_FILE,
              "actors": len(scene.actors)}
    with DriveLogWriter(out_dir, scene.name, scene.start_time_ns, source=source, overwrite=overwrite) as w:
        w.set_ego(scene.ego)
        for track in renderer.actor_tracks():
            w.add_actor(track)
        static = subdivide(world.static_mesh, STATIC_MAX_EDGE_M)
        w.add_gt_mesh(static.vertices, static.faces, vertex_colors=_vertex_colors(static, world.materials))
        for i, a in enumerate(scene.actors):
            mesh = world.actor_meshes[i]
            mats = world.materials[world.actor_material_base[i]:]
            w.add_gt_mesh(mesh.vertices, mesh.faces, actor_id=a.id, vertex_colors=_vertex_colors(mesh, mats))
        w.set_instance_actors([a.id for a in scene.actors])
        for cam in scene.cameras:
            w.add_camera(cam.name, cam.intrinsics, cam.vehicle_from_camera, cam.rolling_shutter_s, cam.rolling_shutter_direction)
        for lid in scene.lidars:
            w.add_lidar(lid.name, lid.vehicle_from_lidar, lid.beams)
        jobs = [(c.name, "camera", i, float(t)) for c in scene.cameras for i, t in enumerate(c.frame_times)]
        jobs += [(s.name, "lidar", i, float(t)) for s in scene.lidars for i, t in enumerate(s.sweep_times)]
        # Interleave by time so that a partial run still covers the whole rig.
        jobs.sort(key=lambda j: (j[2], j[1], j[0]))
        # Frames render two at a time (numpy and Embree release the GIL, so shading one frame
        # overlaps casting another); encoding and compressing run on one writer thread, in order.
        def render(job):
            name, kind, index, _ = job
            return renderer.camera_frame(name, index) if kind == "camera" else renderer.lidar_sweep(name, index)

        with ThreadPoolExecutor(max_workers=RENDER_THREADS) as pool, ThreadPoolExecutor(max_workers=1) as writer:
            rendering: list[tuple[tuple, Future]] = []
            writing: list[Future] = []
            bar = tqdm(total=len(jobs), desc=f"synth {out_dir.name}", unit="frame", disable=not progress)
            for job in jobs:
                rendering.append((job, pool.submit(render, job)))
                if len(rendering) < RENDER_THREADS + 1:
                    continue
                _drain(rendering.pop(0), w, writer, writing)
                bar.update()
            while rendering:
                _drain(rendering.pop(0), w, writer, writing)
                bar.update()
            for f in writing:
                f.result()
            bar.close()
        # The scene description travels inside the log; it is renamed into place with it.
        w.add_file(SCENE_FILE, (json.dumps(scene.to_dict(), indent=1) + "\n").encode())
    return out_dir


def generate(out_dir: str | Path, preset: str = "default", seed: int = 0, overwrite: bool = False,
             progress: bool = True, **overrides) -> Path:
    """Generate a synthetic DriveLog with ground truth at ``out_dir``; returns its path.

    ``preset`` is one of ``presets.PRESETS`` (``tiny``, ``default``, ``large``); ``overrides``
    replace fields of the preset's ``SynthConfig`` (e.g. ``frames=20``). The same seed and config
    give byte-identical arrays.
    """
    config = preset_config(preset, **overrides)
    scene = build_scene(config, seed, preset)
    return render_scene(scene, out_dir, overwrite=overwrite, progress=progress)


def load_scene(log_dir: str | Path) -> SynthScene:
    """The scene description of a generated log (to edit and re-render it)."""
    from redrive.log.manifest import MANIFEST_NAME, read_json

    log_dir = Path(log_dir)
    manifest = log_dir / MANIFEST_NAME
    doc = read_json(manifest)
    source = doc.get("source") if isinstance(doc, dict) else None
    if not isinstance(source, dict) or source.get("generator") != GENERATOR:
        raise RedriveError(f"{log_dir} was not made by the synthetic generator (its log.json source has no "
                           f"generator {GENERATOR!r}); only synthetic logs carry a scene description")
    name = source.get("scene_file", SCENE_FILE)
    if not isinstance(name, str) or "/" in name or name.startswith("."):
        raise LogFormatError(manifest, "source.scene_file", name, "must be a plain file name inside the log directory")
    return SynthScene.load(log_dir / name)
