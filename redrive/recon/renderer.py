"""Volume rendering of a SceneModel: background, actors, distant region and sky along rays.

Samples: the background marches its occupancy grid inside the scene bounds; each actor box a
ray crosses (at the ray's own time) gets ``actors.samples`` samples between entry and exit;
the distant region gets a few samples from the bounds' exit outwards, uniform in inverse
distance. The sets are merged by depth (``merge_packed``), SDF samples become opacities with
NeuS's formula (learnable sharpness), distant samples with ``1 - exp(-density dt)``, and the
sky fills the remaining transmittance.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from redrive.ops import MarchConfig, PackedSamples, composite, merge_packed, neus_alpha, ray_box_intersect, render_weights
from redrive.recon.fields import ActorFields
from redrive.recon.model import ActorPoses, SceneModel


@dataclass
class RenderOutput:
    rgb: torch.Tensor | None
    """[N, 3] colour before the per-image appearance correction (None when not asked)."""
    depth: torch.Tensor
    """[N] expected distance of the opaque part (sum w t / opacity)."""
    median_depth: torch.Tensor | None
    """[N] distance where the accumulated opacity crosses 0.5 (inf when it never does; None
    without ``need_lidar``)."""
    opacity: torch.Tensor
    """[N] accumulated opacity of background, actors and distant region (1 - sky share)."""
    features: torch.Tensor | None
    """[N, F] composited geometry features (input of the LiDAR heads; None without
    ``need_lidar``)."""
    normals: torch.Tensor | None = None
    """[N, 3] composited scene-frame normals (when asked)."""
    aux: dict | None = None
    """Per-sample tensors the losses need (training only)."""


def distant_boundaries(model: SceneModel, o: torch.Tensor, d: torch.Tensor, far: torch.Tensor | None = None,
                       shift: torch.Tensor | None = None) -> torch.Tensor:
    """``[N, K+1]`` increasing boundaries of the distant region's K samples per ray: from the
    bounds' exit out to ``distant_far_m``, uniform in inverse distance, each ray's lattice moved
    by ``shift [N, 1]`` (a training jitter in [0, 1/K)). Rays stopped by ``far`` keep
    zero-length (transparent) samples beyond it."""
    fc = model.cfg.background
    bg = model.background
    t_in, t_out = box_span(o, d, bg.lo, bg.lo + bg.extent)
    start = torch.where(t_out > t_in, t_out, t_in).clamp_min(1e-3)
    K = fc.distant_samples
    s_lin = torch.arange(K + 1, dtype=torch.float32)[None, :] / K
    if shift is not None:
        s_lin = (s_lin + shift).clamp(max=1.0)
        s_lin[:, 0] = 0.0
    inv0, inv1 = 1.0 / start, torch.full_like(start, 1.0 / fc.distant_far_m)
    b = 1.0 / (inv0[:, None] + (inv1 - inv0)[:, None] * s_lin)
    if far is not None:
        b = torch.minimum(b, torch.maximum(far, start)[:, None])
    return b


COLOUR_MIN_WEIGHT = 1e-4
"""Samples whose compositing weight is not above this get no colour query (most samples lie in
front of or behind surfaces; their colour would not show)."""


def _dense_composite(alpha: torch.Tensor, colour_of) -> tuple[torch.Tensor, torch.Tensor]:
    """Rows of opacities ``[R, S]`` composited front to back: weights ``[R, S]`` and colour
    ``[R, 3]``; ``colour_of(samples)`` gives ``[len, 3]`` for flat sample indices (row-major) and
    is asked only for samples weighing more than ``COLOUR_MIN_WEIGHT``."""
    trans = torch.cumprod(torch.cat([torch.ones_like(alpha[:, :1]), 1.0 - alpha[:, :-1]], dim=1), dim=1)
    w = alpha * trans
    colour = torch.zeros(w.numel(), 3)
    live = torch.nonzero(w.reshape(-1) > COLOUR_MIN_WEIGHT).squeeze(1)
    if live.numel():
        colour[live] = colour_of(live)
    return w, (w[..., None] * colour.reshape(*w.shape, 3)).sum(1)


def box_span(o: torch.Tensor, d: torch.Tensor, lo: torch.Tensor, hi: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Entry and exit distances ``[N]`` of rays through an axis-aligned box (entry >= 0)."""
    inv = 1.0 / torch.where(d.abs() < 1e-9, torch.full_like(d, 1e-9), d)
    a, b = (lo - o) * inv, (hi - o) * inv
    t_near = torch.minimum(a, b).amax(-1).clamp_min(0.0)
    t_far = torch.maximum(a, b).amin(-1)
    return t_near, t_far


