"""Pure-torch references of every native op.

They define what the kernels compute: tests compare kernels against them (values and gradients)
and gradcheck them in float64. They are written for clarity and exact agreement with the kernels'
definitions, not for speed (the benchmark measures how slow they are).
"""

from __future__ import annotations

import torch

from redrive.ops.occupancy import MAX_STRETCH

__all__ = [
    "hash_grid_encode_ref",
]

_P1 = 2654435761
_P2 = 805459861
_U32 = 0xFFFFFFFF


def hash_grid_encode_ref(x: torch.Tensor, table: torch.Tensor, config) -> torch.Tensor:
    """Reference of :func:`redrive.ops.hash_grid_encode`: ``x [N, 3]`` -> ``[N, L * F]``.

    One level at a time with int64 ``index_select`` gathers (the fastest pure-torch formulation
    on the CPU).
    """
    F = config.n_features_per_level
    xc = x.clamp(0.0, 1.0)
    table = table.to(x.dtype)
    feats = []
    for level, (res, dense) in enumerate(zip(config.resolutions, config.dense_levels)):
        lt = table[config.level_offsets[level] : config.level_offsets[level + 1]]
        pos = xc * res
        i0 = torch.floor(pos.detach()).clamp(max=res - 1).to(torch.int64)
        f = pos - i0.to(x.dtype)
        acc = torch.zeros(x.shape[0], F, dtype=x.dtype, device=x.device)
        for corner in range(8):
            bits = [(corner >> d) & 1 for d in range(3)]
            i = i0[:, 0] + bits[0]
            j = i0[:, 1] + bits[1]
            k = i0[:, 2] + bits[2]
            if dense:
                v = res + 1
                idx = i + v * (j + v * k)
            else:
                idx = (i ^ ((j * _P1) & _U32) ^ ((k * _P2) & _U32)) & config.hash_mask
            w = torch.ones_like(f[:, 0])
            for d in range(3):
                w = w * (f[:, d] if bits[d] else 1.0 - f[:, d])
            acc = acc + w[:, None] * lt.index_select(0, idx)
        feats.append(acc)
    return torch.cat(feats, dim=1) if feats else x.new_zeros(x.shape[0], 0)


def _ray_ids(offsets: torch.Tensor) -> torch.Tensor:
    counts = offsets[1:] - offsets[:-1]
    return torch.repeat_interleave(torch.arange(counts.numel(), device=offsets.device), counts)


