"""``EditableScene``: a reconstruction run plus an edit list (remove, move, insert actors; a new
ego path), validated before anything is rendered, rendered into camera images and LiDAR sweeps.

    import redrive
    scene = redrive.load("runs/drive")          # the run directory of `redrive recon`
    scene.remove("lead_000")
    scene.move("parked_003", offset=(0.0, 3.0, 0.0))          # 3 m to the car's left
    scene.insert(Asset.from_mesh("car.glb", "car", 0.4, up="y"), trajectory)
    frames = scene.render(["front"], times)                   # arrays
    scene.save("edits.json")                                  # the run + this list

Edits apply immediately to an edited copy of the scene graph (``scene.graph``), so an unknown id
fails at the call; overlaps and leaving the reconstructed region are checked at the times that are
rendered (``scene.validate(times)``, called by ``render`` and ``write_log``).
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from redrive.editing.assets import Asset
from redrive.editing.edits import FORMAT, VERSION, Edit
from redrive.editing.errors import DuplicateActorError, EditError, UnknownActorError
from redrive.editing.validation import EgoBox, check_overlaps, check_region
from redrive.errors import RedriveError
from redrive.geometry.se3 import make_pose
from redrive.log.types import Trajectory
from redrive.scene.graph import ActorNode, SceneGraph


@dataclass
class ActorInfo:
    """An actor of the (edited) scene as a user sees it."""

    id: str
    category: str
    size: np.ndarray
    """(3,) length, width, height, metres."""
    trajectory: Trajectory
    """``world_from_box`` in the log's world frame."""
    dynamic: bool
    source: str
    """``recorded``, ``moved``, ``inserted:<asset>``."""
    visible_frames: dict[str, np.ndarray]
    """Camera -> indices of the recorded frames in which the box is (partly) in view."""


def _moves(t: Trajectory) -> bool:
    return bool(np.abs(t.poses - t.poses[:1]).max() > 1e-9) if len(t) > 1 else False