def background_march(cfg, max_samples: int | None = None) -> MarchConfig:
    """How background samples march the occupancy grid (``cfg.sampling``); ``max_samples`` caps
    them otherwise (a cap below the sampling's own turns stretching off: such a march only asks
    whether a ray has samples at all)."""
    sc = cfg.sampling
    if max_samples is None:
        return MarchConfig(dt_min=sc.step_min_m, dt_max=1.0, cone=sc.cone, max_samples=sc.max_samples, stretch=sc.stretch)
    return MarchConfig(dt_min=sc.step_min_m, dt_max=1.0, cone=sc.cone, max_samples=max_samples)


def _uniform_samples(n: int, ri: torch.Tensor, a0: torch.Tensor, a1: torch.Tensor, S: int,
                     generator: torch.Generator | None) -> tuple[PackedSamples, torch.Tensor]:
    """``S`` samples on each ray ``ri`` (sorted, unique) between ``a0`` and ``a1`` (``[len(ri)]``),
    packed over ``n`` rays: segment midpoints, or jittered within their segment with ``generator``.
    Returns the samples and their positions ``[len(ri) * S]`` (exactly, not rounded through the
    segment ends as ``t_mid`` is)."""
    u = torch.rand(ri.numel(), S, generator=generator) if generator is not None else torch.full((ri.numel(), S), 0.5)
    dt = ((a1 - a0) / S)[:, None].expand(-1, S)
    tm = a0[:, None] + dt * (torch.arange(S, dtype=torch.float32) + u)
    counts = torch.zeros(n, dtype=torch.int64)
    counts[ri] = S
    return PackedSamples.from_counts(counts, (tm - dt / 2).reshape(-1), (tm + dt / 2).reshape(-1)), tm.reshape(-1)


def _neus_cos(sdf: torch.Tensor, s: PackedSamples) -> torch.Tensor:
    """Directional derivative of the SDF along each ray from neighbouring samples of the same
    ray (forward difference, else backward, else -1 for an isolated sample), in [-1, 0]."""
    sdf = sdf.detach()
    m = sdf.numel()
    cos = torch.full_like(sdf, -1.0)
    if m < 2:
        return cos
    t = s.t_mid
    ri = s.ray_indices
    gap = t[1:] - t[:-1]
    adjacent = (ri[1:] == ri[:-1]) & (gap <= 1.5 * (s.deltas[1:] + s.deltas[:-1]) / 2 + 1e-6)
    slope = (sdf[1:] - sdf[:-1]) / gap.clamp_min(1e-6)
    fwd = torch.where(adjacent, slope, torch.full_like(slope, float("nan")))
    cos[:-1] = torch.where(torch.isnan(fwd), cos[:-1], fwd)
    back = torch.cat([fwd[:1].new_full((1,), float("nan")), fwd])
    lonely = torch.isnan(torch.cat([fwd, fwd.new_full((1,), float("nan"))]))
    cos = torch.where(lonely & ~torch.isnan(back), back, cos)
    return cos.clamp(-1.0, 0.0)


