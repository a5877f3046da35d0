"""Materials of the synthetic scene: procedural albedo textures and LiDAR reflectivity.

Every texture is a smooth function of the surface's texture coordinates in metres (see
``meshes.Mesh.corner_uv``): sums of a few sinusoids for grain and soft-edged patterns for lane
markings, tiles and windows. Keeping them band-limited (no detail finer than a few centimetres,
soft edges) is what lets a camera at ~480x320 with 2x2 supersampling see them without aliasing,
and what lets a reconstruction reproduce them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import zlib

import numpy as np

TEXTURE_KINDS = ("flat", "grain", "road", "tiles", "facade")


@dataclass
class Material:
    """How a surface looks to the cameras and the LiDAR."""

    name: str
    """Unique name within the scene (e.g. ``asphalt``, ``facade_3``, ``actor_car_2/paint``)."""
    kind: str = "flat"
    """Texture kind, one of ``TEXTURE_KINDS``."""
    color: tuple[float, float, float] = (0.5, 0.5, 0.5)
    """Base linear albedo in [0, 1]."""
    color2: tuple[float, float, float] = (0.4, 0.4, 0.4)
    """Second colour: grain extreme, markings, tile joints or windows, depending on ``kind``."""
    reflectivity: float = 0.3
    """LiDAR reflectivity of the base colour, in [0, 1]."""
    reflectivity2: float = 0.3
    """LiDAR reflectivity where ``color2`` shows (markings are retro-reflective, glass is dark)."""
    scale: float = 1.0
    """Characteristic length of the pattern, metres (grain wavelength, tile size, window bay)."""
    params: dict[str, Any] = field(default_factory=dict)
    """Kind-specific parameters: ``road``: ``lines`` [[lateral_m, dashed], ...], ``line_width``;
    ``facade``: ``floor_height``, ``window_width``, ``window_height``, ``offset``."""

    def to_dict(self) -> dict:
        d = asdict(self)
        d["color"], d["color2"] = list(self.color), list(self.color2)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "Material":
        d = dict(d)
        d["color"], d["color2"] = tuple(d["color"]), tuple(d["color2"])
        return cls(**d)


def _smoothstep(e0: float, e1: float, x: np.ndarray) -> np.ndarray:
    t = np.clip((x - e0) / (e1 - e0), 0.0, 1.0)
    return t * t * (3 - 2 * t)


def grain(u: np.ndarray, v: np.ndarray, scale: float, key: int, octaves: int = 3) -> np.ndarray:
    """Smooth pseudo-random field in [-1, 1]: sinusoids at wavelengths 1x..0.25x ``scale`` with
    directions and phases fixed by ``key`` (so every material has its own)."""
    rng = np.random.default_rng(9173 + key)
    out = np.zeros(u.shape, np.float32)
    total = 0.0
    for octave in range(octaves):
        k = 2 * np.pi * (2**octave) / scale
        for _ in range(2):
            a = rng.uniform(0, np.pi)
            w = 0.6**octave
            ph = rng.uniform(0, 2 * np.pi)
            out += np.float32(w) * np.sin(np.float32(k * np.cos(a)) * u + np.float32(k * np.sin(a)) * v + np.float32(ph))
            total += w
    return out / np.float32(total)


def _band(x: np.ndarray, center: float, half_width: float, soft: float) -> np.ndarray:
    """1 inside ``|x - center| < half_width`` with soft edges of width ``soft``."""
    d = np.abs(x - center)
    return 1.0 - _smoothstep(half_width - soft / 2, half_width + soft / 2, d)


def _periodic_box(x: np.ndarray, period: float, start: float, length: float, soft: float) -> np.ndarray:
    """1 on ``[start, start + length]`` repeated every ``period``, soft-edged."""
    p = np.mod(x - start, period)
    rise = _smoothstep(-soft / 2, soft / 2, p) + _smoothstep(period - soft / 2, period + soft / 2, p)
    fall = _smoothstep(length - soft / 2, length + soft / 2, p)
    return np.clip(rise - fall, 0.0, 1.0)


def pattern(mat: Material, key: int, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """(N,) float32 in [0, 1]: how much ``color2`` shows at texture coordinates (u, v)."""
    if mat.kind == "flat":
        return np.zeros(u.shape, np.float32)
    if mat.kind == "grain":
        return (0.5 + 0.5 * grain(u, v, mat.scale, key)).astype(np.float32)
    if mat.kind == "road":
        width = float(mat.params.get("line_width", 0.15))
        dash, period = float(mat.params.get("dash_m", 3.0)), float(mat.params.get("dash_period_m", 8.0))
        paint = np.zeros(u.shape, np.float32)
        for lateral, dashed in mat.params.get("lines", []):
            line = _band(v, float(lateral), width / 2, 0.06)
            if dashed:
                line = line * _periodic_box(u, period, 0.0, dash, 0.4)
            paint = np.maximum(paint, line)
        return paint.astype(np.float32)
    if mat.kind == "tiles":
        joint = 0.06
        gu = _band(np.mod(u, mat.scale), 0.0, joint / 2, joint) + _band(np.mod(u, mat.scale), mat.scale, joint / 2, joint)
        gv = _band(np.mod(v, mat.scale), 0.0, joint / 2, joint) + _band(np.mod(v, mat.scale), mat.scale, joint / 2, joint)
        return np.clip(np.maximum(gu, gv), 0, 1).astype(np.float32)
    if mat.kind == "facade":
        floor = float(mat.params.get("floor_height", 3.2))
        ww, wh = float(mat.params.get("window_width", 1.3)), float(mat.params.get("window_height", 1.5))
        off = float(mat.params.get("offset", 0.0))
        soft = 0.12
        cols = _periodic_box(u, mat.scale, off + (mat.scale - ww) / 2, ww, soft)
        rows = _periodic_box(v, floor, (floor - wh) / 2 + 0.3, wh, soft)
        # No windows below the first floor's sill: ground floors are plain walls here.
        return (cols * rows * _smoothstep(0.9, 1.1, v)).astype(np.float32)
    raise ValueError(f"unknown texture kind {mat.kind!r}")


def shade_materials(materials: list[Material], mat_ids: np.ndarray, uv: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Albedo (N, 3) float32 and LiDAR reflectivity (N,) float32 of surface samples.

    ``mat_ids`` (N,) index ``materials``; ``uv`` (N, 2) are the samples' texture coordinates.
    """
    n = len(mat_ids)
    albedo = np.empty((n, 3), np.float32)
    refl = np.empty(n, np.float32)
    order = np.argsort(mat_ids, kind="stable")
    ids_sorted = mat_ids[order]
    bounds = np.searchsorted(ids_sorted, np.arange(len(materials) + 1))
    for m, mat in enumerate(materials):
        idx = order[bounds[m]:bounds[m + 1]]
        if len(idx) == 0:
            continue
        if mat.kind == "flat":
            albedo[idx] = np.asarray(mat.color, np.float32)
            refl[idx] = mat.reflectivity
            continue
        u, v = uv[idx, 0], uv[idx, 1]
        # Keyed by name, not position, so that editing the actor list changes no other surface.
        key = zlib.crc32(mat.name.encode()) % 100_003
        w = pattern(mat, key, u, v)
        c1, c2 = np.asarray(mat.color, np.float32), np.asarray(mat.color2, np.float32)
        col = c1[None] + w[:, None] * (c2 - c1)[None]
        if mat.kind in ("road", "tiles", "facade"):
            # A faint grain on patterned surfaces so that they are not perfectly flat colours.
            col = col * (1.0 + 0.08 * grain(u, v, 1.7, key + 101, octaves=2))[:, None]
        albedo[idx] = col
        refl[idx] = mat.reflectivity + w * (mat.reflectivity2 - mat.reflectivity)
    return np.clip(albedo, 0, 1), np.clip(refl, 0, 1)
