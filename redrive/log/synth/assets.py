"""The procedural asset library: vehicles, pedestrians and cyclists the generator places in
scenes and that edits can insert.

Each asset is a mesh in its *box frame* (centred on its bounding box, x forward, y left, z up)
with its own materials; the actor's box is exactly the mesh's bounding box. An asset is named by
an ``AssetSpec`` (library name + main colour), so a scene description stays small and serialisable
and the mesh is rebuilt identically wherever it is needed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from redrive.errors import RedriveError
from redrive.log.synth.meshes import Mesh, blob, box, concat, cylinder, prism
from redrive.log.synth.textures import Material


@dataclass(frozen=True)
class AssetSpec:
    """Which library asset an actor is, and its main colour."""

    name: str
    """Library name, one of ``ASSETS`` (``sedan``, ``suv``, ``van``, ``truck``, ``pedestrian``, ``cyclist``)."""
    color: tuple[float, float, float] = (0.6, 0.1, 0.1)
    """Paint colour of vehicles, clothing colour of people, linear RGB in [0, 1]."""

    def to_dict(self) -> dict:
        return {"name": self.name, "color": [float(c) for c in self.color]}

    @classmethod
    def from_dict(cls, d: dict) -> "AssetSpec":
        return cls(str(d["name"]), tuple(float(c) for c in d["color"]))


@dataclass
class Asset:
    """A built asset: mesh in its box frame, its materials, box size and DriveLog category."""

    mesh: Mesh
    """Mesh in the box frame; ``mesh.material`` indexes ``materials``."""
    materials: list[Material]
    """Materials with names local to the asset (the renderer prefixes the actor id)."""
    size: np.ndarray
    """(3,) float64 box length, width, height = the mesh's bounding-box extents."""
    category: str
    """DriveLog actor category."""


# Shared material slots of every asset: 0 = main colour, then the fixed ones.
PAINT, GLASS, TYRE, LIGHT, TAIL, TRIM, SKIN, DARK = range(8)


def _materials(color: tuple[float, float, float], kind: str) -> list[Material]:
    paint_refl = 0.15 + 0.5 * float(np.mean(color))
    return [
        Material("paint", "grain" if kind == "person" else "flat", tuple(color),
                 tuple(float(c) * 0.8 for c in color), paint_refl, paint_refl, 0.6),
        Material("glass", "flat", (0.08, 0.1, 0.13), reflectivity=0.04),
        Material("tyre", "flat", (0.05, 0.05, 0.05), reflectivity=0.06),
        Material("light", "flat", (0.95, 0.92, 0.8), reflectivity=0.9),
        Material("tail", "flat", (0.7, 0.05, 0.05), reflectivity=0.9),
        Material("trim", "flat", (0.15, 0.15, 0.16), reflectivity=0.2),
        Material("skin", "flat", (0.76, 0.57, 0.45), reflectivity=0.35),
        Material("dark", "grain", (0.12, 0.12, 0.18), (0.08, 0.08, 0.12), 0.1, 0.1, 0.5),
    ]


def _wheels(xs: tuple[float, ...], half_track: float, radius: float, width: float) -> list[Mesh]:
    return [cylinder((x, s * half_track, radius), radius, width, TYRE, axis="y", sides=14)
            for x in xs for s in (1, -1)]


def _car(length: float, width: float, height: float, sill: float, belt: float, hood: float, trunk: float,
         wheel_r: float) -> Mesh:
    """A two-box car: body up to the belt line, a tapered glass cabin, wheels, lights."""
    l2, w2 = length / 2, width / 2
    body = prism([[-l2, -w2], [l2, -w2], [l2, w2], [-l2, w2]], sill, belt, PAINT,
                 top_outline=[[-l2 + 0.1, -w2], [l2 - 0.15, -w2], [l2 - 0.15, w2], [-l2 + 0.1, w2]])
    cab_lo = [[-l2 + trunk, -w2 + 0.05], [l2 - hood, -w2 + 0.05], [l2 - hood, w2 - 0.05], [-l2 + trunk, w2 - 0.05]]
    cab_hi = [[-l2 + trunk + 0.35, -w2 + 0.2], [l2 - hood - 0.6, -w2 + 0.2], [l2 - hood - 0.6, w2 - 0.2],
              [-l2 + trunk + 0.35, w2 - 0.2]]
    cabin = prism(cab_lo, belt, height - 0.06, GLASS, top_outline=cab_hi)
    roof = prism(cab_hi, height - 0.06, height, PAINT)
    lights = [box((l2 - 0.02, s * w2 * 0.7 - 0.2, belt - 0.25), (l2 + 0.0, s * w2 * 0.7 + 0.2, belt - 0.1), LIGHT)
              for s in (1, -1)]
    tails = [box((-l2 - 0.0, s * w2 * 0.75 - 0.2, belt - 0.22), (-l2 + 0.02, s * w2 * 0.75 + 0.2, belt - 0.08), TAIL)
             for s in (1, -1)]
    bumper = [box((-l2, -w2, sill), (-l2 + 0.02, w2, sill + 0.12), TRIM), box((l2 - 0.02, -w2, sill), (l2, w2, sill + 0.12), TRIM)]
    wheels = _wheels((l2 - 0.85 - wheel_r * 0.5, -l2 + 0.85 + wheel_r * 0.5), w2 - 0.12, wheel_r, 0.22)
    return concat([body, cabin, roof, *lights, *tails, *bumper, *wheels])


def _sedan() -> Mesh:
    return _car(4.5, 1.8, 1.45, 0.28, 0.92, 1.15, 0.9, 0.32)


def _suv() -> Mesh:
    return _car(4.75, 1.92, 1.78, 0.38, 1.12, 0.95, 0.35, 0.37)


