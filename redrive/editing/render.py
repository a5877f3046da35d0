"""Rendering an edited scene: neural fields (with the edited actor layers) composited with
ray-cast mesh assets, into camera images and LiDAR sweeps.

Rendering goes through the simulator's ``redrive.render.neural.NeuralScene`` (volume-rendered
cameras, the LiDAR surface path or volume LiDAR, appearance) with the edited actor layers; mesh
actors are composited on top of it. Per ray, the mesh hit distance is the neural renderer's
``far`` (nothing behind it is sampled, no sky there), so the neural scene in front of a mesh
occludes it and the mesh occludes what is behind it. Camera: ``rgb = neural (with the camera's
appearance) + (1 - opacity) * shaded mesh``. LiDAR: the fields' return if it comes before the
mesh hit (with the neural intensity and ray drop), else the mesh hit (intensity = reflectivity x
|cos incidence|, never dropped).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterator

import numpy as np

from redrive.editing.errors import EditError
from redrive.editing.meshes import Lighting, MeshCaster, lidar_intensity, shade
from redrive.log.types import CameraSensor, LidarSweep
from redrive.render.errors import SensorSpecError


@dataclass
class CameraJob:
    name: str
    sensor: CameraSensor
    """Intrinsics, mount, shutter; ``frame_times`` are the times rendered."""
    recorded: bool
    """Whether this is a camera of the source log (its appearance codes apply)."""


@dataclass
class LidarJob:
    name: str
    model: Any
    """``redrive.render.lidar_models.LidarModel``."""
    vehicle_from_lidar: np.ndarray
    times: np.ndarray
    """Sweep start times rendered."""


@dataclass
class Rendered:
    """What ``EditableScene.render`` returns."""

    images: dict[str, np.ndarray] = field(default_factory=dict)
    """Camera -> ``[T, H, W, 3]`` uint8."""
    depth: dict[str, np.ndarray] = field(default_factory=dict)
    """Camera -> ``[T, H, W]`` float32 distance along each pixel's ray (inf: nothing)."""
    sweeps: dict[str, list[LidarSweep]] = field(default_factory=dict)
    """LiDAR -> one ``LidarSweep`` per time (sensor frame, drops included)."""
    times: dict[str, np.ndarray] = field(default_factory=dict)
    """Sensor -> the times rendered."""


# ---------------------------------------------------------------------------------------------
# Sensors and times


def resolve_sensors(es, sensors: Any = None, times: Any = None) -> tuple[list[CameraJob], list[LidarJob]]:
    """Jobs for ``sensors`` (None: the recorded rig; names; camera / LiDAR spec dicts, CameraSpec,
    LidarSpec) at ``times`` (None: each recorded sensor's frame times, spec'd sensors the first
    recorded camera's; an array: for every sensor; a dict: per sensor name)."""
    from redrive.render.lidar_models import LidarModel
    from redrive.render.sensors import CameraSpec, LidarSpec, camera_from_spec, lidar_from_spec

    log = es.log
    if sensors is None:
        sensors = list(log.cameras) + [n for n, s in log.lidars.items() if s.beams is not None]
    elif isinstance(sensors, (str, dict, CameraSpec, LidarSpec)):
        sensors = [sensors]
    first_cam = next(iter(log.cameras.values()), None)

    def times_for(name: str, own: np.ndarray | None) -> np.ndarray:
        if isinstance(times, dict):
            if name not in times:
                raise SensorSpecError(f"sensor {name!r}", "times", sorted(times), "no times given for this sensor")
            t = times[name]
        elif times is not None:
            t = times
        else:
            t = own if own is not None else (first_cam.frame_times if first_cam is not None else es.graph.ego.times)
        t = np.asarray(t, dtype=np.float64).reshape(-1)
        if not np.isfinite(t).all():
            raise SensorSpecError(f"sensor {name!r}", "times", t.tolist(), "must be finite seconds")
        return t

    cams, lids = [], []
    for s in sensors:
        if isinstance(s, str):
            if s in log.cameras:
                c = log.cameras[s]
                cams.append(CameraJob(s, CameraSensor(s, c.intrinsics, c.vehicle_from_camera, times_for(s, c.frame_times),
                                                      c.rolling_shutter_s, c.rolling_shutter_direction), True))
            elif s in log.lidars:
                lid = log.lidars[s]
                if lid.beams is None:
                    raise SensorSpecError(f"lidar {s!r}", "beams", None, "the log has no beam table for it; give a LiDAR spec")
                lids.append(LidarJob(s, LidarModel.from_beams(lid.beams, s), lid.vehicle_from_lidar, times_for(s, lid.sweep_times)))
            else:
                from redrive.errors import UnknownSensorError

                raise UnknownSensorError("camera or lidar", s, list(log.cameras) + list(log.lidars), es.log_path)
            continue
        if isinstance(s, dict):
            s = camera_from_spec(s) if ("width" in s or "hfov_deg" in s or "fx" in s) else lidar_from_spec(s)
        if isinstance(s, CameraSpec):
            recorded = s.name in log.cameras
            cams.append(CameraJob(s.name, s.sensor(times_for(s.name, None)), recorded))
        elif isinstance(s, LidarSpec):
            lids.append(LidarJob(s.name, s.model, s.vehicle_from_lidar, times_for(s.name, None)))
        else:
            raise SensorSpecError("sensor", "", s, "expected a sensor name, a spec dict, a CameraSpec or a LidarSpec")
    names = [j.name for j in cams + lids]
    if len(set(names)) != len(names):
        raise SensorSpecError("sensors", "name", names, "sensor names must be unique")
    return cams, lids


