"""Declarative edit scenarios (YAML or JSON): the edits, the sensors, the times, the ego path.

A scenario (all keys optional except ``edits``; positions in metres, times in seconds since the
log start, poses ``world_from_box`` in the log's world frame unless ``frame: ego_start``)::

    run: ../runs/drive            # the reconstruction (the CLI's RUN argument wins)
    allow_overlap: false
    ego_trajectory: original      # or lane-shift:+1.5, height:+0.3, a .csv/.json file (docs/sensors.md)
    sensors: [front, lidar_top]   # recorded names or camera / LiDAR spec mappings; default: the rig
    frames: {start: 0, stop: 20, step: 2}   # recorded frame indices; or times: [0.0, 0.1, ...]
    lighting: {sun_direction: [0.45, -0.3, 0.84], ambient: 0.4}
    before: recorded              # previews' left half: recorded | rendered | none
    lidar: surface                # LiDAR by the fields' meshes (surface) or volume rendering
    edits:
      - {op: remove, actor: lead_000}
      - {op: move, actor: parked_003, offset: [0, 3, 0], frame: box}
      - {op: move, actor: oncoming_001, time_shift: 0.8}
      - op: insert
        id: new_car
        asset: {run: ../runs/other, actor: parked_001}   # or {mesh: car.glb, class: car, ...}
        trajectory: {follow_ego: {lateral_m: 3.5, ahead_m: 15}}

Trajectories: ``{times: [...], poses: [[4x4], ...]}``, ``{file: traj.csv}``,
``{follow_ego: {lateral_m, ahead_m, time_offset_s, centre_height_m}}``,
``{constant_velocity: {start: [x, y, z], heading_deg, speed_mps, start_time_s, end_time_s}}``,
``{waypoints: [[x, y, z], ...], speed_mps: 5}`` (or ``waypoint_times: [...]``),
``{static: {position: [x, y, z], heading_deg: 90}}``; any of them may add ``time_shift: s`` and
``frame: ego_start`` (positions and headings in the ego frame at its first pose: x forward,
y left). Relative paths are taken from the scenario file's folder. Every problem names the file,
the field (e.g. ``edits[2].trajectory.waypoints``) and the value.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from redrive.editing import trajectories as tj
from redrive.editing.assets import Asset
from redrive.editing.edits import FORMAT, OPS, trajectory_from_dict
from redrive.editing.errors import EditError, ScenarioError
from redrive.editing.meshes import Lighting
from redrive.editing.validation import EgoBox
from redrive.errors import RedriveError
from redrive.log.types import Trajectory

TOP_KEYS = {"format", "version", "run", "allow_overlap", "ego_box", "ego_trajectory", "sensors", "frames", "times",
            "lighting", "before", "lidar", "edits"}
TRAJ_KINDS = ("times", "file", "follow_ego", "constant_velocity", "waypoints", "static")


@dataclass
class Scenario:
    """A parsed scenario: the edited scene and how to render it."""

    path: Path
    scene: Any
    """``EditableScene`` with the edits applied."""
    sensors: Any = None
    times: Any = None
    """None, an array of seconds, or per-sensor arrays (from ``frames``)."""
    lighting: Lighting = field(default_factory=Lighting)
    before: str = "recorded"
    lidar: str = "surface"
    """LiDAR path: ``surface`` (meshes of the fields) or ``volume``."""


def read_document(path: Path) -> Any:
    """The parsed YAML / JSON of ``path`` (safe loaders only)."""
    import json

    import yaml

    if not path.is_file():
        raise ScenarioError(path, "", None, "file not found")
    text = path.read_text()
    try:
        if path.suffix.lower() == ".json":
            return json.loads(text)
        return yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise ScenarioError(path, "", None, f"not valid {'JSON' if path.suffix.lower() == '.json' else 'YAML'}: {exc}") from None


class _Parser:
    def __init__(self, path: Path):
        self.path, self.base = path, path.parent

    def fail(self, where: str, value: Any, reason: str) -> ScenarioError:
        return ScenarioError(self.path, where, value, reason)

    def mapping(self, where: str, value: Any, allowed: set[str] | None = None) -> dict:
        if not isinstance(value, dict):
            raise self.fail(where, value, "must be a mapping")
        if allowed is not None:
            extra = sorted(set(value) - allowed, key=str)
            if extra:
                raise self.fail(f"{where}.{extra[0]}" if where else str(extra[0]), value[extra[0]],
                                f"unknown field (known: {', '.join(sorted(allowed))})")
        return value

    def number(self, where: str, value: Any, positive: bool = False) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise self.fail(where, value, "must be a finite number")
        if positive and value <= 0:
            raise self.fail(where, value, "must be positive")
        return float(value)

    def vector(self, where: str, value: Any, length: int | tuple[int, ...]) -> np.ndarray:
        lengths = (length,) if isinstance(length, int) else length
        if not isinstance(value, (list, tuple)) or len(value) not in lengths:
            raise self.fail(where, value, f"must be a list of {' or '.join(map(str, lengths))} numbers")
        return np.array([self.number(f"{where}[{i}]", v) for i, v in enumerate(value)])

    # -------------------------------------------------------------- trajectories
    def trajectory(self, where: str, value: Any, scene, for_ego: bool = False) -> Trajectory:
        if for_ego and isinstance(value, str):
            from redrive.render.trajectories import resolve_trajectory

            spec = value
            if not value.startswith(("original", "lane-shift", "height")):
                spec = str(self.base / value)
            original = Trajectory(scene.base.ego.times, scene.base.world_from_scene @ scene.base.ego.poses)
            try:
                return resolve_trajectory(spec, original, self._start_ns(scene))
            except RedriveError as exc:
                raise self.fail(where, value, str(exc)) from None
        d = self.mapping(where, value, set(TRAJ_KINDS) | {"poses", "time_shift", "frame", "speed_mps", "start_time_s", "waypoint_times"})
        kinds = [k for k in TRAJ_KINDS if k in d]
        if len(kinds) != 1:
            raise self.fail(where, sorted(d), f"give exactly one of {', '.join(TRAJ_KINDS)} (explicit poses: times + poses)")
        kind = kinds[0]
        sub = f"{where}.{kind}"
        try:
            if kind == "times":
                if "poses" not in d:
                    raise self.fail(f"{where}.poses", None, "explicit trajectories need poses (4x4 world_from_box per time)")
                try:
                    traj = trajectory_from_dict({"times": d["times"], "poses": d["poses"]})
                except (ValueError, TypeError) as exc:
                    raise self.fail(f"{where}.poses", "...", str(exc)) from None
            elif kind == "file":
                from redrive.render.trajectories import load_trajectory

                if not isinstance(d["file"], str):
                    raise self.fail(sub, d["file"], "must be a path")
                traj = load_trajectory(self.base / d["file"], self._start_ns(scene))
            elif kind == "follow_ego":
                f = self.mapping(sub, d["follow_ego"] or {}, {"lateral_m", "ahead_m", "time_offset_s", "centre_height_m"})
                ego = Trajectory(scene.graph.ego.times, scene.graph.world_from_scene @ scene.graph.ego.poses)
                traj = tj.follow_ego(ego, **{k: self.number(f"{sub}.{k}", v) for k, v in f.items()})
            elif kind == "constant_velocity":
                f = self.mapping(sub, d["constant_velocity"],
                                 {"start", "heading_deg", "speed_mps", "start_time_s", "end_time_s"})
                for k in ("start", "heading_deg", "speed_mps"):
                    if k not in f:
                        raise self.fail(f"{sub}.{k}", None, "required")
                t0, t1 = scene.graph.ego.span
                t0 = self.number(f"{sub}.start_time_s", f.get("start_time_s", t0))
                t1 = self.number(f"{sub}.end_time_s", f.get("end_time_s", t1))
                if t1 <= t0:
                    raise self.fail(f"{sub}.end_time_s", t1, f"must come after start_time_s ({t0})")
                times = np.linspace(t0, t1, max(2, int(math.ceil((t1 - t0) / tj.DEFAULT_STEP_S)) + 1))
                traj = tj.constant_velocity(self.vector(f"{sub}.start", f["start"], 3),
                                            self.number(f"{sub}.heading_deg", f["heading_deg"]),
                                            self.number(f"{sub}.speed_mps", f["speed_mps"]), times)
            elif kind == "waypoints":
                pts = d["waypoints"]
                if not isinstance(pts, list) or len(pts) < 2:
                    raise self.fail(sub, pts, "must be a list of at least two [x, y] or [x, y, z] points")
                arr = [self.vector(f"{sub}[{i}]", pt, (2, 3)) for i, pt in enumerate(pts)]
                if len({len(a) for a in arr}) != 1:
                    raise self.fail(sub, pts, "all waypoints need the same number of coordinates")
                speed, wtimes = d.get("speed_mps"), d.get("waypoint_times")
                if (speed is None) == (wtimes is None):
                    raise self.fail(where, sorted(d), "waypoints need either speed_mps or waypoint_times (one per waypoint)")
                if wtimes is not None:
                    if not isinstance(wtimes, list) or len(wtimes) != len(pts):
                        raise self.fail(f"{where}.waypoint_times", wtimes, f"must be a list of {len(pts)} times")
                    wtimes = [self.number(f"{where}.waypoint_times[{i}]", v) for i, v in enumerate(wtimes)]
                traj = tj.waypoint_spline(np.stack(arr), times=wtimes,
                                          speed_mps=None if speed is None else self.number(f"{where}.speed_mps", speed, True),
                                          start_time_s=self.number(f"{where}.start_time_s",
                                                                   d.get("start_time_s", scene.graph.ego.span[0])))
            else:
                f = self.mapping(sub, d["static"], {"position", "heading_deg", "time_s"})
                if "position" not in f:
                    raise self.fail(f"{sub}.position", None, "required")
                traj = tj.static_pose(self.vector(f"{sub}.position", f["position"], 3),
                                      self.number(f"{sub}.heading_deg", f.get("heading_deg", 0.0)),
                                      self.number(f"{sub}.time_s", f.get("time_s", 0.0)))
        except ScenarioError:
            raise
        except EditError as exc:
            raise self.fail(sub, d[kind], str(exc)) from None
        except RedriveError as exc:  # a trajectory file's own error names its file and field
            raise self.fail(sub, d[kind], str(exc)) from None
        frame = d.get("frame", "world")
        if frame == "ego_start":
            ego0 = scene.base.world_from_scene @ scene.base.ego.poses[0]
            traj = Trajectory(traj.times, ego0 @ traj.poses)
        elif frame != "world":
            raise self.fail(f"{where}.frame", frame, "must be 'world' or 'ego_start'")
        if "time_shift" in d:
            traj = tj.time_shift(traj, self.number(f"{where}.time_shift", d["time_shift"]))
        return traj

    @staticmethod
    def _start_ns(scene) -> int | None:
        try:
            return int(scene.log.start_time_ns)
        except (RedriveError, AttributeError):
            return None

    # -------------------------------------------------------------- edits
    def edit(self, k: int, value: Any, scene) -> None:
        where = f"edits[{k}]"
        d = self.mapping(where, value)
        op = d.get("op")
        if op not in OPS:
            raise self.fail(f"{where}.op", op, f"must be one of {', '.join(OPS)}")
        try:
            if op == "remove":
                self.mapping(where, d, {"op", "actor"})
                scene.remove(self._actor(where, d))
            elif op == "move":
                self.mapping(where, d, {"op", "actor", "trajectory", "offset", "frame", "time_shift"})
                actor = self._actor(where, d)
                traj = self.trajectory(f"{where}.trajectory", d["trajectory"], scene) if "trajectory" in d else None
                offset = self.vector(f"{where}.offset", d["offset"], 3) if "offset" in d else None
                shift = self.number(f"{where}.time_shift", d["time_shift"]) if "time_shift" in d else None
                frame = d.get("frame", "box")
                if frame not in ("box", "world"):
                    raise self.fail(f"{where}.frame", frame, "must be 'box' or 'world'")
                if traj is None and offset is None and shift is None:
                    raise self.fail(where, d, "a move needs a trajectory, an offset or a time_shift")
                scene.move(actor, trajectory=traj, offset=offset, frame=frame, time_shift=shift)
            elif op == "insert":
                self.mapping(where, d, {"op", "actor", "id", "asset", "trajectory"})
                if "asset" not in d:
                    raise self.fail(f"{where}.asset", None, "required")
                if "trajectory" not in d:
                    raise self.fail(f"{where}.trajectory", None, "required")
                new_id = d.get("id", d.get("actor"))
                if new_id is not None and not isinstance(new_id, str):
                    raise self.fail(f"{where}.id", new_id, "must be a string")
                try:
                    asset = Asset.from_dict(d["asset"], self.base)
                except EditError as exc:
                    raise self.fail(f"{where}.asset", d["asset"], str(exc)) from None
                traj = self.trajectory(f"{where}.trajectory", d["trajectory"], scene)
                scene.insert(asset, traj, new_id)
            else:
                self.mapping(where, d, {"op", "trajectory"})
                if "trajectory" not in d:
                    raise self.fail(f"{where}.trajectory", None, "required")
                scene.set_ego_trajectory(self.trajectory(f"{where}.trajectory", d["trajectory"], scene, for_ego=True))
        except ScenarioError:
            raise
        except EditError as exc:
            raise self.fail(where, d.get("actor", d.get("id", op)), str(exc)) from None

    def _actor(self, where: str, d: dict) -> str:
        a = d.get("actor")
        if not isinstance(a, str):
            raise self.fail(f"{where}.actor", a, "an actor id (string) is required")
        return a


def load_scenario(path: str | Path, run: str | Path | None = None, allow_overlap: bool | None = None) -> Scenario:
    """Parse a scenario (or a saved edit list) and apply its edits to the run's editable scene
    (``run`` overrides the file's ``run``)."""
    from redrive.editing.scene import EditableScene

    path = Path(path)
    doc = read_document(path)
    p = _Parser(path)
    d = p.mapping("", doc, TOP_KEYS)
    if "format" in d and d["format"] != FORMAT:
        raise p.fail("format", d["format"], f"expected {FORMAT!r} (or no format field for a scenario)")
    if run is None:
        if not isinstance(d.get("run"), str):
            raise p.fail("run", d.get("run"), "which reconstruction to edit: give 'run' here or RUN on the command line")
        run = path.parent / d["run"]
    run = Path(run)
    if not (run / "scene.json").is_file():
        raise p.fail("run", str(run), "is not a reconstruction run directory (no scene.json)")
    overlap = d.get("allow_overlap", False) if allow_overlap is None else allow_overlap
    if not isinstance(overlap, bool):
        raise p.fail("allow_overlap", overlap, "must be true or false")
    ego_box = EgoBox()
    if "ego_box" in d:
        eb = p.mapping("ego_box", d["ego_box"], {"size", "centre"})
        ego_box = EgoBox(tuple(p.vector("ego_box.size", eb.get("size", list(ego_box.size)), 3)),
                         tuple(p.vector("ego_box.centre", eb.get("centre", list(ego_box.centre)), 3)))
    scene = EditableScene(run, allow_overlap=overlap, ego_box=ego_box)
    if "ego_trajectory" in d and d["ego_trajectory"] != "original":
        scene.set_ego_trajectory(p.trajectory("ego_trajectory", d["ego_trajectory"], scene, for_ego=True))
    edits = d.get("edits", [])
    if not isinstance(edits, list):
        raise p.fail("edits", edits, "must be a list of edits")
    for k, e in enumerate(edits):
        p.edit(k, e, scene)
    out = Scenario(path, scene)
    if "sensors" in d:
        s = d["sensors"]
        if not isinstance(s, list) or not all(isinstance(x, (str, dict)) for x in s) or not s:
            raise p.fail("sensors", s, "must be a non-empty list of sensor names or spec mappings")
        out.sensors = s
    if "times" in d and "frames" in d:
        raise p.fail("times", d["times"], "give either times or frames, not both")
    if "times" in d:
        t = d["times"]
        if not isinstance(t, list) or not t:
            raise p.fail("times", t, "must be a non-empty list of seconds")
        out.times = np.array([p.number(f"times[{i}]", v) for i, v in enumerate(t)])
    if "frames" in d:
        f = p.mapping("frames", d["frames"], {"start", "stop", "step"})
        vals = {k: f.get(k) for k in ("start", "stop", "step")}
        for k, v in vals.items():
            if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < (1 if k == "step" else 0)):
                raise p.fail(f"frames.{k}", v, "must be a non-negative integer (step >= 1)")
        out.times = _frame_times(scene, vals, p)
    if "lighting" in d:
        lt = p.mapping("lighting", d["lighting"], {"sun_direction", "ambient"})
        out.lighting = Lighting(tuple(p.vector("lighting.sun_direction", lt.get("sun_direction", [0.45, -0.3, 0.84]), 3)),
                                p.number("lighting.ambient", lt.get("ambient", 0.4)))
    before = d.get("before", "recorded")
    if before not in ("recorded", "rendered", "none"):
        raise p.fail("before", before, "must be recorded, rendered or none")
    out.before = before
    lidar = d.get("lidar", "surface")
    if lidar not in ("surface", "volume"):
        raise p.fail("lidar", lidar, "must be surface or volume")
    out.lidar = lidar
    return out


def _frame_times(scene, vals: dict, p: _Parser) -> dict[str, np.ndarray]:
    """Per recorded sensor: the frame times of indices ``range(start, stop, step)``."""
    log = scene.log
    out = {}
    for name, sensor in list(log.cameras.items()) + list(log.lidars.items()):
        ft = sensor.frame_times if hasattr(sensor, "frame_times") else sensor.sweep_times
        idx = np.arange(len(ft))[slice(vals["start"], vals["stop"], vals["step"])]
        if len(idx) == 0:
            raise p.fail("frames", vals, f"selects no frame of {name!r} ({len(ft)} frames)")
        out[name] = ft[idx]
    return out


__all__ = ["Scenario", "load_scenario", "read_document"]