def _to_dense(values: torch.Tensor, offsets: torch.Tensor, fill: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Packed ``[M]`` -> padded ``[N, max_len]`` and the mask of real entries."""
    counts = offsets[1:] - offsets[:-1]
    n = counts.numel()
    width = int(counts.max()) if n > 0 and values.numel() > 0 else 0
    col = torch.arange(values.numel(), device=values.device) - offsets[:-1].repeat_interleave(counts)
    dense = torch.full((n, width), fill, dtype=values.dtype, device=values.device)
    mask = torch.zeros((n, width), dtype=torch.bool, device=values.device)
    rows = _ray_ids(offsets)
    dense = dense.index_put((rows, col), values)
    mask[rows, col] = True
    return dense, mask


def render_weights_ref(alphas: torch.Tensor, offsets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Reference of :func:`redrive.ops.render_weights`: exclusive cumulative product per ray."""
    dense, mask = _to_dense(alphas, offsets, 0.0)
    one_minus = 1.0 - dense
    trans = torch.cat([torch.ones_like(dense[:, :1]), torch.cumprod(one_minus, dim=1)[:, :-1]], dim=1)
    trans_p = trans[mask]
    return trans_p * alphas, trans_p


def composite_ref(values: torch.Tensor, weights: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
    """Reference of :func:`redrive.ops.composite`."""
    squeeze = values.dim() == 1
    v = values[:, None] if squeeze else values
    out = torch.zeros(offsets.numel() - 1, v.shape[1], dtype=v.dtype, device=v.device)
    out = out.index_add(0, _ray_ids(offsets), v * weights[:, None])
    return out[:, 0] if squeeze else out


def merge_packed_ref(t_starts_list, offsets_list):
    """Reference of the ordering of :func:`redrive.ops.merge_packed`: returns ``(perm, source,
    offsets)`` for sets given by their ``t_starts`` and ``offsets``."""
    t = torch.cat(t_starts_list)
    rays = torch.cat([_ray_ids(o) for o in offsets_list])
    src = torch.cat([torch.full((ts.numel(),), i, dtype=torch.int64) for i, ts in enumerate(t_starts_list)])
    order = torch.sort(t, stable=True).indices
    order = order[torch.sort(rays[order], stable=True).indices]
    return order, src[order], torch.stack(offsets_list).sum(0)


def neus_alpha_ref(sdf, cos, dt, inv_s, eps: float = 1e-5):
    """Reference of :func:`redrive.ops.neus_alpha`."""
    prev = sdf - 0.5 * dt * cos
    nxt = sdf + 0.5 * dt * cos
    p = torch.sigmoid(prev * inv_s)
    q = torch.sigmoid(nxt * inv_s)
    return ((p - q + eps) / (p + eps)).clamp(0.0, 1.0)


def mlp_forward_ref(x, w1, b1, w2, b2):
    """Reference of :func:`redrive.ops.mlp_forward`."""
    return torch.nn.functional.linear(torch.relu(torch.nn.functional.linear(x, w1, b1)), w2, b2)


def _safe_inv(d: torch.Tensor) -> torch.Tensor:
    big = torch.where(d >= 0, torch.full_like(d, 1e30), torch.full_like(d, -1e30))
    return torch.where(d.abs() > 1e-20, 1.0 / d, big)


def _ray_aabb(o, inv_d, lo, hi):
    a = (lo - o) * inv_d
    b = (hi - o) * inv_d
    t0 = torch.minimum(a, b).amax(dim=-1).clamp_min(-1e30)
    t1 = torch.maximum(a, b).amin(dim=-1).clamp_max(1e30)
    return t0, t1


def ray_march_ref(rays_o, rays_d, occupied, config, march, near, far):
    """Reference of :func:`redrive.ops.ray_march`, vectorised over rays, one step per iteration.

    ``occupied`` is the ``[n_cells]`` bool mask (x fastest). Returns ``(ray_indices, t_starts,
    t_ends, counts)``. A step tests the cell at its midpoint: a sample where it is occupied, else a
    jump out of the largest empty box around it (its block, its aligned 4^3 or 2^3 group of cells
    where those are smaller than a block, or the cell).
    """
    dev = rays_o.device
    n = rays_o.shape[0]
    res = torch.tensor(config.resolution, device=dev)
    lo = torch.tensor(config.aabb[:3], dtype=torch.float32, device=dev)
    hi = torch.tensor(config.aabb[3:], dtype=torch.float32, device=dev)
    csz = (hi - lo) / res
    inv_csz = res / (hi - lo)
    cf = config.coarse_factor
    occ = occupied.reshape(config.resolution[2], config.resolution[1], config.resolution[0])

    def pooled(size):  # occupancy of aligned size^3 boxes: any of their cells
        pad = [(-r) % size for r in config.resolution]
        occp = torch.nn.functional.pad(occ.float()[None, None], (0, pad[0], 0, pad[1], 0, pad[2]))
        return torch.nn.functional.max_pool3d(occp, size)[0, 0] > 0

    # the boxes a step may leave, largest first (groups only where smaller than a block)
    boxes = [(cf, pooled(cf))] + [(s, pooled(s)) for s in (4, 2) if s < cf] + [(1, occ)]
    eps = 1e-5 * float(csz.min())

    # the ray in cell units: q = oq + dq * t; the plane q = c is reached at c * a + b
    b0, b1 = _ray_aabb(rays_o, _safe_inv(rays_d), lo, hi)
    oq = (rays_o - lo) * inv_csz
    dq = rays_d * inv_csz
    crosses = dq.abs() > 1e-20
    a_all = torch.where(crosses, 1.0 / torch.where(crosses, dq, torch.ones_like(dq)), torch.zeros_like(dq))
    b_all = torch.where(crosses, -oq * a_all, torch.full_like(dq, 1e30))

    def march_steps(scale, limit, out_r, out_t0, out_t1):
        t = torch.maximum(b0, near)
        tend = torch.minimum(b1, far)
        alive = (b0 <= b1) & (t < tend) & (limit > 0)
        count = torch.zeros(n, dtype=torch.int64, device=dev)
        while bool(alive.any()):
            idx = alive.nonzero()[:, 0]
            ti, te_lim = t[idx], tend[idx]
            dt = (ti * march.cone).clamp(march.dt_min, march.dt_max) * scale[idx]
            te = torch.minimum(ti + dt, te_lim)
            te = torch.where(te_lim - te < 1e-3 * dt, te_lim, te)
            tm = 0.5 * (ti + te)
            q = oq[idx] + dq[idx] * tm[:, None]
            ic = torch.floor(q).to(torch.int64)
            ic = torch.minimum(ic.clamp_min(0), res - 1)
            size = torch.zeros_like(idx)  # cells across the box to leave; 0: a sample
            for s, box_occ in reversed(boxes):  # the largest empty box wins
                c = ic // s
                size = torch.where(~box_occ[c[:, 2], c[:, 1], c[:, 0]], torch.full_like(size, s), size)
            emit = size == 0
            s_ = size.clamp_min(1)[:, None]
            plane = ic // s_ * s_ + torch.where(dq[idx] > 0, s_, torch.zeros_like(s_))
            exit = (plane.float() * a_all[idx] + b_all[idx]).amin(dim=-1)
            # at least eps on, else (eps below the float spacing) the step's end
            nxt = torch.maximum(exit, ti + eps)
            nxt = torch.where(nxt > ti, nxt, te)
            out_r.append(idx[emit])
            out_t0.append(ti[emit])
            out_t1.append(te[emit])
            new_t = torch.where(emit, te, nxt)
            t[idx] = new_t
            count[idx] += emit.to(torch.int64)
            alive[idx] = (new_t < te_lim) & (count[idx] < limit)
        return count

    # stretch: rays whose occupied cells hold more steps than the cap take longer steps
    scale = torch.ones(n, device=dev)
    if march.stretch and march.max_samples > 0:
        full = march_steps(scale, MAX_STRETCH * march.max_samples, [], [], [])
        over = full > march.max_samples
        scale = torch.where(over, (full.float() * 1.05) / march.max_samples, scale)
    out_r, out_t0, out_t1 = [], [], []
    count = march_steps(scale, march.max_samples, out_r, out_t0, out_t1)
    r = torch.cat(out_r) if out_r else torch.zeros(0, dtype=torch.int64, device=dev)
    t0 = torch.cat(out_t0) if out_t0 else torch.zeros(0, device=dev)
    t1 = torch.cat(out_t1) if out_t1 else torch.zeros(0, device=dev)
    order = torch.sort(t0, stable=True).indices
    order = order[torch.sort(r[order], stable=True).indices]
    return r[order], t0[order], t1[order], count


def ray_box_intersect_ref(rays_o, rays_d, frames, box_from_world, half_sizes, valid, near, far):
    """Reference of :func:`redrive.ops.ray_box_intersect`: dense [N, A] slab tests, then packed.

    Returns ``(ray_indices, actor_indices, t_in, t_out, counts)``."""
    n = rays_o.shape[0]
    n_actors = box_from_world.shape[1]
    M = box_from_world[frames]  # [N, A, 3, 4]
    R, tr = M[..., :3], M[..., 3]
    ol = torch.einsum("narc,nc->nar", R, rays_o) + tr
    dl = torch.einsum("narc,nc->nar", R, rays_d)
    t0, t1 = _ray_aabb(ol, _safe_inv(dl), -half_sizes[None], half_sizes[None])
    t0 = torch.maximum(t0, near[:, None])
    t1 = torch.minimum(t1, far[:, None])
    ok = valid[frames] & (t0 < t1)
    rr, aa = ok.nonzero(as_tuple=True)
    ti, to = t0[rr, aa], t1[rr, aa]
    order = torch.sort(ti, stable=True).indices
    order = order[torch.sort(rr[order], stable=True).indices]
    counts = ok.sum(1).to(torch.int64) if n_actors > 0 else torch.zeros(n, dtype=torch.int64)
    return rr[order], aa[order], ti[order], to[order], counts


@torch.no_grad()
def sphere_trace_ref(sdf_fn, rays_o, rays_d, near, far, max_steps=64, eps=1e-3, step_scale=1.0, refine_steps=6):
    """Reference of :func:`redrive.ops.sphere_trace`: one ray at a time, plain Python control flow."""
    n = rays_o.shape[0]
    t_out = near.clone()
    hit = torch.zeros(n, dtype=torch.bool)
    for r in range(n):
        t = float(near[r])
        lo = None  # (t, s) of the last sample outside
        hi = None
        n_ref = 0
        for it in range(max_steps + refine_steps):
            s = float(sdf_fn((rays_o[r] + rays_d[r] * t)[None]).reshape(-1)[0])
            if hi is None:  # marching
                if abs(s) < eps or (s < 0 and lo is None):
                    hit[r] = True
                    break
                if s < 0:
                    hi = (t, s)
                else:
                    lo = (t, s)
                    t = t + step_scale * s
                    if t > float(far[r]) or it + 1 >= max_steps:
                        break
                    continue
            else:  # refining inside the bracket
                if abs(s) < eps:
                    hit[r] = True
                    break
                if s > 0:
                    lo = (t, s)
                else:
                    hi = (t, s)
            if n_ref >= refine_steps:
                t = lo[0] + (hi[0] - lo[0]) * lo[1] / (lo[1] - hi[1])
                hit[r] = True
                break
            t = lo[0] + (hi[0] - lo[0]) * lo[1] / (lo[1] - hi[1])
            n_ref += 1
        t_out[r] = t
    hit &= (t_out >= near) & (t_out <= far)
    return t_out, hit