def rendered_times(cams: list[CameraJob], lids: list[LidarJob]) -> np.ndarray:
    """Every instant a sensor captures: camera frame times (widened by the rolling shutter) and
    LiDAR sweep starts and ends (checked for overlaps and the region)."""
    parts = []
    for c in cams:
        half = c.sensor.rolling_shutter_s / 2.0
        parts += [c.sensor.frame_times - half, c.sensor.frame_times, c.sensor.frame_times + half]
    for lj in lids:
        parts += [lj.times, lj.times + lj.model.sweep_duration_s / 2.0, lj.times + lj.model.sweep_duration_s]
    return np.unique(np.concatenate(parts)) if parts else np.zeros(0)


# ---------------------------------------------------------------------------------------------
# The edited scene's renderable parts


def composited_scene_class():
    """``CompositedScene``: a ``redrive.render.neural.NeuralScene`` that also draws mesh actors
    (defined lazily: the renderer imports torch)."""
    global _COMPOSITED
    if _COMPOSITED is not None:
        return _COMPOSITED
    import torch

    from redrive.render.neural import CameraRender, LidarRender, NeuralScene

    class CompositedScene(NeuralScene):
        """The edited scene as the simulator sees it: the reconstruction with the edited actor
        layers, plus ray-cast mesh actors composited behind the fields' opacity (module doc)."""

        meshes: MeshCaster | None = None
        lighting: Lighting = Lighting()

        def _hits(self, o, d, times, far):
            if self.meshes is None or o.shape[0] == 0:
                return None, far
            hits = self.meshes.cast(o.double().numpy(), d.double().numpy(), times.double().numpy())
            stop = torch.from_numpy(hits.t.copy())
            if far is not None:
                hits.t = np.where(hits.t < far.numpy(), hits.t, np.inf).astype(np.float32)
                stop = torch.minimum(stop, far)
            return hits, stop

        @torch.no_grad()
        def camera(self, o, d, times, camera_name=None, layers=None, far=None, appearance="nearest", progress=None):
            hits, stop = self._hits(o, d, times, far)
            r = super().camera(o, d, times, camera_name, layers, stop, appearance, progress)
            if hits is None or not hits.hit.any():
                return r
            m = torch.from_numpy(hits.hit)
            colour = torch.from_numpy(shade(hits, self.lighting).astype(np.float32))
            rgb = torch.where(m[:, None], r.rgb + (1.0 - r.opacity)[:, None] * colour, r.rgb).clamp(0.0, 1.0)
            behind = m & (r.opacity <= 0.5)
            depth = torch.where(behind, torch.from_numpy(hits.t), r.depth)
            return CameraRender(rgb, torch.where(m, torch.ones_like(r.opacity), r.opacity), depth)

        @torch.no_grad()
        def lidar(self, o, d, times, surface=True, layers=None, far=None):
            hits, stop = self._hits(o, d, times, far)
            r = super().lidar(o, d, times, surface, layers, stop)
            if hits is None or not hits.hit.any():
                return r
            # the fields' surface wins where it comes first; else the mesh returns (never dropped)
            mesh = torch.from_numpy(hits.hit) & ~torch.isfinite(r.range)
            inten = torch.from_numpy(lidar_intensity(hits, d.numpy().astype(np.float32)))
            return LidarRender(torch.where(mesh, torch.from_numpy(hits.t), r.range),
                               torch.where(mesh, inten, r.intensity), torch.where(mesh, 0.0, r.drop_prob))

    _COMPOSITED = CompositedScene
    return CompositedScene


_COMPOSITED = None


