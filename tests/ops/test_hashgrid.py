from __future__ import annotations

from pathlib import Path

import pytest
import torch

from redrive.ops import _ext
from redrive.ops import HashGrid, HashGridConfig, OpArgumentError, hash_grid_encode
from redrive.ops.reference import hash_grid_encode_ref

CONFIGS = {
    "small-dense": HashGridConfig(n_levels=2, n_features_per_level=2, log2_hashmap_size=12, base_resolution=2, finest_resolution=6),
    "mixed": HashGridConfig(n_levels=6, n_features_per_level=2, log2_hashmap_size=10, base_resolution=4, finest_resolution=96),
    "f1": HashGridConfig(n_levels=4, n_features_per_level=1, log2_hashmap_size=8, base_resolution=3, finest_resolution=40),
    "f4": HashGridConfig(n_levels=3, n_features_per_level=4, log2_hashmap_size=9, base_resolution=5, finest_resolution=50),
    "f8": HashGridConfig(n_levels=2, n_features_per_level=8, log2_hashmap_size=7, base_resolution=8, finest_resolution=64),
    # Few rows, one dense and two hashed levels: numerical Jacobians stay cheap.
    "tiny": HashGridConfig(n_levels=3, n_features_per_level=2, log2_hashmap_size=5, base_resolution=2, finest_resolution=9),
    "tiny-f4": HashGridConfig(n_levels=2, n_features_per_level=4, log2_hashmap_size=4, base_resolution=1, finest_resolution=5),
    "micro": HashGridConfig(n_levels=2, n_features_per_level=1, log2_hashmap_size=4, base_resolution=1, finest_resolution=3),
}


def _points(n: int, seed: int = 0, dtype=torch.float32) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 3, generator=g, dtype=dtype)
    if n >= 8:
        # Edge cases: cube corners/faces (x == 1 takes the last cell with f == 1) and points
        # outside the cube (clamped).
        x[0] = torch.tensor([0.0, 0.0, 0.0])
        x[1] = torch.tensor([1.0, 1.0, 1.0])
        x[2] = torch.tensor([1.0, 0.5, 0.0])
        x[3] = torch.tensor([-0.25, 0.5, 1.5])
        x[4] = torch.tensor([0.5, 2.0, -1.0])
    return x


