from __future__ import annotations

import math

import pytest
import torch

from redrive.ops import OpArgumentError, ray_box_intersect
from redrive.ops.reference import ray_box_intersect_ref


def _boxes(n_frames: int, n_actors: int, seed: int = 0):
    """Yawed boxes on a plane, moving between frames; returns box_from_world, half sizes."""
    g = torch.Generator().manual_seed(seed)
    half = torch.rand(n_actors, 3, generator=g) * torch.tensor([2.0, 1.0, 0.8]) + 0.3
    centre0 = (torch.rand(n_actors, 3, generator=g) - 0.5) * torch.tensor([40.0, 40.0, 2.0])
    vel = torch.randn(n_actors, 3, generator=g) * torch.tensor([1.0, 1.0, 0.0])
    yaw0 = torch.rand(n_actors, generator=g) * 2 * math.pi
    M = torch.zeros(n_frames, n_actors, 3, 4)
    for f in range(n_frames):
        yaw = yaw0 + 0.1 * f
        c, s = torch.cos(yaw), torch.sin(yaw)
        R = torch.zeros(n_actors, 3, 3)  # world_from_box rotation
        R[:, 0, 0], R[:, 0, 1], R[:, 1, 0], R[:, 1, 1], R[:, 2, 2] = c, -s, s, c, 1.0
        centre = centre0 + vel * f
        Rt = R.transpose(1, 2)
        M[f, :, :, :3] = Rt
        M[f, :, :, 3] = -(Rt @ centre[:, :, None])[:, :, 0]
    return M, half


def _rays(n: int, n_frames: int, seed: int = 1):
    g = torch.Generator().manual_seed(seed)
    o = (torch.rand(n, 3, generator=g) - 0.5) * torch.tensor([50.0, 50.0, 2.0])
    d = torch.nn.functional.normalize(torch.randn(n, 3, generator=g) * torch.tensor([1.0, 1.0, 0.1]), dim=-1)
    frames = torch.randint(0, max(n_frames, 1), (n,), generator=g)
    return o, d, frames


@pytest.mark.parametrize("n_rays,n_frames,n_actors", [(0, 3, 5), (1, 1, 1), (500, 4, 30), (2000, 2, 3), (100, 2, 0)])
def test_matches_reference(n_rays, n_frames, n_actors):
    M, half = _boxes(n_frames, n_actors)
    o, d, frames = _rays(n_rays, n_frames)
    valid = torch.rand(n_frames, n_actors, generator=torch.Generator().manual_seed(5)) > 0.2
    near = torch.rand(n_rays, generator=torch.Generator().manual_seed(6))
    far = near + 30.0
    hits = ray_box_intersect(o, d, frames, M, half, valid, near, far)
    ri, ai, t0, t1, counts = ray_box_intersect_ref(o, d, frames, M, half, valid, near, far)
    assert torch.equal(hits.offsets[1:] - hits.offsets[:-1], counts)
    assert torch.equal(hits.ray_indices, ri) and torch.equal(hits.actor_indices, ai)
    torch.testing.assert_close(hits.t_in, t0, rtol=1e-5, atol=1e-4)
    torch.testing.assert_close(hits.t_out, t1, rtol=1e-5, atol=1e-4)
    assert torch.all(hits.t_out > hits.t_in)
    if n_rays >= 500:
        assert hits.t_in.numel() > 10  # the scene is dense enough to test something