class EditableScene:
    """A reconstruction run with a list of edits; the run's files are only read (except the LiDAR
    surface path's mesh cache, ``mesh_cache``)."""

    surface_config = None
    """``redrive.render.surface.SurfaceConfig`` of the LiDAR surface path (None: its defaults)."""

    def __init__(self, run: str | Path, allow_overlap: bool = False, ego_box: EgoBox | None = None):
        self.run = Path(run).resolve()
        for name in ("scene.json", "config.json"):
            if not (self.run / name).is_file():
                raise RedriveError(f"{self.run / name}: missing; is {self.run} a reconstruction run "
                                   "(redrive recon LOG --out RUN)?")
        self.base = SceneGraph.from_dict(json.loads((self.run / "scene.json").read_text()))
        self.meta = json.loads((self.run / "config.json").read_text())
        self.allow_overlap = allow_overlap
        self.ego_box = ego_box or EgoBox()
        self.edits: list[Edit] = []
        self.graph = copy.deepcopy(self.base)
        """The edited scene graph (scene frame; ``graph.world_from_scene`` maps to the log's world)."""
        self.assets: dict[str, Asset] = {}
        """Inserted actor id -> its asset."""
        self.edited: set[str] = set()
        """Ids of moved or inserted actors (validated against the others and the ego)."""
        self.ego_changed = False
        self._log = None
        self._models: dict[Path, Any] = {}
        self._steps: dict[Path, int] = {}
        self._neural = None
        self.mesh_cache: str | Path | bool | None = True
        """Where the LiDAR surface path keeps the fields' meshes: True = RUN/render_cache (as
        ``redrive render``), a directory, or None (in memory)."""

    # ------------------------------------------------------------------ the source
    @property
    def log_path(self) -> Path:
        """The DriveLog the run was trained on."""
        return Path(self.meta["log"])

    @property
    def log(self):
        """The source DriveLog (sensor rig, frame times, recorded images), opened on first use."""
        if self._log is None:
            from redrive.log import DriveLog

            if not (self.log_path / "log.json").is_file():
                raise RedriveError(f"the run's source log {self.log_path} is not available; render with explicit "
                                   "sensor specs and times")
            self._log = DriveLog.open(self.log_path)
        return self._log

    @property
    def ego(self) -> Trajectory:
        """The (edited) ego path, ``world_from_vehicle`` in the log's world frame."""
        return Trajectory(self.graph.ego.times.copy(), self.world(self.graph.ego.poses))

    def world(self, poses: np.ndarray) -> np.ndarray:
        return self.graph.world_from_scene @ poses

    def scene(self, poses: np.ndarray) -> np.ndarray:
        return self.graph.scene_from_world @ poses

    # ------------------------------------------------------------------ reading
    @property
    def actors(self) -> dict[str, ActorInfo]:
        """The actors of the edited scene by id."""
        out = {}
        for a, node in self.graph.actors.items():
            source = f"inserted:{self.assets[a].name}" if a in self.assets else ("moved" if a in self.edited else "recorded")
            out[a] = ActorInfo(a, node.category, node.size.copy(),
                               Trajectory(node.trajectory.times.copy(), self.world(node.trajectory.poses)),
                               node.dynamic, source, self._visible_frames(node))
        return out

    def _visible_frames(self, node: ActorNode) -> dict[str, np.ndarray]:
        try:
            cameras = self.log.cameras
        except RedriveError:
            return {}
        out = {}
        signs = np.array([[sx, sy, sz] for sx in (1, -1) for sy in (1, -1) for sz in (1, -1)], float) * node.size / 2
        for name, cam in cameras.items():
            t = cam.frame_times
            on = node.exists_at(t)
            boxes = node.trajectory.at(t)
            cam_from_scene = np.linalg.inv(self.graph.ego.at(t) @ cam.vehicle_from_camera)
            corners = np.einsum("tij,kj->tki", boxes[:, :3, :3], signs) + boxes[:, None, :3, 3]
            pc = np.einsum("tij,tkj->tki", cam_from_scene[:, :3, :3], corners) + cam_from_scene[:, None, :3, 3]
            w, h = cam.intrinsics.width, cam.intrinsics.height
            seen = np.zeros(len(t), bool)
            for k in np.flatnonzero(on):
                front = pc[k, :, 2] > 0.1
                if front.sum() < 1:
                    continue
                uv, _, valid = cam.intrinsics.project(pc[k][front])
                uv = uv[valid]
                seen[k] = bool(len(uv)) and uv[:, 0].max() >= 0 and uv[:, 0].min() < w and uv[:, 1].max() >= 0 \
                    and uv[:, 1].min() < h
            out[name] = np.flatnonzero(seen)
        return out

    # ------------------------------------------------------------------ edits
    def _node(self, actor_id: str, what: str) -> ActorNode:
        if actor_id not in self.graph.actors:
            raise UnknownActorError(actor_id, list(self.graph.actors), what)
        return self.graph.actors[actor_id]

    def remove(self, actor_id: str) -> None:
        """Remove an actor (recorded or inserted) from every frame."""
        self._node(actor_id, "remove")
        self._apply(Edit("remove", actor_id))

    def move(self, actor_id: str, trajectory: Trajectory | None = None, offset: Any = None, frame: str = "box",
             time_shift: float | None = None) -> None:
        """Give an actor a new ``trajectory`` (world frame), and/or displace it by ``offset`` [x, y, z]
        metres in its box frame (``frame="box"``: x forward, y left, z up) or the world frame, and/or
        shift its motion in time by ``time_shift`` seconds (in that order)."""
        self._node(actor_id, "move")
        if trajectory is None and offset is None and time_shift is None:
            raise EditError(f"move {actor_id!r}: give a trajectory, an offset or a time_shift")
        if frame not in ("box", "world"):
            raise EditError(f"move {actor_id!r}: frame must be 'box' or 'world', got {frame!r}")
        if offset is not None:
            off = np.asarray(offset, dtype=np.float64).reshape(-1)
            if off.shape != (3,) or not np.isfinite(off).all():
                raise EditError(f"move {actor_id!r}: offset must be three finite numbers [x, y, z], got {offset!r}")
            offset = tuple(float(v) for v in off)
        if time_shift is not None and not np.isfinite(time_shift):
            raise EditError(f"move {actor_id!r}: time_shift must be a finite number of seconds, got {time_shift!r}")
        self._apply(Edit("move", actor_id, trajectory=trajectory, offset=offset, frame=frame, time_shift=time_shift))

    def insert(self, asset: Asset, trajectory: Trajectory, actor_id: str | None = None) -> str:
        """Insert ``asset`` following ``trajectory`` (world frame; for an asset with
        ``origin="bottom"`` the poses are the ground under the box). Returns the new actor id."""
        if not isinstance(asset, Asset):
            raise EditError(f"insert: asset must be an Asset (Asset.from_run / from_mesh / AssetLibrary.get), got {asset!r}")
        if actor_id is None:
            k = 0
            while f"inserted_{k:03d}" in self.graph.actors:
                k += 1
            actor_id = f"inserted_{k:03d}"
        if actor_id in self.graph.actors:
            raise DuplicateActorError(f"insert: the scene already has an actor {actor_id!r}; choose another actor_id")
        self._apply(Edit("insert", actor_id, trajectory=trajectory, asset=asset))
        return actor_id

    def set_ego_trajectory(self, trajectory: Trajectory) -> None:
        """Render along another ego path (``world_from_vehicle``, log clock); see
        ``redrive.render.trajectories.resolve_trajectory`` for lane shifts and files."""
        self._apply(Edit("set_ego", trajectory=trajectory))

    def _apply(self, edit: Edit) -> None:
        g = self.graph
        if edit.op == "remove":
            del g.actors[edit.actor]
            self.edited.discard(edit.actor)
            self.assets.pop(edit.actor, None)
        elif edit.op == "move":
            node = g.actors[edit.actor]
            traj = node.trajectory
            if edit.trajectory is not None:
                traj = Trajectory(edit.trajectory.times.copy(), self.scene(edit.trajectory.poses))
            if edit.offset is not None:
                shift = make_pose(np.eye(3), np.asarray(edit.offset))
                traj = Trajectory(traj.times.copy(), traj.poses @ shift if edit.frame == "box" else shift @ traj.poses)
            if edit.time_shift is not None:
                traj = Trajectory(traj.times + edit.time_shift, traj.poses.copy())
            g.actors[edit.actor] = replace(node, trajectory=traj, dynamic=node.dynamic or _moves(traj))
            self.edited.add(edit.actor)
        elif edit.op == "insert":
            asset = edit.asset
            poses = self.scene(edit.trajectory.poses)
            if asset.origin == "bottom":
                poses = poses @ make_pose(np.eye(3), [0.0, 0.0, float(asset.size[2]) / 2.0])
            traj = Trajectory(edit.trajectory.times.copy(), poses)
            source = f"asset:{asset.name}"
            if asset.kind == "run" and asset.run == self.run:
                source = f"field:{self.base_actor_ids().index(asset.actor_id)}" if asset.actor_id in self.base_actor_ids() else source
            g.actors[edit.actor] = ActorNode(edit.actor, asset.category, np.asarray(asset.size, float).copy(), traj,
                                             _moves(traj), source)
            self.assets[edit.actor] = asset
            self.edited.add(edit.actor)
        elif edit.op == "set_ego":
            g.ego = Trajectory(edit.trajectory.times.copy(), self.scene(edit.trajectory.poses))
            self.ego_changed = True
        else:  # pragma: no cover - Edit ops come from this module and the scenario parser
            raise EditError(f"unknown edit op {edit.op!r}")
        self.edits.append(edit)

    def base_actor_ids(self) -> list[str]:
        """The run's reconstructed actors in field-slot order."""
        from redrive.config import from_dict
        from redrive.recon.config import ReconConfig

        if not hasattr(self, "_slots"):
            cfg = from_dict(ReconConfig, self.meta["config"], self.run / "config.json")
            self._slots = list(self.base.actors) if cfg.actors.enabled else []
        return self._slots

    # ------------------------------------------------------------------ validation
    def validate(self, times: np.ndarray) -> None:
        """Raise ``OverlapError`` / ``OutOfRegionError`` if an edited actor (or a changed ego path)
        intersects another actor or the ego, or leaves the reconstructed region, at ``times``
        (overlaps are allowed with ``allow_overlap``)."""
        times = np.unique(np.asarray(times, dtype=np.float64).reshape(-1))
        recorded = {a: np.stack([n.trajectory.poses[:, :3, 3].min(0), n.trajectory.poses[:, :3, 3].max(0)])
                    for a, n in self.base.actors.items() if a in self.edited and a not in self.assets}
        check_region(self.graph, times, self.edited, self.ego_changed, recorded)
        if not self.allow_overlap:
            check_overlaps(self.graph, times, self.edited, self.ego_changed, self.ego_box)

    # ------------------------------------------------------------------ saving
    def to_dict(self) -> dict[str, Any]:
        return {"format": FORMAT, "version": VERSION, "run": str(self.run), "allow_overlap": self.allow_overlap,
                "ego_box": {"size": list(self.ego_box.size), "centre": list(self.ego_box.centre)},
                "edits": [e.to_dict() for e in self.edits]}

    def save(self, path: str | Path) -> Path:
        """Write the edit list (JSON, atomic). ``redrive.load(path)`` rebuilds this scene."""
        from redrive.log.writer import atomic_write_json

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_json(path, self.to_dict())
        return path

    @classmethod
    def load(cls, path: str | Path) -> "EditableScene":
        """A run directory (no edits) or a saved edit list / scenario file (edits re-applied)."""
        path = Path(path)
        if path.is_dir():
            return cls(path)
        from redrive.editing.scenario import load_scenario

        return load_scenario(path).scene

    # ------------------------------------------------------------------ rendering
    def render(self, sensors: Any = None, times: Any = None, progress: bool = False, lidar_surface: bool = True,
               lighting=None):
        """Render ``sensors`` (recorded names, camera/LiDAR spec dicts or specs; default: the
        recorded rig) at ``times`` (seconds; default: each recorded sensor's own frame times) after
        validating the edit at those times. Returns ``redrive.editing.render.Rendered`` (images
        ``[T, H, W, 3]`` uint8 and LiDAR sweeps per sensor). ``lidar_surface``: LiDAR by the
        simulator's surface path (docs/render.md), else by volume rendering; ``lighting``: of
        mesh assets (``redrive.editing.Lighting``)."""
        from redrive.editing.render import render_scene

        return render_scene(self, sensors, times, progress=progress, lidar_surface=lidar_surface, lighting=lighting)

    def model(self, run: Path | None = None):
        """The trained model of this run (or of another run an asset comes from), loaded once."""
        import torch

        from redrive.recon.trainer import load_run

        run = (run or self.run).resolve()
        if run not in self._models:
            model, cfg, info = load_run(run)
            model.eval()
            torch.set_num_threads(cfg.train.threads)
            self._models[run] = model
            self._steps[run] = int(info["step"])
        return self._models[run]

    def neural_scene(self):
        """This run as the simulator's ``NeuralScene`` (model, appearance, LiDAR surface meshes
        cached in ``mesh_cache``), built once."""
        if self._neural is None:
            from redrive.render.neural import NeuralScene

            model = self.model()
            try:
                log = self.log
            except RedriveError:
                log = None
            self._neural = NeuralScene.of_run_model(model, self.run, self._steps[self.run], log, self.log_path,
                                                    self.mesh_cache, self.surface_config)
        return self._neural


def load(run_or_edits: str | Path) -> EditableScene:
    """``redrive.load``: the editable scene of a run directory, or of a saved edit list."""
    return EditableScene.load(run_or_edits)


__all__ = ["ActorInfo", "EditableScene", "load"]