def _table(cfg: HashGridConfig, dtype=torch.float32, seed: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(cfg.n_rows, cfg.n_features_per_level, generator=g, dtype=dtype)


@pytest.mark.parametrize("name", sorted(CONFIGS))
@pytest.mark.parametrize("n", [0, 1, 7, 500])
def test_forward_matches_reference(name, n):
    cfg = CONFIGS[name]
    x, t = _points(n), _table(cfg)
    out = hash_grid_encode(x, t, cfg)
    assert out.shape == (n, cfg.out_dim)
    torch.testing.assert_close(out, hash_grid_encode_ref(x, t, cfg), rtol=1e-5, atol=1e-5)


def _kernel_and_reference_grads(cfg: HashGridConfig, x0: torch.Tensor, t0: torch.Tensor, g: torch.Tensor) -> list:
    """[(x.grad, table.grad) of the kernel, the same of the reference] for the loss sum(out * g)."""
    grads = []
    for fn in (hash_grid_encode, hash_grid_encode_ref):
        x, t = x0.clone().requires_grad_(), t0.clone().requires_grad_()
        (fn(x, t, cfg) * g).sum().backward()
        grads.append((x.grad, t.grad))
    return grads


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_backward_matches_reference(name):
    cfg = CONFIGS[name]
    g = torch.randn(300, cfg.out_dim, generator=torch.Generator().manual_seed(3))
    grads = _kernel_and_reference_grads(cfg, _points(300), _table(cfg), g)
    torch.testing.assert_close(grads[0][1], grads[1][1], rtol=1e-4, atol=1e-4)
    # x gradients scale with the finest resolution.
    torch.testing.assert_close(grads[0][0], grads[1][0], rtol=1e-4, atol=1e-3 * cfg.finest_resolution)
    assert torch.all(grads[0][0][3, [0, 2]] == 0) and torch.all(grads[0][0][4, [1, 2]] == 0)  # clamped axes


@pytest.mark.parametrize("path", ["simd", "scalar"])
def test_backward_over_several_point_blocks(monkeypatch, path):
    """More points than one block of the CPU backward (32768; it copies each block's grad_out
    level-major per thread) and a partial last block, with 5 levels over 2 threads (3 and 2)."""
    monkeypatch.setenv("REDRIVE_SCALAR_KERNELS", "1" if path == "scalar" else "0")
    cfg = HashGridConfig(n_levels=5, n_features_per_level=2, log2_hashmap_size=10, base_resolution=4, finest_resolution=80)
    n = 2 * 32768 + 37
    g = torch.randn(n, cfg.out_dim, generator=torch.Generator().manual_seed(6))
    grads = _kernel_and_reference_grads(cfg, _points(n, seed=5), _table(cfg), g)
    torch.testing.assert_close(grads[0][1], grads[1][1], rtol=1e-4, atol=1e-3)
    torch.testing.assert_close(grads[0][0], grads[1][0], rtol=1e-4, atol=1e-3 * cfg.finest_resolution)


@pytest.mark.parametrize("path", ["simd", "scalar"])
@pytest.mark.parametrize("n", [0, 37, 32768 + 5])
def test_uninitialised_table_gradient_is_zeroed_by_the_kernel(monkeypatch, path, n):
    """A table gradient buffer passed as uninitialised (as a missing ``table.grad`` is created)
    ends exactly as a zeroed one, rows no point touches included: the kernels zero each level
    before adding, first and second order, and with no points at all."""
    monkeypatch.setenv("REDRIVE_SCALAR_KERNELS", "1" if path == "scalar" else "0")
    ext = _ext.load_cpu()
    cfg = CONFIGS["mixed"]
    args = cfg._kernel_args()
    x, t = _points(n, seed=8) if n else torch.zeros(0, 3), _table(cfg)
    g = torch.randn(n, cfg.out_dim, generator=torch.Generator().manual_seed(9))
    ggx = torch.randn(n, 3, generator=torch.Generator().manual_seed(10))
    calls = {
        "backward": lambda into, uninit: ext.hashgrid_backward(x, t, g, True, False, *args, into, uninit),
        "backward_backward": lambda into, uninit: ext.hashgrid_backward_backward(x, t, g, ggx, True, False, False, *args,
                                                                                 into, uninit),
    }
    for name, call in calls.items():
        zeroed, garbage = torch.zeros_like(t), torch.full_like(t, float("nan"))
        call(zeroed, False)
        call(garbage, True)
        assert torch.equal(garbage, zeroed), name
        assert torch.equal(call(None, False)[0], zeroed), name  # the kernel's own new gradient


def test_only_table_or_only_x_gradient():
    cfg = CONFIGS["mixed"]
    x, t = _points(50), _table(cfg).requires_grad_()
    hash_grid_encode(x, t, cfg).sum().backward()
    ref_t = t.detach().clone().requires_grad_()
    hash_grid_encode_ref(x, ref_t, cfg).sum().backward()
    torch.testing.assert_close(t.grad, ref_t.grad, rtol=1e-4, atol=1e-4)
    xg = x.clone().requires_grad_()
    (gx,) = torch.autograd.grad(hash_grid_encode(xg, t.detach(), cfg).sum(), xg)
    xr = x.clone().requires_grad_()
    (gr,) = torch.autograd.grad(hash_grid_encode_ref(xr, t.detach(), cfg).sum(), xr)
    torch.testing.assert_close(gx, gr, rtol=1e-4, atol=1e-2)


@pytest.mark.parametrize("name", ["tiny", "tiny-f4"])
def test_gradcheck_float64(name):
    cfg = CONFIGS[name]
    # Keep points away from cell faces, where the trilinear interpolation has kinks.
    x = _points(12, dtype=torch.float64)[5:].clamp(0.02, 0.98).requires_grad_()
    t = _table(cfg, torch.float64).requires_grad_()
    assert torch.autograd.gradcheck(lambda x, t: hash_grid_encode(x, t, cfg), (x, t), eps=1e-6, atol=1e-5)


@pytest.mark.parametrize("name,fast", [("tiny", True), ("tiny-f4", True), ("micro", False)])
def test_gradgradcheck_float64(name, fast):
    """Second order: the backward (to x and to the table) is itself differentiable."""
    cfg = CONFIGS[name]
    # Random points only (the edge-case rows sit on cell faces, where d/dx is discontinuous).
    x = _points(13 if fast else 8, seed=2, dtype=torch.float64)[5:].clamp(0.02, 0.98).requires_grad_()
    t = _table(cfg, torch.float64).requires_grad_()
    # fast_mode checks random projections of the Jacobians; the full check runs on the smallest
    # grid only (it costs one backward per table entry).
    assert torch.autograd.gradgradcheck(
        lambda x, t: hash_grid_encode(x, t, cfg), (x, t), eps=1e-6, atol=1e-4, fast_mode=fast
    )


def test_eikonal_loss_gradients_match_reference():
    """The eikonal path: d/d(table, mlp) of || d sdf / dx ||, kernel vs pure torch."""
    cfg = CONFIGS["mixed"]
    x0, t0 = _points(200)[5:], _table(cfg) * 0.1
    torch.manual_seed(0)
    mlp = torch.nn.Sequential(torch.nn.Linear(cfg.out_dim, 16), torch.nn.Softplus(), torch.nn.Linear(16, 1))
    results = []
    for fn in (hash_grid_encode, hash_grid_encode_ref):
        mlp.zero_grad()
        x, t = x0.clone().requires_grad_(), t0.clone().requires_grad_()
        sdf = mlp(fn(x, t, cfg))
        (n,) = torch.autograd.grad(sdf.sum(), x, create_graph=True)
        loss = ((n.norm(dim=-1) - 1.0) ** 2).mean()
        loss.backward()
        results.append((n.detach(), t.grad.clone(), mlp[0].weight.grad.clone(), x.grad.clone()))
    for a, b in zip(results[0], results[1]):
        torch.testing.assert_close(a, b, rtol=1e-3, atol=1e-4 * max(1.0, float(b.abs().max())))


@pytest.mark.filterwarnings("ignore:Using backward\\(\\) with create_graph=True")
def test_table_gradient_added_in_place_matches_reference(monkeypatch):
    """Several queries of one table in a loss (as a training step makes), two backward passes
    accumulating, a gradient already there: ``table.grad`` is what the pure-torch encoding gives,
    and the kernel added to it directly (no dense gradient per query)."""
    import redrive.ops.hashgrid as hg

    cfg = CONFIGS["mixed"]
    direct = []

    class RecordingSink(hg._TableGradSink):
        def __init__(self, *args):
            super().__init__(*args)
            direct.append(self.into)

    monkeypatch.setattr(hg, "_TableGradSink", RecordingSink)
    torch.manual_seed(0)
    mlp = torch.nn.Sequential(torch.nn.Linear(cfg.out_dim, 16), torch.nn.Softplus(), torch.nn.Linear(16, 1))
    grads = []
    for fn in (hash_grid_encode, hash_grid_encode_ref):
        t = (_table(cfg) * 0.1).requires_grad_()
        t.grad = torch.full_like(t, 0.5)
        for seed in (3, 4):
            xs = [_points(300, seed=seed + 10 * k).requires_grad_() for k in range(3)]
            loss = sum(mlp(fn(x, t, cfg)).square().mean() for x in xs[:2])
            (n,) = torch.autograd.grad(mlp(fn(xs[2], t, cfg)).sum(), xs[2], create_graph=True)
            (loss + n.norm(dim=-1).sub(1.0).square().mean()).backward()
        grads.append(t.grad.clone())
    torch.testing.assert_close(grads[0], grads[1], rtol=1e-3, atol=1e-5)
    assert sum(d is not None for d in direct) >= 6  # 3 queries + 1 second-order term, twice
    # a backward pass that does not update the table leaves its gradient alone
    t = _table(cfg).requires_grad_()
    x = _points(50).requires_grad_()
    hash_grid_encode(x, t, cfg).sum().backward(inputs=[x])
    assert t.grad is None and x.grad is not None
    # nor one that builds a graph: its table gradient stays differentiable
    mlp(hash_grid_encode(x, t, cfg)).square().sum().backward(create_graph=True)
    assert t.grad is not None and t.grad.requires_grad
    t.grad = None  # the cycle parameter <-> gradient that create_graph leaves


def test_half_table_forward_and_grads():
    cfg = CONFIGS["mixed"]
    x, t32 = _points(400), _table(cfg)
    t16 = t32.half()
    ref = hash_grid_encode_ref(x, t16.float(), cfg)
    torch.testing.assert_close(hash_grid_encode(x, t16, cfg), ref, rtol=1e-5, atol=1e-5)
    # float32 master table read through a float16 copy: gradients land on the float32 table.
    t = t32.clone().requires_grad_()
    out = hash_grid_encode(x, t, cfg, read_table=t16)
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)
    out.sum().backward()
    tr = t32.clone().requires_grad_()
    hash_grid_encode_ref(x, tr, cfg).sum().backward()
    assert t.grad.dtype == torch.float32
    torch.testing.assert_close(t.grad, tr.grad, rtol=1e-4, atol=1e-4)
    # A float16 parameter gets a float16 gradient.
    th = t16.clone().requires_grad_()
    hash_grid_encode(x, th, cfg).sum().backward()
    assert th.grad.dtype == torch.float16
    torch.testing.assert_close(th.grad.float(), tr.grad, rtol=1e-2, atol=1e-2)


