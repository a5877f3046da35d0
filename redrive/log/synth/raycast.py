"""Ray casting against a synthetic scene, exact for every ray's own time.

The static world and the actors that never move are in one Embree scene built once. Each moving
actor has its own small Embree scene of its mesh in its box frame: a ray is tested against a
bounding cone of the actor's positions over the batch's time range, and the candidates are
transformed into the box frame *at their own time* (rolling-shutter rows, LiDAR columns) and cast
there. So moving actors are exact per ray, with no time slicing, and nothing is rebuilt per frame.
Nearest hit wins.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

from redrive.geometry.se3 import invert
from redrive.log.synth.meshes import Mesh
from redrive.log.synth.scene import SynthScene, build_static
from redrive.log.synth.textures import Material


@dataclass
class Hits:
    """First surfaces hit by a batch of N rays."""

    t: np.ndarray
    """(N,) float64 distance along the unit ray, inf where nothing is hit."""
    normal: np.ndarray
    """(N, 3) float32 world-frame unit normal facing the ray (zero where nothing is hit)."""
    face: np.ndarray
    """(N,) int64 index into ``World.face_material`` / ``World.face_uv``, -1 where nothing is hit."""
    bary: np.ndarray
    """(N, 2) float32 barycentric coordinates of the hit on its face (weights of corners 1, 2)."""
    actor: np.ndarray
    """(N,) int32 index of the actor hit (in ``scene.actors``), -1 for the static world or nothing."""

    @property
    def hit(self) -> np.ndarray:
        return np.isfinite(self.t)


def _o3d():
    import open3d as o3d

    return o3d


def _scene_of(meshes: list[np.ndarray], faces: list[np.ndarray]):
    o3d = _o3d()
    scene = o3d.t.geometry.RaycastingScene()
    for v, f in zip(meshes, faces):
        scene.add_triangles(o3d.core.Tensor(np.ascontiguousarray(v, dtype=np.float32)),
                            o3d.core.Tensor(np.ascontiguousarray(f, dtype=np.uint32)))
    # open3d builds the BVH on the first cast; do it now, so that threads only ever read.
    scene.cast_rays(o3d.core.Tensor(np.array([[0, 0, 0, 0, 0, 1]], np.float32)))
    return scene


def _cast(scene, origins: np.ndarray, dirs: np.ndarray) -> dict[str, np.ndarray]:
    o3d = _o3d()
    rays = np.empty((len(dirs), 6), np.float32)
    rays[:, :3], rays[:, 3:] = origins, dirs
    out = scene.cast_rays(o3d.core.Tensor(rays))
    return {k: v.numpy() for k, v in out.items()}


def _is_fixed(trajectory, span: tuple[float, float]) -> bool:
    p = trajectory.poses
    t0, t1 = trajectory.span
    return bool(np.abs(p - p[:1]).max() <= 1e-12 and t0 <= span[0] and t1 >= span[1])


class World:
    """The ray-castable form of a ``SynthScene``: meshes, material and texture tables, Embree scenes.

    Face tables hold the static faces first, then each actor's faces (``actor_face_offset``).
    """

    def __init__(self, scene: SynthScene):
        self.scene = scene
        static, materials = build_static(scene.layout)
        self.static_mesh: Mesh = static
        self.materials: list[Material] = list(materials)
        self.actor_meshes: list[Mesh] = []
        self.actor_sizes: list[np.ndarray] = []
        self.actor_categories: list[str] = []
        self.actor_material_base: list[int] = []
        """Index of each actor's first material in ``materials`` (its mesh's ids are local)."""
        face_material = [static.material]
        face_uv = [static.corner_uv()]
        offsets = []
        total = len(static)
        for actor in scene.actors:
            asset = actor.built()
            base = len(self.materials)
            self.actor_material_base.append(base)
            self.materials += [Material(**{**m.__dict__, "name": f"{actor.id}/{m.name}"}) for m in asset.materials]
            self.actor_meshes.append(asset.mesh)
            self.actor_sizes.append(asset.size)
            self.actor_categories.append(asset.category)
            face_material.append(asset.mesh.material + base)
            face_uv.append(asset.mesh.corner_uv())
            offsets.append(total)
            total += len(asset.mesh)
        self.face_material = np.concatenate(face_material).astype(np.int32)
        """(F_total,) material index of every face."""
        self.face_uv = np.concatenate(face_uv).astype(np.float32)
        """(F_total, 3, 2) texture coordinates of every face's corners."""
        self._face_uv_edges = np.concatenate([self.face_uv[:, 0], self.face_uv[:, 1] - self.face_uv[:, 0],
                                              self.face_uv[:, 2] - self.face_uv[:, 0]], axis=1)
        """(F_total, 6): corner-0 coordinates and the two edge vectors, gathered once per hit."""
        self.actor_face_offset = np.array(offsets, np.int64)

        # Actors that stand still for the whole drive join the static scene as extra geometries.
        span = scene.ego.span
        self.fixed = [i for i, a in enumerate(scene.actors) if _is_fixed(a.trajectory, span)]
        self.moving = [i for i in range(len(scene.actors)) if i not in set(self.fixed)]
        verts, faces = [static.vertices], [static.faces]
        for i in self.fixed:
            pose = scene.actors[i].trajectory.poses[0]
            verts.append(self.actor_meshes[i].vertices @ pose[:3, :3].T + pose[:3, 3])
            faces.append(self.actor_meshes[i].faces)
        self.static_scene = _scene_of(verts, faces)
        self._geom_actor = np.array([-1] + self.fixed, np.int32)
        self._geom_face_offset = np.concatenate([[0], self.actor_face_offset[self.fixed]]).astype(np.int64)
        self._radius = [0.5 * float(np.linalg.norm(s)) for s in self.actor_sizes]
        # Posed moving actors per time (cameras share frame times); frames may render in threads.
        self._posed: dict[float, tuple] = {}
        self._lock = threading.Lock()
        self._local = {i: _scene_of([self.actor_meshes[i].vertices], [self.actor_meshes[i].faces]) for i in self.moving}

    # ------------------------------------------------------------------ casting
    def cast(self, origins: np.ndarray, dirs: np.ndarray, times: np.ndarray | float) -> Hits:
        """First hits of rays with world origins (N, 3) and unit directions (N, 3), fired at
        ``times`` (N,) seconds (or one time for all)."""
        n = len(dirs)
        res = _cast(self.static_scene, origins, dirs)
        t = res["t_hit"].astype(np.float64)
        hit = np.isfinite(t)
        geom = np.where(hit, res["geometry_ids"], 0).astype(np.int64)
        face = np.where(hit, self._geom_face_offset[geom] + res["primitive_ids"], -1)
        actor = np.where(hit, self._geom_actor[geom], -1).astype(np.int32)
        bary = res["primitive_uvs"].astype(np.float32)
        normal = res["primitive_normals"].astype(np.float32)
        if self.moving and np.ndim(times) == 0:
            self._cast_posed(origins, dirs, float(times), t, face, bary, normal, actor)
        elif self.moving:
            self._cast_moving(origins, dirs, times, t, face, bary, normal, actor)
        flip = np.einsum("ij,ij->i", normal, dirs) > 0
        normal[flip] *= -1
        normal[~np.isfinite(t)] = 0
        return Hits(t, normal, face, bary, actor)

    def _posed_scene(self, time: float):
        """Embree scene of the moving actors posed at ``time`` (cached: cameras share frame times)."""
        with self._lock:
            if time not in self._posed:
                if len(self._posed) >= 8:
                    self._posed.pop(next(iter(self._posed)))
                self._posed[time] = self._build_posed(time)
            return self._posed[time]

    def _build_posed(self, time: float):
        verts, faces, index = [], [], []
        for i in self.moving:
            traj = self.scene.actors[i].trajectory
            t0, t1 = traj.span
            if t0 <= time <= t1:
                pose = traj.at(time)
                verts.append(self.actor_meshes[i].vertices @ pose[:3, :3].T + pose[:3, 3])
                faces.append(self.actor_meshes[i].faces)
                index.append(i)
        return (_scene_of(verts, faces) if index else None), np.array(index, np.int32)

    def _cast_posed(self, origins, dirs, time, t, face, bary, normal, actor) -> None:
        """All rays fired at one time: cast against the moving actors posed at that time."""
        scene, index = self._posed_scene(time)
        if scene is None:
            return
        res = _cast(scene, origins, dirs)
        at = res["t_hit"].astype(np.float64)
        won = np.flatnonzero(np.isfinite(at) & (at < t))
        which = index[res["geometry_ids"][won].astype(np.int64)]
        t[won] = at[won]
        face[won] = self.actor_face_offset[which] + res["primitive_ids"][won]
        bary[won] = res["primitive_uvs"][won]
        normal[won] = res["primitive_normals"][won]
        actor[won] = which

    def _cast_moving(self, origins, dirs, times, t, face, bary, normal, actor) -> None:
        """Let moving actors take the rays they hit first (arrays updated in place)."""
        n = len(dirs)
        if np.ndim(times) == 0:
            uniq, inv = np.array([float(times)]), np.zeros(n, np.int64)
        else:
            uniq, inv = np.unique(np.asarray(times, np.float64), return_inverse=True)
        origins = np.asarray(origins, np.float64)
        if origins.strides[0] == 0:  # one origin broadcast to every ray
            o_ref, dev = origins[0], 0.0
        else:
            lo, hi = origins.min(axis=0), origins.max(axis=0)
            o_ref, dev = (lo + hi) / 2, 0.5 * float(np.linalg.norm(hi - lo))
        # One bounding cone per actor from o_ref; a single matrix product tests every ray.
        cones, axes, cos_half = [], [], []
        for i in self.moving:
            traj = self.scene.actors[i].trajectory
            t0, t1 = traj.span
            alive = (uniq >= t0) & (uniq <= t1)
            if not alive.any():
                continue
            poses = traj.at(uniq)
            centres = poses[alive, :3, 3]
            lo, hi = centres.min(axis=0), centres.max(axis=0)
            radius = self._radius[i] + 0.5 * float(np.linalg.norm(hi - lo)) + dev + 1e-3
            to_c = (lo + hi) / 2 - o_ref
            dist = float(np.linalg.norm(to_c))
            cones.append((i, poses, alive))
            axes.append(to_c / max(dist, 1e-9))
            cos_half.append(np.sqrt(1.0 - (radius / dist) ** 2) - 1e-6 if dist > radius else -2.0)
        if not cones:
            return
        ax = np.array(axes, np.float32)
        # Three broadcast products: numpy's matmul is slow for an inner dimension of 3.
        inside = (dirs[:, :1] * ax[:, 0] + dirs[:, 1:2] * ax[:, 1] + dirs[:, 2:3] * ax[:, 2]) >= np.array(cos_half, np.float32)
        for k, (i, poses, alive) in enumerate(cones):
            cand = inside[:, k]
            if not alive.all():
                cand = cand & alive[inv]
            rows = np.flatnonzero(cand)
            if len(rows) == 0:
                continue
            if len(uniq) == 1:
                # One time for all rays: a single rigid transform, no per-ray matrices.
                box_from_world = invert(poses[0])
                rot1 = box_from_world[:3, :3]
                o_local = origins[rows] @ rot1.T + box_from_world[:3, 3]
                d_local = dirs[rows] @ rot1.T.astype(np.float32)
            else:
                box_from_world = invert(poses)[inv[rows]]
                rot = box_from_world[:, :3, :3]
                o_local = np.einsum("nij,nj->ni", rot, origins[rows]) + box_from_world[:, :3, 3]
                d_local = np.einsum("nij,nj->ni", rot, dirs[rows])
            res = _cast(self._local[i], o_local, d_local)
            lt = res["t_hit"].astype(np.float64)
            better = np.isfinite(lt) & (lt < t[rows])
            won = rows[better]
            t[won] = lt[better]
            face[won] = self.actor_face_offset[i] + res["primitive_ids"][better]
            bary[won] = res["primitive_uvs"][better]
            # Back to the world: n_world = R_world_from_box n_box = rot^T n_box.
            n_box = res["primitive_normals"][better]
            if len(uniq) == 1:
                normal[won] = n_box @ rot1.astype(np.float32)
            else:
                normal[won] = np.einsum("nji,nj->ni", rot[better], n_box)
            actor[won] = i

    # ------------------------------------------------------------------ surface properties
    def surface(self, hits: Hits) -> tuple[np.ndarray, np.ndarray]:
        """Albedo (N, 3) float32 and LiDAR reflectivity (N,) float32 at the hits (zeros at misses)."""
        from redrive.log.synth.textures import shade_materials

        n = len(hits.t)
        albedo = np.zeros((n, 3), np.float32)
        refl = np.zeros(n, np.float32)
        sel = np.flatnonzero(hits.face >= 0)
        if len(sel):
            f = hits.face[sel]
            b = hits.bary[sel]
            c = self._face_uv_edges[f]
            uv = c[:, 0:2] + b[:, :1] * c[:, 2:4] + b[:, 1:] * c[:, 4:6]
            albedo[sel], refl[sel] = shade_materials(self.materials, self.face_material[f], uv)
        return albedo, refl
