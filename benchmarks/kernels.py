"""Speed of the native kernels (redrive.ops) against their pure-torch references, on 2 threads.

    python benchmarks/kernels.py [--quick] [--json PATH]

Every figure is a median of several runs after a warm-up; each kernel's pure-torch reference
(redrive/ops/reference.py) is measured in the same run, so ``*_ratio_vs_reference`` holds on a
noisy machine. The hash grid is also compared with the machine's gather-rate limit: the same
number of random table-row reads per point (8 corners x 16 levels) from a table of the same
size, with no arithmetic: ``hashgrid_*_frac_of_gather_limit`` reads the figure as a fraction of
what memory allows (it can exceed 1: neighbouring corners share cache lines, sorted points
share cells). Ray marching likewise gets its output-write limit: fresh packed outputs of the
benchmark's size written once, which bounds any marcher at that sample density
(``raymarch_frac_of_output_write_limit``).
"""

from __future__ import annotations

import math
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _common import BenchmarkReport, median_cpu_time, median_time, paired_median_times, standard_parser  # noqa: E402

import torch  # noqa: E402 (after _common, which sets up OpenMP through redrive)

from redrive.ops import (  # noqa: E402
    HashGridConfig,
    MarchConfig,
    OccupancyGrid,
    OccupancyGridConfig,
    composite,
    hash_grid_encode,
    neus_alpha,
    ray_box_intersect,
    ray_march,
    render_weights,
)
from redrive.ops import _ext  # noqa: E402
from redrive.ops import reference as ref  # noqa: E402


def _points_along_rays(n: int, seed: int = 0) -> torch.Tensor:
    """Points as a renderer produces them: sorted by ray, 256 samples along each ray."""
    g = torch.Generator().manual_seed(seed)
    per_ray = 256
    rays = n // per_ray
    o = torch.rand(rays, 1, 3, generator=g) * 0.5 + 0.25
    d = torch.nn.functional.normalize(torch.randn(rays, 1, 3, generator=g), dim=-1)
    t = torch.linspace(0.0, 0.4, per_ray)[None, :, None]
    return (o + d * t).reshape(-1, 3).clamp(0.0, 1.0).contiguous()


