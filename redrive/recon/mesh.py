"""Meshes of a reconstruction by marching cubes (PyMCubes) on the SDFs.

The background mesh is extracted over the scene bounds and kept only where the occupancy grid
says a surface may be (the SDF is unconstrained in space no sensor saw); actor meshes are in
their box frames, like the ground-truth actor meshes of a DriveLog.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from redrive.recon.model import SceneModel


def _sdf_volume(fn, lo: np.ndarray, hi: np.ndarray, cell: float, chunk: int = 1 << 17) -> tuple[np.ndarray, np.ndarray]:
    n = np.maximum(2, np.ceil((hi - lo) / cell).astype(int) + 1)
    axes = [np.linspace(lo[k], hi[k], n[k], dtype=np.float32) for k in range(3)]
    vol = np.empty(tuple(n), np.float32)
    yy, zz = np.meshgrid(axes[1], axes[2], indexing="ij")
    # whole x-slabs per call, as many as fit in ``chunk`` points: memory stays flat for the
    # background, and a small actor box is one call (the grid's per-call cost dominates slabs)
    slabs = max(1, chunk // yy.size)
    with torch.no_grad():
        for i in range(0, n[0], slabs):
            xs = axes[0][i:i + slabs]
            pts = np.stack([np.repeat(xs, yy.size), np.tile(yy.ravel(), len(xs)), np.tile(zz.ravel(), len(xs))], 1)
            vals = [fn(torch.from_numpy(pts[j:j + chunk])) for j in range(0, len(pts), chunk)]
            vol[i:i + len(xs)] = torch.cat(vals).numpy().reshape(len(xs), n[1], n[2])
    spacing = (hi - lo) / (n - 1)
    return vol, spacing


def _marching_cubes(vol: np.ndarray, lo: np.ndarray, spacing: np.ndarray):
    import mcubes
    import trimesh

    verts, faces = mcubes.marching_cubes(vol, 0.0)
    verts = verts * spacing + lo
    # mcubes orients faces towards negative values; flip so normals point out of the matter
    return trimesh.Trimesh(verts, faces[:, ::-1], process=False)


def background_mesh(model: SceneModel, cell: float, progress: bool = False):
    """Background surface (trimesh, scene frame) at ``cell`` metres, restricted to occupied cells."""
    lo, hi = model.scene.bounds[0].astype(np.float64), model.scene.bounds[1].astype(np.float64)
    vol, spacing = _sdf_volume(model.background.sdf, lo, hi, cell)
    mesh = _marching_cubes(vol, lo, spacing)
    if len(mesh.faces) == 0:
        return mesh
    occ = model.occupancy
    c = occ.config
    centres = mesh.triangles_center
    ijk = np.floor((centres - np.array(c.aabb[:3])) / np.array(c.cell_size)).astype(int)
    res = np.array(c.resolution)
    ok = ((ijk >= 0) & (ijk < res)).all(1)
    ijk = np.clip(ijk, 0, res - 1)
    flat = ijk[:, 0] + res[0] * (ijk[:, 1] + res[1] * ijk[:, 2])
    occupied = occ.occupied().numpy()
    mesh.update_faces(ok & occupied[flat])
    mesh.remove_unreferenced_vertices()
    return mesh


def slot_mesh(fields, slot: int, cell: float):
    """Mesh of slot ``slot`` of ``fields`` (an ``ActorFields``) in its box frame, closed at the
    box faces (outside the box is empty)."""
    half = fields.half_extent[slot].cpu().numpy().astype(np.float64)
    ids = torch.tensor([int(slot)])

    def fn(p):
        return fields.query(p, ids.expand(p.shape[0]))[0]

    vol, spacing = _sdf_volume(fn, -half, half, cell)
    vol[[0, -1]] = np.maximum(vol[[0, -1]], 1e-3)
    vol[:, [0, -1]] = np.maximum(vol[:, [0, -1]], 1e-3)
    vol[:, :, [0, -1]] = np.maximum(vol[:, :, [0, -1]], 1e-3)
    return _marching_cubes(vol, -half, spacing)


def actor_mesh(model: SceneModel, index: int, cell: float):
    """Mesh of actor ``index`` in its box frame."""
    return slot_mesh(model.actors, index, cell)


def export_meshes(model: SceneModel, out_dir: str | Path, cell: float, actor_cell: float = 0.05,
                  progress: bool = True) -> dict[str, Path]:
    """Write ``background.ply`` (scene frame) and ``actors/<id>.ply`` (box frames); returns paths."""
    from tqdm import tqdm

    from redrive.log.writer import atomic_write_bytes

    out_dir = Path(out_dir)
    (out_dir / "actors").mkdir(parents=True, exist_ok=True)
    written = {}
    mesh = background_mesh(model, cell)
    path = out_dir / "background.ply"
    atomic_write_bytes(path, mesh.export(file_type="ply"))
    written["background"] = path
    for i, actor_id in enumerate(tqdm(model.actor_ids, desc="actor meshes", unit="actor", disable=not progress)):
        m = actor_mesh(model, i, actor_cell)
        if len(m.faces):
            p = out_dir / "actors" / f"{actor_id}.ply"
            atomic_write_bytes(p, m.export(file_type="ply"))
            written[actor_id] = p
    return written


__all__ = ["actor_mesh", "background_mesh", "export_meshes", "slot_mesh"]
