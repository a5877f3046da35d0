"""Sensor simulation along a trajectory: a DriveLog of rendered cameras and LiDARs, with previews.

``simulate(scene, labels, ego, cameras, lidars, out_dir, options)`` renders every requested frame
of a ``NeuralScene`` (a reconstruction, or an edited one) and writes:

- ``OUT/`` a DriveLog (``redrive.log``): the ego trajectory, the actor tracks of ``labels`` (a
  ``SceneGraph``: its actors, scene frame, written in the world frame) as labels, camera frames
  (PNG) and LiDAR sweeps (sensor-frame points at their own firing times, intensity, beam index,
  and the dropped rays), so every reader, evaluator and exporter works on rendered output;
- ``OUT/previews/<camera>.mp4``, ``OUT/previews/<lidar>_bev.mp4`` (top view, points by
  intensity, label boxes in red) and ``OUT/previews/<lidar>_range.mp4`` (spinning LiDARs: range
  image, rows from the highest beam down);
- ``OUT/points/<lidar>/<index>.ply``: each sweep's returns (sensor frame, as in the DriveLog) with
  intensity, beam and time after the sweep start.

The output directory appears only when complete (the DriveLog writer's atomic publish).

Ray drop: a ray returns when its drop probability is at most 0.5 (``drop="threshold"``,
deterministic) or when a uniform draw exceeds it (``drop="sample"``: seeded per sensor and
sweep, so a render is reproducible); either way only finite ranges inside the model's
``[min_range_m, max_range_m]`` become points.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from redrive.errors import RedriveError
from redrive.geometry.cameras import CameraModel
from redrive.log.types import ActorTrack, Trajectory
from redrive.render.neural import RenderableScene
from redrive.render.rays import camera_rays, lidar_rays
from redrive.render.sensors import CameraSpec, LidarSpec
from redrive.scene.graph import SceneGraph

DROP_MODES = ("threshold", "sample")


@dataclass
class SimulateOptions:
    """How a simulation renders and what it writes."""

    lidar_surface: bool = True
    """LiDAR by the surface path (meshes + Embree); False: volume rendering."""
    drop: str = "threshold"
    """Ray-drop decision: ``threshold`` (drop_prob > 0.5) or ``sample`` (Bernoulli, seeded)."""
    seed: int = 0
    """Seed of sampled ray drops."""
    appearance: str = "nearest"
    """Appearance correction of cameras (``nearest`` training frames in time, or ``mean``)."""
    previews: bool = True
    """Write MP4 previews."""
    point_clouds: bool = True
    """Write a PLY per sweep."""
    fps: float = 10.0
    """Frame rate of the preview videos."""
    name: str = "render"
    """Name of the DriveLog."""
    source: dict = field(default_factory=dict)
    """Extra provenance stored in the DriveLog's ``source`` (must be JSON-able)."""
    overwrite: bool = False
    """Replace an existing output directory (only a DriveLog)."""
    progress: bool = True
    """Show a progress bar over frames."""


@dataclass
class CameraJob:
    """A camera to render and the times of its frames (seconds since the log start)."""

    spec: CameraSpec
    frame_times: np.ndarray


@dataclass
class LidarJob:
    """A LiDAR to render and the start times of its sweeps."""

    spec: LidarSpec
    sweep_times: np.ndarray


@dataclass
class SimulationResult:
    out_dir: Path
    camera_frames: dict[str, int]
    sweeps: dict[str, int]
    camera_pixels_per_s: float
    """Rendered pixels per second of camera rendering (rays only, no encoding)."""
    lidar_rays_per_s: float
    """LiDAR rays per second (rays only)."""