def bench_hashgrid(report: BenchmarkReport, quick: bool) -> None:
    cfg = HashGridConfig(n_levels=16, n_features_per_level=2, log2_hashmap_size=17, base_resolution=16, finest_resolution=2048)
    n = 2**18
    reps = 3 if quick else 7
    report.section(
        f"Hash grid: {n} points, {cfg.n_levels} levels x {cfg.n_features_per_level} features, table 2^{cfg.log2_hashmap_size} "
        f"({cfg.n_rows} rows, {cfg.n_rows * cfg.n_features_per_level * 4 / 2**20:.1f} MiB fp32)"
    )
    table = cfg.init_table().requires_grad_()
    half = table.detach().half()
    ext = _ext.load_cpu()
    sorted_x = _points_along_rays(n)
    random_x = torch.rand(n, 3, generator=torch.Generator().manual_seed(1))

    def fwd(x, rt):
        with torch.no_grad():
            hash_grid_encode(x, table, cfg, rt)

    def fwd_bwd(x, rt):
        table.grad = None
        out = hash_grid_encode(x, table, cfg, rt)
        out.backward(torch.ones_like(out))

    def fwd_bwd_x(x, rt):
        table.grad = None
        xg = x.detach().requires_grad_()
        out = hash_grid_encode(xg, table, cfg, rt)
        out.backward(torch.ones_like(out))

    mpts = lambda t: n / t / 1e6  # noqa: E731
    figs = {}
    for pts_name, x in (("sorted", sorted_x), ("random", random_x)):
        for tab_name, rt in (("fp32", None), ("fp16", half)):
            key = f"{pts_name}_{tab_name}"
            figs[f"fwd_{key}"] = report.add(
                f"hashgrid_fwd_{key}_mpts_s", mpts(median_time(lambda: fwd(x, rt), reps)), f"forward, {pts_name} points, {tab_name} table (M pts/s)"
            )
            figs[f"fb_{key}"] = report.add(
                f"hashgrid_fwd_bwd_{key}_mpts_s", mpts(median_time(lambda: fwd_bwd(x, rt), reps)),
                f"forward+backward (table), {pts_name}, {tab_name} (M pts/s)",
            )
        figs[f"fbx_{pts_name}"] = report.add(
            f"hashgrid_fwd_bwd_x_{pts_name}_fp16_mpts_s", mpts(median_time(lambda: fwd_bwd_x(x, half), reps)),
            f"forward+backward (table and x), {pts_name}, fp16 (M pts/s)",
        )

    # Pure-torch reference, timed in alternation with the kernel on the same points so that the
    # ratio is fair on a shared machine. All the benchmark's points: both sides run faster per
    # point on more sorted points (more of them share cells), the reference's forward+backward by
    # 18 % from 2^16 to 2^18 points, so a ratio taken on fewer points is not the one at this size.
    n_ref = n if not quick else n // 16
    xr = sorted_x[:n_ref]

    def ref_fwd():
        with torch.no_grad():
            ref.hash_grid_encode_ref(xr, table, cfg)

    def ref_fwd_bwd():
        table.grad = None
        out = ref.hash_grid_encode_ref(xr, table, cfg)
        out.backward(torch.ones_like(out))

    best = "fp16" if figs["fwd_sorted_fp16"] >= figs["fwd_sorted_fp32"] else "fp32"
    rt_best = half if best == "fp16" else None
    # The same forward+backward as bare extension calls adding into a gradient buffer and reading
    # an output gradient that persist between runs: what the kernels themselves take, without the
    # fresh tensors (zeroed table gradient, output gradient) that a call through autograd allocates
    # and first-touches each time.
    args = cfg._kernel_args()
    read = (rt_best if rt_best is not None else table).detach()
    grad_buf, gout_buf = torch.zeros_like(table), torch.ones(n_ref, cfg.out_dim)

    def kernels_fwd_bwd():
        ext.hashgrid_forward(xr, read, *args)
        ext.hashgrid_backward(xr, read, gout_buf, True, False, *args, grad_buf, False)

    pr = paired_median_times(
        {"k_f": lambda: fwd(xr, rt_best), "r_f": ref_fwd, "k_fb": lambda: fwd_bwd(xr, rt_best), "r_fb": ref_fwd_bwd,
         "k_fb_bare": kernels_fwd_bwd},
        repeats=3 if quick else 5,
    )
    report.add("hashgrid_ref_fwd_mpts_s", n_ref / pr["r_f"] / 1e6, "pure-torch reference forward (M pts/s)")
    report.add("hashgrid_ref_fwd_bwd_mpts_s", n_ref / pr["r_fb"] / 1e6, "pure-torch reference forward+backward (M pts/s)")
    report.add("hashgrid_fwd_bwd_bare_mpts_s", n_ref / pr["k_fb_bare"] / 1e6,
               "forward+backward as bare extension calls into persistent buffers (M pts/s)")
    report.add("hashgrid_fwd_bwd_outside_kernels_frac", 1.0 - pr["k_fb_bare"] / pr["k_fb"],
               "share of the autograd forward+backward spent outside the kernels (fresh tensors, autograd)")
    # On an oversubscribed machine every 2-thread parallel region waits for a descheduled thread,
    # which penalises the reference (thousands of small ops) far more than the kernel (a few
    # long regions): CPU-time figures for both give the fairer ratio.
    nt = torch.get_num_threads()
    cpu = {
        "k_f": median_cpu_time(lambda: fwd(xr, rt_best), 3),
        "r_f": median_cpu_time(ref_fwd, 3),
        "k_fb": median_cpu_time(lambda: fwd_bwd(xr, rt_best), 3),
        "r_fb": median_cpu_time(ref_fwd_bwd, 3),
    }
    report.add("hashgrid_ref_fwd_cpu_mpts_s", n_ref * nt / cpu["r_f"] / 1e6, "pure-torch reference forward (M pts/s from CPU time)")
    report.add("hashgrid_ref_fwd_bwd_cpu_mpts_s", n_ref * nt / cpu["r_fb"] / 1e6, "pure-torch reference forward+backward (M pts/s from CPU time)")

    # Like for like: one thread each, CPU time, alternated, on 2^15 points. Contention on the
    # shared machine cannot favour either side here, so this is the ratio to quote.
    n1 = 2**13 if quick else 2**15
    x1 = sorted_x[:n1]
    torch.set_num_threads(1)
    try:
        res: dict[str, list[float]] = {"kf": [], "rf": [], "kfb": [], "rfb": []}
        runs = {
            "kf": lambda: fwd(x1, rt_best),
            "rf": lambda: ref.hash_grid_encode_ref(x1, table.detach(), cfg),
            "kfb": lambda: fwd_bwd(x1, rt_best),
            "rfb": lambda: ref_fwd_bwd_on(x1),
        }

        def ref_fwd_bwd_on(pts):
            table.grad = None
            out = ref.hash_grid_encode_ref(pts, table, cfg)
            out.backward(torch.ones_like(out))

        for fn in runs.values():
            fn()
        for _ in range(3 if quick else 5):
            for k, fn in runs.items():
                t0 = time.process_time()
                fn()
                res[k].append(time.process_time() - t0)
        med = {k: statistics.median(v) for k, v in res.items()}
    finally:
        torch.set_num_threads(nt)
    report.section(f"Hash grid, one thread each, CPU time, alternated ({n1} points, {best} table)")
    report.add("hashgrid_1t_fwd_mpts_s", n1 / med["kf"] / 1e6, "kernel forward, 1 thread (M pts/s)")
    report.add("hashgrid_1t_ref_fwd_mpts_s", n1 / med["rf"] / 1e6, "reference forward, 1 thread (M pts/s)")
    report.add("hashgrid_1t_fwd_bwd_mpts_s", n1 / med["kfb"] / 1e6, "kernel forward+backward, 1 thread (M pts/s)")
    report.add("hashgrid_1t_ref_fwd_bwd_mpts_s", n1 / med["rfb"] / 1e6, "reference forward+backward, 1 thread (M pts/s)")
    report.add("hashgrid_1t_fwd_ratio_vs_reference", med["rf"] / med["kf"], "forward speed-up vs reference, 1 thread each")
    report.add("hashgrid_1t_fwd_bwd_ratio_vs_reference", med["rfb"] / med["kfb"], "forward+backward speed-up vs reference, 1 thread each")

    # Gather-rate limit: random rows of F floats from tables of the same byte size.
    reads = 8 * cfg.n_levels
    rows32 = 2 ** int(math.floor(math.log2(cfg.n_rows)))  # power of two for the probe's mask
    limits = {}
    for name, rows in (("fp32", rows32), ("fp16", rows32 // 2)):
        probe = torch.zeros(rows, cfg.n_features_per_level)
        t = median_time(lambda: ext.gather_probe(probe, n, reads), reps)
        limits[name] = report.add(
            f"gather_limit_{name}_table_mpts_s", n / t / 1e6,
            f"gather limit, {reads} random rows/pt, {rows * cfg.n_features_per_level * 4 / 2**20:.0f} MiB ({name} table size) (M pts/s)",
        )

    # Figures as if the 2 threads had the cores to themselves: N / (CPU time / threads).
    report.section("Hash grid from CPU time (estimate for unshared cores; the machine is shared)")
    nt = torch.get_num_threads()
    for tab_name, rt in (("fp32", None), ("fp16", half)):
        report.add(f"hashgrid_fwd_sorted_{tab_name}_cpu_mpts_s", n * nt / median_cpu_time(lambda: fwd(sorted_x, rt), reps) / 1e6,
                   f"forward, sorted, {tab_name} (M pts/s from CPU time)")
        report.add(f"hashgrid_fwd_bwd_sorted_{tab_name}_cpu_mpts_s", n * nt / median_cpu_time(lambda: fwd_bwd(sorted_x, rt), reps) / 1e6,
                   f"forward+backward, sorted, {tab_name} (M pts/s from CPU time)")

    best_fwd = max(figs["fwd_sorted_fp32"], figs["fwd_sorted_fp16"])
    best_fb = max(figs["fb_sorted_fp32"], figs["fb_sorted_fp16"])
    report.section("Hash grid summary (sorted points; best table storage)")
    report.add("hashgrid_fwd_mpts_s", best_fwd, "forward (M pts/s; target >= 8)")
    report.add("hashgrid_fwd_bwd_mpts_s", best_fb, "forward+backward (M pts/s; target >= 3)")
    report.add("hashgrid_fwd_ratio_vs_reference", pr["r_f"] / pr["k_f"], f"forward speed-up vs reference, paired runs, {best} (target >= 20)")
    report.add("hashgrid_fwd_bwd_ratio_vs_reference", pr["r_fb"] / pr["k_fb"], f"forward+backward speed-up vs reference, paired runs, {best} (target >= 20)")
    report.add("hashgrid_fwd_cpu_ratio_vs_reference", cpu["r_f"] / cpu["k_f"], f"forward speed-up vs reference, CPU time, {best}")
    report.add("hashgrid_fwd_bwd_cpu_ratio_vs_reference", cpu["r_fb"] / cpu["k_fb"], f"forward+backward speed-up vs reference, CPU time, {best}")
    report.add("hashgrid_fwd_fp32_frac_of_gather_limit", figs["fwd_random_fp32"] / limits["fp32"], "random-point fp32 forward / gather limit")
    report.add("hashgrid_fwd_fp16_frac_of_gather_limit", figs["fwd_random_fp16"] / limits["fp16"], "random-point fp16 forward / gather limit")


def _scene_grid(res: int) -> OccupancyGrid:
    """A street-like occupancy: ground slab, a few box-shaped 'cars' and 'buildings', a pole row."""
    grid = OccupancyGrid(OccupancyGridConfig(aabb=(-1.0, -1.0, -1.0, 1.0, 1.0, 1.0), resolution=(res, res, res), coarse_factor=8))
    c = grid.cell_centers()
    occ = (c[:, 2] > -0.92) & (c[:, 2] < -0.88)  # ground
    g = torch.Generator().manual_seed(0)
    for _ in range(12):
        lo = torch.rand(3, generator=g) * 1.6 - 0.8
        lo[2] = -0.9
        size = torch.rand(3, generator=g) * torch.tensor([0.3, 0.15, 0.3]) + 0.05
        inside = ((c >= lo) & (c <= lo + size)).all(-1)
        # Only the box surface is occupied, as an SDF-derived grid would have it.
        shell = inside & ~((c >= lo + 0.02) & (c <= lo + size - 0.02)).all(-1)
        occ |= shell
    grid.set_occupancy(occ)
    return grid


def march_scene(n: int, res: int = 128):
    """The marching benchmark's grid (``res``^3), ``n`` camera-like rays from ego positions above the
    ground inside the box, and its step settings: ``(grid, o, d, near, far, march)``."""
    grid = _scene_grid(res)
    g = torch.Generator().manual_seed(2)
    o = torch.cat([torch.rand(n, 2, generator=g) * 1.2 - 0.6, torch.full((n, 1), -0.8)], dim=1)
    d = torch.nn.functional.normalize(torch.randn(n, 3, generator=g) * torch.tensor([1.0, 1.0, 0.25]), dim=-1)
    march = MarchConfig(dt_min=2.0 * math.sqrt(3) / 1024, cone=1.0 / 256, max_samples=1024)
    return grid, o, d, torch.zeros(n), torch.full((n,), 1e3), march


def bench_raymarch(report: BenchmarkReport, quick: bool) -> None:
    res = 128
    n = 2**16 if quick else 2**18
    reps = 3 if quick else 7
    grid, o, d, near, far, march = march_scene(n, res)
    report.section(
        f"Ray marching: {n} rays through a {res}^3 grid ({100 * grid.occupied_fraction():.1f}% occupied), "
        f"dt_min {march.dt_min:.4f}, cone {march.cone:.4f}"
    )
    ps = ray_march(o, d, grid, near, far, march)
    t = median_time(lambda: ray_march(o, d, grid, near, far, march), reps)
    report.add("raymarch_samples_per_ray", ps.n_samples / n, "samples per ray")
    report.add("raymarch_mrays_s", n / t / 1e6, "ray marching (M rays/s; target >= 10)")
    report.add("raymarch_msamples_s", ps.n_samples / t / 1e6, "samples emitted (M samples/s)")
    report.add("raymarch_cpu_mrays_s", n * torch.get_num_threads() / median_cpu_time(lambda: ray_march(o, d, grid, near, far, march), reps) / 1e6,
               "ray marching (M rays/s from CPU time)")

    # What any marcher needs at this sample density, whatever its marching costs: fresh packed
    # outputs of the same size (int64 ray index, float32 t_start and t_end per sample, int64
    # offsets), every byte written once, on the same threads.
    def write_outputs():
        for dtype in (torch.int64, torch.float32, torch.float32):
            torch.empty(ps.n_samples, dtype=dtype).fill_(1)
        torch.empty(n + 1, dtype=torch.int64).fill_(1)

    limit = report.add("raymarch_output_write_limit_mrays_s", n / median_time(write_outputs, reps) / 1e6,
                       f"output-write limit: fresh packed outputs for {ps.n_samples / n:.1f} samples/ray, written once (M rays/s)")
    report.add("raymarch_frac_of_output_write_limit", n / t / 1e6 / limit, "ray marching / output-write limit")
    n_ref = 2**12 if quick else 2**14
    occ = grid.occupied()
    pr = paired_median_times(
        {
            "k": lambda: ray_march(o[:n_ref], d[:n_ref], grid, near[:n_ref], far[:n_ref], march),
            "r": lambda: ref.ray_march_ref(o[:n_ref], d[:n_ref], occ, grid.config, march, near[:n_ref], far[:n_ref]),
        },
        repeats=3,
    )
    report.add("raymarch_ref_mrays_s", n_ref / pr["r"] / 1e6, "pure-torch reference (M rays/s)")
    report.add("raymarch_ratio_vs_reference", pr["r"] / pr["k"], "speed-up vs reference (paired runs)")


def bench_composite(report: BenchmarkReport, quick: bool) -> None:
    n_rays = 2**14 if quick else 2**16
    per_ray = 64
    m = n_rays * per_ray
    reps = 3 if quick else 7
    g = torch.Generator().manual_seed(3)
    counts = torch.randint(0, 2 * per_ray, (n_rays,), generator=g)
    offsets = torch.zeros(n_rays + 1, dtype=torch.int64)
    offsets[1:] = torch.cumsum(counts, 0)
    m = int(offsets[-1])
    alphas = (torch.rand(m, generator=g) * 0.2).requires_grad_()
    rgb = torch.rand(m, 3, generator=g).requires_grad_()
    tmid = torch.rand(m, generator=g)
    report.section(f"Packed compositing: {n_rays} rays, {m} samples (weights -> colour, depth, opacity)")

    def run(w_fn, c_fn):
        alphas.grad = rgb.grad = None
        w, _ = w_fn(alphas, offsets)
        c = c_fn(rgb, w, offsets)
        dep = c_fn(tmid, w, offsets)
        acc = c_fn(torch.ones_like(tmid), w, offsets)
        (c.sum() + dep.sum() + acc.sum()).backward()

    pr = paired_median_times({"k": lambda: run(render_weights, composite), "r": lambda: run(ref.render_weights_ref, ref.composite_ref)}, reps)
    report.add("composite_fwd_bwd_msamples_s", m / pr["k"] / 1e6, "forward+backward (M samples/s)")
    report.add("composite_ref_fwd_bwd_msamples_s", m / pr["r"] / 1e6, "pure-torch reference (M samples/s)")
    report.add("composite_ratio_vs_reference", pr["r"] / pr["k"], "speed-up vs reference (paired runs)")

    sdf = (torch.randn(m, generator=g) * 0.1).requires_grad_()
    cos = -torch.rand(m, generator=g)
    dt = torch.rand(m, generator=g) * 0.01
    inv_s = torch.tensor([50.0], requires_grad=True)

    def neus(fn):
        sdf.grad = inv_s.grad = None
        fn(sdf, cos, dt, inv_s).sum().backward()

    pr = paired_median_times({"k": lambda: neus(neus_alpha), "r": lambda: neus(ref.neus_alpha_ref)}, reps)
    report.add("neus_alpha_fwd_bwd_msamples_s", m / pr["k"] / 1e6, "NeuS alpha forward+backward (M samples/s)")
    report.add("neus_alpha_ref_fwd_bwd_msamples_s", m / pr["r"] / 1e6, "NeuS alpha reference (M samples/s)")
    report.add("neus_alpha_ratio_vs_reference", pr["r"] / pr["k"], "speed-up vs reference (paired runs)")


def bench_raybox(report: BenchmarkReport, quick: bool) -> None:
    n = 2**16 if quick else 2**18
    n_actors, n_frames = 64, 10
    reps = 3 if quick else 7
    g = torch.Generator().manual_seed(4)
    yaw = torch.rand(n_frames, n_actors, generator=g) * 6.28
    c, s = torch.cos(yaw), torch.sin(yaw)
    M = torch.zeros(n_frames, n_actors, 3, 4)
    M[..., 0, 0], M[..., 0, 1], M[..., 1, 0], M[..., 1, 1], M[..., 2, 2] = c, s, -s, c, 1.0
    centre = (torch.rand(n_frames, n_actors, 3, generator=g) - 0.5) * torch.tensor([80.0, 80.0, 0.0])
    M[..., 3] = -(M[..., :3] @ centre[..., None])[..., 0]
    half = torch.tensor([2.3, 1.0, 0.8]).expand(n_actors, 3).contiguous()
    o = torch.zeros(n, 3)
    o[:, 2] = 1.5
    d = torch.nn.functional.normalize(torch.randn(n, 3, generator=g) * torch.tensor([1.0, 1.0, 0.1]), dim=-1)
    frames = torch.randint(0, n_frames, (n,), generator=g)
    valid = torch.ones(n_frames, n_actors, dtype=torch.bool)
    near, far = torch.zeros(n), torch.full((n,), 200.0)
    report.section(f"Rays vs actor boxes: {n} rays, {n_actors} actors, {n_frames} frames")
    hits = ray_box_intersect(o, d, frames, M, half, valid, near, far)
    report.add("raybox_hits_per_ray", hits.t_in.numel() / n, "hits per ray")
    n_ref = n // 4
    sl = slice(0, n_ref)
    pr = paired_median_times(
        {
            "k": lambda: ray_box_intersect(o[sl], d[sl], frames[sl], M, half, valid, near[sl], far[sl]),
            "r": lambda: ref.ray_box_intersect_ref(o[sl], d[sl], frames[sl], M, half, valid, near[sl], far[sl]),
        },
        reps,
    )
    report.add("raybox_mrays_s", n_ref / pr["k"] / 1e6, "ray/box (M rays/s)")
    report.add("raybox_ref_mrays_s", n_ref / pr["r"] / 1e6, "pure-torch reference (M rays/s)")
    report.add("raybox_ratio_vs_reference", pr["r"] / pr["k"], "speed-up vs reference (paired runs)")


def main() -> int:
    args = standard_parser(__doc__).parse_args()
    torch.set_num_threads(2)
    report = BenchmarkReport("kernels")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    _ext.load_cpu()
    bench_hashgrid(report, args.quick)
    bench_raymarch(report, args.quick)
    bench_composite(report, args.quick)
    bench_raybox(report, args.quick)
    report.finish(args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
