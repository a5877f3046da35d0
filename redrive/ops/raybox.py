"""Rays against the oriented boxes of many actors at once."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from redrive.ops import _ext
from redrive.ops._checks import OpArgumentError, check_tensor
from redrive.ops.occupancy import _per_ray

__all__ = ["BoxHits", "ray_box_intersect"]


@dataclass
class BoxHits:
    """Every (ray, actor) hit, packed by ray and sorted by entry distance within a ray."""

    ray_indices: torch.Tensor
    """[H] int64."""
    actor_indices: torch.Tensor
    """[H] int64: index into the actor axis of the boxes."""
    t_in: torch.Tensor
    """[H] float32: entry distance, clipped to the ray's near (rays starting inside a box get near)."""
    t_out: torch.Tensor
    """[H] float32: exit distance, clipped to far; always > t_in (zero-length overlaps are misses)."""
    offsets: torch.Tensor
    """[n_rays + 1] int64: hits of ray r are offsets[r]:offsets[r+1]."""


def ray_box_intersect(
    rays_o: torch.Tensor,
    rays_d: torch.Tensor,
    frames: torch.Tensor,
    box_from_world: torch.Tensor,
    half_sizes: torch.Tensor,
    valid: torch.Tensor | None = None,
    near: torch.Tensor | float = 0.0,
    far: torch.Tensor | float = 1e10,
) -> BoxHits:
    """Entry/exit distances of every ray with every actor box present at the ray's frame.

    Args:
        rays_o, rays_d: ``[N, 3]`` float32 world origins and unit directions.
        frames: ``[N]`` int64 index of each ray's timestamp into the first axis of the boxes
            (the scene graph interpolates actor poses at the sensor timestamps).
        box_from_world: ``[F, A, 3, 4]`` float32 rigid transforms world -> box frame, in which
            the box is ``[-half, half]`` (rotation must be orthonormal: t stays a world distance).
        half_sizes: ``[A, 3]`` float32 half extents (length/2, width/2, height/2).
        valid: ``[F, A]`` bool, whether actor a exists at frame f (default: all).
        near, far: ``[N]`` or scalars.

    Returns:
        :class:`BoxHits`. Not differentiable.
    """
    check_tensor("rays_o", rays_o, shape=[None, 3], dtypes=[torch.float32])
    device = rays_o.device
    n = rays_o.shape[0]
    check_tensor("rays_d", rays_d, shape=[n, 3], dtypes=[torch.float32], device=device)
    check_tensor("frames", frames, shape=[n], dtypes=[torch.int64], device=device)
    check_tensor("box_from_world", box_from_world, shape=[None, None, 3, 4], dtypes=[torch.float32], device=device)
    n_frames, n_actors = box_from_world.shape[:2]
    check_tensor("half_sizes", half_sizes, shape=[n_actors, 3], dtypes=[torch.float32], device=device)
    if valid is None:
        valid = torch.ones(n_frames, n_actors, dtype=torch.bool, device=device)
    check_tensor("valid", valid, shape=[n_frames, n_actors], dtypes=[torch.bool], device=device)
    if n > 0 and n_frames == 0:
        raise OpArgumentError("box_from_world has no frames but rays reference frames")
    if n > 0 and (int(frames.min()) < 0 or int(frames.max()) >= n_frames):
        raise OpArgumentError(f"frames must be in [0, {n_frames}), got {int(frames.min())}..{int(frames.max())}")
    ri, ai, t0, t1, offsets = _ext.get(device).raybox(
        rays_o.contiguous(), rays_d.contiguous(), _per_ray("near", near, n, device), _per_ray("far", far, n, device),
        frames.contiguous(), box_from_world.contiguous(), half_sizes.contiguous(), valid.to(torch.uint8).contiguous(),
    )
    return BoxHits(ri, ai, t0, t1, offsets)