class EditRenderer:
    """Builds the edited scene's renderable parts: actor layers (the run's own fields in edited
    boxes, one more layer per other run whose actors are inserted) and the mesh actors, wrapped
    as a ``CompositedScene`` for the simulator and for ``render``."""

    def __init__(self, es, lighting: Lighting | None = None):
        from redrive.recon.model import ActorPoses
        from redrive.recon.renderer import ActorLayer

        self.es = es
        self.model = es.model()
        graph = es.graph
        slots = {a: k for k, a in enumerate(es.base_actor_ids())}
        step = self.model.cfg.actors.time_step_s
        groups: dict[Any, tuple[list[str], list[int]]] = {}
        mesh_nodes, mesh_assets = [], []
        for a, node in graph.actors.items():
            asset = es.assets.get(a)
            if asset is None:
                if a in slots:
                    groups.setdefault(es.run, ([], []))[0].append(a)
                    groups[es.run][1].append(slots[a])
                continue
            if asset.kind == "mesh":
                mesh_nodes.append(node)
                mesh_assets.append(asset)
                continue
            other = es.model(asset.run)
            if other.actors is None or asset.actor_id not in other.actor_ids:
                raise EditError(f"asset {asset.run}:{asset.actor_id}: that run has no reconstructed field for the actor")
            ids, idx = groups.setdefault(asset.run, ([], []))
            ids.append(a)
            idx.append(other.actor_ids.index(asset.actor_id))
        self.layers = []
        for run, (ids, idx) in groups.items():
            fields = es.model(run).actors
            if fields is not None and ids:
                self.layers.append(ActorLayer(fields, ActorPoses(graph, ids, step, field_index=idx)))
        base = es.neural_scene().with_layers(self.layers)
        cls = composited_scene_class()
        scene = cls.__new__(cls)
        scene.__dict__.update(base.__dict__)  # same model, appearance and surface meshes
        scene.meshes = MeshCaster(mesh_nodes, mesh_assets) if mesh_nodes else None
        scene.lighting = lighting or Lighting()
        self.scene = scene
        """The ``CompositedScene`` to render through."""


# ---------------------------------------------------------------------------------------------
# Frames


def frames(es, cams: list[CameraJob], lids: list[LidarJob], progress: bool = False,
           renderer: EditRenderer | None = None, lidar_surface: bool = True) -> Iterator[tuple[str, str, int, float, Any]]:
    """Render every job frame in time order: yields ``(kind, name, index, time, payload)`` with
    payload ``(image uint8 [H, W, 3], distance [H, W])`` for cameras and a ``LidarSweep``.
    ``lidar_surface``: LiDAR by the simulator's surface path (meshes of the fields), else by
    volume rendering."""
    import torch
    from tqdm import tqdm

    from redrive.render.rays import camera_rays, lidar_rays

    scene = (renderer or EditRenderer(es)).scene
    ego = es.graph.ego
    tt = lambda a: torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))  # noqa: E731
    jobs = [("camera", j, i, float(t)) for j in cams for i, t in enumerate(j.sensor.frame_times)]
    jobs += [("lidar", j, i, float(t)) for j in lids for i, t in enumerate(j.times)]
    jobs.sort(key=lambda x: (x[3], x[0], x[1].name))
    for kind, job, i, t in tqdm(jobs, desc="edit render", unit="frame", disable=not progress):
        if kind == "camera":
            rays = camera_rays(job.sensor, ego, t)
            r = scene.camera(tt(rays.origins), tt(rays.directions), tt(rays.times), job.name)
            h, w = job.sensor.intrinsics.height, job.sensor.intrinsics.width
            image = (r.rgb.numpy().reshape(h, w, 3) * 255.0 + 0.5).astype(np.uint8)
            dist = torch.where(r.opacity > 0.5, r.depth, torch.full_like(r.depth, float("inf")))
            yield kind, job.name, i, t, (image, dist.numpy().astype(np.float32).reshape(h, w))
        else:
            rays = lidar_rays(job.model, ego, job.vehicle_from_lidar, t)
            r = scene.lidar(tt(rays.origins), tt(rays.directions), tt(rays.times), surface=lidar_surface)
            yield kind, job.name, i, t, rays.to_sweep(r.range.numpy().astype(np.float64), r.intensity.numpy(),
                                                      r.drop_prob.numpy() <= 0.5)


def render_scene(es, sensors: Any = None, times: Any = None, progress: bool = False, lidar_surface: bool = True,
                 lighting: Lighting | None = None) -> Rendered:
    """Validate the edits at the rendered times, then render into arrays (``EditableScene.render``)."""
    cams, lids = resolve_sensors(es, sensors, times)
    es.validate(rendered_times(cams, lids))
    out = Rendered()
    images: dict[str, list] = {}
    depth: dict[str, list] = {}
    for kind, name, _, t, payload in frames(es, cams, lids, progress, EditRenderer(es, lighting), lidar_surface):
        if kind == "camera":
            images.setdefault(name, []).append(payload[0])
            depth.setdefault(name, []).append(payload[1])
        else:
            out.sweeps.setdefault(name, []).append(payload)
        out.times.setdefault(name, []).append(t)
    out.images = {k: np.stack(v) for k, v in images.items()}
    out.depth = {k: np.stack(v) for k, v in depth.items()}
    out.times = {k: np.asarray(v) for k, v in out.times.items()}
    return out


__all__ = ["CameraJob", "EditRenderer", "LidarJob", "Rendered", "frames", "render_scene",
           "rendered_times", "resolve_sensors"]
