"""Edits of a scene description. Each returns a new ``SynthScene`` and leaves its input alone;
rendering the result (``render_scene`` / ``SceneRenderer``) gives the ground truth of the edit.
The edited scene keeps the seed, so LiDAR noise and drops stay the same on every ray the edit does
not touch."""

from __future__ import annotations

import copy
from dataclasses import replace

import numpy as np

from redrive.errors import RedriveError
from redrive.geometry.se3 import make_pose
from redrive.log.synth.assets import AssetSpec, build_asset
from redrive.log.synth.scene import SynthActor, SynthScene
from redrive.log.types import CameraSensor, LidarSensor, Trajectory


def _edited(scene: SynthScene, label: str, **changes) -> SynthScene:
    return replace(copy.deepcopy(scene), name=f"{scene.name}+{label}", **changes)


def remove_actor(scene: SynthScene, actor_id: str) -> SynthScene:
    """The scene without actor ``actor_id``."""
    scene.actor(actor_id)
    return _edited(scene, f"remove-{actor_id}", actors=[copy.deepcopy(a) for a in scene.actors if a.id != actor_id])


def set_actor_trajectory(scene: SynthScene, actor_id: str, trajectory: Trajectory) -> SynthScene:
    """The scene with actor ``actor_id`` following ``trajectory`` (``world_from_box``) instead."""
    scene.actor(actor_id)
    _check_trajectory(trajectory, actor_id)
    actors = [SynthActor(a.id, a.asset, copy.deepcopy(trajectory), _moves(trajectory)) if a.id == actor_id else copy.deepcopy(a)
              for a in scene.actors]
    return _edited(scene, f"retrack-{actor_id}", actors=actors)


def move_actor(scene: SynthScene, actor_id: str, offset: np.ndarray | tuple[float, float, float],
               frame: str = "box") -> SynthScene:
    """The scene with actor ``actor_id`` displaced by ``offset`` (3,) metres all along its track,
    expressed in its own box frame (``frame="box"``: x forward, y left) or in the world frame."""
    actor = scene.actor(actor_id)
    shift = make_pose(np.eye(3), np.asarray(offset, float))
    poses = actor.trajectory.poses @ shift if frame == "box" else shift @ actor.trajectory.poses
    if frame not in ("box", "world"):
        raise RedriveError(f"move_actor: frame must be 'box' or 'world', got {frame!r}")
    return set_actor_trajectory(scene, actor_id, Trajectory(actor.trajectory.times.copy(), poses))


def insert_actor(scene: SynthScene, asset: AssetSpec | str, trajectory: Trajectory, actor_id: str | None = None,
                 on_ground: bool = False) -> SynthScene:
    """The scene with a new actor from the asset library following ``trajectory``.

    With ``on_ground``, the trajectory's z is taken as the ground height under the actor and its
    box centre is raised by half the asset's height.
    """
    spec = AssetSpec(asset) if isinstance(asset, str) else asset
    size = build_asset(spec).size
    if actor_id is None:
        count = sum(a.id.startswith("inserted_") for a in scene.actors)
        actor_id = f"inserted_{count:03d}"
    if any(a.id == actor_id for a in scene.actors):
        raise RedriveError(f"insert_actor: scene {scene.name!r} already has an actor {actor_id!r}")
    _check_trajectory(trajectory, actor_id)
    poses = trajectory.poses.copy()
    if on_ground:
        poses[:, 2, 3] += size[2] / 2
    new = SynthActor(actor_id, spec, Trajectory(trajectory.times.copy(), poses), _moves(trajectory))
    return _edited(scene, f"insert-{actor_id}", actors=[copy.deepcopy(a) for a in scene.actors] + [new])


def shift_ego(scene: SynthScene, lateral_m: float = 0.0, vertical_m: float = 0.0, longitudinal_m: float = 0.0) -> SynthScene:
    """The scene with the ego path offset in the vehicle's own frame at every pose (lateral
    positive to the left, vertical up): a lane change of the whole drive is ``lateral_m=3.5``."""
    shift = make_pose(np.eye(3), np.array([longitudinal_m, lateral_m, vertical_m], float))
    ego = Trajectory(scene.ego.times.copy(), scene.ego.poses @ shift)
    return _edited(scene, f"ego-shift-{lateral_m:g}-{vertical_m:g}-{longitudinal_m:g}", ego=ego)


def with_sensors(scene: SynthScene, cameras: list[CameraSensor] | None = None,
                 lidars: list[LidarSensor] | None = None) -> SynthScene:
    """The scene observed by another rig (e.g. a 64-beam LiDAR table); None keeps the current list.
    LiDARs need a beam table."""
    for lid in lidars or []:
        if lid.beams is None:
            raise RedriveError(f"with_sensors: lidar {lid.name!r} needs a beam table (LidarBeams) to be simulated")
    names = [s.name for s in (cameras if cameras is not None else scene.cameras)]
    names += [s.name for s in (lidars if lidars is not None else scene.lidars)]
    if len(set(names)) != len(names):
        raise RedriveError(f"with_sensors: sensor names must be unique, got {names}")
    return _edited(scene, "rig",
                   cameras=copy.deepcopy(cameras) if cameras is not None else copy.deepcopy(scene.cameras),
                   lidars=copy.deepcopy(lidars) if lidars is not None else copy.deepcopy(scene.lidars))


def _moves(trajectory: Trajectory) -> bool:
    p = trajectory.poses
    return bool(np.abs(p - p[:1]).max() > 1e-9)


def _check_trajectory(trajectory: Trajectory, actor_id: str) -> None:
    times, poses = np.asarray(trajectory.times), np.asarray(trajectory.poses)
    if times.ndim != 1 or len(times) == 0 or poses.shape != (len(times), 4, 4):
        raise RedriveError(f"trajectory of actor {actor_id!r}: expected times (N,) and poses (N, 4, 4), "
                           f"got {times.shape} and {poses.shape}")
    if np.any(np.diff(times) <= 0) or not np.all(np.isfinite(poses)):
        raise RedriveError(f"trajectory of actor {actor_id!r}: times must increase strictly and poses be finite")