def _van() -> Mesh:
    return _car(5.2, 2.0, 2.3, 0.35, 1.15, 0.55, 0.08, 0.35)


def _truck() -> Mesh:
    """A box truck: cab with windscreen, a tall cargo box, three axles."""
    cab = box((2.3, -1.15, 0.45), (3.75, 1.15, 1.5), PAINT)
    glass = prism([[2.35, -1.1], [3.75, -1.1], [3.75, 1.1], [2.35, 1.1]], 1.5, 2.5, GLASS,
                  top_outline=[[2.35, -1.1], [3.4, -1.1], [3.4, 1.1], [2.35, 1.1]])
    cab_roof = box((2.3, -1.15, 2.5), (3.4, 1.15, 2.7), PAINT)
    cargo = box((-3.75, -1.2, 0.6), (2.2, 1.2, 3.3), TRIM)
    stripe = box((-3.76, -1.21, 1.6), (2.21, 1.21, 2.0), PAINT)
    chassis = box((-3.6, -0.8, 0.4), (3.6, 0.8, 0.6), DARK)
    lights = [box((3.74, s * 0.85 - 0.2, 0.8), (3.76, s * 0.85 + 0.2, 1.0), LIGHT) for s in (1, -1)]
    wheels = _wheels((2.8, -1.6, -2.7), 0.95, 0.48, 0.35)
    return concat([cab, glass, cab_roof, cargo, stripe, chassis, *lights, *wheels])


def _person(x_shift: float = 0.0) -> list[Mesh]:
    """A standing adult of 1.75 m: legs, torso, arms, head."""
    legs = [box((x_shift - 0.09, s * 0.11 - 0.075, 0.0), (x_shift + 0.09, s * 0.11 + 0.075, 0.85), DARK) for s in (1, -1)]
    torso = prism([[x_shift - 0.12, -0.22], [x_shift + 0.12, -0.22], [x_shift + 0.12, 0.22], [x_shift - 0.12, 0.22]],
                  0.85, 1.45, PAINT, top_outline=[[x_shift - 0.13, -0.24], [x_shift + 0.13, -0.24], [x_shift + 0.13, 0.24],
                                                  [x_shift - 0.13, 0.24]])
    arms = [box((x_shift - 0.06, s * 0.295 - 0.055, 0.8), (x_shift + 0.06, s * 0.295 + 0.055, 1.42), PAINT) for s in (1, -1)]
    neck = cylinder((x_shift, 0, 1.5), 0.05, 0.1, SKIN, sides=8)
    head = blob((x_shift, 0, 1.63), (0.1, 0.09, 0.12), SKIN, subdivisions=1)
    return [*legs, torso, *arms, neck, head]


def _pedestrian() -> Mesh:
    return concat(_person())


def _cyclist() -> Mesh:
    """A bicycle (two thin wheels, frame) with its rider seated above."""
    wheels = [cylinder((x, 0, 0.34), 0.34, 0.05, TYRE, axis="y", sides=16) for x in (0.55, -0.55)]
    frame = [box((-0.55, -0.03, 0.32), (0.55, 0.03, 0.38), PAINT), box((-0.2, -0.03, 0.38), (-0.14, 0.03, 0.85), PAINT),
             box((0.45, -0.03, 0.38), (0.51, 0.03, 1.0), PAINT), box((0.4, -0.3, 0.98), (0.5, 0.3, 1.03), TRIM)]
    rider = concat(_person(0.0))
    # Seat the rider: lift onto the saddle and lean forward towards the handlebar.
    rider.vertices = rider.vertices * np.array([1.0, 1.0, 0.8]) + np.array([-0.1, 0.0, 0.45])
    lean = rider.vertices[:, 2] > 1.0
    rider.vertices[lean, 0] += (rider.vertices[lean, 2] - 1.0) * 0.5
    return concat([*wheels, *frame, rider])


_BUILDERS: dict[str, tuple[Callable[[], Mesh], str, str]] = {
    "sedan": (_sedan, "car", "vehicle"),
    "suv": (_suv, "car", "vehicle"),
    "van": (_van, "car", "vehicle"),
    "truck": (_truck, "truck", "vehicle"),
    "pedestrian": (_pedestrian, "pedestrian", "person"),
    "cyclist": (_cyclist, "bicycle", "person"),
}

ASSETS = tuple(_BUILDERS)
"""Names of the library's assets."""

VEHICLE_COLORS = [(0.55, 0.05, 0.06), (0.08, 0.15, 0.45), (0.75, 0.75, 0.72), (0.1, 0.1, 0.11), (0.35, 0.37, 0.4),
                  (0.85, 0.55, 0.1), (0.1, 0.35, 0.18), (0.9, 0.9, 0.88)]
CLOTHING_COLORS = [(0.6, 0.15, 0.12), (0.12, 0.3, 0.6), (0.85, 0.75, 0.2), (0.2, 0.5, 0.25), (0.5, 0.5, 0.55)]


def assets_by_category() -> dict[str, list[str]]:
    """DriveLog category -> library asset names of that category."""
    out: dict[str, list[str]] = {}
    for name, (_, category, _) in _BUILDERS.items():
        out.setdefault(category, []).append(name)
    return out


def build_asset(spec: AssetSpec) -> Asset:
    """The mesh (in its box frame), materials, box size and category of a library asset."""
    if spec.name not in _BUILDERS:
        raise RedriveError(f"unknown synthetic asset {spec.name!r}; the library has: {', '.join(ASSETS)}")
    builder, category, kind = _BUILDERS[spec.name]
    mesh = builder()
    lo, hi = mesh.vertices.min(axis=0), mesh.vertices.max(axis=0)
    mesh.vertices = mesh.vertices - (lo + hi) / 2
    return Asset(mesh, _materials(spec.color, kind), hi - lo, category)
