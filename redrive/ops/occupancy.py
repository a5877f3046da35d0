"""Occupancy grid over an axis-aligned box, and ray marching through it.

The grid keeps a float density per cell (EMA of queried values) and a bitfield of occupied cells
(plus a coarse bitfield, one bit per ``coarse_factor^3`` block). Marching emits packed samples
``[ray index, t_start, t_end]`` only in occupied cells, with step sizes that grow with distance,
clipped to each ray's near/far and capped per ray; through empty space it leaps out of the largest
empty box around each step (block, aligned 4^3 or 2^3 group of cells, or cell).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from redrive.ops import _ext
from redrive.ops._checks import OpArgumentError, check_tensor
from redrive.ops.packed import PackedSamples

__all__ = ["OccupancyGridConfig", "OccupancyGrid", "MarchConfig", "ray_march"]


@dataclass(frozen=True)
class OccupancyGridConfig:
    """Extent and resolution of an occupancy grid."""

    aabb: tuple[float, float, float, float, float, float] = (-1.0, -1.0, -1.0, 1.0, 1.0, 1.0)
    """Box ``(xmin, ymin, zmin, xmax, ymax, zmax)`` in the frame of the rays."""
    resolution: tuple[int, int, int] = (128, 128, 128)
    """Cells per axis (driving scenes are flat: e.g. (256, 256, 32))."""
    coarse_factor: int = 8
    """Edge of the coarse blocks, in cells, used to skip empty space quickly."""
    decay: float = 0.95
    """EMA decay per update: ``density = max(decay * density, new_value)``."""
    threshold: float = 0.01
    """A cell is occupied when its density exceeds this."""

    def __post_init__(self) -> None:
        lo, hi = self.aabb[:3], self.aabb[3:]
        if len(self.aabb) != 6 or any(h <= low for low, h in zip(lo, hi)):
            raise OpArgumentError(f"OccupancyGridConfig.aabb must be (min xyz, max xyz) with max > min, got {self.aabb}")
        if len(self.resolution) != 3 or any(r < 1 for r in self.resolution):
            raise OpArgumentError(f"OccupancyGridConfig.resolution must be 3 positive ints, got {self.resolution}")
        if self.coarse_factor < 1:
            raise OpArgumentError(f"OccupancyGridConfig.coarse_factor must be >= 1, got {self.coarse_factor}")

    @property
    def n_cells(self) -> int:
        return self.resolution[0] * self.resolution[1] * self.resolution[2]

    @property
    def coarse_resolution(self) -> tuple[int, int, int]:
        cf = self.coarse_factor
        return tuple((r + cf - 1) // cf for r in self.resolution)  # type: ignore[return-value]

    @property
    def cell_size(self) -> tuple[float, float, float]:
        return tuple((self.aabb[3 + k] - self.aabb[k]) / self.resolution[k] for k in range(3))  # type: ignore[return-value]

    def _kernel_args(self) -> tuple:
        return (list(self.aabb[:3]), list(self.aabb[3:]), list(self.resolution), self.coarse_factor)


MAX_STRETCH = 8
"""A stretched ray's steps grow at most this many times (``kMaxStretch`` in occupancy.h)."""


@dataclass(frozen=True)
class MarchConfig:
    """How samples are placed along a ray."""

    dt_min: float = 2.0 * math.sqrt(3.0) / 1024
    """Smallest step, world units (Instant-NGP's default for a unit-ish scene)."""
    dt_max: float = 1e10
    """Largest step."""
    cone: float = 1.0 / 256
    """Step = clamp(t * cone, dt_min, dt_max): steps grow linearly with distance (0: constant)."""
    max_samples: int = 1024
    """Per-ray cap on the number of samples."""
    stretch: bool = False
    """A ray whose occupied cells hold more steps than ``max_samples`` takes proportionally longer
    steps (at most ``MAX_STRETCH`` times), so its samples still reach ``far``; False: it is cut at the cap (a grazing
    ray along a road may then stop before the surface it runs into)."""

    def __post_init__(self) -> None:
        if not (self.dt_min > 0 and self.dt_max >= self.dt_min and self.cone >= 0 and self.max_samples >= 0):
            raise OpArgumentError(f"invalid MarchConfig {self}")