def dense_neus_alpha(sdf: torch.Tensor, dt: torch.Tensor, inv_s: torch.Tensor) -> torch.Tensor:
    """NeuS opacities ``[R, S]`` of rows of evenly spaced samples (SDF ``[R, S]``, spacing
    ``dt [R]``), the directional derivative from the next sample, the last one's from the previous
    (as ``_neus_cos`` for packed samples)."""
    S = sdf.shape[1]
    cos = torch.full_like(sdf, -1.0)
    if S > 1:
        slope = (sdf[:, 1:] - sdf[:, :-1]) / dt[:, None].clamp_min(1e-6)
        cos = torch.cat([slope, slope[:, -1:]], dim=1).clamp(-1.0, 0.0)
    return neus_alpha(sdf.reshape(-1), cos.reshape(-1), dt.repeat_interleave(S), inv_s).reshape(sdf.shape)


def _median_depth(weights: torch.Tensor, t: torch.Tensor, offsets: torch.Tensor, n: int) -> torch.Tensor:
    out = torch.full((n,), float("inf"))
    if weights.numel() == 0:
        return out
    csum = torch.cumsum(weights.detach().double(), 0)
    start = torch.cat([csum.new_zeros(1), csum])[offsets[:-1]]
    counts = offsets[1:] - offsets[:-1]
    ri = torch.repeat_interleave(torch.arange(n), counts)
    acc = csum - start[ri]
    crossed = acc >= 0.5
    idx = torch.nonzero(crossed).squeeze(1)
    if idx.numel():
        first = torch.full((n,), weights.numel(), dtype=torch.int64)
        first.scatter_reduce_(0, ri[idx], idx, reduce="amin")
        ok = first < weights.numel()
        out[ok] = t[first[ok]].detach()
    return out


@dataclass
class ActorLayer:
    """Boxes rendered with one set of actor fields: ``poses.field_index`` picks each box's slot
    in ``fields``. A reconstruction has one layer (its own actors); an edited scene may move
    boxes, repeat a slot, or add a layer with another run's fields."""

    fields: ActorFields
    poses: ActorPoses

    @property
    def half_sizes(self) -> torch.Tensor:
        """``[A, 3]`` half extents of the boxes the rays are tested against (grown by the margin)."""
        return self.fields.half_extent[self.poses.field_index]


def model_layers(model: SceneModel) -> list[ActorLayer]:
    """The reconstruction's own actors as they were recorded."""
    return [ActorLayer(model.actors, model.poses)] if model.actors is not None else []


