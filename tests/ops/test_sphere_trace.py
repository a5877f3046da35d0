from __future__ import annotations

import pytest
import torch

from redrive.ops import SphereTraceConfig, sphere_trace
from redrive.ops.reference import sphere_trace_ref


def _sphere(p: torch.Tensor) -> torch.Tensor:
    return p.norm(dim=-1) - 1.0


def _rays(n: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    o = torch.randn(n, 3, generator=g)
    o = o / o.norm(dim=-1, keepdim=True) * 3.0
    d = torch.nn.functional.normalize(torch.randn(n, 3, generator=g) * 0.5 - o, dim=-1)
    return o, d


def _analytic(o, d):
    b = (o * d).sum(-1)
    c = (o * o).sum(-1) - 1.0
    disc = b * b - c
    return -b - disc.clamp_min(0).sqrt(), disc > 0


@pytest.mark.parametrize("chunk", [7, 1 << 16])
def test_sphere_hits_match_analytic_and_reference(chunk):
    o, d = _rays(400)
    cfg = SphereTraceConfig(max_steps=100, eps=1e-5, chunk=chunk)
    res = sphere_trace(_sphere, o, d, 0.0, 10.0, cfg)
    t_true, hit_true = _analytic(o, d)
    clear = hit_true & ((-(o * d).sum(-1)) ** 2 - ((o * o).sum(-1) - 1.0) > 1e-2)  # not grazing
    assert torch.all(res.hit[clear])
    torch.testing.assert_close(res.t[clear], t_true[clear], atol=1e-4, rtol=0)
    assert not res.hit[~hit_true].any()
    t_ref, hit_ref = sphere_trace_ref(_sphere, o, d, torch.zeros(400), torch.full((400,), 10.0), 100, 1e-5)
    assert torch.equal(res.hit, hit_ref)
    torch.testing.assert_close(res.t[res.hit], t_ref[hit_ref])
    assert int(res.steps.max()) <= 100 + cfg.refine_steps


def test_overshooting_sdf_refined_by_secant():
    # A neural SDF may overestimate distance (here by 1.8x); with step_scale 0.6 the steps are
    # 1.08x the true distance, so they overshoot the surface and the secant step refines the hit.
    o, d = _rays(200, seed=1)
    cfg = SphereTraceConfig(max_steps=200, eps=1e-6, step_scale=0.6)
    res = sphere_trace(lambda p: 1.8 * _sphere(p), o, d, 0.0, 10.0, cfg)
    t_true, hit_true = _analytic(o, d)
    clear = hit_true & ((-(o * d).sum(-1)) ** 2 - ((o * o).sum(-1) - 1.0) > 1e-2)
    assert torch.all(res.hit[clear])
    torch.testing.assert_close(res.t[clear], t_true[clear], atol=1e-3, rtol=0)


def test_edge_cases():
    o = torch.tensor([[0.0, 0.0, 0.0], [0.0, 0.0, 3.0], [0.0, 0.0, 3.0]])
    d = torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, 0.0, -1.0]])
    res = sphere_trace(_sphere, o, d, 0.0, torch.tensor([10.0, 10.0, 1.5]), SphereTraceConfig(eps=1e-5))
    assert res.hit.tolist() == [True, False, False]  # inside: hit at near; away; beyond far
    assert float(res.t[0]) == 0.0
    empty = sphere_trace(_sphere, torch.zeros(0, 3), torch.zeros(0, 3))
    assert empty.t.numel() == 0 and empty.hit.numel() == 0