def test_module_float16_storage_tracks_updates():
    cfg = CONFIGS["mixed"]
    enc = HashGrid(cfg, storage="float16", backend="redrive")
    x = _points(64)
    with torch.no_grad():
        enc.table.normal_()
    torch.testing.assert_close(enc(x), hash_grid_encode_ref(x, enc.table.detach().half().float(), cfg), rtol=1e-5, atol=1e-5)
    opt = torch.optim.SGD(enc.parameters(), lr=1.0)
    enc(x).square().sum().backward()
    opt.step()  # the half copy must be refreshed after an in-place update
    torch.testing.assert_close(enc(x), hash_grid_encode_ref(x, enc.table.detach().half().float(), cfg), rtol=1e-5, atol=1e-5)


def test_tiny_configs_mix_dense_and_hashed_levels():
    for name in ("tiny", "tiny-f4", "micro"):
        assert CONFIGS[name].dense_levels[0] and not CONFIGS[name].dense_levels[-1]


def test_config_layout():
    cfg = HashGridConfig()  # the benchmark configuration
    assert cfg.out_dim == 32 and len(cfg.resolutions) == 16
    assert cfg.resolutions[0] == 16 and cfg.resolutions[-1] == 2048
    assert cfg.dense_levels[0] and not cfg.dense_levels[-1]
    assert all(b > a for a, b in zip(cfg.level_offsets, cfg.level_offsets[1:]))
    assert cfg.n_rows <= 16 * 2**17


