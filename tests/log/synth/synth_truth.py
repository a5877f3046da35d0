"""Helpers on a synthetic log's ground truth, shared by the synth tests."""

from __future__ import annotations

import numpy as np

from redrive.log import DriveLog


def open3d_scene(vertices: np.ndarray, faces: np.ndarray):
    import open3d as o3d

    scene = o3d.t.geometry.RaycastingScene()
    scene.add_triangles(o3d.core.Tensor(np.asarray(vertices, np.float32)), o3d.core.Tensor(np.asarray(faces, np.uint32)))
    return scene


def distance(scene, points: np.ndarray) -> np.ndarray:
    import open3d as o3d

    return scene.compute_distance(o3d.core.Tensor(np.asarray(points, np.float32))).numpy().astype(np.float64)


def sweep_world_points(log: DriveLog, lidar: str, index: int):
    """(sweep, world points (N, 3)) of one sweep, each point placed with the pose at its own time."""
    sweep = log.load_sweep(lidar, index)
    poses = log.world_from_lidar(lidar, sweep.times)
    world = np.einsum("nij,nj->ni", poses[:, :3, :3], sweep.points.astype(np.float64)) + poses[:, :3, 3]
    return sweep, world


class TruthMeshes:
    """Distances from world points at given times to the log's ground-truth meshes."""

    def __init__(self, log: DriveLog):
        gt = log.ground_truth
        static = log.load_mesh(gt.static_mesh)
        self.static = open3d_scene(static.vertices, static.faces)
        self.log = log
        self.actors = {}
        for actor_id, rel in gt.actor_meshes.items():
            mesh = log.load_mesh(rel)
            self.actors[actor_id] = open3d_scene(mesh.vertices, mesh.faces)

    def to_static(self, points: np.ndarray) -> np.ndarray:
        return distance(self.static, points)

    def to_actor(self, actor_id: str, points: np.ndarray, times: np.ndarray) -> np.ndarray:
        """Distance to the actor's mesh posed at each point's time (inf where it does not exist)."""
        track = self.log.actors[actor_id]
        out = np.full(len(points), np.inf)
        alive = track.exists_at(times)
        if not alive.any():
            return out
        uniq, inv = np.unique(times[alive], return_inverse=True)
        from redrive.geometry.se3 import invert

        box_from_world = invert(track.trajectory.at(uniq))[inv]
        local = np.einsum("nij,nj->ni", box_from_world[:, :3, :3], points[alive]) + box_from_world[:, :3, 3]
        out[alive] = distance(self.actors[actor_id], local)
        return out

    def nearest(self, points: np.ndarray, times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(distance to the nearest truth surface (N,), actor id index or -1 for static (N,))."""
        best = self.to_static(points)
        which = np.full(len(points), -1)
        for k, actor_id in enumerate(self.actors):
            d = self.to_actor(actor_id, points, times)
            closer = d < best
            best[closer], which[closer] = d[closer], k
        return best, which