def scale_camera(spec: CameraSpec, scale: float) -> CameraSpec:
    """The camera rendered at ``scale`` times its resolution (same field of view and distortion)."""
    if not (scale > 0 and np.isfinite(scale)):
        raise RedriveError(f"--scale must be a positive number, got {scale!r}")
    if scale == 1.0:
        return spec
    k = spec.intrinsics
    w, h = max(1, int(round(k.width * scale))), max(1, int(round(k.height * scale)))
    sx, sy = w / k.width, h / k.height
    # pixel centres at integers: a pixel's edge at -0.5 stays at -0.5
    model = CameraModel(k.model, w, h, k.fx * sx, k.fy * sy, (k.cx + 0.5) * sx - 0.5, (k.cy + 0.5) * sy - 0.5,
                        tuple(k.distortion))
    return CameraSpec(spec.name, model, spec.vehicle_from_camera, spec.rolling_shutter_s, spec.rolling_shutter_direction)


def _in_world(labels: SceneGraph) -> list[ActorTrack]:
    w = labels.world_from_scene
    return [ActorTrack(a.id, a.category, np.asarray(a.size, float), Trajectory(a.trajectory.times, w @ a.trajectory.poses),
                       bool(a.dynamic)) for a in labels.actors.values()]


def _to_torch(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))


def _footprints(labels: SceneGraph, t: float, scene_from_vehicle: np.ndarray) -> list[np.ndarray]:
    vehicle_from_scene = np.linalg.inv(scene_from_vehicle)
    rings = []
    for a in labels.actors.values():
        if not bool(a.exists_at(t)):
            continue
        c = a.box_corners(t)[[1, 3, 7, 5]]  # bottom corners (+,+), (+,-), (-,-), (-,+)
        rings.append(c @ vehicle_from_scene[:3, :3].T + vehicle_from_scene[:3, 3])
    return rings


