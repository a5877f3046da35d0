"""The synthetic scene description: everything needed to render a drive, as plain data.

A ``SynthScene`` holds the static layout (road, sidewalks, buildings, poles, trees), the actors
(library asset + trajectory), the ego trajectory, the sensor rig and the render settings. It is
small and fully serialisable (``synth_scene.json`` beside a generated log), meshes are rebuilt
from it deterministically, and edits are functions from one description to another
(``edits.py``): rendering an edited description gives the ground truth for that edit.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from redrive.errors import LogFormatError, RedriveError
from redrive.geometry.cameras import CameraModel
from redrive.log.synth.assets import Asset, AssetSpec, build_asset
from redrive.log.synth.meshes import Mesh, blob, box, concat, cylinder, subdivide
from redrive.log.synth.textures import Material
from redrive.log.types import CameraSensor, LidarBeams, LidarSensor, Trajectory

SCENE_FILE = "synth_scene.json"
SCENE_VERSION = 1


# ---------------------------------------------------------------------- static layout
@dataclass
class RoadSpec:
    """A straight two-way street along world x, centred on y = 0, with parking strips, curbs and
    sidewalks on both sides (right-hand traffic: the +x lane is at negative y)."""

    x_min: float
    """Start of the street, metres."""
    x_max: float
    """End of the street, metres."""
    lane_width: float = 3.5
    """Width of each of the two driving lanes."""
    parking_width: float = 2.5
    """Width of the parking strip beside each lane."""
    sidewalk_width: float = 4.0
    """Width of each sidewalk (from curb to building line)."""
    curb_height: float = 0.15
    """Height of the curb and sidewalk above the road."""

    @property
    def curb_y(self) -> float:
        return self.lane_width + self.parking_width

    @property
    def building_y(self) -> float:
        return self.curb_y + self.sidewalk_width


@dataclass
class BuildingSpec:
    """A block-shaped building with a window facade on the street side."""

    side: int
    """+1 for the left side of the street (positive y), -1 for the right side."""
    x0: float
    """Start along the street, metres."""
    x1: float
    """End along the street, metres."""
    depth: float
    """Extent away from the street, metres."""
    height: float
    """Height, metres."""
    wall_color: tuple[float, float, float]
    """Facade albedo."""
    window_color: tuple[float, float, float]
    """Window albedo."""
    floor_height: float = 3.2
    """Storey height: the vertical period of the windows."""
    bay_width: float = 3.0
    """Horizontal period of the windows."""
    window_width: float = 1.4
    window_height: float = 1.6


@dataclass
class PoleSpec:
    """A street light pole with an arm over the road."""

    x: float
    y: float
    height: float = 7.0


@dataclass
class TreeSpec:
    """A tree: trunk and a wobbly crown."""

    x: float
    y: float
    trunk_height: float
    crown_radius: float
    shape_seed: int


@dataclass
class StaticLayout:
    """The static world: one street with its buildings, poles and trees."""

    road: RoadSpec
    buildings: list[BuildingSpec] = field(default_factory=list)
    poles: list[PoleSpec] = field(default_factory=list)
    trees: list[TreeSpec] = field(default_factory=list)


# ---------------------------------------------------------------------- actors, rig, settings
@dataclass
class SynthActor:
    """An actor: a library asset moving along a trajectory of its box frame."""

    id: str
    """Unique actor id (also the DriveLog actor id)."""
    asset: AssetSpec
    """Which library asset and colour."""
    trajectory: Trajectory
    """``world_from_box`` over time; the actor exists between its first and last sample."""
    dynamic: bool
    """Whether it moves."""

    def built(self) -> Asset:
        return build_asset(self.asset)


@dataclass
class RenderSettings:
    """How sensors are simulated (saved with the scene, so a re-render reproduces the log)."""

    antialias: int = 2
    """Camera supersampling: pixels on edges average an n x n grid plus the pixel centre
    (1 = centre only). Depth and instance truth always come from the centre sample."""
    range_noise_m: float = 0.015
    """Standard deviation of the Gaussian range noise; 0 gives returns exactly on the surfaces."""
    random_drop_rate: float = 0.005
    """Probability that any ray is lost for no geometric reason."""
    grazing_cos: float = 0.12
    """Rays meeting a surface with |cos(incidence)| below this are dropped with a probability
    rising linearly from 0 (at this value) to 1 (at 0)."""
    power_range_m: float = 250.0
    """Range at which a reflectivity-1 surface at normal incidence falls below the detection
    threshold; a return needs ``range <= power_range_m * sqrt(reflectivity * |cos|)``."""
    sun_direction: tuple[float, float, float] = (0.45, -0.3, 0.84)
    """World direction towards the sun (normalised when used)."""
    ambient: float = 0.4
    """Ambient light level; diffuse sunlight adds up to ``1 - ambient``."""


@dataclass
class SynthScene:
    """A complete synthetic drive: world, actors, ego path, sensors, render settings."""

    name: str
    """Log name."""
    seed: int
    """Seed the layout was generated from; also seeds the LiDAR noise and drops."""
    preset: str
    """Preset the scene came from (informative)."""
    layout: StaticLayout
    """The static world."""
    actors: list[SynthActor]
    """Actors in instance order (instance k is ``actors[k - 1]``)."""
    ego: Trajectory
    """``world_from_vehicle`` over time."""
    cameras: list[CameraSensor]
    """Cameras with their frame times."""
    lidars: list[LidarSensor]
    """LiDARs with beam tables (required) and sweep start times."""
    render: RenderSettings = field(default_factory=RenderSettings)
    """Sensor simulation settings."""
    start_time_ns: int = 1_700_000_000_000_000_000
    """Absolute time of t = 0 in the written log."""

    def actor(self, actor_id: str) -> SynthActor:
        for a in self.actors:
            if a.id == actor_id:
                return a
        raise RedriveError(f"scene {self.name!r} has no actor {actor_id!r}; it has: {', '.join(a.id for a in self.actors)}")

    def camera(self, name: str) -> CameraSensor:
        for c in self.cameras:
            if c.name == name:
                return c
        raise RedriveError(f"scene {self.name!r} has no camera {name!r}; it has: {', '.join(c.name for c in self.cameras)}")

    def lidar(self, name: str) -> LidarSensor:
        for s in self.lidars:
            if s.name == name:
                return s
        raise RedriveError(f"scene {self.name!r} has no lidar {name!r}; it has: {', '.join(s.name for s in self.lidars)}")

    # ------------------------------------------------------------------ serialisation
    def to_dict(self) -> dict[str, Any]:
        return {
            "format": "redrive-synth-scene",
            "version": SCENE_VERSION,
            "name": self.name,
            "seed": self.seed,
            "preset": self.preset,
            "start_time_ns": self.start_time_ns,
            "layout": asdict(self.layout),
            "actors": [{"id": a.id, "asset": a.asset.to_dict(), "dynamic": a.dynamic,
                        "trajectory": _traj_to(a.trajectory)} for a in self.actors],
            "ego": _traj_to(self.ego),
            "cameras": [{"name": c.name, "intrinsics": c.intrinsics.to_dict(),
                         "vehicle_from_camera": c.vehicle_from_camera.tolist(),
                         "frame_times": c.frame_times.tolist(), "rolling_shutter_s": c.rolling_shutter_s,
                         "rolling_shutter_direction": c.rolling_shutter_direction} for c in self.cameras],
            "lidars": [{"name": s.name, "vehicle_from_lidar": s.vehicle_from_lidar.tolist(),
                        "sweep_times": s.sweep_times.tolist(), "beams": _beams_to(s.beams)} for s in self.lidars],
            "render": asdict(self.render),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any], where: str | Path = "<scene>") -> "SynthScene":
        if d.get("format") != "redrive-synth-scene":
            raise LogFormatError(where, "format", d.get("format"), "expected 'redrive-synth-scene'")
        if d.get("version") != SCENE_VERSION:
            raise LogFormatError(where, "version", d.get("version"), f"this redrive reads version {SCENE_VERSION}")
        try:
            lay = d["layout"]
            layout = StaticLayout(
                road=RoadSpec(**lay["road"]),
                buildings=[BuildingSpec(**{**b, "wall_color": tuple(b["wall_color"]), "window_color": tuple(b["window_color"])})
                           for b in lay["buildings"]],
                poles=[PoleSpec(**p) for p in lay["poles"]],
                trees=[TreeSpec(**t) for t in lay["trees"]],
            )
            actors = [SynthActor(str(a["id"]), AssetSpec.from_dict(a["asset"]), _traj_from(a["trajectory"]), bool(a["dynamic"]))
                      for a in d["actors"]]
            cameras = [CameraSensor(c["name"], CameraModel(**{**c["intrinsics"], "distortion": tuple(c["intrinsics"]["distortion"])}),
                                    np.array(c["vehicle_from_camera"], float), np.array(c["frame_times"], float),
                                    float(c["rolling_shutter_s"]), c["rolling_shutter_direction"]) for c in d["cameras"]]
            lidars = [LidarSensor(s["name"], np.array(s["vehicle_from_lidar"], float), np.array(s["sweep_times"], float),
                                  _beams_from(s["beams"])) for s in d["lidars"]]
            render = d["render"]
            render = RenderSettings(**{**render, "sun_direction": tuple(render["sun_direction"])})
            return cls(str(d["name"]), int(d["seed"]), str(d["preset"]), layout, actors, _traj_from(d["ego"]),
                       cameras, lidars, render, int(d["start_time_ns"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise LogFormatError(where, "", None, f"is not a valid synthetic scene description: {exc!r}") from None

    def save(self, path: str | Path) -> Path:
        """Write the description as JSON (atomically)."""
        from redrive.log.writer import atomic_write_json

        path = Path(path)
        atomic_write_json(path, self.to_dict())
        return path

    @classmethod
    def load(cls, path: str | Path) -> "SynthScene":
        from redrive.log.manifest import read_json

        path = Path(path)
        doc = read_json(path)
        if not isinstance(doc, dict):
            raise LogFormatError(path, "", type(doc).__name__, "expected a JSON object")
        return cls.from_dict(doc, path)


def _traj_to(t: Trajectory) -> dict:
    return {"times": t.times.tolist(), "poses": t.poses.tolist()}


def _traj_from(d: dict) -> Trajectory:
    times, poses = np.array(d["times"], float), np.array(d["poses"], float)
    if times.ndim != 1 or poses.shape != (len(times), 4, 4) or len(times) == 0 or np.any(np.diff(times) <= 0):
        raise ValueError(f"trajectory needs increasing times (N,) and poses (N, 4, 4), got {times.shape}, {poses.shape}")
    return Trajectory(times, poses)


def _beams_to(b: LidarBeams) -> dict:
    return {"elevations_deg": np.asarray(b.elevations_deg, float).tolist(), "azimuth_count": b.azimuth_count,
            "azimuth_offsets_deg": None if b.azimuth_offsets_deg is None else np.asarray(b.azimuth_offsets_deg, float).tolist(),
            "rotation_hz": b.rotation_hz, "min_range_m": b.min_range_m, "max_range_m": b.max_range_m}


def _beams_from(d: dict) -> LidarBeams:
    off = d.get("azimuth_offsets_deg")
    return LidarBeams(np.array(d["elevations_deg"], float), int(d["azimuth_count"]),
                      None if off is None else np.array(off, float), float(d["rotation_hz"]),
                      float(d["min_range_m"]), float(d["max_range_m"]))


# ---------------------------------------------------------------------- building static geometry
def static_materials(layout: StaticLayout) -> list[Material]:
    """Materials of the static world, in the order static face ids use."""
    road = layout.road
    lw = road.lane_width
    mats = [
        Material("asphalt", "road", (0.24, 0.24, 0.25), (0.85, 0.85, 0.8), 0.12, 0.7, 1.0,
                 {"lines": [[0.0, True], [-lw, False], [lw, False]], "line_width": 0.15}),
        Material("sidewalk", "tiles", (0.58, 0.56, 0.52), (0.4, 0.39, 0.37), 0.3, 0.25, 1.0),
        Material("curb", "grain", (0.66, 0.65, 0.62), (0.55, 0.54, 0.52), 0.35, 0.3, 0.7),
        Material("ground", "grain", (0.3, 0.38, 0.18), (0.38, 0.33, 0.2), 0.35, 0.3, 6.0),
        Material("pole", "flat", (0.35, 0.36, 0.38), reflectivity=0.45),
        Material("trunk", "grain", (0.3, 0.22, 0.14), (0.22, 0.16, 0.1), 0.3, 0.25, 0.8),
        Material("foliage", "grain", (0.16, 0.36, 0.1), (0.3, 0.48, 0.14), 0.45, 0.5, 1.5),
        Material("roof", "grain", (0.3, 0.28, 0.27), (0.22, 0.2, 0.2), 0.2, 0.2, 3.0),
    ]
    for i, b in enumerate(layout.buildings):
        mats.append(Material(f"facade_{i}", "facade", tuple(b.wall_color), tuple(b.window_color), 0.4, 0.06, b.bay_width,
                             {"floor_height": b.floor_height, "window_width": b.window_width,
                              "window_height": b.window_height, "offset": b.x0}))
    return mats


ASPHALT, SIDEWALK, CURB, GROUND, POLE, TRUNK, FOLIAGE, ROOF = range(8)
STATIC_MAX_EDGE_M = 10.0
"""Longest edge of a static triangle (larger ones are split; see ``meshes.subdivide``)."""


def build_static(layout: StaticLayout, max_edge: float | None = None) -> tuple[Mesh, list[Material]]:
    """World-frame mesh of the static scene with its material table.

    With ``max_edge``, triangles are split until no edge is longer (same surface): the saved
    ground-truth mesh uses ``STATIC_MAX_EDGE_M`` so that closest-point queries on it stay precise
    to float32 rounding; rendering uses the coarse mesh, which Embree casts faster.
    """
    r = layout.road
    cy, by, h = r.curb_y, r.building_y, r.curb_height
    parts = [box((r.x_min, -cy, -0.3), (r.x_max, cy, 0.0), ASPHALT, bottom=False)]
    for s in (1, -1):
        # The curb is its own 20 cm strip (own material); the sidewalk starts behind it.
        lo, hi = sorted((s * cy, s * (cy + 0.2)))
        parts.append(box((r.x_min, lo, -0.3), (r.x_max, hi, h + 0.01), CURB, bottom=False))
        lo, hi = sorted((s * (cy + 0.2), s * by))
        parts.append(box((r.x_min, lo, -0.3), (r.x_max, hi, h), SIDEWALK, bottom=False))
    # Ground beyond the street (behind and between buildings), slightly below the sidewalk.
    span = 250.0
    for s in (1, -1):
        lo, hi = sorted((s * by, s * (by + span)))
        parts.append(box((r.x_min - span, lo, -0.3), (r.x_max + span, hi, 0.1), GROUND, bottom=False))
    # ... and past both ends of the street.
    parts.append(box((r.x_min - span, -by, -0.3), (r.x_min, by, 0.1), GROUND, bottom=False))
    parts.append(box((r.x_max, -by, -0.3), (r.x_max + span, by, 0.1), GROUND, bottom=False))
    for i, b in enumerate(layout.buildings):
        lo, hi = sorted((b.side * by, b.side * (by + b.depth)))
        walls = box((b.x0, lo, 0.1), (b.x1, hi, b.height), 8 + i, bottom=False)
        top = walls.material.copy()
        normals = np.cross(*(walls.vertices[walls.faces][:, k] - walls.vertices[walls.faces][:, 0] for k in (1, 2)))
        top[np.abs(normals[:, 2]) > 0.5] = ROOF
        walls.material = top
        parts.append(walls)
    for p in layout.poles:
        parts.append(cylinder((p.x, p.y, h + p.height / 2), 0.1, p.height, POLE, sides=10))
        arm_dir = -np.sign(p.y)
        parts.append(box((p.x - 0.06, min(p.y, p.y + arm_dir * 2.2), h + p.height - 0.2),
                         (p.x + 0.06, max(p.y, p.y + arm_dir * 2.2), h + p.height - 0.08), POLE))
        parts.append(box((p.x - 0.25, p.y + arm_dir * 2.2 - 0.15, h + p.height - 0.3),
                         (p.x + 0.25, p.y + arm_dir * 2.2 + 0.15, h + p.height - 0.1), POLE))
    for t in layout.trees:
        parts.append(cylinder((t.x, t.y, h + t.trunk_height / 2 + 0.2), 0.16, t.trunk_height + 0.4, TRUNK, sides=8))
        parts.append(blob((t.x, t.y, h + t.trunk_height + t.crown_radius * 0.8), (t.crown_radius,) * 2 + (t.crown_radius * 0.9,),
                          FOLIAGE, subdivisions=2, wobble=0.25, seed=t.shape_seed))
    mesh = concat(parts)
    return (mesh if max_edge is None else subdivide(mesh, max_edge)), static_materials(layout)
