from __future__ import annotations

import pytest
import torch

from redrive.ops import OpArgumentError, PackedSamples, composite, merge_packed, neus_alpha, render_weights
from redrive.ops import offsets_from_counts as make_offsets
from redrive.ops.reference import composite_ref, merge_packed_ref, neus_alpha_ref, render_weights_ref

COUNTS = {
    "empty": [],
    "rays-without-samples": [0, 0, 0],
    "mixed": [0, 3, 5, 1, 0, 7, 2],
    "long": [64, 1, 33],
}


def _alphas(n: int, dtype=torch.float32, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, generator=torch.Generator().manual_seed(seed), dtype=dtype)


@pytest.mark.parametrize("name", sorted(COUNTS))
def test_weights_match_reference(name):
    off = make_offsets(COUNTS[name])
    a = _alphas(int(off[-1]))
    if a.numel() > 3:
        a[1] = 1.0  # an opaque sample: everything behind it gets weight 0
        a[2] = 0.0
    w, t = render_weights(a, off)
    wr, tr = render_weights_ref(a, off)
    torch.testing.assert_close(w, wr)
    torch.testing.assert_close(t, tr)
    ag = a.clone().requires_grad_()
    gw, gt = torch.randn_like(a), torch.randn_like(a)
    w, t = render_weights(ag, off)
    ((w * gw).sum() + (t * gt).sum()).backward()
    ar = a.clone().requires_grad_()
    w, t = render_weights_ref(ar, off)
    ((w * gw).sum() + (t * gt).sum()).backward()
    if a.numel():
        torch.testing.assert_close(ag.grad, ar.grad, rtol=1e-5, atol=1e-5)


def test_weights_gradcheck_float64_with_opaque_sample():
    off = make_offsets([3, 0, 4, 1])
    a = _alphas(8, torch.float64, seed=1)
    a[4] = 1.0 - 1e-3  # nearly opaque: the backward does not divide by (1 - alpha)
    a.requires_grad_()
    assert torch.autograd.gradcheck(lambda a: render_weights(a, off), (a,))


def test_weights_gradient_exact_at_alpha_one():
    off = make_offsets([3])
    a = torch.tensor([0.5, 1.0, 0.3], dtype=torch.float64, requires_grad=True)
    w, _ = render_weights(a, off)
    w.sum().backward()
    ar = a.detach().clone().requires_grad_()
    render_weights_ref(ar, off)[0].sum().backward()
    assert torch.isfinite(a.grad).all()
    torch.testing.assert_close(a.grad, ar.grad)


@pytest.mark.parametrize("name", sorted(COUNTS))
@pytest.mark.parametrize("channels", [None, 1, 3, 8])
def test_composite_matches_reference(name, channels):
    off = make_offsets(COUNTS[name])
    m = int(off[-1])
    g = torch.Generator().manual_seed(2)
    v = torch.randn(m, generator=g) if channels is None else torch.randn(m, channels, generator=g)
    w = torch.rand(m, generator=g)
    out = composite(v, w, off)
    torch.testing.assert_close(out, composite_ref(v, w, off))
    vg, wg = v.clone().requires_grad_(), w.clone().requires_grad_()
    go = torch.randn_like(out)
    (composite(vg, wg, off) * go).sum().backward()
    vr, wr = v.clone().requires_grad_(), w.clone().requires_grad_()
    (composite_ref(vr, wr, off) * go).sum().backward()
    if m:
        torch.testing.assert_close(vg.grad, vr.grad)
        torch.testing.assert_close(wg.grad, wr.grad, rtol=1e-5, atol=1e-5)


def test_composite_gradcheck_float64():
    off = make_offsets([2, 0, 3])
    v = torch.randn(5, 3, dtype=torch.float64, requires_grad=True)
    w = torch.rand(5, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda v, w: composite(v, w, off), (v, w))


def test_weights_then_composite_chain():
    """The renderer's chain: alphas -> weights -> colour, depth and opacity."""
    off = make_offsets([4, 0, 6])
    a = _alphas(10, torch.float64, seed=3).requires_grad_()
    rgb = torch.rand(10, 3, dtype=torch.float64, requires_grad=True)

    def render(a, rgb, w_fn, c_fn):
        w, _ = w_fn(a, off)
        return c_fn(rgb, w, off), c_fn(torch.ones_like(a), w, off)

    c, acc = render(a, rgb, render_weights, composite)
    cr, accr = render(a, rgb, render_weights_ref, composite_ref)
    torch.testing.assert_close(c, cr)
    torch.testing.assert_close(acc, accr)
    assert torch.autograd.gradcheck(lambda a, rgb: render(a, rgb, render_weights, composite), (a, rgb))


def _packed(counts, seed):
    off = make_offsets(counts)
    g = torch.Generator().manual_seed(seed)
    t0 = []
    for c in counts:
        t0.append(torch.sort(torch.rand(c, generator=g) * 10).values)
    t0 = torch.cat(t0) if t0 else torch.zeros(0)
    return PackedSamples(
        torch.repeat_interleave(torch.arange(len(counts)), torch.tensor(counts, dtype=torch.int64)), t0, t0 + 0.1, off
    )


