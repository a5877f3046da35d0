"""Ray casting of inserted mesh assets, each at its pose at every ray's own time, and their
shading: the hits that the neural renderer stops at (``far``) and composites behind."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from redrive.editing.assets import Asset
from redrive.scene.graph import ActorNode


@dataclass
class Lighting:
    """Light on inserted meshes: Lambertian under one sun plus ambient (the synthetic
    generator's model; its defaults match the generator's scenes and a bright day)."""

    sun_direction: tuple[float, float, float] = (0.45, -0.3, 0.84)
    """World direction towards the sun (normalised when used)."""
    ambient: float = 0.4
    """Ambient level; diffuse sunlight adds up to ``1 - ambient``."""


@dataclass
class MeshHits:
    """Nearest mesh hit per ray (``t`` inf where none)."""

    t: np.ndarray
    """(N,) float32 distance along the ray."""
    normal: np.ndarray
    """(N, 3) float32 world unit normal, facing the ray's origin."""
    albedo: np.ndarray
    """(N, 3) float32 linear albedo."""
    reflectivity: np.ndarray
    """(N,) float32 LiDAR reflectivity."""
    actor: np.ndarray
    """(N,) int32 index into ``MeshCaster.ids`` (-1: no hit)."""

    @property
    def hit(self) -> np.ndarray:
        return np.isfinite(self.t)


class MeshCaster:
    """The mesh actors of an edited scene graph."""

    def __init__(self, nodes: list[ActorNode], assets: list[Asset]):
        import open3d as o3d

        self.ids = [n.id for n in nodes]
        self.nodes, self.assets, self.scenes = nodes, assets, []
        for a in assets:
            rc = o3d.t.geometry.RaycastingScene()
            rc.add_triangles(o3d.core.Tensor(a.mesh.vertices), o3d.core.Tensor(a.mesh.faces))
            self.scenes.append(rc)

    def __len__(self) -> int:
        return len(self.ids)

    def cast(self, origins: np.ndarray, directions: np.ndarray, times: np.ndarray) -> MeshHits:
        """Cast scene-frame rays (N, 3) fired at ``times`` (N,) against every mesh actor present
        then, placed at its pose at that time (rays are moved into each box frame instead)."""
        import open3d as o3d

        n = len(origins)
        best = MeshHits(np.full(n, np.inf, np.float32), np.zeros((n, 3), np.float32), np.zeros((n, 3), np.float32),
                        np.zeros(n, np.float32), np.full(n, -1, np.int32))
        for k, (node, asset, rc) in enumerate(zip(self.nodes, self.assets, self.scenes)):
            on = np.flatnonzero(node.exists_at(times))
            if len(on) == 0:
                continue
            uniq, inv = np.unique(times[on], return_inverse=True)
            scene_from_box = node.trajectory.at(uniq)
            rot = scene_from_box[:, :3, :3][inv]
            o_local = np.einsum("nji,nj->ni", rot, origins[on] - scene_from_box[:, :3, 3][inv])
            d_local = np.einsum("nji,nj->ni", rot, directions[on])
            rays = o3d.core.Tensor(np.concatenate([o_local, d_local], axis=1).astype(np.float32))
            res = rc.cast_rays(rays)
            t = res["t_hit"].numpy()
            closer = np.isfinite(t) & (t < best.t[on])
            if not closer.any():
                continue
            idx = on[closer]
            prim = res["primitive_ids"].numpy()[closer].astype(np.int64)
            nrm = np.einsum("nij,nj->ni", rot[closer], res["primitive_normals"].numpy()[closer])
            facing = np.einsum("ni,ni->n", nrm, directions[idx]) > 0
            nrm[facing] *= -1.0
            best.t[idx] = t[closer]
            best.normal[idx] = nrm
            best.albedo[idx] = asset.mesh.albedo[prim]
            best.reflectivity[idx] = asset.reflectivity
            best.actor[idx] = k
        return best


def shade(hits: MeshHits, lighting: Lighting) -> np.ndarray:
    """(N, 3) display colour (sRGB-encoded, like the images the fields learned) of the hits."""
    sun = np.asarray(lighting.sun_direction, np.float32)
    sun = sun / np.linalg.norm(sun)
    light = lighting.ambient + (1.0 - lighting.ambient) * np.clip(hits.normal @ sun, 0.0, None)
    linear = np.clip(hits.albedo * light[:, None], 0.0, 1.0)
    return linear ** (1.0 / 2.2)


def lidar_intensity(hits: MeshHits, directions: np.ndarray) -> np.ndarray:
    """(N,) reflectivity x |cos incidence| (the synthetic generator's LiDAR model)."""
    cos = np.abs(np.einsum("ni,ni->n", hits.normal, directions))
    return np.clip(hits.reflectivity * cos, 0.0, 1.0).astype(np.float32)


__all__ = ["Lighting", "MeshCaster", "MeshHits", "lidar_intensity", "shade"]