class OccupancyGrid(torch.nn.Module):
    """Density/occupancy grid; its state (buffers) goes into ``state_dict``.

    Cells are indexed x fastest: ``idx = ix + rx * (iy + ry * iz)``.
    """

    def __init__(self, config: OccupancyGridConfig | None = None, device: torch.device | str = "cpu"):
        super().__init__()
        self.config = c = config or OccupancyGridConfig()
        nc = math.prod(c.coarse_resolution)
        self.register_buffer("density", torch.zeros(c.n_cells, dtype=torch.float32, device=device))
        self.register_buffer("bits", torch.zeros((c.n_cells + 7) // 8, dtype=torch.uint8, device=device))
        self.register_buffer("coarse_bits", torch.zeros((nc + 7) // 8, dtype=torch.uint8, device=device))
        # What the marcher reads: each cell's occupancy and that of its 2^3 and 4^3 groups and its
        # block, 4 bits per cell (rd::occ_level_words in cuda/include/redrive/occupancy.h). Derived
        # from the bitfields, so not saved: rebuilt with them and after a state_dict is loaded.
        rx, ry, rz = c.resolution
        self.register_buffer("levels", torch.zeros((rx + 7) // 8 * ry * rz, dtype=torch.int32, device=device), persistent=False)
        self.register_load_state_dict_post_hook(_rebuild_levels_after_load)

    @property
    def device(self) -> torch.device:
        return self.density.device

    def cell_centers(self, jitter: bool = False, generator: torch.Generator | None = None) -> torch.Tensor:
        """``[n_cells, 3]`` cell centres (or uniformly jittered points inside each cell)."""
        c = self.config
        rx, ry, rz = c.resolution
        iz, iy, ix = torch.meshgrid(
            torch.arange(rz, device=self.device), torch.arange(ry, device=self.device),
            torch.arange(rx, device=self.device), indexing="ij",
        )
        idx = torch.stack([ix, iy, iz], dim=-1).reshape(-1, 3).to(torch.float32)
        u = torch.rand(idx.shape, generator=generator, device=self.device) if jitter else torch.full_like(idx, 0.5)
        lo = torch.tensor(c.aabb[:3], device=self.device)
        size = torch.tensor(c.cell_size, device=self.device)
        return lo + (idx + u) * size

    @torch.no_grad()
    def _rebuild_levels(self) -> None:
        _ext.get(self.device).occgrid_levels(self.bits, self.coarse_bits, self.levels, *self.config._kernel_args())

    @torch.no_grad()
    def update(self, values: torch.Tensor, decay: float | None = None) -> None:
        """EMA update from per-cell density values ``[n_cells]`` (>= 0), then refresh the bits."""
        check_tensor("values", values, shape=[self.config.n_cells], dtypes=[torch.float32], device=self.device)
        d = self.config.decay if decay is None else decay
        _ext.get(self.device).occgrid_update(
            self.density, self.bits, self.coarse_bits, self.levels, values.contiguous(), float(d), float(self.config.threshold),
            *self.config._kernel_args(),
        )

    @torch.no_grad()
    def update_from_sdf(self, sdf: torch.Tensor, band: float | None = None, decay: float | None = None) -> None:
        """EMA update from SDF values at the cells ``[n_cells]``: a cell counts as matter when the
        surface may pass through it, ``value = max(0, 1 - |sdf| / band)``; ``band`` defaults to
        the cell diagonal (a surface within a cell is at most half a diagonal from its centre)."""
        check_tensor("sdf", sdf, shape=[self.config.n_cells], dtypes=[torch.float32], device=self.device)
        if band is None:
            band = math.sqrt(sum(s * s for s in self.config.cell_size))
        self.update((1.0 - sdf.abs() / band).clamp_min(0.0), decay)

    @torch.no_grad()
    def set_occupancy(self, occupied: torch.Tensor) -> None:
        """Overwrite the grid with a boolean mask ``[n_cells]`` (density 1 where occupied)."""
        check_tensor("occupied", occupied, shape=[self.config.n_cells], dtypes=[torch.bool], device=self.device)
        self.density.copy_(occupied.to(torch.float32))
        _ext.get(self.device).occgrid_update(
            self.density, self.bits, self.coarse_bits, self.levels, None, 1.0, min(float(self.config.threshold), 0.5),
            *self.config._kernel_args(),
        )

    def occupied(self) -> torch.Tensor:
        """``[n_cells]`` bool view of the bitfield."""
        shifts = torch.arange(8, device=self.device, dtype=torch.uint8)
        bits = (self.bits[:, None] >> shifts) & 1
        return bits.reshape(-1)[: self.config.n_cells].bool()

    def occupied_fraction(self) -> float:
        return float(self.occupied().float().mean())

    def march(
        self,
        rays_o: torch.Tensor,
        rays_d: torch.Tensor,
        near: torch.Tensor | float = 0.0,
        far: torch.Tensor | float = 1e10,
        march: MarchConfig | None = None,
    ) -> PackedSamples:
        return ray_march(rays_o, rays_d, self, near, far, march)


def _rebuild_levels_after_load(grid: OccupancyGrid, _incompatible_keys) -> None:
    # (a module-level function, not a lambda: the grid stays picklable)
    grid._rebuild_levels()


def _per_ray(name: str, v: torch.Tensor | float, n: int, device: torch.device) -> torch.Tensor:
    if not isinstance(v, torch.Tensor):
        return torch.full((n,), float(v), dtype=torch.float32, device=device)
    if v.dim() == 0:
        return v.to(torch.float32).expand(n).contiguous()
    check_tensor(name, v, shape=[n], dtypes=[torch.float32], device=device)
    return v.contiguous()


def ray_march(
    rays_o: torch.Tensor,
    rays_d: torch.Tensor,
    grid: OccupancyGrid,
    near: torch.Tensor | float = 0.0,
    far: torch.Tensor | float = 1e10,
    march: MarchConfig | None = None,
) -> PackedSamples:
    """March rays through the occupied cells of ``grid``.

    Args:
        rays_o: ``[N, 3]`` origins (float32), in the grid's frame.
        rays_d: ``[N, 3]`` unit directions (t is a distance when they are unit length).
        grid: the occupancy grid.
        near, far: ``[N]`` or scalars: the ray segment considered (clipped to the grid box).
        march: step sizes and per-ray cap.

    Returns:
        Packed samples: for each step whose midpoint falls in an occupied cell, the segment
        ``[t_start, t_end]``. Not differentiable (positions are ``o + t d``; gradients flow
        through the field queried there).
    """
    m = march or MarchConfig()
    check_tensor("rays_o", rays_o, shape=[None, 3], dtypes=[torch.float32], device=grid.device)
    n = rays_o.shape[0]
    check_tensor("rays_d", rays_d, shape=[n, 3], dtypes=[torch.float32], device=grid.device)
    near_t = _per_ray("near", near, n, grid.device)
    far_t = _per_ray("far", far, n, grid.device)
    ri, t0, t1, offsets = _ext.get(grid.device).raymarch(
        rays_o.contiguous(), rays_d.contiguous(), near_t, far_t, grid.levels,
        *grid.config._kernel_args(), float(m.dt_min), float(m.dt_max), float(m.cone), int(m.max_samples),
        bool(m.stretch),
    )
    return PackedSamples(ri, t0, t1, offsets)
