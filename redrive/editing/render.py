"""Rendering an edited scene: neural fields (with the edited actor layers) composited with
ray-cast mesh assets, into camera images and LiDAR sweeps.

Compositing, per ray: the mesh hit distance is the neural renderer's ``far`` (nothing behind it
is sampled, no sky there), so the neural scene in front of a mesh occludes it and the mesh
occludes what is behind it. Camera: ``rgb = neural + (1 - opacity) * shaded mesh``, then the
camera's appearance correction. LiDAR: the neural median depth (where opacity crosses 0.5) if
it comes before the mesh hit (with the neural intensity and ray drop), else the mesh hit
(intensity = reflectivity x |cos incidence|, never dropped).
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


class EditRenderer:
    """Neural fields + actor layers + mesh actors of one edited scene, ready to render rays."""

    def __init__(self, es, lighting: Lighting | None = None):
        from redrive.recon.model import ActorPoses
        from redrive.recon.renderer import ActorLayer

        self.es = es
        self.model = es.model()
        self.lighting = lighting or Lighting()
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
        self.meshes = MeshCaster(mesh_nodes, mesh_assets) if mesh_nodes else None
        self.chunk = int(self.model.cfg.eval.chunk_rays)

    def _neural(self, o, d, t, need_rgb: bool, far):
        import torch

        from redrive.recon.renderer import render_chunked

        tt = lambda a: torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))  # noqa: E731
        far_t = None if far is None else tt(far)
        return render_chunked(self.model, tt(o), tt(d), tt(t), self.chunk, need_rgb=need_rgb, layers=self.layers,
                              far=far_t), tt

    def camera_rays(self, o: np.ndarray, d: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Colour (N, 3) before appearance and distance (N,) (inf: nothing) of scene-frame rays."""
        hits = self.meshes.cast(o, d, t) if self.meshes is not None else None
        r, _ = self._neural(o, d, t, True, None if hits is None else hits.t)
        rgb = r["rgb"].numpy()
        opacity = r["opacity"].numpy()
        depth = np.where(opacity > 0.5, r["median_depth"].numpy(), np.inf)
        if hits is not None and hits.hit.any():
            m = hits.hit
            rgb[m] += (1.0 - opacity[m])[:, None] * shade(hits, self.lighting)[m]
            depth[m] = np.where(np.isfinite(depth[m]), depth[m], hits.t[m])
        return rgb, depth

    def lidar_rays(self, o: np.ndarray, d: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Range (N,) (inf: no return), intensity (N,), returned (N,) bool of scene-frame rays."""
        import torch

        hits = self.meshes.cast(o, d, t) if self.meshes is not None else None
        r, tt = self._neural(o, d, t, False, None if hits is None else hits.t)
        with torch.no_grad():
            inten, logit = self.model.lidar_heads(r["features"], tt(d), r["depth"], r["opacity"])
        md = r["median_depth"].numpy().astype(np.float64)
        neural = np.isfinite(md)
        rng = np.where(neural, md, np.inf)
        intensity = inten.numpy().astype(np.float32)
        returned = neural & (logit.numpy() < 0.0)
        if hits is not None:
            mesh = hits.hit & ~neural  # the fields became opaque before the mesh, or not at all
            rng[mesh] = hits.t[mesh]
            intensity[mesh] = lidar_intensity(hits, d.astype(np.float32))[mesh]
            returned |= mesh
        return rng, intensity, returned


# ---------------------------------------------------------------------------------------------
# Appearance of camera frames


class AppearanceLookup:
    """Colour correction of a camera at a time: the frame's own code when the time is a trained
    frame of a recorded camera, else the mean of the two nearest trained frames (of the first
    recorded camera for a new camera)."""

    def __init__(self, es, model):
        from redrive.eval.protocol import split_indices
        from redrive.recon.data import image_keys

        self.model, self.log = model, es.log
        self.keys = image_keys(self.log)
        holdout = int(es.meta["config"].get("eval", {}).get("holdout_every", 2))
        self.train = {c: split_indices(len(s), holdout)[0] for c, s in self.log.cameras.items()}

    def __call__(self, camera: str, time: float):
        name = camera if camera in self.log.cameras else next(iter(self.log.cameras))
        ft = self.log.cameras[name].frame_times
        train = self.train[name]
        if len(train) == 0:
            return None
        order = train[np.argsort(np.abs(ft[train] - time), kind="stable")]
        if abs(ft[order[0]] - time) < 1e-6:
            picks = [int(order[0])]
        else:
            picks = [int(i) for i in order[:2]]
        return self.model.appearance.interpolated([self.keys[name] + i for i in picks])


def _apply_appearance(rgb: np.ndarray, corr) -> np.ndarray:
    if corr is None:
        return rgb
    mat, off = (c.numpy() for c in corr)
    return rgb @ mat.T + off


# ---------------------------------------------------------------------------------------------
# Frames


def frames(es, cams: list[CameraJob], lids: list[LidarJob], progress: bool = False,
           renderer: EditRenderer | None = None) -> Iterator[tuple[str, str, int, float, Any]]:
    """Render every job frame in time order: yields ``(kind, name, index, time, payload)`` with
    payload ``(image uint8 [H, W, 3], distance [H, W])`` for cameras and a ``LidarSweep``."""
    from tqdm import tqdm

    from redrive.render.rays import camera_rays, lidar_rays

    renderer = renderer or EditRenderer(es)
    appearance = AppearanceLookup(es, renderer.model) if cams else None
    ego = es.graph.ego
    jobs = [("camera", j, i, float(t)) for j in cams for i, t in enumerate(j.sensor.frame_times)]
    jobs += [("lidar", j, i, float(t)) for j in lids for i, t in enumerate(j.times)]
    jobs.sort(key=lambda x: (x[3], x[0], x[1].name))
    for kind, job, i, t in tqdm(jobs, desc="edit render", unit="frame", disable=not progress):
        if kind == "camera":
            rays = camera_rays(job.sensor, ego, t)
            rgb, dist = renderer.camera_rays(rays.origins, rays.directions, rays.times)
            rgb = _apply_appearance(rgb, appearance(job.name, t))
            h, w = job.sensor.intrinsics.height, job.sensor.intrinsics.width
            image = np.round(np.clip(rgb, 0.0, 1.0) * 255.0).astype(np.uint8).reshape(h, w, 3)
            yield kind, job.name, i, t, (image, dist.astype(np.float32).reshape(h, w))
        else:
            rays = lidar_rays(job.model, ego, job.vehicle_from_lidar, t)
            rng, inten, returned = renderer.lidar_rays(rays.origins, rays.directions, rays.times)
            yield kind, job.name, i, t, rays.to_sweep(rng, inten, returned)


def render_scene(es, sensors: Any = None, times: Any = None, progress: bool = False) -> Rendered:
    """Validate the edits at the rendered times, then render into arrays (``EditableScene.render``)."""
    cams, lids = resolve_sensors(es, sensors, times)
    es.validate(rendered_times(cams, lids))
    out = Rendered()
    images: dict[str, list] = {}
    depth: dict[str, list] = {}
    for kind, name, _, t, payload in frames(es, cams, lids, progress):
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


__all__ = ["AppearanceLookup", "CameraJob", "EditRenderer", "LidarJob", "Rendered", "frames", "render_scene",
           "rendered_times", "resolve_sensors"]
