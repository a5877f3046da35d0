"""A reconstruction as a ray-level sensor: camera colour and LiDAR returns of arbitrary rays.

``NeuralScene`` is the one object every sensor simulation goes through (``redrive render``, the
benchmarks, and scene editing, which renders an edited scene through the same calls)::

    scene = NeuralScene.from_run("runs/drive")                  # model + appearance + mesh cache
    cam = scene.camera(o, d, times, "front")                     # CameraRender: rgb [N, 3], opacity, depth
    lid = scene.lidar(o, d, times, surface=True)                 # LidarRender: range [N] (inf: none),
                                                                 #   intensity [N], drop_prob [N]
    edited = scene.with_layers(layers)                           # moved / removed / foreign actors

Rays are in the *scene frame* (``scene.world_from_scene`` maps to the log's world frame), float32
``[N, 3]`` origins and unit directions, ``[N]`` times in seconds since the log start. Both calls
accept the renderer's editing hooks (``redrive.recon.renderer``): ``layers`` (a list of
``ActorLayer``: which actor fields render in which boxes; default: this scene's, i.e. the
reconstruction's own actors unless ``with_layers`` replaced them) and ``far`` ``[N]`` (an inserted
opaque object at that distance: the scene is rendered in front of it only; the caller composites
its object — cameras: ``rgb + (1 - opacity) * colour``; LiDAR: where ``range`` is inf and ``far``
finite, the object is the return).

Appearance (per-image exposure / white balance learned in training) for a rendered camera: the
mean correction of the two training frames of that camera nearest in time (``appearance=
"nearest"``, the default), or of all its training frames (``"mean"``); cameras the log does not
have get the mean over every training image.
"""

from __future__ import annotations

import copy
import math
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import torch

from redrive.errors import RedriveError
from redrive.recon.model import SceneModel
from redrive.recon.renderer import (ActorLayer, dense_neus_alpha, empty_rays, model_layers, render_actors, render_chunked,
                                    render_distant)
from redrive.render.surface import MeshCache, SurfaceConfig, SurfaceRenderer, checkpoint_key
from redrive.scene.graph import SceneGraph

APPEARANCE_MODES = ("nearest", "mean")
SURFACE_CHECK_SAMPLES = 2
"""Samples across the band with which a mesh hit's opacity is judged before it is shaded (on
held-out frames of the default run, 2 and 3 samples give the same pictures to 0.006 dB; 3 send
twice as many rays on to the band)."""


@dataclass(frozen=True)
class CameraBand:
    """Mesh-guided camera sampling: where a ray hits the background mesh, the background is volume
    rendered only in a band around the hit."""

    half_width_m: float = 0.15
    """Half width of the band across the surface, metres (along the ray: divided by the cosine of
    the incidence angle). Covers the NeuS transition and the mesh's discretisation error."""
    min_cos: float = 0.1
    """Smallest incidence cosine used for that division (grazing rays get a band at most
    ``half_width_m / min_cos`` long)."""
    samples: int = 6
    """Background samples in the band."""
    max_transmittance: float = 0.02
    """Rays whose band leaves more than this transmittance (a surface that is not opaque there)
    are rendered again along their whole length."""
    chunk: int = 1 << 16
    """Rays per band-rendering call."""
    shade_surface: bool = True
    """Where the background is opaque across the band (its opacity estimated from a few samples
    as the renderer would), shade it once at the mesh hit instead of volume rendering the band;
    actors in front are still volume rendered, with the shaded background behind them. False:
    every hit ray's band is volume rendered."""


@dataclass
class CameraRender:
    """Colour of camera rays."""

    rgb: torch.Tensor
    """[N, 3] in [0, 1], after the camera's appearance correction."""
    opacity: torch.Tensor
    """[N] accumulated opacity of the scene (1 - sky share; with ``far``: in front of it)."""
    depth: torch.Tensor
    """[N] expected distance of the opaque part, metres."""


@dataclass
class LidarRender:
    """Returns of LiDAR rays."""

    range: torch.Tensor
    """[N] distance to the surface, metres (inf: no return from the scene)."""
    intensity: torch.Tensor
    """[N] intensity head in [0, 1] (0 where there is no surface)."""
    drop_prob: torch.Tensor
    """[N] probability that the sensor reports no return (ray drop head)."""


class RenderableScene(Protocol):
    """What ``redrive.render.simulate`` needs of a scene: ``NeuralScene`` is one; an edited scene
    that composites inserted meshes (through ``far``) can wrap one and expose the same members."""

    world_from_scene: np.ndarray
    start_time_ns: int
    run_dir: Path | None
    step: int

    def camera(self, o: torch.Tensor, d: torch.Tensor, times: torch.Tensor, camera_name: str | None = None,
               *, appearance: str = "nearest") -> CameraRender: ...

    def lidar(self, o: torch.Tensor, d: torch.Tensor, times: torch.Tensor, surface: bool = True) -> LidarRender: ...