def test_rays_grazing_box_corners_match_reference():
    """Rays aimed just inside and just outside the boxes' corners, from far away and from
    nearby: the bounding-sphere rejection in front of the slab test must never drop a hit."""
    M, half = _boxes(1, 12, seed=3)
    g = torch.Generator().manual_seed(7)
    signs = torch.tensor([[sx, sy, sz] for sx in (-1.0, 1.0) for sy in (-1.0, 1.0) for sz in (-1.0, 1.0)])
    targets_local = (signs[None] * half[:, None, :])[:, :, None, :] * torch.tensor([0.999, 1.001])[None, None, :, None]
    world_from_box = torch.linalg.inv(torch.cat([M[0], torch.tensor([0.0, 0.0, 0.0, 1.0]).expand(12, 1, 4)], 1))
    tgt = torch.einsum("aij,akmj->akmi", world_from_box[:, :3, :3], targets_local) + world_from_box[:, None, None, :3, 3]
    tgt = tgt.reshape(-1, 3).repeat(2, 1)
    dist = torch.cat([torch.full((tgt.shape[0] // 2,), 200.0), torch.full((tgt.shape[0] // 2,), 3.0)])
    d = torch.nn.functional.normalize(torch.randn(tgt.shape[0], 3, generator=g), dim=-1)
    o = tgt - d * dist[:, None]
    frames = torch.zeros(o.shape[0], dtype=torch.int64)
    hits = ray_box_intersect(o, d, frames, M, half, far=1e4)
    ri, ai, t0, t1, counts = ray_box_intersect_ref(o, d, frames, M, half, torch.ones(1, 12, dtype=torch.bool), torch.zeros(len(o)), torch.full((len(o),), 1e4))
    assert torch.equal(hits.offsets[1:] - hits.offsets[:-1], counts)
    assert torch.equal(hits.actor_indices, ai)
    assert int(counts.sum()) >= tgt.shape[0] // 2  # the rays aimed inside the corners hit


def test_edge_cases():
    # One axis-aligned box [-1, 1]^3 at the origin, one frame.
    M = torch.zeros(1, 1, 3, 4)
    M[0, 0, :, :3] = torch.eye(3)
    half = torch.ones(1, 3)
    o = torch.tensor([[-5.0, 0.0, 0.0], [0.0, 0.0, 0.0], [-5.0, 3.0, 0.0], [-5.0, 1.0, 0.0], [5.0, 0.0, 0.0], [-5.0, 0.0, 0.0]])
    d = torch.tensor([[1.0, 0.0, 0.0], [1.0, 0.0, 0.0], [1.0, 0.0, 0.0], [1.0, 0.0, 0.0], [1.0, 0.0, 0.0], [1.0, 0.0, 0.0]])
    far = torch.tensor([100.0, 100.0, 100.0, 100.0, 100.0, 4.5])
    hits = ray_box_intersect(o, d, torch.zeros(6, dtype=torch.int64), M, half, near=0.0, far=far)
    counts = (hits.offsets[1:] - hits.offsets[:-1]).tolist()
    assert counts == [1, 1, 0, 0, 0, 1]
    t = dict(zip(hits.ray_indices.tolist(), zip(hits.t_in.tolist(), hits.t_out.tolist())))
    assert t[0] == pytest.approx((4.0, 6.0))
    assert t[1] == pytest.approx((0.0, 1.0))  # starts inside: entry clipped to near
    # Ray 3 lies exactly in the plane of a face: a measure-zero graze, reported as a miss.
    assert t[5] == pytest.approx((4.0, 4.5))  # clipped by far
    # Zero-length overlap (far == entry) is a miss.
    hits = ray_box_intersect(o[:1], d[:1], torch.zeros(1, dtype=torch.int64), M, half, near=0.0, far=4.0)
    assert hits.t_in.numel() == 0


def test_hits_sorted_by_entry_and_invalid_actors_skipped():
    M = torch.zeros(1, 3, 3, 4)
    M[0, :, :, :3] = torch.eye(3)
    M[0, :, 0, 3] = torch.tensor([-10.0, -4.0, -7.0])  # boxes centred at x = 10, 4, 7
    half = torch.full((3, 3), 0.5)
    o, d = torch.zeros(1, 3), torch.tensor([[1.0, 0.0, 0.0]])
    frames = torch.zeros(1, dtype=torch.int64)
    hits = ray_box_intersect(o, d, frames, M, half)
    assert hits.actor_indices.tolist() == [1, 2, 0]
    assert hits.t_in.tolist() == pytest.approx([3.5, 6.5, 9.5])
    valid = torch.tensor([[True, False, True]])
    assert ray_box_intersect(o, d, frames, M, half, valid).actor_indices.tolist() == [2, 0]


def test_bad_arguments():
    M, half = _boxes(2, 3)
    o, d, frames = _rays(4, 2)
    with pytest.raises(OpArgumentError, match="frames must be in"):
        ray_box_intersect(o, d, frames + 5, M, half)
    with pytest.raises(OpArgumentError, match="half_sizes"):
        ray_box_intersect(o, d, frames, M, half[:2])