def test_bad_arguments():
    cfg = CONFIGS["mixed"]
    with pytest.raises(OpArgumentError, match="x must have shape"):
        hash_grid_encode(torch.rand(4, 2), _table(cfg), cfg)
    with pytest.raises(OpArgumentError, match="table must have shape"):
        hash_grid_encode(torch.rand(4, 3), torch.zeros(3, 2), cfg)
    with pytest.raises(OpArgumentError, match="dtype"):
        hash_grid_encode(torch.rand(4, 3).to(torch.int32), _table(cfg), cfg)
    with pytest.raises(OpArgumentError, match="n_features_per_level"):
        HashGridConfig(n_features_per_level=3)


def _cpu_has_avx2_fma() -> bool:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    flags = next((ln for ln in text.splitlines() if ln.startswith("flags")), "").split()
    return "avx2" in flags and "fma" in flags


def test_simd_switch(monkeypatch):
    ext = _ext.load_cpu()
    monkeypatch.setenv("REDRIVE_SCALAR_KERNELS", "1")
    assert not ext.hashgrid_simd_active()
    monkeypatch.setenv("REDRIVE_SCALAR_KERNELS", "0")
    # The extension is built with -march=native, so an AVX2 + FMA CPU gets the SIMD loops.
    assert ext.hashgrid_simd_active() == _cpu_has_avx2_fma()


def _encode_with_grads(x0, t0, cfg, g, read_half: bool):
    """Output, grad_x and grad_table (float32 master table, optionally read through fp16)."""
    x, t = x0.clone().requires_grad_(), t0.clone().requires_grad_()
    out = hash_grid_encode(x, t, cfg, read_table=t0.half() if read_half else None)
    (out * g).sum().backward()
    return out.detach(), x.grad, t.grad


@pytest.mark.parametrize("path", ["simd", "scalar"])
@pytest.mark.parametrize("name", ["mixed", "f1", "f4", "f8"])
@pytest.mark.parametrize("read_half", [False, True])
def test_simd_and_scalar_paths_match_reference(monkeypatch, path, name, read_half):
    # 203 points: 25 groups of 8 plus a 3-point tail, with corner, face and outside points.
    monkeypatch.setenv("REDRIVE_SCALAR_KERNELS", "1" if path == "scalar" else "0")
    cfg = CONFIGS[name]
    x0, t0 = _points(203, seed=5), _table(cfg, seed=6)
    g = torch.randn(203, cfg.out_dim, generator=torch.Generator().manual_seed(7))
    out, gx, gt = _encode_with_grads(x0, t0, cfg, g, read_half)
    xr = x0.clone().requires_grad_()
    tr = (t0.half().float() if read_half else t0.clone()).requires_grad_()
    ref = hash_grid_encode_ref(xr, tr, cfg)
    (ref * g).sum().backward()
    torch.testing.assert_close(out, ref.detach(), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(gt, tr.grad, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(gx, xr.grad, rtol=1e-3, atol=1e-4 * max(1.0, float(xr.grad.abs().max())))


def test_simd_and_scalar_paths_agree_closely(monkeypatch):
    # Same math in both paths: only fp32 rounding (FMA, product order) may differ.
    cfg = HashGridConfig(n_levels=8, n_features_per_level=2, log2_hashmap_size=12, base_resolution=4, finest_resolution=600)
    x0, t0 = _points(4099, seed=8), _table(cfg, seed=9)
    g = torch.randn(4099, cfg.out_dim, generator=torch.Generator().manual_seed(10))
    results = {}
    for mode in ("0", "1"):
        monkeypatch.setenv("REDRIVE_SCALAR_KERNELS", mode)
        results[mode] = _encode_with_grads(x0, t0, cfg, g, read_half=True)
    for a, b in zip(results["0"], results["1"]):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5 * max(1.0, float(b.abs().max())))
