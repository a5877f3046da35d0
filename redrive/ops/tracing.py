"""Sphere tracing of an SDF callback, in chunks, for fast surface queries (LiDAR, meshes).

The SDF is a Python callable (a neural field), so the loop runs in torch: each iteration
evaluates the SDF only at the rays still marching (active-set compaction), ``chunk`` points at a
time so that memory stays bounded. Secant steps between the last two samples refine hits
that overshot the surface (a few secant steps inside the bracket).
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
    """Marching SDF evaluations per ray (refinement adds at most ``refine_steps``)."""
    eps: float = 1e-3
    """A ray hits when |sdf| < eps."""
    step_scale: float = 1.0
    """Step = step_scale * sdf; < 1 for SDFs that overestimate distance (neural SDFs often do)."""
    chunk: int = 1 << 16
    """Points per SDF call."""
    refine_steps: int = 6
    """Secant steps after the march steps over the surface (overestimating SDFs); the hit is the
    last secant estimate when they run out."""

    def __post_init__(self) -> None:
        if self.max_steps < 1 or self.eps <= 0 or not 0 < self.step_scale <= 2 or self.chunk < 1 or self.refine_steps < 1:
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
    # Per-ray bracket of the zero crossing once the march has stepped over it: (lo_t, lo_s) the
    # last sample outside (sdf > 0), (hi_t, hi_s) the first inside; secant steps shrink it.
    lo_t, lo_s = t.clone(), torch.full((n,), float("nan"), dtype=dt, device=dev)
    hi_t, hi_s = t.clone(), torch.zeros(n, dtype=dt, device=dev)
    refine = torch.zeros(n, dtype=torch.int64, device=dev)  # secant steps taken (0: marching)
    active = torch.arange(n, device=dev)
    for _ in range(c.max_steps + c.refine_steps):
        if active.numel() == 0:
            break
        ta = t[active]
        s = _eval_chunked(sdf_fn, rays_o[active] + rays_d[active] * ta[:, None], c.chunk).to(dt)
        steps[active] += 1
        ls, ht, hs, lt, rf = lo_s[active], hi_t[active], hi_s[active], lo_t[active], refine[active]
        marching = rf == 0
        # Refining: keep the bracket around the root.
        pos = s > 0
        lt = torch.where(~marching & pos, ta, lt)
        ls = torch.where(~marching & pos, s, ls)
        ht = torch.where(~marching & ~pos, ta, ht)
        hs = torch.where(~marching & ~pos, s, hs)
        # Marching: a negative sample after a positive one means the step went over the surface.
        crossed = marching & (s < 0) & ~torch.isnan(ls)
        ht = torch.where(crossed, ta, ht)
        hs = torch.where(crossed, s, hs)
        # A ray whose first sample is already inside (sdf < 0) starts in matter: a hit at near.
        inside = marching & (s < 0) & torch.isnan(ls)
        converged = s.abs() < c.eps
        bracketed = crossed | ~marching
        secant = lt + (ht - lt) * ls / (ls - hs)
        out_of_steps = bracketed & (rf >= c.refine_steps)
        hit_now = converged | inside | out_of_steps
        t_new = torch.where(converged | inside, ta, torch.where(bracketed, secant, ta + c.step_scale * s))
        # The march's last outside sample is the bracket's lower end if the next one crosses.
        lt = torch.where(marching & ~crossed, ta, lt)
        ls = torch.where(marching & ~crossed, s, ls)
        lo_t[active], lo_s[active], hi_t[active], hi_s[active] = lt, ls, ht, hs
        refine[active] = torch.where(bracketed, rf + 1, rf)
        t[active] = t_new
        hit[active[hit_now]] = True
        keep = ~hit_now & (bracketed | ((t_new <= far_t[active]) & (steps[active] < c.max_steps)))
        active = active[keep]
    hit &= (t >= near_t) & (t <= far_t)
    return SphereTraceResult(t=t, hit=hit, steps=steps)
