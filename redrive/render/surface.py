"""The LiDAR surface path: meshes of a reconstruction's SDFs ray-cast with Embree, neural heads at
the hits.

Volume rendering marches dozens of field queries per ray; a LiDAR return only needs the first
surface. So the zero level sets of the background SDF and of every actor slot are extracted once
(marching cubes, PyMCubes) and cast with open3d's ``RaycastingScene`` (Embree): one cast for the
background (scene frame) and one for all actors, each ray transformed into the box frame of every
box it crosses *at its own time* (the actor meshes sit side by side on a lattice, so one Embree
scene serves every slot). At the first hit the owning field is queried once: its SDF there moves
the hit along the ray to the zero crossing (one Newton step on the mesh normal, which removes most
of the marching-cubes discretisation error), its geometry features feed the LiDAR heads exactly
as composited features do in volume rendering. Rays that miss every mesh are checked against the
distant region (the same inverse-distance samples as the volume renderer), so far returns beyond
the modelled bounds agree too.

Meshes are cached on disk per run and checkpoint (``MeshCache``): PLY files written atomically.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from redrive.recon.model import SceneModel
from redrive.recon.renderer import ActorLayer, distant_boundaries, model_layers


@dataclass(frozen=True)
class SurfaceConfig:
    """How the surface path extracts and casts meshes."""

    background_cell_m: float = 0.1
    """Marching-cubes cell of the background SDF, metres."""
    actor_cell_m: float = 0.05
    """Marching-cubes cell inside actor boxes, metres."""
    block_cells: int = 64
    """Background extraction works block by block (this many cells per axis), skipping blocks
    without any occupied cell, so memory stays flat on large scenes."""
    refine: bool = True
    """Move each hit to the field's zero crossing by one Newton step along the ray (bounded by
    one cell)."""
    distant: bool = True
    """Give rays that miss every mesh a return in the distant region when its opacity crosses 0.5
    there (as the volume renderer's median depth does)."""
    chunk: int = 1 << 18
    """Rays per Embree call and field query."""


# ---------------------------------------------------------------------------------------------
# Mesh extraction


def _dilated_occupancy(model: SceneModel) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Occupied cells ``(X, Y, Z)`` bool, the same grown by one cell, the grid origin and cell size."""
    occ = model.occupancy
    c = occ.config
    res = np.array(c.resolution)
    flat = occ.occupied().cpu().numpy().astype(bool)
    occupied = flat.reshape(res[2], res[1], res[0]).transpose(2, 1, 0)  # flat = i + X (j + Y k)
    grown = occupied.copy()
    for axis in range(3):
        grown |= np.roll(occupied, 1, axis) | np.roll(occupied, -1, axis)
    grown = grown.copy()
    for axis in range(3):  # np.roll wraps around; the wrapped faces must not count
        idx = [slice(None)] * 3
        idx[axis] = 0
        grown[tuple(idx)] |= occupied[tuple(idx)]
    return occupied, grown, np.array(c.aabb[:3], float), np.array(c.cell_size, float)


def _cells_of(points: np.ndarray, origin: np.ndarray, size: np.ndarray, shape: tuple[int, int, int]) -> tuple[np.ndarray, ...]:
    ijk = np.floor((points - origin) / size).astype(np.int64)
    ok = ((ijk >= 0) & (ijk < np.array(shape))).all(-1)
    ijk = np.clip(ijk, 0, np.array(shape) - 1)
    return ok, ijk[..., 0], ijk[..., 1], ijk[..., 2]


def _sdf_at(model: SceneModel, points: np.ndarray) -> np.ndarray:
    pts = torch.from_numpy(np.ascontiguousarray(points, np.float32))
    out = [model.background.sdf(pts[s:s + (1 << 17)]) for s in range(0, len(pts), 1 << 17)]
    return torch.cat(out).numpy() if out else np.zeros(0, np.float32)


@torch.no_grad()
def background_surface(model: SceneModel, cell: float, block: int = 64, coarse: int = 4,
                       progress: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """The background SDF's zero level set inside the occupied cells of the occupancy grid:
    ``(vertices [V, 3] float32 scene frame, faces [F, 3] int32)``.

    Same surface as ``redrive.recon.mesh.background_mesh`` (triangles kept where the occupancy
    grid allows matter), without its dense volume: the SDF is first evaluated on a grid
    ``coarse`` times coarser, only near occupied cells; the fine grid is evaluated only in the
    coarse cells where a corner is closer to the surface than 1.5 cell diagonals, block by block.
    Triangles are kept from fine cells whose eight corners were all evaluated (the unevaluated
    ones are filled with "empty", which would invent surfaces at the edge of the evaluated set).
    """
    import mcubes

    occupied, grown, origin, occ_size = _dilated_occupancy(model)
    lo, hi = model.scene.bounds[0].astype(np.float64), model.scene.bounds[1].astype(np.float64)
    cells = np.maximum(1, np.ceil((hi - lo) / (cell * coarse)).astype(int)) * coarse  # fine cells per axis
    spacing = (hi - lo) / cells
    # --- coarse pass
    nc = cells // coarse + 1
    cgrid = np.stack(np.meshgrid(*[lo[k] + spacing[k] * coarse * np.arange(nc[k]) for k in range(3)], indexing="ij"), -1)
    ok, ci, cj, ck = _cells_of(cgrid, origin, occ_size, grown.shape)
    cval = np.full(cgrid.shape[:3], np.inf, np.float32)
    near = ok & grown[ci, cj, ck]
    cval[near] = _sdf_at(model, cgrid[near])
    reach = 1.5 * float(np.linalg.norm(spacing * coarse))
    close = np.abs(cval) <= reach
    # a coarse cell is active when any of its corners is close to the surface
    active = np.zeros(nc - 1, bool)
    for di in (0, 1):
        for dj in (0, 1):
            for dk in (0, 1):
                active |= close[di:di + nc[0] - 1, dj:dj + nc[1] - 1, dk:dk + nc[2] - 1]
    verts, faces, count = [], [], 0
    step = max(1, block // coarse)  # coarse cells per block and axis
    blocks = [(a0, b0, c0) for a0 in range(0, nc[0] - 1, step) for b0 in range(0, nc[1] - 1, step)
              for c0 in range(0, nc[2] - 1, step) if active[a0:a0 + step, b0:b0 + step, c0:c0 + step].any()]
    from tqdm import tqdm

    for a0, b0, c0 in tqdm(blocks, desc="background mesh", unit="block", disable=not progress, leave=False):
        act = active[a0:a0 + step, b0:b0 + step, c0:c0 + step]
        # fine cells of the block and whether their coarse cell is active
        fcell = act.repeat(coarse, 0).repeat(coarse, 1).repeat(coarse, 2)
        shape = np.array(fcell.shape) + 1
        evaluate = np.zeros(shape, bool)  # fine vertices touching an active cell
        for di in (0, 1):
            for dj in (0, 1):
                for dk in (0, 1):
                    evaluate[di:di + shape[0] - 1, dj:dj + shape[1] - 1, dk:dk + shape[2] - 1] |= fcell
        base = lo + spacing * coarse * np.array([a0, b0, c0])
        grid = base + spacing * np.stack(np.meshgrid(*[np.arange(m) for m in shape], indexing="ij"), -1)
        ok, ci, cj, ck = _cells_of(grid, origin, occ_size, grown.shape)
        evaluate &= ok & grown[ci, cj, ck]
        if not evaluate.any():
            continue
        vol = np.full(tuple(shape), cell, np.float32)
        vol[evaluate] = _sdf_at(model, grid[evaluate])
        if not ((vol < 0).any() and (vol > 0).any()):
            continue
        v, f = mcubes.marching_cubes(vol, 0.0)
        if len(f) == 0:
            continue
        f = f[:, ::-1]  # mcubes faces point to negative values; outwards = towards empty space
        fi = np.clip(np.floor(v[f].mean(1)).astype(int), 0, shape - 2)  # fine cell of each triangle
        full = np.ones(len(f), bool)
        for di in (0, 1):
            for dj in (0, 1):
                for dk in (0, 1):
                    full &= evaluate[fi[:, 0] + di, fi[:, 1] + dj, fi[:, 2] + dk]
        v = v * spacing + base
        # kept where any corner of the triangle is in an occupied cell: the volume renderer
        # samples those cells, and a crossing on a cell border is seen from both sides
        okc, ci, cj, ck = _cells_of(v[f], origin, occ_size, occupied.shape)
        keep = full & (okc & occupied[ci, cj, ck]).any(1)
        if not keep.any():
            continue
        used, f = np.unique(f[keep], return_inverse=True)
        verts.append(v[used].astype(np.float32))
        faces.append(f.reshape(-1, 3).astype(np.int64) + count)
        count += len(used)
    if not verts:
        return np.zeros((0, 3), np.float32), np.zeros((0, 3), np.int32)
    return np.concatenate(verts), np.concatenate(faces).astype(np.int32)


def actor_surface(fields, slot: int, cell: float) -> tuple[np.ndarray, np.ndarray]:
    """Zero level set of actor slot ``slot`` of ``fields`` (an ``ActorFields``) in its box frame
    (``redrive.recon.mesh.slot_mesh``, closed at the box faces) as ``(vertices [V, 3] float32,
    faces [F, 3] int32)``."""
    from redrive.recon.mesh import slot_mesh

    mesh = slot_mesh(fields, slot, cell)
    return np.asarray(mesh.vertices, np.float32), np.ascontiguousarray(mesh.faces, np.int32)


# ---------------------------------------------------------------------------------------------
# Cache on disk


def _ply_bytes(vertices: np.ndarray, faces: np.ndarray) -> bytes:
    import io

    from plyfile import PlyData, PlyElement

    v = np.empty(len(vertices), dtype=[("x", "f4"), ("y", "f4"), ("z", "f4")])
    v["x"], v["y"], v["z"] = vertices.T
    f = np.empty(len(faces), dtype=[("vertex_indices", "i4", (3,))])
    f["vertex_indices"] = faces
    buf = io.BytesIO()
    PlyData([PlyElement.describe(v, "vertex"), PlyElement.describe(f, "face")]).write(buf)
    return buf.getvalue()


def _read_ply(path: Path) -> tuple[np.ndarray, np.ndarray]:
    from plyfile import PlyData

    # triangles only: a known list length lets plyfile read the faces as one array
    ply = PlyData.read(str(path), known_list_len={"face": {"vertex_indices": 3}})
    v = ply["vertex"]
    verts = np.stack([v["x"], v["y"], v["z"]], -1).astype(np.float32)
    faces = np.asarray(ply["face"].data["vertex_indices"], np.int32).reshape(-1, 3)
    return verts, faces


def checkpoint_key(run_dir: str | Path, step: int) -> str:
    """A short key of a run's checkpoint at ``step``: its step and content hash (from the run's
    checkpoint index, else hashed here)."""
    run_dir = Path(run_dir)
    entries = json.loads((run_dir / "checkpoints.json").read_text()) if (run_dir / "checkpoints.json").is_file() else []
    entry = next((e for e in entries if isinstance(e, dict) and int(e.get("step", -1)) == int(step)), None)
    digest = str(entry.get("sha256", "")) if entry else ""
    if not digest and entry is not None and (run_dir / str(entry.get("file", ""))).is_file():
        h = hashlib.sha256()
        with open(run_dir / entry["file"], "rb") as fh:
            for block in iter(lambda: fh.read(1 << 22), b""):
                h.update(block)
        digest = h.hexdigest()
    return f"step{int(step):08d}-{digest[:12] or 'unknown'}"


class MeshCache:
    """Meshes of one model's fields as PLY files under ``root`` (one directory per checkpoint key
    and cell sizes); missing ones are extracted and written atomically."""

    def __init__(self, root: str | Path | None, key: str):
        self.root = None if root is None else Path(root) / key

    def _path(self, name: str) -> Path | None:
        return None if self.root is None else self.root / f"{name}.ply"

    def get(self, name: str, make) -> tuple[np.ndarray, np.ndarray]:
        path = self._path(name)
        if path is not None and path.is_file():
            return _read_ply(path)
        verts, faces = make()
        if path is not None:
            from redrive.log.writer import atomic_write_bytes

            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(path, _ply_bytes(verts, faces))
        return verts, faces


# ---------------------------------------------------------------------------------------------
# Ray casting


@dataclass
class SurfaceHits:
    """First surface along each ray and what the LiDAR heads make of it."""

    range: torch.Tensor
    """[N] distance to the first surface (inf: none before ``far`` / in the modelled world)."""
    intensity: torch.Tensor
    """[N] intensity head at the hit (0 where there is no hit)."""
    drop_prob: torch.Tensor
    """[N] ray-drop probability (sigmoid of the drop head)."""
    owner: torch.Tensor
    """[N] int64: -1 none, 0 background, 1 actor, 2 distant region."""
    normal: torch.Tensor
    """[N, 3] unit scene-frame normal of the mesh at the hit (zero without a mesh hit)."""


def _scene_of(vertices: np.ndarray, faces: np.ndarray):
    import open3d as o3d

    scene = o3d.t.geometry.RaycastingScene()
    if len(faces):
        scene.add_triangles(o3d.core.Tensor(np.ascontiguousarray(vertices, np.float32)),
                            o3d.core.Tensor(np.ascontiguousarray(faces, np.uint32)))
    return scene


def _cast(scene, o: np.ndarray, d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Hit distance [N] (inf: none) and unit geometric normal [N, 3] of rays on an Embree scene."""
    import open3d as o3d

    rays = o3d.core.Tensor(np.ascontiguousarray(np.concatenate([o, d], 1), np.float32))
    out = scene.cast_rays(rays)
    return out["t_hit"].numpy(), out["primitive_normals"].numpy()