def render_rays(model: SceneModel, o: torch.Tensor, d: torch.Tensor, times: torch.Tensor, *, need_rgb: bool,
                generator: torch.Generator | None = None, need_normals: bool = False,
                keep_aux: bool = False, actor_mask: torch.Tensor | None = None,
                layers: list[ActorLayer] | None = None, far: torch.Tensor | None = None,
                bg_near: torch.Tensor | None = None, bg_samples: int = 0, need_lidar: bool = True) -> RenderOutput:
    """Render ``[N]`` rays (scene frame, unit directions, per-ray times).

    ``generator`` jitters sample positions (training); without it samples are deterministic.
    ``actor_mask`` ``[A]`` bool disables the model's own actors (removal) without touching the
    fields. ``layers`` replaces the model's actors (editing: moved, repeated or foreign actors;
    ``actor_mask`` then does not apply). ``far`` ``[N]`` stops every ray at that distance (an
    opaque object inserted there): nothing behind it is sampled, the sky is not added on those
    rays, and the caller composites its object with the remaining transmittance ``1 - opacity``.
    ``bg_near`` ``[N]``: the background is sampled only from that distance on (inf: not at all);
    with ``bg_samples`` it gets that many uniform samples between ``bg_near`` and ``far`` instead
    of marching its occupancy grid (a thin band around a surface known from a mesh). Actors and
    the distant region keep their own sampling. ``need_lidar``: also composite the geometry
    features and find the median depth (what LiDAR rays need; cameras do not).
    """
    cfg = model.cfg
    n = o.shape[0]
    jitter = generator is not None
    bg_field = model.background
    lo, hi = bg_field.lo, bg_field.lo + bg_field.extent
    t_in, t_out = box_span(o, d, lo, hi)
    inside = t_out > t_in
    if layers is None:
        layers = model_layers(model)
        if actor_mask is not None and layers:
            layers = [ActorLayer(model.actors, model.poses.keeping(actor_mask))]

    # --- background samples through the occupancy grid
    sc = cfg.sampling
    start = t_in if bg_near is None else torch.maximum(t_in, bg_near)
    bg_far = torch.where(inside, t_out, t_in)
    if far is not None:
        bg_far = torch.minimum(bg_far, far)
    if bg_samples:
        ri = torch.nonzero(bg_far > start).squeeze(1)
        bg, _ = _uniform_samples(n, ri, start[ri], bg_far[ri], bg_samples, generator)
    else:
        start = start + (torch.rand(n, generator=generator) * sc.step_min_m if jitter else 0.0)
        bg = model.occupancy.march(o, d, start, bg_far, background_march(cfg))
    sets: list[PackedSamples] = [bg]
    # (index_select rather than x[idx] on these per-sample gathers: 2-3x faster on the CPU, and
    # its backward, an index_add, too)
    bg_d = d.index_select(0, bg.ray_indices)
    bg_pts = o.index_select(0, bg.ray_indices) + bg_d * bg.t_mid[:, None]
    bg_sdf, bg_feat, bg_enc = bg_field.query_with_color(bg_pts)
    sdfs, feats, kinds = [bg_sdf], [bg_feat], [0]
    # colour of each set's samples: (colour head, features, grid encoding or None, direction)
    colour_in: list[tuple] = [(bg_field.color, bg_feat, bg_enc, bg_d)]
    normal_parts: list[torch.Tensor] = []
    if need_normals:
        normal_parts.append(torch.nn.functional.normalize(bg_field.gradient(bg_pts, False), dim=-1))

    # --- actor samples: S per (ray, box) hit, one set per layer and hit rank so each set is sorted
    aux: dict = {"bg_pts": bg_pts, "bg_sdf": bg_sdf}
    actor_sets = []
    S = cfg.actors.samples
    for layer_no, layer in enumerate(layers if n else []):
        poses, fields = layer.poses, layer.fields
        if poses.field_index.numel() == 0:
            continue
        frames = poses.frames(times)
        hits = ray_box_intersect(o, d, frames, poses.box_from_scene, layer.half_sizes, poses.present,
                                 far=far if far is not None else 1e10)
        if hits.ray_indices.numel() == 0:
            continue
        rank = torch.arange(hits.ray_indices.numel()) - hits.offsets[hits.ray_indices]
        for r in range(int(rank.max()) + 1):
            sel = torch.nonzero(rank == r).squeeze(1)
            ri, ai = hits.ray_indices[sel], hits.actor_indices[sel]
            # rays are sorted in sel (hits are packed by ray), so the flat order is per ray
            s, tm = _uniform_samples(n, ri, hits.t_in[sel], hits.t_out[sel], S, generator)
            rr, aa = ri.repeat_interleave(S), ai.repeat_interleave(S)
            slot = poses.field_index[aa]
            T = poses.box_from_scene[frames[rr], aa]  # [M, 3, 4]
            pts = o[rr] + d[rr] * tm[:, None]
            local = torch.einsum("mij,mj->mi", T[:, :, :3], pts) + T[:, :, 3]
            ldir = torch.einsum("mij,mj->mi", T[:, :, :3], d[rr])
            a_sdf, a_feat, a_enc = fields.query_with_color(local, slot)
            sets.append(s)
            sdfs.append(a_sdf)
            feats.append(a_feat)
            kinds.append(1)
            colour_in.append((fields.color, a_feat, a_enc, ldir))
            if need_normals:
                g = fields.gradient(local, slot, False)
                normal_parts.append(torch.nn.functional.normalize(torch.einsum("mji,mj->mi", T[:, :, :3], g), dim=-1))
            if layer_no == 0:
                actor_sets.append({"local": local, "actor": slot, "pts": pts, "sdf": a_sdf})
    aux["actor_sets"] = actor_sets

    # --- distant region: from the bounds' exit out to distant_far_m, uniform in 1/t
    fc = cfg.background
    if model.distant is not None and n:
        K = fc.distant_samples
        shift = torch.rand(n, 1, generator=generator) / K if jitter else None
        b = distant_boundaries(model, o, d, far, shift)
        # rays stopped before the region get no samples (theirs would all be empty)
        reach = b[:, -1] > b[:, 0]
        counts = torch.where(reach, K, 0)
        b = b[reach]
        ds = PackedSamples.from_counts(counts, b[:, :-1].reshape(-1).contiguous(), b[:, 1:].reshape(-1).contiguous())
        mid = ds.t_mid
        ds_d = d.index_select(0, ds.ray_indices)
        pts = o.index_select(0, ds.ray_indices) + ds_d * mid[:, None]
        density, dfeat = model.distant.query(pts)
        sets.append(ds)
        sdfs.append(density)
        feats.append(torch.zeros(mid.numel(), fc.geo_features))
        kinds.append(2)
        colour_in.append((model.distant.color, dfeat, None, ds_d))
        if need_normals:
            normal_parts.append(torch.zeros(mid.numel(), 3))

    # --- opacities, merged by depth
    inv_s = model.inv_s
    alphas = []
    for s, v, kind in zip(sets, sdfs, kinds):
        if kind == 2:
            alphas.append(1.0 - torch.exp(-v * s.deltas))
        else:
            alphas.append(neus_alpha(v, _neus_cos(v, s), s.deltas, inv_s))
    merged, perm, _ = merge_packed(sets)
    alpha = torch.cat(alphas).index_select(0, perm)
    weights, _ = render_weights(alpha, merged.offsets)
    t_mid = merged.t_mid
    ones = torch.ones_like(weights)
    opacity = composite(ones, weights, merged.offsets)
    depth = composite(t_mid, weights, merged.offsets) / opacity.clamp_min(1e-4)
    features = composite(torch.cat(feats).index_select(0, perm), weights, merged.offsets) if need_lidar else None
    rgb = None
    if need_rgb:
        # colour only where a sample contributes: most samples lie before or behind surfaces
        sizes = [c.shape[0] for _, c, _, _ in colour_in]
        set_id = torch.repeat_interleave(torch.arange(len(sizes)), torch.tensor(sizes)).index_select(0, perm)
        first = torch.tensor([0] + sizes[:-1]).cumsum(0)
        live = weights.detach() > COLOUR_MIN_WEIGHT
        colour = torch.zeros(weights.shape[0], 3)
        for j, (colour_fn, feat, enc, vec) in enumerate(colour_in):
            idx = torch.nonzero(live & (set_id == j)).squeeze(1)
            if idx.numel():
                own = perm.index_select(0, idx) - first[j]  # the samples' rows in their own set
                colour = colour.index_put((idx,), colour_fn(feat.index_select(0, own),
                                                            None if enc is None else enc.index_select(0, own),
                                                            vec.index_select(0, own)))
        rgb = composite(colour, weights, merged.offsets)
        sky = (1.0 - opacity)[:, None] * model.sky(d)
        rgb = rgb + (sky if far is None else torch.where(torch.isinf(far)[:, None], sky, 0.0))
    normals = None
    if need_normals:
        normals = composite(torch.cat(normal_parts).index_select(0, perm), weights, merged.offsets)
    median = _median_depth(weights, t_mid, merged.offsets, n) if need_lidar else None
    out = RenderOutput(rgb, depth, median, opacity, features, normals)
    if keep_aux:
        out.aux = aux
    return out