@pytest.mark.parametrize("n_sets", [1, 2, 3, 5])
def test_merge_matches_reference(n_sets):
    sets = [_packed([i % 3, 0, 4, (i * 2) % 5, 1], seed=i) for i in range(n_sets)]
    # A tie across sets: set order decides.
    if n_sets >= 2:
        sets[1].t_starts[sets[1].offsets[2]] = sets[0].t_starts[sets[0].offsets[2]]
    merged, perm, source = merge_packed(sets)
    ref_perm, ref_src, ref_off = merge_packed_ref([s.t_starts for s in sets], [s.offsets for s in sets])
    assert torch.equal(perm, ref_perm) and torch.equal(source, ref_src) and torch.equal(merged.offsets, ref_off)
    all_t = torch.cat([s.t_starts for s in sets])
    assert torch.equal(merged.t_starts, all_t[perm])
    for r in range(merged.n_rays):
        seg = merged.t_starts[merged.offsets[r] : merged.offsets[r + 1]]
        assert torch.all(seg[1:] >= seg[:-1])
    assert torch.equal(merged.ray_indices, torch.repeat_interleave(torch.arange(merged.n_rays), merged.counts))


def test_merge_many_sets_and_empty():
    sets = [_packed([1, 0, 2], seed=i) for i in range(40)]
    merged, perm, source = merge_packed(sets)
    ref_perm, ref_src, ref_off = merge_packed_ref([s.t_starts for s in sets], [s.offsets for s in sets])
    assert torch.equal(merged.offsets, ref_off)
    # More than 32 sets are merged in rounds; ties between rounds can order differently, so
    # compare the sorted t per ray and the source of each value.
    all_t = torch.cat([s.t_starts for s in sets])
    torch.testing.assert_close(merged.t_starts, all_t[ref_perm])
    sizes = torch.tensor([s.n_samples for s in sets])
    set_of = torch.repeat_interleave(torch.arange(40), sizes)
    assert torch.equal(source, set_of[perm])
    empty = [_packed([0, 0], seed=0), _packed([0, 0], seed=1)]
    merged, perm, source = merge_packed(empty)
    assert merged.n_samples == 0 and merged.n_rays == 2


def test_merge_rejects_mismatched_rays():
    with pytest.raises(OpArgumentError, match="rays"):
        merge_packed([_packed([1, 2], 0), _packed([1], 1)])


@pytest.mark.parametrize("n", [0, 1, 1000])
def test_neus_alpha_matches_reference(n):
    g = torch.Generator().manual_seed(4)
    sdf = torch.randn(n, generator=g) * 0.2
    cos = -torch.rand(n, generator=g)
    dt = torch.rand(n, generator=g) * 0.05
    if n > 3:
        dt[0], sdf[0] = 0.0, 0.1  # zero-length section: opacity 0 (up to the 1e-5 regulariser)
        cos[1] = 0.3  # leaving the surface: clamped to 0
    inv_s = torch.tensor([20.0])
    a = neus_alpha(sdf, cos, dt, inv_s)
    torch.testing.assert_close(a, neus_alpha_ref(sdf, cos, dt, inv_s))
    if n > 3:
        assert float(a[0]) < 1e-4 and float(a[1]) == 0.0
    ins = [t.clone().requires_grad_() for t in (sdf, cos, dt, inv_s)]
    ga = torch.randn(n, generator=g)
    (neus_alpha(*ins) * ga).sum().backward()
    ref = [t.clone().requires_grad_() for t in (sdf, cos, dt, inv_s)]
    (neus_alpha_ref(*ref) * ga).sum().backward()
    for a_, b_ in zip(ins, ref):
        scale = max(1.0, float(b_.grad.abs().max())) if b_.grad.numel() else 1.0
        torch.testing.assert_close(a_.grad, b_.grad, rtol=1e-4, atol=1e-4 * scale)


def test_neus_alpha_gradcheck_float64():
    g = torch.Generator().manual_seed(5)
    sdf = (torch.randn(12, generator=g, dtype=torch.float64) * 0.1).requires_grad_()
    cos = (-torch.rand(12, generator=g, dtype=torch.float64)).requires_grad_()
    dt = (torch.rand(12, generator=g, dtype=torch.float64) * 0.1 + 0.01).requires_grad_()
    inv_s = torch.tensor([8.0], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(neus_alpha, (sdf, cos, dt, inv_s))


def test_bad_offsets():
    with pytest.raises(OpArgumentError, match="sample count"):
        render_weights(torch.rand(5), make_offsets([2, 2]))
    with pytest.raises(OpArgumentError, match="int64"):
        composite(torch.rand(4, 3), torch.rand(4), make_offsets([4]).to(torch.int32))
