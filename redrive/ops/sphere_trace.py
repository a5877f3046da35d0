"""Sphere tracing of an SDF callback, in chunks, for fast surface queries (LiDAR, meshes).

The SDF is a Python callable (a neural field), so the loop runs in torch: each iteration
evaluates the SDF only at the rays still marching (active-set compaction), ``chunk`` points at a
time so that memory stays bounded. A final secant step between the last two samples refines hits
that overshot the surface.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from redrive.ops._checks import OpArgumentError, check_tensor

__all__ = ["SphereTraceConfig", "SphereTraceResult", "sphere_trace"]


@dataclass(frozen=True)
class SphereTraceConfig:
    """Stopping rules of the tracer."""

    max_steps: int = 64
    """Iterations per ray."""
    eps: float = 1e-3
    """A ray hits when |sdf| < eps."""
    step_scale: float = 1.0
    """Step = step_scale * sdf; < 1 for SDFs that overestimate distance (neural SDFs often do)."""
    chunk: int = 1 << 16
    """Points per SDF call."""

    def __post_init__(self) -> None:
        if self.max_steps < 1 or self.eps <= 0 or not 0 < self.step_scale <= 2 or self.chunk < 1:
            raise OpArgumentError(f"invalid SphereTraceConfig {self}")


@dataclass
class SphereTraceResult:
    t: torch.Tensor
    """[N] distance of the hit (or where tracing stopped)."""
    hit: torch.Tensor
    """[N] bool: converged to the surface within [near, far]."""
    steps: torch.Tensor
    """[N] int64 SDF evaluations used per ray."""


def _eval_chunked(sdf_fn: Callable[[torch.Tensor], torch.Tensor], pts: torch.Tensor, chunk: int) -> torch.Tensor:
    if pts.shape[0] <= chunk:
        return sdf_fn(pts).reshape(-1)
    return torch.cat([sdf_fn(pts[i : i + chunk]).reshape(-1) for i in range(0, pts.shape[0], chunk)])


@torch.no_grad()
def sphere_trace(
    sdf_fn: Callable[[torch.Tensor], torch.Tensor],
    rays_o: torch.Tensor,
    rays_d: torch.Tensor,
    near: torch.Tensor | float = 0.0,
    far: torch.Tensor | float = 1e10,
    config: SphereTraceConfig | None = None,
) -> SphereTraceResult:
    """Find the first zero crossing of ``sdf_fn`` along each ray.

    Args:
        sdf_fn: ``[K, 3] -> [K]`` (or ``[K, 1]``) signed distance, called on chunks of points.
        rays_o, rays_d: ``[N, 3]`` origins and unit directions.
        near, far: ``[N]`` or scalars.
        config: stopping rules.

    Rays whose SDF is already negative at ``near`` are reported as hits at ``near``.
    """
    c = config or SphereTraceConfig()
    check_tensor("rays_o", rays_o, shape=[None, 3], dtypes=[torch.float32, torch.float64])
    n = rays_o.shape[0]
    check_tensor("rays_d", rays_d, shape=[n, 3], dtypes=[rays_o.dtype], device=rays_o.device)
    dev, dt = rays_o.device, rays_o.dtype
    near_t = near.to(dt).expand(n).clone() if isinstance(near, torch.Tensor) else torch.full((n,), float(near), dtype=dt, device=dev)
    far_t = far.to(dt).expand(n).clone() if isinstance(far, torch.Tensor) else torch.full((n,), float(far), dtype=dt, device=dev)

    t = near_t.clone()
    hit = torch.zeros(n, dtype=torch.bool, device=dev)
    steps = torch.zeros(n, dtype=torch.int64, device=dev)
    prev_t = t.clone()
    prev_s = torch.full((n,), float("nan"), dtype=dt, device=dev)
    active = torch.arange(n, device=dev)
    for _ in range(c.max_steps):
        if active.numel() == 0:
            break
        ta = t[active]
        s = _eval_chunked(sdf_fn, rays_o[active] + rays_d[active] * ta[:, None], c.chunk).to(dt)
        steps[active] += 1
        done_hit = s.abs() < c.eps
        # Sign change since the previous sample: the step overshot; refine by a secant step.
        ps = prev_s[active]
        crossed = (ps > 0) & (s < 0)
        if bool(crossed.any()):
            pt = prev_t[active]
            tc = pt + (ta - pt) * ps / (ps - s)
            ta = torch.where(crossed, tc, ta)
        # A ray whose first sample is already inside (sdf < 0) starts in matter: a hit at near.
        inside = (s < 0) & torch.isnan(ps)
        hit_now = done_hit | crossed | inside
        hit[active[hit_now]] = True
        t[active[hit_now]] = ta[hit_now]
        prev_t[active] = ta
        prev_s[active] = s
        t_next = ta + c.step_scale * s
        keep = ~hit_now & (t_next <= far_t[active])
        t[active[~hit_now]] = t_next[~hit_now]
        active = active[keep]
    hit &= (t >= near_t) & (t <= far_t)
    return SphereTraceResult(t=t, hit=hit, steps=steps)
