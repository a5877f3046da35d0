from __future__ import annotations

import math
import pickle

import pytest
import torch

from redrive.ops import MarchConfig, OccupancyGrid, OccupancyGridConfig, OpArgumentError, ray_march
from redrive.ops.reference import ray_march_ref


def _sphere_grid(res=(32, 32, 32), cf=4, radius=0.5, aabb=(-1.0, -1.0, -1.0, 1.0, 1.0, 1.0)) -> OccupancyGrid:
    grid = OccupancyGrid(OccupancyGridConfig(aabb=aabb, resolution=res, coarse_factor=cf))
    grid.update_from_sdf(grid.cell_centers().norm(dim=-1) - radius)
    return grid


def _rays(n: int, seed: int = 0, inside: bool = False):
    g = torch.Generator().manual_seed(seed)
    if inside:
        o = (torch.rand(n, 3, generator=g) - 0.5) * 1.6
    else:
        o = torch.randn(n, 3, generator=g)
        o = o / o.norm(dim=-1, keepdim=True) * 2.5
    target = torch.randn(n, 3, generator=g) * 0.4
    d = torch.nn.functional.normalize(target - o, dim=-1)
    return o.contiguous(), d.contiguous()


def _compare(grid, o, d, march, near, far, min_match=0.99):
    n = o.shape[0]
    near_t = torch.full((n,), near) if not isinstance(near, torch.Tensor) else near
    far_t = torch.full((n,), far) if not isinstance(far, torch.Tensor) else far
    ps = ray_march(o, d, grid, near_t, far_t, march)
    ri, t0, t1, counts = ray_march_ref(o, d, grid.occupied(), grid.config, march, near_t, far_t)
    assert torch.equal(ps.offsets[1:] - ps.offsets[:-1], ps.counts)
    # The kernel may contract a*b+c into one FMA; a sample whose midpoint lies within an ulp of a
    # cell face can then land in the neighbouring cell. Such rays must be rare.
    same = ps.counts == counts
    assert float(same.float().mean()) >= min_match if n else True
    k_rows = torch.repeat_interleave(same, ps.counts)
    r_rows = torch.repeat_interleave(same, counts)
    torch.testing.assert_close(ps.t_starts[k_rows], t0[r_rows], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(ps.t_ends[k_rows], t1[r_rows], rtol=1e-5, atol=1e-5)
    assert torch.equal(ps.ray_indices[k_rows], ri[r_rows])
    return ps


@pytest.mark.parametrize("path", ["simd", "scalar"])
@pytest.mark.parametrize("cone", [0.0, 0.02])
@pytest.mark.parametrize("inside", [False, True])
def test_march_matches_reference(monkeypatch, path, cone, inside):
    monkeypatch.setenv("REDRIVE_SCALAR_KERNELS", "1" if path == "scalar" else "0")
    grid = _sphere_grid()
    o, d = _rays(600, seed=1, inside=inside)
    march = MarchConfig(dt_min=0.01, dt_max=0.2, cone=cone, max_samples=1000)
    ps = _compare(grid, o, d, march, 0.0, 100.0)
    assert ps.n_samples > 0
    # Samples are sorted, contiguous per ray, positive length, and their midpoints are occupied.
    assert torch.all(ps.t_ends > ps.t_starts)
    same_ray = ps.ray_indices[1:] == ps.ray_indices[:-1]
    assert torch.all(ps.t_starts[1:][same_ray] >= ps.t_ends[:-1][same_ray] - 1e-6)
    mid = o[ps.ray_indices] + d[ps.ray_indices] * ps.t_mid[:, None]
    assert float((mid.norm(dim=-1) - 0.5).abs().max()) < 0.2


def test_non_cubic_grid_and_coarse_factor_not_dividing():
    grid = _sphere_grid(res=(40, 24, 12), cf=5, aabb=(-2.0, -1.0, -0.5, 2.0, 1.0, 0.5), radius=0.7)
    o, d = _rays(500, seed=2)
    _compare(grid, o, d, MarchConfig(dt_min=0.02, cone=0.01, max_samples=500), 0.0, 50.0)


def test_missing_rays_and_edge_cases():
    grid = _sphere_grid()
    o = torch.tensor([[3.0, 3.0, 3.0], [3.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 3.0], [0.95, 0.0, 0.0]])
    d = torch.tensor([[1.0, 0.0, 0.0], [-1.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, 1.0, 0.0]])
    march = MarchConfig(dt_min=0.01, cone=0.0, max_samples=1000)
    ps = _compare(grid, o, d, march, 0.0, 10.0, min_match=1.0)
    counts = ps.counts.tolist()
    assert counts[0] == 0  # misses the box
    assert counts[1] > 0  # axis-aligned direction (zero components) through the sphere
    assert counts[2] > 0  # starts inside the grid, at the centre
    assert counts[3] == 0  # points away from the box
    assert counts[4] == 0  # inside the box, tangent line through empty cells
    # Shell crossings along x: cells within a diagonal (0.108) of |x| = 0.5 are occupied.
    t = ps.t_mid[ps.ray_indices == 1]
    assert float(t.min()) == pytest.approx(2.4, abs=0.05) and float(t.max()) == pytest.approx(3.6, abs=0.05)


def test_near_far_and_cap():
    grid = _sphere_grid()
    o, d = _rays(300, seed=3)
    near = torch.rand(300, generator=torch.Generator().manual_seed(0)) * 2.0
    far = near + 1.0
    march = MarchConfig(dt_min=0.005, cone=0.0, max_samples=17)
    ps = _compare(grid, o, d, march, near, far)
    assert int(ps.counts.max()) <= 17
    assert torch.all(ps.t_starts >= near[ps.ray_indices] - 1e-6)
    assert torch.all(ps.t_ends <= far[ps.ray_indices] + 1e-6)
    empty = ray_march(o, d, grid, near, near, march)  # zero-length [near, far]
    assert empty.n_samples == 0 and empty.n_rays == 300


def test_full_grid_constant_steps_tile_the_box():
    grid = OccupancyGrid(OccupancyGridConfig(resolution=(8, 8, 8), coarse_factor=2))
    grid.set_occupancy(torch.ones(512, dtype=torch.bool))
    o = torch.tensor([[-2.0, 0.1, 0.2]])
    d = torch.tensor([[1.0, 0.0, 0.0]])
    ps = ray_march(o, d, grid, 0.0, 10.0, MarchConfig(dt_min=0.1, cone=0.0))
    assert ps.n_samples == 20
    torch.testing.assert_close(ps.t_starts[0], torch.tensor(1.0))
    torch.testing.assert_close(ps.t_ends[-1], torch.tensor(3.0))
    torch.testing.assert_close(ps.t_starts[1:], ps.t_ends[:-1])


def test_empty_inputs():
    grid = _sphere_grid()
    ps = ray_march(torch.zeros(0, 3), torch.zeros(0, 3), grid)
    assert ps.n_rays == 0 and ps.n_samples == 0 and ps.offsets.tolist() == [0]
    empty_grid = OccupancyGrid(OccupancyGridConfig(resolution=(16, 16, 16)))
    o, d = _rays(50)
    assert ray_march(o, d, empty_grid).n_samples == 0


def test_ema_update_and_bits():
    cfg = OccupancyGridConfig(resolution=(4, 4, 4), coarse_factor=2, decay=0.5, threshold=0.3)
    grid = OccupancyGrid(cfg)
    v = torch.zeros(64)
    v[5] = 1.0
    grid.update(v)
    assert grid.occupied().nonzero()[:, 0].tolist() == [5]
    grid.update(torch.zeros(64))  # 0.5 > 0.3: still occupied
    assert grid.occupied()[5]
    grid.update(torch.zeros(64))  # 0.25: empty
    assert not grid.occupied().any()
    torch.testing.assert_close(grid.density[5], torch.tensor(0.25))
    # Coarse bits: cell 5 = (1, 1, 0) lies in coarse block (0, 0, 0).
    grid.update(v)
    assert grid.coarse_bits[0] & 1 == 1 and int(grid.coarse_bits[0]) == 1


def test_levels_follow_the_bits_through_updates_and_state_dict_loads():
    """The marcher reads the grid's occupancy levels, which are derived and not saved: every
    update rebuilds them, and so does loading a state_dict (a checkpoint's grid marches as the
    saved one did)."""
    grid = _sphere_grid()
    o, d = _rays(200, seed=5)
    march = MarchConfig(dt_min=0.01, cone=0.0, max_samples=1000)
    saved = ray_march(o, d, grid, 0.0, 10.0, march)
    assert saved.n_samples > 0 and set(grid.state_dict()) == {"density", "bits", "coarse_bits"}
    loaded = OccupancyGrid(grid.config)
    assert ray_march(o, d, loaded, 0.0, 10.0, march).n_samples == 0
    loaded.load_state_dict(grid.state_dict())
    assert torch.equal(loaded.levels, grid.levels)
    again = ray_march(o, d, loaded, 0.0, 10.0, march)
    assert torch.equal(again.counts, saved.counts) and torch.equal(again.t_starts, saved.t_starts)
    # within a parent module's state_dict too (the reconstruction's checkpoints)
    parent, other = torch.nn.Module(), torch.nn.Module()
    parent.grid, other.grid = grid, OccupancyGrid(grid.config)
    other.load_state_dict(parent.state_dict())
    assert torch.equal(other.grid.levels, grid.levels)
    assert torch.equal(pickle.loads(pickle.dumps(grid)).levels, grid.levels)  # the load hook pickles
    grid.set_occupancy(torch.zeros(grid.config.n_cells, dtype=torch.bool))
    cell_and_block_bits = torch.tensor(0x99999999 - 2**32, dtype=torch.int32)  # bits 0 and 3 of each cell
    assert not (grid.levels & cell_and_block_bits).any() and ray_march(o, d, grid, 0.0, 10.0, march).n_samples == 0


def test_update_from_sdf_marks_surface_cells():
    grid = _sphere_grid(res=(16, 16, 16), radius=0.6)
    centres = grid.cell_centers()
    occ = grid.occupied()
    diag = math.sqrt(3) * 2 / 16
    dist = (centres.norm(dim=-1) - 0.6).abs()
    assert torch.all(occ[dist < 0.5 * diag]) and not occ[dist > diag].any()
    assert 0 < grid.occupied_fraction() < 0.5
    jit = grid.cell_centers(jitter=True, generator=torch.Generator().manual_seed(0))
    assert float((jit - centres).abs().max()) <= 1 / 16 + 1e-6


def test_bad_arguments():
    grid = _sphere_grid(res=(8, 8, 8))
    with pytest.raises(OpArgumentError, match="rays_d"):
        ray_march(torch.zeros(3, 3), torch.zeros(2, 3), grid)
    with pytest.raises(OpArgumentError, match="values"):
        grid.update(torch.zeros(7))
    with pytest.raises(OpArgumentError, match="aabb"):
        OccupancyGridConfig(aabb=(0, 0, 0, 0, 1, 1))


@pytest.mark.parametrize("stretch", [True, False])
def test_cap_stretches_steps_to_reach_far(stretch):
    # a grazing ray along a full grid: 200 nominal steps, cap 40
    grid = OccupancyGrid(OccupancyGridConfig(resolution=(8, 8, 8), coarse_factor=2))
    grid.set_occupancy(torch.ones(512, dtype=torch.bool))
    o = torch.tensor([[-2.0, 0.1, 0.2], [-2.0, -0.3, 0.0]])
    d = torch.tensor([[1.0, 0.0, 0.0], [1.0, 0.0, 0.0]])
    far = torch.tensor([10.0, 1.3])  # the second ray: 3 nominal steps, no stretch needed
    march = MarchConfig(dt_min=0.01, cone=0.0, max_samples=40, stretch=stretch)
    ps = _compare(grid, o, d, march, 0.0, far, min_match=1.0)
    first = ps.ray_indices == 0
    assert int(ps.counts[0]) <= 40
    if stretch:  # steps 5.25x longer: the samples reach the far side of the box
        assert float(ps.t_ends[first][-1]) == pytest.approx(3.0, abs=1e-5)
        torch.testing.assert_close(ps.deltas[first][:-1], torch.full((int(ps.counts[0]) - 1,), 0.0525))
    else:  # cut at the cap, 0.4 into the box
        assert int(ps.counts[0]) == 40 and float(ps.t_ends[first][-1]) == pytest.approx(1.4, abs=1e-5)
    torch.testing.assert_close(ps.deltas[~first], torch.full((30,), 0.01))


def _simd_and_scalar(monkeypatch, grid, o, d, near, far, march):
    """The march by the AVX2 and the scalar marcher, asserted to give the same counts and samples."""
    out = {}
    for path in ("0", "1"):
        monkeypatch.setenv("REDRIVE_SCALAR_KERNELS", path)
        out[path] = ray_march(o, d, grid, near, far, march)
    simd, scalar = out["0"], out["1"]
    assert torch.equal(simd.counts, scalar.counts)
    torch.testing.assert_close(simd.t_starts, scalar.t_starts, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(simd.t_ends, scalar.t_ends, rtol=1e-6, atol=1e-6)
    return simd, scalar


@pytest.mark.parametrize("res", [(48, 40, 32), (64, 32, 16)], ids=["products", "power-of-two-shifts"])
def test_simd_and_scalar_marchers_agree(monkeypatch, res):
    """The AVX2 marcher (8 rays per instruction, lanes refilled as rays end) emits the scalar
    marcher's samples, in ray order, also where rays hit the cap, start inside the box or miss it;
    for cell indices by products and, on power-of-two grids, by shifts."""
    grid = _sphere_grid(res=res, cf=8, aabb=(-1.5, -1.0, -1.0, 1.5, 1.0, 1.0), radius=0.6)
    o, d = _rays(3001, seed=4)
    o[::7] = 0.0  # from the centre, inside the sphere's cells
    d[::11] = torch.tensor([0.0, 0.0, 1.0])  # axis-aligned: zero direction components
    o[5::13] = torch.tensor([3.0, 3.0, 3.0])  # pointing away from the box: no samples
    march = MarchConfig(dt_min=0.005, dt_max=0.1, cone=0.01, max_samples=37)
    simd, scalar = _simd_and_scalar(monkeypatch, grid, o, d, 0.1, 50.0, march)
    assert int(scalar.counts.max()) == 37 and int((scalar.counts == 0).sum()) > 100
    assert torch.equal(simd.ray_indices, scalar.ray_indices)


@pytest.mark.parametrize("res,cf", [((37, 21, 19), 4), ((8, 12, 6), 2), ((130, 9, 7), 16), ((33, 17, 9), 128)],
                         ids=["odd-rows", "short-rows", "long-rows", "one-block-larger-than-the-grid"])
def test_marchers_read_every_occupancy_level(monkeypatch, res, cf):
    """Both marchers read each cell's occupancy levels (cell, 2^3 and 4^3 groups, block) from a copy
    of the grid built per call (8 cells per word, rows padded to whole words, built by 4 x 4 rows);
    on grids whose rows do not start on byte or word boundaries, whose row counts are not multiples
    of 4 and whose groups and blocks overhang the grid, with scattered occupancy, the AVX2 marcher
    must emit the scalar marcher's samples and both the reference's."""
    grid = OccupancyGrid(OccupancyGridConfig(aabb=(-1.0, -1.0, -1.0, 1.0, 1.0, 1.0), resolution=res, coarse_factor=cf))
    g = torch.Generator().manual_seed(6)
    grid.set_occupancy(torch.rand(grid.config.n_cells, generator=g) < 0.04)
    o, d = _rays(2000, seed=7, inside=True)
    march = MarchConfig(dt_min=0.004, dt_max=0.05, cone=0.0, max_samples=400)
    simd, scalar = _simd_and_scalar(monkeypatch, grid, o, d, 0.0, 10.0, march)
    assert scalar.n_samples > 5000
    _compare(grid, o, d, march, 0.0, 10.0)


@pytest.mark.parametrize("path", ["simd", "scalar"])
def test_empty_space_jumps_never_pass_an_occupied_cell(monkeypatch, path):
    """A jump leaves the largest empty box around a step's midpoint (block, 4^3 or 2^3 group,
    cell); it must never carry a ray past occupied cells: every occupied cell that a ray crosses
    over more than two steps' length holds a sample's midpoint. Checked against the cells met by
    points every 1/40 step along each ray, independently of the reference."""
    monkeypatch.setenv("REDRIVE_SCALAR_KERNELS", "1" if path == "scalar" else "0")
    grid = OccupancyGrid(OccupancyGridConfig(aabb=(-1.0, -1.0, -1.0, 1.0, 1.0, 1.0), resolution=(40, 36, 32), coarse_factor=8))
    g = torch.Generator().manual_seed(8)
    grid.set_occupancy(torch.rand(grid.config.n_cells, generator=g) < 0.01)
    o, d = _rays(600, seed=9, inside=True)
    dt = 0.01
    ps = ray_march(o, d, grid, 0.0, 10.0, MarchConfig(dt_min=dt, dt_max=dt, cone=0.0, max_samples=4000))
    res = torch.tensor(grid.config.resolution)

    def cell_of(points):  # [..., 3] -> flat cell index, -1 outside the grid
        c = torch.floor((points + 1.0) / 2.0 * res).long()
        inside = ((c >= 0) & (c < res)).all(-1)
        return torch.where(inside, c[..., 0] + res[0] * (c[..., 1] + res[1] * c[..., 2]), -1)

    t = torch.arange(0.0, 3.5, dt / 40)
    cells = cell_of(o[:, None] + d[:, None] * t[None, :, None])  # [rays, points]
    occupied = grid.occupied()
    hit = (cells >= 0) & occupied[cells.clamp_min(0)]
    # (ray, cell) pairs crossed over more than 2.2 steps, and those that hold a sample's midpoint
    rays = torch.arange(o.shape[0])[:, None].expand_as(cells)
    pairs, length = torch.unique(rays[hit] * grid.config.n_cells + cells[hit], return_counts=True)
    required = pairs[length * (dt / 40) > 2.2 * dt]
    sampled = ps.ray_indices * grid.config.n_cells + cell_of(o[ps.ray_indices] + d[ps.ray_indices] * ps.t_mid[:, None])
    assert len(required) > 100
    missed = required[~torch.isin(required, sampled)]
    assert len(missed) == 0, (missed // grid.config.n_cells, missed % grid.config.n_cells)


def _ray_samples(ps, rays: torch.Tensor):
    """The samples (t_start, t_end) of the given rays, ray after ray, and their counts."""
    counts = ps.counts[rays]
    rows = torch.repeat_interleave(ps.offsets[:-1][rays], counts)
    rows = rows + torch.arange(rows.numel()) - torch.repeat_interleave(torch.cumsum(counts, 0) - counts, counts)
    return ps.t_starts[rows], ps.t_ends[rows], counts


@pytest.mark.parametrize("path", ["0", "1"], ids=["simd", "scalar"])
@pytest.mark.parametrize("order", ["sparse-first", "dense-first"])
def test_march_outputs_sized_from_first_rays(monkeypatch, path, order):
    """The CPU march sizes its outputs from the samples of its first rays and copies the rays'
    samples in as it goes; when the later rays have many more samples (sparse-first) or far fewer
    (dense-first) it must still return every ray's samples, in ray order, in outputs of about the
    right size."""
    monkeypatch.setenv("REDRIVE_SCALAR_KERNELS", path)
    grid = _sphere_grid()
    n = 24 * 2048  # 24 blocks of rays: the estimate is made after the first three
    o, d = _rays(n, seed=5)
    o[: n // 2] = torch.tensor([3.0, 3.0, 3.0])  # half the rays point away from the box
    march = MarchConfig(dt_min=0.01, dt_max=0.2, cone=0.0, max_samples=64)
    shuffled = ray_march(o, d, grid, 0.0, 100.0, march)
    counts = shuffled.counts
    assert int((counts == 0).sum()) >= n // 2 and int(counts.max()) > 20
    order_ = torch.argsort(counts, descending=order == "dense-first", stable=True)
    ps = ray_march(o[order_], d[order_], grid, 0.0, 100.0, march)
    t0, t1, want_counts = _ray_samples(shuffled, order_)
    assert torch.equal(ps.counts, want_counts)
    assert torch.equal(ps.ray_indices, torch.repeat_interleave(torch.arange(n), want_counts))
    assert torch.equal(ps.t_starts, t0) and torch.equal(ps.t_ends, t1)
    for t in (ps.ray_indices, ps.t_starts, ps.t_ends):
        assert t.untyped_storage().nbytes() <= 1.25 * t.numel() * t.element_size() + 65536 * 8 + 64


def test_simd_march_switch(monkeypatch):
    from redrive.ops import _ext

    ext = _ext.load_cpu()
    monkeypatch.setenv("REDRIVE_SCALAR_KERNELS", "1")
    assert not ext.raymarch_simd_active()


_LAST_ULP_RAY = """
import os, sys, torch
from redrive.ops import MarchConfig, OccupancyGrid, OccupancyGridConfig, ray_march
from redrive.ops.reference import ray_march_ref
os.environ["REDRIVE_SCALAR_KERNELS"] = sys.argv[1]
aabb = (-52.899882793426514, -11.565731930732728, -5.0, 44.907822132110596, 12.77867395877838, 15.0)
grid = OccupancyGrid(OccupancyGridConfig(aabb=aabb, resolution=(490, 122, 100), coarse_factor=4))
occ = torch.zeros(490 * 122 * 100, dtype=torch.bool)
occ[444 + 490 * (120 + 122 * 68)] = True  # occupies the block of the ray's last cell, not the cell
grid.set_occupancy(occ)
o = torch.tensor([[-26.54489517, -1.05333233, 1.49564743]])
d = torch.tensor([[0.96987712, 0.21362181, 0.11706495]])
near, far = torch.tensor([0.03792331]), torch.tensor([64.74997711])
march = MarchConfig(dt_min=0.05, dt_max=1.0, cone=0.004, max_samples=48)
assert ray_march(o, d, grid, near, far, march).n_samples == 0
assert int(ray_march_ref(o, d, grid.occupied(), grid.config, march, near, far)[3][0]) == 0
"""


@pytest.mark.parametrize("scalar", ["0", "1"])
def test_ray_ending_one_ulp_past_an_empty_cell_terminates(scalar):
    """At t ~ 65 the empty-space jump's minimum progress (1e-5 cells) is below the float spacing;
    this ray's last empty cell ends exactly at t, one ulp before its far: it must still end (it
    once marched forever). Run in a subprocess so that a hang fails instead of stalling the suite."""
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-c", _LAST_ULP_RAY, scalar], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
