"""Scene graph of a reconstructed drive.

Coordinates: the *scene frame* is the log's world frame shifted so that the middle of the ego
path is the origin (no rotation, z stays up). Source logs keep large world coordinates (UTM,
city frames) in float64; the scene frame keeps float32 exact to well under a millimetre over a
few kilometres, which is what the fields and kernels compute in.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from redrive.errors import RedriveError
from redrive.log.types import ActorTrack, Trajectory


@dataclass
class ActorNode(ActorTrack):
    """One actor of the scene: a box moving along ``trajectory`` (``scene_from_box``), rendered
    by a field."""

    source: str = ""
    """What renders it: ``field:<index>`` for a reconstructed actor, ``asset:<name>`` for an
    inserted one; empty until reconstruction assigns it."""

    def to_dict(self) -> dict:
        return {
            "id": self.id,
            "category": self.category,
            "size": self.size.tolist(),
            "dynamic": self.dynamic,
            "source": self.source,
            "times": self.trajectory.times.tolist(),
            "poses": self.trajectory.poses.tolist(),
        }

    @classmethod
    def from_dict(cls, d: dict) -> "ActorNode":
        return cls(d["id"], d["category"], np.asarray(d["size"], float), Trajectory(np.asarray(d["times"]), np.asarray(d["poses"])),
                   bool(d["dynamic"]), d.get("source", ""))


@dataclass
class SensorNode:
    """A sensor of the rig: where it sits on the vehicle and, for cameras, how it projects."""

    name: str
    kind: str
    """``camera`` or ``lidar``."""
    vehicle_from_sensor: np.ndarray
    """(4, 4) extrinsics."""
    intrinsics: dict | None = None
    """Cameras: ``CameraModel.to_dict()``."""
    rolling_shutter_s: float = 0.0
    rolling_shutter_direction: str = "top_to_bottom"

    def to_dict(self) -> dict:
        return {"name": self.name, "kind": self.kind, "vehicle_from_sensor": np.asarray(self.vehicle_from_sensor).tolist(),
                "intrinsics": self.intrinsics, "rolling_shutter_s": self.rolling_shutter_s,
                "rolling_shutter_direction": self.rolling_shutter_direction}

    @classmethod
    def from_dict(cls, d: dict) -> "SensorNode":
        return cls(d["name"], d["kind"], np.asarray(d["vehicle_from_sensor"], float), d.get("intrinsics"),
                   float(d.get("rolling_shutter_s", 0.0)), d.get("rolling_shutter_direction", "top_to_bottom"))

    def camera_model(self):
        """The ``CameraModel`` of a camera node."""
        from redrive.geometry.cameras import CameraModel

        i = dict(self.intrinsics or {})
        i["distortion"] = tuple(i.get("distortion", ()))
        return CameraModel(**i)


@dataclass
class SceneGraph:
    """Everything that places content in space and time; saved with a reconstruction as JSON."""

    world_from_scene: np.ndarray
    """(4, 4) pure translation from the scene frame to the log's world frame."""
    bounds: np.ndarray
    """(2, 3) scene-frame box [min, max] of the background region modelled in detail."""
    ego: Trajectory
    """``scene_from_vehicle`` over time."""
    actors: dict[str, ActorNode] = field(default_factory=dict)
    """Actors by id."""
    sensors: dict[str, SensorNode] = field(default_factory=dict)
    """The sensor rig (cameras and LiDARs on the ego vehicle) by name."""

    @classmethod
    def from_log(cls, log, margin_m: float = 10.0, height_m: tuple[float, float] = (-5.0, 15.0),
                 lidar_points: np.ndarray | None = None, max_extent_m: float = 80.0,
                 lidar_pad_m: float = 1.0) -> "SceneGraph":
        """Scene of a DriveLog: ego path, actors, and a background box around the path.

        The box spans the ego path plus ``margin_m``, grown to cover ``lidar_points`` (world
        frame, (N, 3)) that lie within ``max_extent_m`` of the path, plus ``lidar_pad_m``;
        vertically it spans ``height_m`` around the path's height. Beyond it the distant-region
        model takes over. The pad keeps the farthest surfaces the LiDAR saw (a street's facades)
        inside the box: on its face the SDF could not turn negative behind them, and the coarse
        distant region would draw them (the default log's left facades lay 3 cm inside it).
        """
        positions = log.ego.poses[:, :3, 3]
        centre = 0.5 * (positions.min(axis=0) + positions.max(axis=0))
        world_from_scene = np.eye(4)
        world_from_scene[:3, 3] = centre
        lo = positions.min(axis=0) - centre - margin_m
        hi = positions.max(axis=0) - centre + margin_m
        lo[2], hi[2] = positions[:, 2].min() - centre[2] + height_m[0], positions[:, 2].max() - centre[2] + height_m[1]
        if lidar_points is not None and len(lidar_points):
            pts = np.asarray(lidar_points, dtype=np.float64) - centre
            near = _distance_to_path(pts[:, :2], positions[:, :2] - centre[:2]) <= max_extent_m
            if near.any():
                lo[:2] = np.minimum(lo[:2], np.percentile(pts[near, :2], 0.5, axis=0) - lidar_pad_m)
                hi[:2] = np.maximum(hi[:2], np.percentile(pts[near, :2], 99.5, axis=0) + lidar_pad_m)
        scene_from_world = np.eye(4)
        scene_from_world[:3, 3] = -centre
        actors = {a.id: _actor_node(a, scene_from_world) for a in log.actors.values()}
        ego = Trajectory(log.ego.times, scene_from_world @ log.ego.poses)
        sensors = {name: SensorNode(name, "camera", c.vehicle_from_camera, c.intrinsics.to_dict(), c.rolling_shutter_s,
                                    c.rolling_shutter_direction) for name, c in log.cameras.items()}
        sensors.update({name: SensorNode(name, "lidar", lid.vehicle_from_lidar) for name, lid in log.lidars.items()})
        return cls(world_from_scene, np.stack([lo, hi]), ego, actors, sensors)

    @property
    def scene_from_world(self) -> np.ndarray:
        out = np.eye(4)
        out[:3, 3] = -self.world_from_scene[:3, 3]
        return out

    def actor(self, actor_id: str) -> ActorNode:
        if actor_id not in self.actors:
            raise RedriveError(f"unknown actor {actor_id!r}; the scene has {len(self.actors)} actors: "
                               f"{', '.join(sorted(self.actors)[:20])}{' ...' if len(self.actors) > 20 else ''}")
        return self.actors[actor_id]

    def boxes_at(self, times: np.ndarray, actor_ids: list[str] | None = None) -> dict[str, np.ndarray]:
        """Boxes of the actors at each time, for ray/box tests.

        Returns ``present`` (T, A) bool, ``scene_from_box`` (T, A, 4, 4) and ``size`` (A, 3) for
        ``actor_ids`` (default: all, in insertion order), ``ids`` the order used.
        """
        ids = list(self.actors) if actor_ids is None else actor_ids
        times = np.atleast_1d(np.asarray(times, dtype=np.float64))
        present = np.zeros((len(times), len(ids)), dtype=bool)
        poses = np.broadcast_to(np.eye(4), (len(times), len(ids), 4, 4)).copy()
        for j, actor_id in enumerate(ids):
            node = self.actor(actor_id)
            present[:, j] = node.exists_at(times)
            poses[:, j] = node.trajectory.at(times)
        sizes = np.array([self.actors[i].size for i in ids]).reshape(len(ids), 3)
        return {"present": present, "scene_from_box": poses, "size": sizes, "ids": np.array(ids, dtype=object)}

    def to_dict(self) -> dict:
        return {
            "world_from_scene": self.world_from_scene.tolist(),
            "bounds": self.bounds.tolist(),
            "ego": {"times": self.ego.times.tolist(), "poses": self.ego.poses.tolist()},
            "actors": [a.to_dict() for a in self.actors.values()],
            "sensors": [sn.to_dict() for sn in self.sensors.values()],
        }

    @classmethod
    def from_dict(cls, d: dict) -> "SceneGraph":
        actors = [ActorNode.from_dict(a) for a in d["actors"]]
        sensors = [SensorNode.from_dict(sn) for sn in d.get("sensors", [])]
        return cls(np.asarray(d["world_from_scene"], float), np.asarray(d["bounds"], float),
                   Trajectory(np.asarray(d["ego"]["times"]), np.asarray(d["ego"]["poses"])), {a.id: a for a in actors},
                   {sn.name: sn for sn in sensors})


def _actor_node(track: ActorTrack, scene_from_world: np.ndarray) -> ActorNode:
    traj = Trajectory(track.trajectory.times, scene_from_world @ track.trajectory.poses)
    return ActorNode(track.id, track.category, np.asarray(track.size, float), traj, track.dynamic)


def _distance_to_path(points: np.ndarray, path: np.ndarray) -> np.ndarray:
    """Distance (N,) from 2-D points to a 2-D polyline (P, 2)."""
    if len(path) == 1:
        return np.linalg.norm(points - path[0], axis=1)
    a, b = path[:-1], path[1:]
    ab = b - a
    denom = np.maximum((ab**2).sum(axis=1), 1e-12)
    best = np.full(len(points), np.inf)
    for start in range(0, len(points), 65536):  # bounded memory: N x P per chunk
        p = points[start : start + 65536, None, :]
        s = np.clip(((p - a) * ab).sum(-1) / denom, 0.0, 1.0)
        d = np.linalg.norm(p - (a + s[..., None] * ab), axis=-1).min(axis=1)
        best[start : start + 65536] = d
    return best
