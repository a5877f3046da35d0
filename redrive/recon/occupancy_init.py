"""The background occupancy grid: initialised from LiDAR, pruned by the SDF during training.

At the start a cell may hold a surface when a LiDAR return (not inside an actor box) falls in
it (grown by ``dilate_cells``), or when no LiDAR ray crossed it (unknown: e.g. facades above
the LiDAR's field of view, which only the cameras see). Cells that LiDAR rays crossed on their
way to a return are empty. Later updates keep LiDAR cells and drop cells whose centre is
farther than ``update_band_m`` from the SDF's zero level.
"""

from __future__ import annotations

import torch

from redrive.ops import MarchConfig, OccupancyGrid, ray_box_intersect
from redrive.recon.data import RaySet
from redrive.recon.model import SceneModel


def _cell_index(grid: OccupancyGrid, pts: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    c = grid.config
    lo = torch.tensor(c.aabb[:3])
    size = torch.tensor(c.cell_size)
    res = torch.tensor(c.resolution)
    ijk = torch.floor((pts - lo) / size).long()
    ok = ((ijk >= 0) & (ijk < res)).all(dim=1)
    ijk = ijk[ok]
    return ijk[:, 0] + res[0] * (ijk[:, 1] + res[1] * ijk[:, 2]), ok


def actor_owned(model: SceneModel, o: torch.Tensor, d: torch.Tensor, times: torch.Tensor, r: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """For rays with finite ranges ``r``: ``[N]`` index of the present actor whose box holds
    the return (-1: the background's)."""
    owner = torch.full((o.shape[0],), -1, dtype=torch.int64)
    if model.actors is None or o.shape[0] == 0:
        return owner, model.poses.frames(times)
    frames = model.poses.frames(times)
    hits = ray_box_intersect(o, d, frames, model.poses.box_from_scene, model.actor_half_sizes(), model.poses.present)
    if hits.ray_indices.numel():
        rr = r[hits.ray_indices]
        inside = (rr >= hits.t_in) & (rr <= hits.t_out)
        owner[hits.ray_indices[inside]] = hits.actor_indices[inside]
    return owner, frames


@torch.no_grad()
def init_occupancy(model: SceneModel, lidar: RaySet | None, dilate_cells: int, max_rays: int = 150_000,
                   chunk: int = 50_000) -> None:
    """Initialise ``model.occupancy`` and ``model.lidar_cells`` from LiDAR training rays."""
    grid = model.occupancy
    c = grid.config
    n_cells = c.n_cells
    if lidar is None or len(lidar) == 0:
        grid.set_occupancy(torch.ones(n_cells, dtype=torch.bool))
        return
    ret = torch.nonzero(~lidar.targets["dropped"]).squeeze(1)
    # every return marks its cell; a subset of the rays (evenly spread) carves free space
    carve_every = max(1, -(-ret.numel() // max_rays))
    hit = torch.zeros(n_cells, dtype=torch.bool)
    seen = torch.zeros(n_cells, dtype=torch.bool)
    full = OccupancyGrid(c)
    full.set_occupancy(torch.ones(n_cells, dtype=torch.bool))
    cell = min(c.cell_size)
    for i in range(0, ret.numel(), chunk):
        idx = ret[i:i + chunk]
        o, d, r = lidar.origins[idx], lidar.directions[idx], lidar.targets["range"][idx]
        owner, _ = actor_owned(model, o, d, lidar.times[idx], r)
        pts = o + d * r[:, None]
        cells, _ = _cell_index(grid, pts[owner < 0])
        hit[cells] = True
        sub = slice(None, None, carve_every)
        s = full.march(o[sub], d[sub], 0.0, (r[sub] - 2.0 * cell).clamp_min(0.0),
                       MarchConfig(dt_min=cell, dt_max=cell, cone=0.0, max_samples=100_000))
        mid = o[sub][s.ray_indices] + d[sub][s.ray_indices] * s.t_mid[:, None]
        cells, _ = _cell_index(grid, mid)
        seen[cells] = True
    rx, ry, rz = c.resolution
    if dilate_cells > 0:
        k = 2 * dilate_cells + 1
        vol = hit.reshape(1, 1, rz, ry, rx).float()
        hit = torch.nn.functional.max_pool3d(vol, k, stride=1, padding=dilate_cells).reshape(-1) > 0
    model.lidar_cells.copy_(hit)
    grid.set_occupancy(hit | ~(seen & ~hit))


@torch.no_grad()
def update_occupancy(model: SceneModel, band_m: float, chunk: int = 65_536) -> float:
    """Drop occupied cells far from the SDF's zero level (LiDAR cells are kept); returns the
    occupied fraction after the update."""
    grid = model.occupancy
    occ = grid.occupied()
    idx = torch.nonzero(occ & ~model.lidar_cells).squeeze(1)
    centres = grid.cell_centers()
    keep = occ.clone()
    for i in range(0, idx.numel(), chunk):
        j = idx[i:i + chunk]
        sdf = model.background.sdf(centres[j])
        keep[j] = sdf.abs() < band_m
    grid.set_occupancy(keep | model.lidar_cells)
    return float(keep.float().mean())


__all__ = ["actor_owned", "init_occupancy", "update_occupancy"]