def simulate(scene: RenderableScene, labels: SceneGraph, ego: Trajectory, cameras: list[CameraJob], lidars: list[LidarJob],
             out_dir: str | Path, options: SimulateOptions | None = None, start_time_ns: int | None = None) -> SimulationResult:
    """Render ``cameras`` and ``lidars`` on a vehicle moving along ``ego`` (``world_from_vehicle``)
    through ``scene`` into a DriveLog at ``out_dir`` (see the module doc), labelled with the
    actors of ``labels``."""
    from tqdm import tqdm

    from redrive.log.writer import DriveLogWriter
    from redrive.render.previews import VideoWriter, birds_eye, ply_bytes, range_image

    opt = options or SimulateOptions()
    if opt.drop not in DROP_MODES:
        raise RedriveError(f"drop mode {opt.drop!r}: choose one of {', '.join(DROP_MODES)}")
    names = [c.spec.name for c in cameras] + [lj.spec.name for lj in lidars]
    if len(set(names)) != len(names):
        raise RedriveError(f"sensor names must be unique, got {names}")
    if not names:
        raise RedriveError("nothing to render: give at least one camera or LiDAR")
    out_dir = Path(out_dir)
    scene_from_world = np.linalg.inv(scene.world_from_scene)
    ego_scene = Trajectory(ego.times, scene_from_world @ ego.poses)
    start_ns = scene.start_time_ns if start_time_ns is None else int(start_time_ns)
    source = {"generator": "redrive.render", "run": str(scene.run_dir) if scene.run_dir else None, "step": scene.step,
              "lidar_path": "surface" if opt.lidar_surface else "volume", "drop": opt.drop, **opt.source}
    jobs = [(float(t), 0, k, i) for k, c in enumerate(cameras) for i, t in enumerate(c.frame_times)]
    jobs += [(float(t), 1, k, i) for k, lj in enumerate(lidars) for i, t in enumerate(lj.sweep_times)]
    jobs.sort()
    cam_time = lid_time = 0.0
    cam_px = lid_rays = 0
    with DriveLogWriter(out_dir, opt.name, start_ns, source=json.loads(json.dumps(source)), overwrite=opt.overwrite) as w:
        w.set_ego(ego)
        for track in _in_world(labels):
            w.add_actor(track)
        for c in cameras:
            w.add_camera(c.spec.name, c.spec.intrinsics, c.spec.vehicle_from_camera, c.spec.rolling_shutter_s,
                         c.spec.rolling_shutter_direction)
        for lj in lidars:
            spinning = lj.spec.model.kind == "spinning"
            w.add_lidar(lj.spec.name, lj.spec.vehicle_from_lidar, lj.spec.model.to_beams() if spinning else None)
        videos: dict[str, VideoWriter] = {}

        def video(key: str) -> VideoWriter:
            if key not in videos:
                videos[key] = VideoWriter(w.tmp_dir / "previews" / f"{key}.mp4", opt.fps)
            return videos[key]

        try:
            for t, kind, k, i in tqdm(jobs, desc=f"render {out_dir.name}", unit="frame", disable=not opt.progress):
                if kind == 0:
                    spec = cameras[k].spec
                    sensor = spec.sensor(cameras[k].frame_times)
                    rays = camera_rays(sensor, ego_scene, t)
                    t0 = time.perf_counter()
                    r = scene.camera(_to_torch(rays.origins), _to_torch(rays.directions), _to_torch(rays.times), spec.name,
                                     appearance=opt.appearance)
                    cam_time += time.perf_counter() - t0
                    cam_px += len(rays)
                    h, wd = spec.intrinsics.height, spec.intrinsics.width
                    image = (r.rgb.numpy().reshape(h, wd, 3) * 255.0 + 0.5).astype(np.uint8)
                    w.add_camera_frame(spec.name, t, image)
                    if opt.previews:
                        video(spec.name).append(image)
                    continue
                spec = lidars[k].spec
                rays = lidar_rays(spec.model, ego_scene, spec.vehicle_from_lidar, t)
                t0 = time.perf_counter()
                r = scene.lidar(_to_torch(rays.origins), _to_torch(rays.directions), _to_torch(rays.times),
                                surface=opt.lidar_surface)
                lid_time += time.perf_counter() - t0
                lid_rays += len(rays)
                prob = r.drop_prob.numpy().astype(np.float64)
                if opt.drop == "sample":
                    u = np.random.default_rng([opt.seed, k, i]).random(len(prob))
                    returned = u >= prob
                else:
                    returned = prob <= 0.5
                ranges = r.range.numpy().astype(np.float64)
                sweep = rays.to_sweep(ranges, r.intensity.numpy(), returned)
                w.add_sweep(spec.name, t, sweep)
                kept = np.isfinite(ranges) & returned & (ranges >= rays.min_range_m) & (ranges <= rays.max_range_m)
                if opt.point_clouds:
                    w.add_file(f"points/{spec.name}/{i:06d}.ply",
                               ply_bytes(sweep.points, sweep.intensity, sweep.beam, sweep.times - t))
                if opt.previews:
                    pts_vehicle = sweep.points.astype(np.float64) @ spec.vehicle_from_lidar[:3, :3].T + spec.vehicle_from_lidar[:3, 3]
                    scene_from_vehicle = ego_scene.at(t)
                    video(f"{spec.name}_bev").append(birds_eye(pts_vehicle, sweep.intensity, _footprints(labels, t, scene_from_vehicle)))
                    if spec.model.kind == "spinning":
                        video(f"{spec.name}_range").append(range_image(
                            np.where(kept, ranges, np.inf), rays.beam, rays.column, spec.model.rows_by_elevation(),
                            spec.model.scan.azimuth_count, spec.model.max_range_m))
        finally:
            for v in videos.values():
                v.close()
    return SimulationResult(
        out_dir=out_dir,
        camera_frames={c.spec.name: len(c.frame_times) for c in cameras},
        sweeps={lj.spec.name: len(lj.sweep_times) for lj in lidars},
        camera_pixels_per_s=cam_px / cam_time if cam_time > 0 else 0.0,
        lidar_rays_per_s=lid_rays / lid_time if lid_time > 0 else 0.0,
    )


__all__ = ["CameraJob", "DROP_MODES", "LidarJob", "SimulateOptions", "SimulationResult", "scale_camera", "simulate"]
