"""Packed per-ray operations.

Samples of many rays are stored flat: ray ``r`` owns samples ``offsets[r]:offsets[r+1]``, sorted
by ``t`` within the ray (what :func:`redrive.ops.ray_march` and :func:`merge_packed` produce).
``offsets`` is ``[n_rays + 1]`` int64 (nerfacc calls the same information ``packed_info``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from redrive.ops import _ext
from redrive.ops._checks import OpArgumentError, check_offsets, check_tensor

__all__ = ["offsets_from_counts", "PackedSamples", "render_weights", "composite", "merge_packed", "neus_alpha"]

_FLOATS = [torch.float32, torch.float64]


def offsets_from_counts(counts: torch.Tensor | list[int]) -> torch.Tensor:
    """``[n_rays]`` sample counts -> ``[n_rays + 1]`` int64 offsets."""
    c = torch.as_tensor(counts, dtype=torch.int64)
    offsets = torch.zeros(c.numel() + 1, dtype=torch.int64, device=c.device)
    if c.numel():
        torch.cumsum(c, 0, out=offsets[1:])
    return offsets


@dataclass
class PackedSamples:
    """Ray segments, flat and grouped by ray."""

    ray_indices: torch.Tensor
    """[M] int64: the ray of each sample (non-decreasing)."""
    t_starts: torch.Tensor
    """[M] float32: segment start distance along the ray."""
    t_ends: torch.Tensor
    """[M] float32: segment end distance (>= t_starts)."""
    offsets: torch.Tensor
    """[n_rays + 1] int64: samples of ray r are offsets[r]:offsets[r+1]."""

    @property
    def n_rays(self) -> int:
        return self.offsets.numel() - 1

    @property
    def n_samples(self) -> int:
        return self.t_starts.numel()

    @property
    def counts(self) -> torch.Tensor:
        """[n_rays] samples per ray."""
        return self.offsets[1:] - self.offsets[:-1]

    @property
    def t_mid(self) -> torch.Tensor:
        return 0.5 * (self.t_starts + self.t_ends)

    @property
    def deltas(self) -> torch.Tensor:
        return self.t_ends - self.t_starts

    @staticmethod
    def from_counts(counts: torch.Tensor, t_starts: torch.Tensor, t_ends: torch.Tensor) -> PackedSamples:
        offsets = offsets_from_counts(counts)
        ray_indices = torch.repeat_interleave(torch.arange(counts.numel(), device=counts.device), counts)
        return PackedSamples(ray_indices, t_starts, t_ends, offsets)


class _WeightsFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, alphas, offsets):
        w, trans = _ext.get(alphas.device).packed_weights_forward(alphas, offsets)
        ctx.save_for_backward(alphas, trans, offsets)
        return w, trans

    @staticmethod
    def backward(ctx, grad_w, grad_t):
        alphas, trans, offsets = ctx.saved_tensors
        if not ctx.needs_input_grad[0]:
            return None, None
        if grad_w is None:
            grad_w = torch.zeros_like(alphas)
        gt = grad_t.contiguous() if grad_t is not None else None
        ga = _ext.get(alphas.device).packed_weights_backward(alphas, trans, grad_w.contiguous(), gt, offsets)
        return ga, None


def render_weights(alphas: torch.Tensor, offsets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Volume-rendering weights from per-sample opacities.

    Args:
        alphas: ``[M]`` opacities in [0, 1].
        offsets: ``[n_rays + 1]`` packed layout.

    Returns:
        ``(weights [M], transmittance [M])`` with ``transmittance[i] = prod_{j<i} (1 - alpha_j)``
        over the samples of the same ray and ``weights = transmittance * alphas``. Both are
        differentiable; the backward is exact for opacities equal to 1.
    """
    check_tensor("alphas", alphas, shape=[None], dtypes=_FLOATS)
    check_offsets("offsets", offsets, alphas.numel(), alphas.device)
    return _WeightsFn.apply(alphas.contiguous(), offsets.contiguous())


class _CompositeFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, values, weights, offsets):
        out = _ext.get(values.device).composite_forward(values, weights, offsets)
        ctx.save_for_backward(values, weights, offsets)
        return out

    @staticmethod
    def backward(ctx, grad_out):
        values, weights, offsets = ctx.saved_tensors
        want_v, want_w = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        gv, gw = _ext.get(values.device).composite_backward(
            values, weights, grad_out.contiguous(), offsets, bool(want_v), bool(want_w)
        )
        return gv, gw, None