class AppearanceTable:
    """Which learned per-image colour corrections a rendered camera frame uses."""

    def __init__(self, model: SceneModel, frames: dict[str, tuple[np.ndarray, np.ndarray]] | None):
        """``frames``: per recorded camera, ``(times [F], image indices [F])`` of its training
        frames (None: unknown, e.g. the source log is gone; every camera gets the mean of all
        corrections)."""
        self.model = model
        self.frames = frames or {}
        n = model.appearance.matrix.shape[0]
        every = np.concatenate([idx for _, idx in self.frames.values()]) if self.frames else np.arange(n)
        self.global_mean = model.appearance.interpolated([int(i) for i in every])

    @classmethod
    def from_log(cls, model: SceneModel, log) -> "AppearanceTable":
        from redrive.eval.protocol import split_indices
        from redrive.recon.data import image_keys

        keys = image_keys(log)
        frames = {}
        for name, sensor in log.cameras.items():
            train, _ = split_indices(len(sensor), model.cfg.eval.holdout_every)
            frames[name] = (np.asarray(sensor.frame_times)[train], keys[name] + train)
        return cls(model, frames)

    def correction(self, camera: str | None, time: float, mode: str = "nearest") -> tuple[torch.Tensor, torch.Tensor]:
        """``(matrix [3, 3], offset [3])`` for a frame of ``camera`` at ``time``."""
        if mode not in APPEARANCE_MODES:
            raise RedriveError(f"appearance mode {mode!r}: choose one of {', '.join(APPEARANCE_MODES)}")
        if camera not in self.frames or len(self.frames[camera][1]) == 0:
            return self.global_mean
        times, idx = self.frames[camera]
        if mode == "mean":
            pick = idx
        else:
            pick = idx[np.argsort(np.abs(times - time), kind="stable")[:2]]
        return self.model.appearance.interpolated([int(i) for i in pick])


