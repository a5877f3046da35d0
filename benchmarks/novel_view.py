"""Novel-view truth: a 2 m lane shift and a Pandar64 on the roof, rendered by redrive vs the generator.

On the default synthetic log with a trained run (``--run``; default ``out/bench/recon_quality/run`` when it
has a checkpoint, otherwise the default log is generated and the ``default`` preset trained into
``--work``, ~20+ minutes; ``--quick`` trains ``fast``), this renders the recorded cameras along
the original ego path shifted 2 m to the left and a Hesai Pandar64 (library model) at the recorded
LiDAR's mounting, and compares them with the generator's exact re-render of the same path and
sensors (``redrive.log.synth``: ``shift_ego``, ``with_sensors``, ``SceneRenderer``):

- cameras: PSNR and SSIM per image (``redrive.eval.metrics``), mean over the images;
- LiDAR: every firing is matched to the truth's by (beam, column) (same model, same timing):
  median absolute range error over rays both return (``metrics.lidar_range_errors``), ray-drop
  accuracy (returned vs not, all rays), for the surface path on every ray and the volume path on
  every 8th ray.

A subset of frames is used (``--frames``, default 4 per sensor, evenly spread over the drive
without its first and last frame, where a shifted camera looks at what no recorded frame saw) to
keep the run within minutes on 2 cores. A PNG grid (truth | render | error per camera,
then truth / render LiDAR range images) goes to ``--out``.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import BENCH_DIR, DEFAULT_RUN, BenchmarkReport, standard_parser  # noqa: E402

import numpy as np  # noqa: E402

TARGETS = {"lane_shift_psnr_db": (">=", 24.0), "lidar_median_abs_m": ("<=", 0.15)}


def _ensure_run(args) -> Path:
    if args.run is not None:
        return Path(args.run)
    if (DEFAULT_RUN / "checkpoints.json").is_file():
        return DEFAULT_RUN
    from redrive.log.synth import generate
    from redrive.recon.config import preset
    from redrive.recon.trainer import Trainer

    work = Path(args.work)
    run = work / "run"
    if not (run / "checkpoints.json").is_file():
        log = work / "log"
        if not (log / "log.json").is_file():
            generate(log, preset="default", seed=0)
        print(f"training the {'fast' if args.quick else 'default'} preset into {run} (no --run given)")
        Trainer(log, run, preset("fast" if args.quick else "default")).train()
    return run


def _spread(count: int, frames: int) -> np.ndarray:
    """``frames`` indices evenly spread inside ``[0, count)``, the first and last frames excluded
    (at the ends of the drive a shifted camera looks at what no recorded frame saw)."""
    return np.unique(np.linspace(0, count - 1, frames + 2).round().astype(int)[1:-1])


def _grid_row(truth: np.ndarray, render: np.ndarray) -> np.ndarray:
    from redrive.render.previews import colourise

    err = colourise(np.abs(render.astype(float) - truth.astype(float)).mean(-1) / 255.0, 0.0, 0.25)
    return np.concatenate([truth, render, err], axis=1)


def main() -> int:
    parser = standard_parser(__doc__)
    parser.add_argument("--run", default=None, help="trained run of the default synthetic log")
    parser.add_argument("--work", default=str(BENCH_DIR / "novel_view_run"),
                        help="where to generate and train when no run is given")
    parser.add_argument("--frames", type=int, default=4, help="frames per sensor, evenly spread (ends excluded)")
    parser.add_argument("--lane-shift", type=float, default=2.0, help="metres, positive = left")
    parser.add_argument("--lidar", default="pandar64", help="library model of the rendered LiDAR")
    parser.add_argument("--mesh-cache", default=str(BENCH_DIR / "mesh_cache"), help="surface mesh cache")
    parser.add_argument("--out", default=str(BENCH_DIR / "novel_view"), help="PNG grid directory")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    import torch

    from redrive.eval import metrics
    from redrive.log import DriveLog
    from redrive.log.synth import SceneRenderer, load_scene, shift_ego, with_sensors
    from redrive.log.types import LidarSensor, Trajectory
    from redrive.log.writer import atomic_write_bytes
    from redrive.render.lidar_models import lidar_model
    from redrive.render.neural import NeuralScene
    from redrive.render.previews import range_image
    from redrive.render.rays import camera_rays, lidar_rays
    from redrive.render.trajectories import resolve_trajectory

    torch.set_num_threads(args.threads)
    report = BenchmarkReport("novel_view")
    run = _ensure_run(args)
    scene = NeuralScene.from_run(run, mesh_cache=args.mesh_cache, progress=True)
    log = DriveLog.open(scene.log_path)
    frames = args.frames if not args.quick else min(args.frames, 2)
    ego_world = resolve_trajectory(f"lane-shift:{args.lane_shift:+g}", log.ego, log.start_time_ns)
    ego = Trajectory(ego_world.times, np.linalg.inv(scene.world_from_scene) @ ego_world.poses)
    model = lidar_model(args.lidar)
    lidar_name = next(iter(log.lidars))
    mount = log.lidar(lidar_name).vehicle_from_lidar
    sweep_times = log.lidar(lidar_name).sweep_times
    truth_scene = with_sensors(shift_ego(load_scene(scene.log_path), lateral_m=args.lane_shift),
                               lidars=[LidarSensor("novel", mount, sweep_times, model.to_beams())])
    truth = SceneRenderer(truth_scene)
    print(f"run {run} (step {scene.step}); log {scene.log_path}; lane shift {args.lane_shift:+g} m; "
          f"{model.name} at the {lidar_name} mounting; {frames} frames per sensor")
    t_mesh = time.perf_counter()
    scene.surface.prepare()
    report.add("mesh_prepare_s", time.perf_counter() - t_mesh, "surface meshes extracted or loaded (s)")

    # --- cameras
    rows, psnr, ssim = [], [], []
    render_px, render_s = 0, 0.0
    for cam_name, cam in log.cameras.items():
        pick = _spread(len(cam), frames)
        for n, i in enumerate(pick):
            t = float(cam.frame_times[i])
            rays = camera_rays(cam, ego, t)
            t0 = time.perf_counter()
            r = scene.camera(*(torch.from_numpy(np.ascontiguousarray(a)).float() for a in (rays.origins, rays.directions, rays.times)),
                             cam_name)
            render_s += time.perf_counter() - t0
            render_px += len(rays)
            h, w = cam.intrinsics.height, cam.intrinsics.width
            img = r.rgb.numpy().reshape(h, w, 3)
            gt = truth.camera_frame(cam_name, int(i))[0].astype(np.float32) / 255.0
            psnr.append(metrics.psnr(img, gt))
            ssim.append(metrics.ssim(img, gt))
            print(f"  {cam_name} frame {i}: PSNR {psnr[-1]:.2f} dB, SSIM {ssim[-1]:.3f}", flush=True)
            if n == len(pick) // 2:
                rows.append(_grid_row((gt * 255).astype(np.uint8), (img * 255 + 0.5).astype(np.uint8)))
    report.section("cameras (lane shift)")
    report.add("lane_shift_psnr_db", float(np.mean(psnr)), f"PSNR, {len(psnr)} images (target >= 24)")
    report.add("lane_shift_ssim", float(np.mean(ssim)), "SSIM")
    report.add("camera_render_mpix_s", render_px / render_s / 1e6, "camera rendering speed (M pixels/s)")

    # --- LiDAR
    columns = model.scan.azimuth_count
    period = 1.0 / (model.scan.rotation_hz * columns)
    errs, drops, vol_errs, vol_drops = [], [], [], []
    lidar_rows = []
    pick = _spread(len(sweep_times), frames)
    for n, i in enumerate(pick):
        t0s = float(sweep_times[i])
        rays = lidar_rays(model, ego, mount, t0s)
        tens = [torch.from_numpy(np.ascontiguousarray(a)).float() for a in (rays.origins, rays.directions, rays.times)]
        ours = scene.lidar(*tens, surface=True)
        gt = truth.lidar_sweep("novel", int(i))
        key = rays.beam.astype(np.int64) * columns + rays.column
        order = np.argsort(key)
        assert (np.diff(key[order]) > 0).all()
        true_sorted = np.full(len(rays), np.nan)
        skey = key[order]
        worst_deg = 0.0
        for times, beam, rng, dirs in ((gt.times, gt.beam, np.linalg.norm(gt.points, axis=1), gt.points),
                                       (gt.drop_times, gt.drop_beam, np.full(len(gt.drop_times), np.inf), gt.drop_directions)):
            want = beam.astype(np.int64) * columns + np.round((times - t0s) / period).astype(np.int64)
            at = np.clip(np.searchsorted(skey, want), 0, len(skey) - 1)
            if not (skey[at] == want).all():
                raise SystemExit(f"sweep {i}: truth firings without a rendered ray: timing mismatch")
            true_sorted[at] = rng
            # same firing, same direction (sensor frame): the match is by geometry, not only by index
            u = dirs / np.linalg.norm(dirs, axis=1, keepdims=True)
            cos = np.einsum("ij,ij->i", u, rays.directions_sensor[order][at])
            worst_deg = max(worst_deg, float(np.degrees(np.arccos(np.clip(cos.min(), -1, 1)))) if len(cos) else 0.0)
        true_rng = np.empty(len(rays))
        true_rng[order] = true_sorted
        if np.isnan(true_rng).any():
            raise SystemExit(f"sweep {i}: {int(np.isnan(true_rng).sum())} firings have no truth: timing mismatch")
        returned = (ours.drop_prob.numpy() <= 0.5) & np.isfinite(ours.range.numpy())
        rng = ours.range.numpy().astype(np.float64)
        inside = (rng >= model.min_range_m) & (rng <= model.max_range_m)
        pred = np.where(returned & inside, rng, np.inf)
        errs.append((pred, true_rng))
        drops.append(np.isfinite(pred) == np.isfinite(true_rng))
        sub = slice(None, None, 8)
        vol = scene.lidar(*(x[sub] for x in tens), surface=False)
        vrng = vol.range.numpy().astype(np.float64)
        vpred = np.where((vol.drop_prob.numpy() <= 0.5) & (vrng >= model.min_range_m) & (vrng <= model.max_range_m), vrng, np.inf)
        vol_errs.append((vpred, true_rng[sub]))
        vol_drops.append(np.isfinite(vpred) == np.isfinite(true_rng[sub]))
        if n == len(pick) // 2:
            rows_by = model.rows_by_elevation()
            lidar_rows.append(range_image(true_rng, rays.beam, rays.column, rows_by, columns, model.max_range_m))
            lidar_rows.append(range_image(pred, rays.beam, rays.column, rows_by, columns, model.max_range_m))
        print(f"  sweep {i}: {len(rays)} rays, worst direction mismatch with the truth {worst_deg:.4f} deg", flush=True)
    e = metrics.lidar_range_errors(np.concatenate([p for p, _ in errs]), np.concatenate([t for _, t in errs]))
    ve = metrics.lidar_range_errors(np.concatenate([p for p, _ in vol_errs]), np.concatenate([t for _, t in vol_errs]))
    report.section(f"LiDAR ({model.name}, lane shift)")
    report.add("lidar_median_abs_m", e["median_abs_m"], "surface path: median |range error| (m, target <= 0.15)")
    report.add("lidar_drop_accuracy_pct", 100 * float(np.concatenate(drops).mean()), "surface path: drop accuracy (%)")
    report.add("lidar_volume_median_abs_m", ve["median_abs_m"], "volume path (every 8th ray): median |range error| (m)")
    report.add("lidar_volume_drop_accuracy_pct", 100 * float(np.concatenate(vol_drops).mean()), "volume path: drop accuracy (%)")

    # --- picture
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    import imageio.v3 as iio

    width = max(r.shape[1] for r in rows + lidar_rows)

    def pad(a):
        return np.pad(a, ((0, 4), (0, width - a.shape[1]), (0, 0)))

    grid = np.concatenate([pad(r) for r in rows + [np.repeat(x, 2, 0) for x in lidar_rows]], 0)
    atomic_write_bytes(out / "novel_view_grid.png", iio.imwrite("<bytes>", grid, extension=".png"))
    print(f"\nwrote {out / 'novel_view_grid.png'} (rows: truth | render | error per camera; LiDAR truth, render)")
    report.print_targets(TARGETS)
    report.finish(args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