def composite(values: torch.Tensor, weights: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
    """Weighted sum of per-sample values per ray.

    Args:
        values: ``[M, C]`` (colour, normals, features) or ``[M]`` (depth, ...).
        weights: ``[M]`` rendering weights.
        offsets: ``[n_rays + 1]`` packed layout.

    Returns:
        ``[n_rays, C]`` (or ``[n_rays]`` for 1-D values): ``sum_i weights_i * values_i``.
        Accumulated opacity is ``composite(ones, weights)``; expected depth
        ``composite(t_mid, weights)``.
    """
    squeeze = values.dim() == 1
    v = values[:, None] if squeeze else values
    check_tensor("values", v, shape=[None, None], dtypes=_FLOATS)
    check_tensor("weights", weights, shape=[v.shape[0]], dtypes=[v.dtype], device=v.device)
    check_offsets("offsets", offsets, v.shape[0], v.device)
    out = _CompositeFn.apply(v.contiguous(), weights.contiguous(), offsets.contiguous())
    return out[:, 0] if squeeze else out


def merge_packed(sets: Sequence[PackedSamples]) -> tuple[PackedSamples, torch.Tensor, torch.Tensor]:
    """Merge the samples of several nodes (background, actors) per ray, sorted by ``t_starts``.

    All sets must describe the same rays. Ties keep the order of ``sets``.

    Returns:
        ``(merged, perm, source)``: ``perm [M]`` indexes the concatenation of the sets (gather
        any per-sample tensor with ``torch.cat(per_set)[perm]``, which is differentiable), and
        ``source [M]`` is the index of the set each merged sample came from.
    """
    if len(sets) == 0:
        raise OpArgumentError("merge_packed needs at least one set")
    n_rays = sets[0].n_rays
    device = sets[0].t_starts.device
    for i, s in enumerate(sets):
        if s.n_rays != n_rays:
            raise OpArgumentError(f"set {i} has {s.n_rays} rays, set 0 has {n_rays}")
        check_tensor(f"sets[{i}].t_starts", s.t_starts, shape=[None], dtypes=[torch.float32], device=device)
        check_offsets(f"sets[{i}].offsets", s.offsets, s.t_starts.numel(), device)
    ext = _ext.get(device)
    # The kernel merges up to 32 sets at once; more are merged in rounds.
    t_starts = torch.cat([s.t_starts for s in sets]).contiguous()
    t_ends = torch.cat([s.t_ends for s in sets])
    if len(sets) <= 32:
        set_offsets = torch.stack([s.offsets for s in sets]).contiguous()
        sizes = torch.tensor([s.n_samples for s in sets], dtype=torch.int64)
        bases = (torch.cumsum(sizes, 0) - sizes).to(device)
        perm, source, offsets = ext.merge_packed(t_starts, set_offsets, bases)
    else:
        first, p1, s1 = merge_packed(sets[:32])
        second, p2, s2 = merge_packed(sets[32:])
        both, p, s = merge_packed([first, second])
        n1 = first.n_samples
        inner = torch.cat([p1, p2 + n1])
        perm = inner[p]
        source = torch.cat([s1, s2 + 32])[p]
        offsets = both.offsets
    counts = offsets[1:] - offsets[:-1]
    ray_indices = torch.repeat_interleave(torch.arange(n_rays, device=device), counts)
    merged = PackedSamples(ray_indices, t_starts.index_select(0, perm), t_ends.index_select(0, perm), offsets)
    return merged, perm, source


class _NeusAlphaFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, sdf, cos, dt, inv_s):
        alpha = _ext.get(sdf.device).neus_alpha_forward(sdf, cos, dt, inv_s)
        ctx.save_for_backward(sdf, cos, dt, inv_s)
        return alpha

    @staticmethod
    def backward(ctx, grad_alpha):
        sdf, cos, dt, inv_s = ctx.saved_tensors
        gs, gc, gd, gi = _ext.get(sdf.device).neus_alpha_backward(sdf, cos, dt, inv_s, grad_alpha.contiguous())
        n = ctx.needs_input_grad
        return (gs if n[0] else None, gc if n[1] else None, gd if n[2] else None, gi if n[3] else None)


def neus_alpha(sdf: torch.Tensor, cos: torch.Tensor, dt: torch.Tensor, inv_s: torch.Tensor) -> torch.Tensor:
    """NeuS discrete opacity of each section.

    With ``prev = sdf - cos * dt / 2`` and ``next = sdf + cos * dt / 2`` (SDF estimated at the
    section ends from the midpoint value and the directional derivative),
    ``alpha = clamp((Phi(prev) - Phi(next) + 1e-5) / (Phi(prev) + 1e-5), 0, 1)``,
    ``Phi(x) = sigmoid(inv_s * x)``.

    Args:
        sdf: ``[M]`` SDF at the section midpoints.
        cos: ``[M]`` directional derivative ``dot(grad sdf, ray dir)``, as the caller wants it
            (NeuS anneals it: ``-(relu(-c/2 + 1/2) (1 - r) + relu(-c) r)``).
        dt: ``[M]`` section lengths.
        inv_s: ``[1]`` learnable sharpness (``exp(10 * variance)`` in NeuS), > 0.

    Returns:
        ``[M]`` opacities; differentiable with respect to all four inputs.
    """
    check_tensor("sdf", sdf, shape=[None], dtypes=_FLOATS)
    for name, t in (("cos", cos), ("dt", dt)):
        check_tensor(name, t, shape=[sdf.numel()], dtypes=[sdf.dtype], device=sdf.device)
    check_tensor("inv_s", inv_s.reshape(-1), shape=[1], dtypes=[sdf.dtype], device=sdf.device)
    return _NeusAlphaFn.apply(sdf.contiguous(), cos.contiguous(), dt.contiguous(), inv_s.reshape(1).contiguous())