class SurfaceRenderer:
    """Casts LiDAR rays on the meshes of a model (background + actor slots of any layer)."""

    def __init__(self, model: SceneModel, cfg: SurfaceConfig | None = None, cache: MeshCache | None = None,
                 progress: bool = False):
        self.model, self.cfg = model, cfg or SurfaceConfig()
        self.cache = cache or MeshCache(None, "")
        self.progress = progress
        self._bg = None
        self._actor_meshes: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}
        self._lattice: dict[tuple, tuple] = {}

    # --- meshes
    def background(self):
        if self._bg is None:
            v, f = self.cache.get(f"background-{self.cfg.background_cell_m:g}m",
                                  lambda: background_surface(self.model, self.cfg.background_cell_m, self.cfg.block_cells,
                                                                     progress=self.progress))
            self._bg = (v, f, _scene_of(v, f))
        return self._bg

    def actor_mesh(self, fields, slot: int) -> tuple[np.ndarray, np.ndarray]:
        """Mesh of ``fields`` slot ``slot`` (box frame); the model's own fields use the disk cache."""
        key = (id(fields), int(slot))
        if key not in self._actor_meshes:
            make = lambda: actor_surface(fields, int(slot), self.cfg.actor_cell_m)  # noqa: E731
            if fields is self.model.actors:
                self._actor_meshes[key] = self.cache.get(f"actor-{self.model.actor_ids[slot]}-{self.cfg.actor_cell_m:g}m", make)
            else:
                self._actor_meshes[key] = make()
        return self._actor_meshes[key]

    def _layer_scene(self, layer: ActorLayer):
        """One Embree scene with every slot the layer uses, each shifted to its own lattice site;
        returns ``(scene, offset [S, 3] per slot index used, slot -> site row)``."""
        fields = layer.fields
        slots = sorted(set(int(s) for s in layer.poses.field_index.tolist()))
        key = (id(fields), tuple(slots))
        if key not in self._lattice:
            from tqdm import tqdm

            spacing = float(fields.half_extent.max()) * 4.0 + 10.0 if fields.half_extent.numel() else 10.0
            side = max(1, math.ceil(len(slots) ** (1 / 3) - 1e-9))
            offsets = np.zeros((max(slots, default=-1) + 1, 3), np.float32)
            verts, faces, count = [], [], 0
            for row, slot in enumerate(tqdm(slots, desc="actor meshes", unit="actor", disable=not self.progress, leave=False)):
                offsets[slot] = spacing * np.array([row % side, (row // side) % side, row // (side * side)], np.float32)
                v, f = self.actor_mesh(fields, slot)
                verts.append(v + offsets[slot])
                faces.append(f.astype(np.int64) + count)
                count += len(v)
            v = np.concatenate(verts) if verts else np.zeros((0, 3), np.float32)
            f = np.concatenate(faces).astype(np.int32) if faces else np.zeros((0, 3), np.int32)
            self._lattice[key] = (_scene_of(v, f), torch.from_numpy(offsets))
        return self._lattice[key]

    def prepare(self, layers: list[ActorLayer] | None = None) -> None:
        """Extract (or load) every mesh the layers need now (otherwise at the first cast)."""
        self.background()
        for layer in (model_layers(self.model) if layers is None else layers):
            if layer.poses.field_index.numel():
                self._layer_scene(layer)

    # --- casting
    def background_hits(self, o: torch.Tensor, d: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """First hit of ``[N]`` scene-frame rays on the background mesh: distance ``[N]`` (inf:
        none) and unit normal ``[N, 3]``."""
        _, _, scene = self.background()
        if o.shape[0] == 0:
            return torch.zeros(0), torch.zeros(0, 3)
        t, nrm = _cast(scene, o.float().numpy(), d.float().numpy())
        return torch.from_numpy(t), torch.from_numpy(nrm)

    @torch.no_grad()
    def cast(self, o: torch.Tensor, d: torch.Tensor, times: torch.Tensor, layers: list[ActorLayer] | None = None,
             far: torch.Tensor | None = None, heads: bool = True) -> SurfaceHits:
        """First surface of ``[N]`` scene-frame rays (unit directions, per-ray times), chunked."""
        n = o.shape[0]
        parts = [self._cast_chunk(o[i:i + self.cfg.chunk], d[i:i + self.cfg.chunk], times[i:i + self.cfg.chunk],
                                  layers, None if far is None else far[i:i + self.cfg.chunk], heads)
                 for i in range(0, n, self.cfg.chunk)]
        if not parts:
            z = torch.zeros(0)
            return SurfaceHits(z, z, z, torch.zeros(0, dtype=torch.int64), torch.zeros(0, 3))
        return SurfaceHits(*(torch.cat([getattr(p, k) for p in parts])
                             for k in ("range", "intensity", "drop_prob", "owner", "normal")))

    def _cast_chunk(self, o, d, times, layers, far, heads) -> SurfaceHits:
        model, cfg = self.model, self.cfg
        n = o.shape[0]
        o, d = o.float().contiguous(), d.float().contiguous()
        layers = model_layers(model) if layers is None else layers
        t, normal = self.background_hits(o, d)
        owner = torch.where(torch.isfinite(t), 0, -1)
        # actors: the best hit per ray over every layer and box (ray, box) pair
        act_layer = torch.full((n,), -1, dtype=torch.int64)
        act_local = torch.zeros(n, 3)
        act_slot = torch.zeros(n, dtype=torch.int64)
        from redrive.ops import ray_box_intersect

        for li, layer in enumerate(layers):
            poses = layer.poses
            if poses.field_index.numel() == 0 or n == 0:
                continue
            frames = poses.frames(times)
            limit = torch.where(torch.isfinite(t), t, torch.full_like(t, 1e10))
            if far is not None:
                limit = torch.minimum(limit, far)
            hits = ray_box_intersect(o, d, frames, poses.box_from_scene, layer.half_sizes, poses.present, far=limit)
            if hits.ray_indices.numel() == 0:
                continue
            scene, offsets = self._layer_scene(layer)
            ri, ai = hits.ray_indices, hits.actor_indices
            slot = poses.field_index[ai]
            T = poses.box_from_scene[frames[ri], ai]  # [M, 3, 4]
            lo = torch.einsum("mij,mj->mi", T[:, :, :3], o[ri]) + T[:, :, 3]
            ld = torch.einsum("mij,mj->mi", T[:, :, :3], d[ri])
            th, nl = _cast(scene, (lo + offsets[slot]).numpy(), ld.numpy())
            th = torch.from_numpy(th).float()
            # a hit beyond the box exit belongs to a neighbouring lattice site
            th = torch.where(th <= hits.t_out + 1e-3, th, torch.full_like(th, math.inf))
            best = torch.full((n,), math.inf)
            best.scatter_reduce_(0, ri, th, reduce="amin")
            win = torch.isfinite(th) & (th == best[ri]) & (th < t[ri])
            w = torch.nonzero(win).squeeze(1)
            if w.numel() == 0:
                continue
            r = ri[w]
            t[r] = th[w]
            owner[r] = 1
            act_layer[r] = li
            act_slot[r] = slot[w]
            act_local[r] = lo[w] + ld[w] * th[w, None]
            # normals in the scene frame: the box rotation's transpose
            normal[r] = torch.einsum("mji,mj->mi", T[w, :, :3], torch.from_numpy(nl[w.numpy()]).float())
        if far is not None:
            stopped = t >= far
            t = torch.where(stopped, torch.full_like(t, math.inf), t)
            owner = torch.where(stopped, -1, owner)
        # field queries at the hits: features for the heads, SDF for the Newton step
        feats = torch.zeros(n, model.cfg.background.geo_features)
        bg = torch.nonzero(owner == 0).squeeze(1)
        if bg.numel():
            p = o[bg] + d[bg] * t[bg, None]
            sdf, f = model.background.query(p)
            feats[bg] = f
            if cfg.refine:
                t[bg] += self.newton_step(sdf, d[bg], normal[bg], cfg.background_cell_m)
        for li, layer in enumerate(layers):
            idx = torch.nonzero((owner == 1) & (act_layer == li)).squeeze(1)
            if idx.numel() == 0:
                continue
            sdf, f = layer.fields.query(act_local[idx], act_slot[idx])
            feats[idx] = f
            if cfg.refine:
                # boxes are rigid: d . n is the same in the scene frame as in the box frame
                t[idx] += self.newton_step(sdf, d[idx], normal[idx], cfg.actor_cell_m)
        # rays that miss every mesh: the distant region, as the volume renderer samples it
        if cfg.distant and model.distant is not None:
            miss = torch.nonzero(owner == -1).squeeze(1)
            if miss.numel():
                td = self._distant_median(o[miss], d[miss], None if far is None else far[miss])
                got = torch.isfinite(td)
                t[miss[got]] = td[got]
                owner[miss[got]] = 2
        hit = owner >= 0
        if far is not None:  # the Newton step may have moved a hit to or beyond the stop
            hit &= t < far
            owner = torch.where(hit, owner, -1)
        intensity = torch.zeros(n)
        drop = torch.ones(n)
        if heads and n:
            inten, logit = model.lidar_heads(feats, d, torch.where(hit, t, torch.zeros_like(t)), hit.float())
            intensity, drop = torch.where(hit, inten, 0.0), torch.sigmoid(logit)
        mesh_hit = (owner == 0) | (owner == 1)
        return SurfaceHits(torch.where(hit, t, torch.full_like(t, math.inf)), intensity, drop, owner,
                           torch.where(mesh_hit[:, None], normal, 0.0))

    @staticmethod
    def newton_step(sdf: torch.Tensor, d: torch.Tensor, normal: torch.Tensor, cell: float) -> torch.Tensor:
        """Step along the ray to the SDF's zero: ``sdf / |d . n|`` (n: the mesh's normal), within a cell."""
        cos = (d * normal).sum(-1).abs().clamp_min(0.2)
        return (sdf / cos).clamp(-cell, cell)

    def _distant_median(self, o: torch.Tensor, d: torch.Tensor, far: torch.Tensor | None) -> torch.Tensor:
        """Where a ray's opacity in the distant region crosses 0.5 (inf: never), sampled exactly as
        ``render_rays`` does without jitter. Sample by sample, front to back: a ray leaves once it
        has crossed (most do at their first or second sample), so its later samples are never
        queried."""
        b = distant_boundaries(self.model, o, d, far)
        out = torch.full((len(o),), math.inf)
        trans, acc = torch.ones(len(o)), torch.zeros(len(o))
        active = torch.arange(len(o))
        for k in range(b.shape[1] - 1):
            if active.numel() == 0:
                break
            mid = 0.5 * (b[active, k] + b[active, k + 1])
            density = self.model.distant.density(o[active] + d[active] * mid[:, None])
            alpha = 1.0 - torch.exp(-density * (b[active, k + 1] - b[active, k]))
            acc[active] += alpha * trans[active]
            trans[active] *= 1.0 - alpha
            crossed = acc[active] >= 0.5
            out[active[crossed]] = mid[crossed]
            active = active[~crossed]
        return out


__all__ = ["MeshCache", "SurfaceConfig", "SurfaceHits", "SurfaceRenderer", "actor_surface", "background_surface",
           "checkpoint_key"]