class NeuralScene:
    """A reconstruction (``SceneModel``) rendered ray by ray, with the actors of ``layers``."""

    def __init__(self, model: SceneModel, appearance: AppearanceTable | None = None,
                 surface: SurfaceRenderer | None = None, layers: list[ActorLayer] | None = None,
                 chunk: int = 8192, band: CameraBand | None = CameraBand()):
        self.model = model.eval()
        self.appearance = appearance or AppearanceTable(model, None)
        self.surface = surface or SurfaceRenderer(model)
        self.layers = layers
        """Actor layers rendered by default (None: the reconstruction's own actors)."""
        self.chunk = chunk
        """Rays per volume-rendering call."""
        self.band = band
        """Mesh-guided camera sampling (see ``camera``); None: plain volume rendering."""
        self.run_dir: Path | None = None
        self.log_path: Path | None = None
        self.start_time_ns = 0
        self.step = 0

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_run(cls, run_dir: str | Path, mesh_cache: str | Path | None | bool = True,
                 surface: SurfaceConfig | None = None, progress: bool = False, **kwargs) -> "NeuralScene":
        """The scene of a reconstruction run (its latest usable checkpoint).

        ``mesh_cache``: where the surface path keeps its meshes — True: ``RUN/render_cache``;
        a path; False/None: in memory only. The run's source log (for appearance and the start
        time) is opened when it still exists.
        """
        from redrive.recon.trainer import load_run

        model, _, info = load_run(run_dir)
        run_dir = Path(run_dir)
        log = None
        log_path = Path(info["log"]) if info.get("log") else None
        if log_path is not None and log_path.is_dir():
            from redrive.log import DriveLog

            log = DriveLog.open(log_path)
        else:
            warnings.warn(f"{run_dir}: source log {log_path} not found; every camera uses the mean appearance", stacklevel=2)
        return cls.of_run_model(model, run_dir, int(info["step"]), log, log_path, mesh_cache, surface, progress, **kwargs)

    @classmethod
    def of_run_model(cls, model: SceneModel, run_dir: Path, step: int, log, log_path: Path | None,
                     mesh_cache: str | Path | None | bool = True, surface: SurfaceConfig | None = None,
                     progress: bool = False, **kwargs) -> "NeuralScene":
        """The scene of an already loaded run model (checkpoint ``step``); ``log``: its source
        DriveLog, or None when it is gone; ``mesh_cache`` as ``from_run``."""
        root = run_dir / "render_cache" if mesh_cache is True else (Path(mesh_cache) if mesh_cache else None)
        cache = MeshCache(root, checkpoint_key(run_dir, step))
        out = cls(model, AppearanceTable.from_log(model, log) if log is not None else None,
                  SurfaceRenderer(model, surface, cache, progress=progress), **kwargs)
        out.run_dir, out.log_path, out.step = run_dir, log_path, step
        out.start_time_ns = int(log.start_time_ns) if log is not None else 0
        return out

    def with_layers(self, layers: list[ActorLayer] | None) -> "NeuralScene":
        """The same reconstruction with other actors (shares the model, appearance and meshes)."""
        out = copy.copy(self)
        out.layers = layers
        return out

    @property
    def graph(self) -> SceneGraph:
        """The reconstruction's scene graph (scene frame, recorded actors and rig)."""
        return self.model.scene

    @property
    def world_from_scene(self) -> np.ndarray:
        return self.model.scene.world_from_scene

    def _layers(self, layers: list[ActorLayer] | None) -> list[ActorLayer]:
        """The actor layers to render: ``layers``, else this scene's (``with_layers``), else the
        reconstruction's own actors."""
        if layers is None:
            layers = self.layers
        return model_layers(self.model) if layers is None else layers

    # ------------------------------------------------------------------ sensors
    @torch.no_grad()
    def camera(self, o: torch.Tensor, d: torch.Tensor, times: torch.Tensor, camera_name: str | None = None,
               layers: list[ActorLayer] | None = None, far: torch.Tensor | None = None,
               appearance: str = "nearest", progress: str | None = None) -> CameraRender:
        """Render camera rays ``[N]`` (scene frame) with the appearance of ``camera_name``.

        With ``band`` (the default) the rays are first cast on the background mesh. Where one hits
        it and the background field is opaque across the band around the hit, the background is
        shaded once at the hit (``band.shade_surface``) and only the actors in front of it are
        volume rendered; where the field is not that opaque, the background is volume rendered in
        the band (a few samples instead of dozens: everything in front of it is empty space,
        everything behind it hidden), actors in front of it as always, and the sky fills what is
        left. Rays that miss the mesh, and rays whose band leaves more than
        ``band.max_transmittance``, are rendered along their whole length.
        """
        layers = self._layers(layers)
        o, d, times = (x.float().contiguous() for x in (o, d, times))
        n = o.shape[0]
        full = torch.ones(n, dtype=torch.bool)
        rgb, opacity, depth = torch.zeros(n, 3), torch.zeros(n), torch.zeros(n)
        if self.band is not None and n:
            t, normal = self.surface.background_hits(o, d)
            if far is not None:
                t = torch.where(t < far, t, math.inf)
            idx = torch.nonzero(torch.isfinite(t)).squeeze(1)
            if idx.numel() and self.band.shade_surface:
                tr, colour, opaque = self._background_surface(o[idx], d[idx], t[idx], normal[idx])
                own, tr, colour = idx[opaque], tr[opaque], colour[opaque]
                if own.numel():
                    # actors in front of the shaded surface, volume rendered; the surface behind them
                    r = render_actors(self.model, o[own], d[own], times[own], layers, tr)
                    rgb[own] = r.rgb + (1.0 - r.opacity)[:, None] * colour
                    opacity[own] = 1.0
                    depth[own] = r.opacity * r.depth + (1.0 - r.opacity) * tr
                    full[own] = False
                idx = idx[~opaque]
            if idx.numel():
                t = t[idx]
                half = self.band.half_width_m / (d[idx] * normal[idx]).sum(-1).abs().clamp_min(self.band.min_cos)
                stop = t + half if far is None else torch.minimum(t + half, far[idx])
                r = render_chunked(self.model, o[idx], d[idx], times[idx], self.band.chunk, layers=layers, far=stop,
                                   bg_near=(t - half).clamp_min(0.0), bg_samples=self.band.samples, need_lidar=False)
                ok = (1.0 - r["opacity"]) <= self.band.max_transmittance
                own = idx[ok]
                sky = self.model.sky(d[own])
                if far is not None:  # no sky behind the caller's object
                    sky = torch.where(torch.isinf(far[own])[:, None], sky, 0.0)
                rgb[own] = r["rgb"][ok] + (1.0 - r["opacity"][ok])[:, None] * sky
                opacity[own], depth[own] = r["opacity"][ok], r["depth"][ok]
                full[own] = False
        idx = torch.nonzero(full).squeeze(1)
        if idx.numel() and self.band is not None and far is None:
            # rays with nothing but the distant region and the sky on them (most of the sky)
            open_ = empty_rays(self.model, o[idx], d[idx], times[idx], layers)
            own = idx[open_]
            r = render_distant(self.model, o[own], d[own])
            rgb[own], opacity[own], depth[own] = r.rgb, r.opacity, r.depth
            idx = idx[~open_]
        if idx.numel():
            r = render_chunked(self.model, o[idx], d[idx], times[idx], self.chunk, layers=layers,
                               far=None if far is None else far[idx], progress=progress, need_lidar=False)
            rgb[idx], opacity[idx], depth[idx] = r["rgb"], r["opacity"], r["depth"]
        mat, off = self.appearance.correction(camera_name, float(times.double().median()) if n else 0.0, appearance)
        # the offset scales with opacity where the caller composites behind `far`, so that a
        # fully transparent ray adds nothing before its object is drawn
        weight = torch.ones_like(opacity) if far is None else torch.where(torch.isinf(far), 1.0, opacity)
        rgb = (rgb @ mat.T + off * weight[:, None]).clamp(0.0, 1.0)
        return CameraRender(rgb, opacity, depth)

    def _background_surface(self, o: torch.Tensor, d: torch.Tensor, t: torch.Tensor,
                            normal: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The background at ``[M]`` rays' mesh hits ``t`` (mesh ``normal``): the distance of the
        SDF's zero (the hit moved by one Newton step) ``[M]``, the colour at the hit ``[M, 3]`` (no
        appearance correction; zero where not opaque) and whether the field is opaque across the
        band there ``[M]``: its transmittance, estimated from ``SURFACE_CHECK_SAMPLES`` samples as
        the renderer estimates it, at most ``band.max_transmittance``. The colour is read at the
        mesh hit rather than at the refined point: one field query fewer, 0.06 dB on the
        background pixels of held-out frames."""
        bg, band = self.model.background, self.band
        inv_s = self.model.inv_s
        half = band.half_width_m / (d * normal).sum(-1).abs().clamp_min(band.min_cos)
        t_out, colour = t.clone(), torch.zeros(t.shape[0], 3)
        opaque = torch.zeros(t.shape[0], dtype=torch.bool)
        K = SURFACE_CHECK_SAMPLES
        offsets = torch.arange(K, dtype=torch.float32) + 0.5
        for i in range(0, t.shape[0], band.chunk):
            sl = slice(i, i + band.chunk)
            oo, dd, tt, hh = o[sl], d[sl], t[sl], half[sl]
            step = 2.0 * hh / K
            mids = (tt - hh)[:, None] + step[:, None] * offsets  # [m, K]
            sdf = bg.sdf((oo[:, None] + dd[:, None] * mids[..., None]).reshape(-1, 3)).reshape(-1, K)
            # the band's opacity as the renderer estimates it
            alpha = dense_neus_alpha(sdf, step, inv_s)
            ok = torch.nonzero(torch.prod(1.0 - alpha, dim=1) <= band.max_transmittance).squeeze(1)
            at, dk = tt[ok], dd[ok]
            s_hit, feat, enc = bg.query_with_color(oo[ok] + dk * at[:, None])
            rows = ok + i
            t_out[rows] = at + SurfaceRenderer.newton_step(s_hit, dk, normal[sl][ok], self.surface.cfg.background_cell_m)
            colour[rows], opaque[rows] = bg.color(feat, enc, dk), True
        return t_out, colour, opaque

    @torch.no_grad()
    def lidar(self, o: torch.Tensor, d: torch.Tensor, times: torch.Tensor, surface: bool = True,
              layers: list[ActorLayer] | None = None, far: torch.Tensor | None = None) -> LidarRender:
        """LiDAR returns of rays ``[N]`` (scene frame): by the surface path (meshes + Embree,
        heads at the hit) or by volume rendering (median depth: where the accumulated opacity
        crosses 0.5; heads on the composited features)."""
        layers = self._layers(layers)
        o, d, times = (x.float().contiguous() for x in (o, d, times))
        if surface:
            h = self.surface.cast(o, d, times, layers, far)
            return LidarRender(h.range, h.intensity, h.drop_prob)
        r = render_chunked(self.model, o, d, times, self.chunk, need_rgb=False, layers=layers, far=far)
        inten, logit = self.model.lidar_heads(r["features"], d, r["depth"], r["opacity"])
        rng = r["median_depth"]
        if far is not None:
            rng = torch.where(rng < far, rng, torch.full_like(rng, math.inf))
        return LidarRender(rng, torch.where(torch.isfinite(rng), inten, 0.0), torch.sigmoid(logit))


__all__ = ["APPEARANCE_MODES", "AppearanceTable", "CameraBand", "CameraRender", "LidarRender", "NeuralScene", "RenderableScene"]