@torch.no_grad()
def render_actors(model: SceneModel, o: torch.Tensor, d: torch.Tensor, times: torch.Tensor,
                  layers: list[ActorLayer], far: torch.Tensor, chunk: int = 8192) -> RenderOutput:
    """The actors alone in front of ``far [N]`` (an opaque surface the caller draws behind them):
    ``rgb`` (premultiplied by their opacity), ``opacity`` and ``depth`` of ``[N]`` rays, no sky.

    The same samples, NeuS opacities and colours as ``render_rays`` (each box hit gets
    ``actors.samples`` midpoint samples between entry and exit, the directional derivative from
    neighbouring samples), but every hit's samples are composited densely (``[hits, S]`` tensors:
    no packing or merging by depth) and the hits of a ray one after the other in order of entry,
    ``chunk`` hits at a time. That equals ``render_rays`` where a ray's boxes do not overlap
    along it (grown boxes of actors in contact may, by centimetres)."""
    n = o.shape[0]
    hits_all = []  # per chunk of hits: (rays, t_in, rgb, opacity, depth)
    S = model.cfg.actors.samples
    arange = torch.arange(S, dtype=torch.float32) + 0.5
    for layer in layers:
        poses, fields = layer.poses, layer.fields
        if poses.field_index.numel() == 0 or n == 0:
            continue
        frames = poses.frames(times)
        hits = ray_box_intersect(o, d, frames, poses.box_from_scene, layer.half_sizes, poses.present, far=far)
        for i in range(0, hits.ray_indices.numel(), chunk):
            ri, ai = hits.ray_indices[i:i + chunk], hits.actor_indices[i:i + chunk]
            t0, t1 = hits.t_in[i:i + chunk], hits.t_out[i:i + chunk]
            dt = (t1 - t0) / S  # [H]
            tm = torch.addcmul(t0[:, None], dt[:, None], arange)  # [H, S]
            T = poses.box_from_scene[frames[ri], ai]  # [H, 3, 4]
            lo = torch.einsum("hij,hj->hi", T[:, :, :3], o[ri]) + T[:, :, 3]
            ld = torch.einsum("hij,hj->hi", T[:, :, :3], d[ri])
            sdf, feat, enc = fields.query_along(lo, ld, tm, poses.field_index[ai])
            alpha = dense_neus_alpha(sdf.reshape(-1, S), dt, model.inv_s)
            w, h_rgb = _dense_composite(alpha, lambda k: fields.color(feat[k], None if enc is None else enc[k], ld[k // S]))
            hits_all.append((ri, t0, h_rgb, w.sum(1), (w * tm).sum(1)))
    rgb, opacity, depth = torch.zeros(n, 3), torch.zeros(n), torch.zeros(n)
    if hits_all:
        ri, t0, h_rgb, h_op, h_depth = (torch.cat(x) for x in zip(*hits_all))
        order = torch.argsort(t0, stable=True)
        order = order[torch.argsort(ri[order], stable=True)]  # by ray, then by entry
        ri, h_rgb, h_op, h_depth = ri[order], h_rgb[order], h_op[order], h_depth[order]
        # transmittance in front of each hit: the product of (1 - opacity) of the ray's earlier hits
        first = torch.ones_like(ri, dtype=torch.bool)
        first[1:] = ri[1:] != ri[:-1]
        log_t = torch.log1p(-h_op.clamp(max=1.0 - 1e-7))
        csum = torch.cumsum(log_t, 0)
        start = torch.cummax(torch.where(first, torch.arange(ri.numel()), 0), 0).values  # index of the ray's first hit
        front = torch.exp(csum - log_t - (csum[start] - log_t[start]))
        rgb.index_add_(0, ri, front[:, None] * h_rgb)
        opacity.index_add_(0, ri, front * h_op)
        depth.index_add_(0, ri, front * h_depth)
    return RenderOutput(rgb, depth / opacity.clamp_min(1e-4), None, opacity, None)


@torch.no_grad()
def empty_rays(model: SceneModel, o: torch.Tensor, d: torch.Tensor, times: torch.Tensor,
               layers: list[ActorLayer]) -> torch.Tensor:
    """``[N]`` bool: rays that get no background sample (their march through the occupancy grid
    meets no occupied step) and cross no actor box of ``layers``: ``render_distant`` renders
    them as ``render_rays`` does. (A march that is stretched only past its cap has no sample
    exactly where the plain march has none.)"""
    bg = model.background
    t_in, t_out = box_span(o, d, bg.lo, bg.lo + bg.extent)
    marched = model.occupancy.march(o, d, t_in, torch.where(t_out > t_in, t_out, t_in), background_march(model.cfg, 1))
    empty = marched.counts == 0
    for layer in layers:
        poses = layer.poses
        if poses.field_index.numel():
            hits = ray_box_intersect(o, d, poses.frames(times), poses.box_from_scene, layer.half_sizes, poses.present)
            empty[hits.ray_indices] = False
    return empty


@torch.no_grad()
def render_distant(model: SceneModel, o: torch.Tensor, d: torch.Tensor) -> RenderOutput:
    """``[N]`` rays that meet neither background samples nor actor boxes (the caller knows): the
    distant region and the sky, as ``render_rays`` renders them there (the same samples,
    opacities and colours) but with every ray's samples in one dense row. ``rgb`` includes the
    sky."""
    n = o.shape[0]
    if model.distant is None or n == 0:
        opacity = torch.zeros(n)
        return RenderOutput(model.sky(d) if n else torch.zeros(0, 3), opacity.clone(), None, opacity, None)
    b = distant_boundaries(model, o, d)  # [N, K + 1]
    K = b.shape[1] - 1
    mid = 0.5 * (b[:, :-1] + b[:, 1:])
    density, feat = model.distant.query(torch.addcmul(o[:, None, :], d[:, None, :], mid[..., None]).reshape(-1, 3))
    alpha = 1.0 - torch.exp(-density.reshape(n, K) * (b[:, 1:] - b[:, :-1]))
    w, rgb = _dense_composite(alpha, lambda k: model.distant.color(feat[k], None, d[k // K]))
    opacity = w.sum(1)
    rgb = rgb + (1.0 - opacity)[:, None] * model.sky(d)
    return RenderOutput(rgb, (w * mid).sum(1) / opacity.clamp_min(1e-4), None, opacity, None)


def render_chunked(model: SceneModel, o: torch.Tensor, d: torch.Tensor, times: torch.Tensor, chunk: int,
                   need_rgb: bool = True, need_normals: bool = False, actor_mask: torch.Tensor | None = None,
                   progress: str | None = None, layers: list[ActorLayer] | None = None,
                   far: torch.Tensor | None = None, bg_near: torch.Tensor | None = None,
                   bg_samples: int = 0, need_lidar: bool = True) -> dict[str, torch.Tensor]:
    """Render many rays without gradients, ``chunk`` at a time; returns a dict of ``[N, ...]``
    (options as ``render_rays``)."""
    from tqdm import tqdm

    parts: dict[str, list[torch.Tensor]] = {}
    starts = range(0, o.shape[0], chunk)
    with torch.no_grad():
        for i in tqdm(starts, desc=progress or "render", unit="chunk", disable=progress is None, leave=False):
            r = render_rays(model, o[i:i + chunk], d[i:i + chunk], times[i:i + chunk], need_rgb=need_rgb,
                            need_normals=need_normals, actor_mask=actor_mask, layers=layers,
                            far=None if far is None else far[i:i + chunk],
                            bg_near=None if bg_near is None else bg_near[i:i + chunk], bg_samples=bg_samples,
                            need_lidar=need_lidar)
            for k in ("rgb", "depth", "median_depth", "opacity", "features", "normals"):
                v = getattr(r, k)
                if v is not None:
                    parts.setdefault(k, []).append(v)
    return {k: torch.cat(v) for k, v in parts.items()}


__all__ = ["ActorLayer", "RenderOutput", "background_march", "box_span", "dense_neus_alpha", "distant_boundaries", "empty_rays",
           "model_layers", "render_actors", "render_chunked", "render_distant", "render_rays"]
