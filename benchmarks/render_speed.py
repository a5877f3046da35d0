"""Rendering speed of a reconstruction on 2 threads: cameras, LiDAR volume and surface paths.

On a trained run of the default synthetic log (``--run``, default ``out/bench/recon_quality/run``):

- camera: one full frame of the first recorded camera with the appearance correction (M pixels/s),
  as ``redrive render`` does it (volume rendering in a band around the first mesh surface,
  ``NeuralScene.band``) and along whole rays (``--camera-full-volume``), with the PSNR between
  the two;
- LiDAR: a Hesai Pandar64 sweep (115,200 rays) at the recorded LiDAR's mounting: the surface path
  (meshes + Embree + heads at the hits; meshes prepared beforehand, as ``redrive render`` does)
  on the whole sweep, the volume path on every 8th ray (M rays/s);
- reference, in the same run: Embree casting the same sweep on the log's ground-truth static mesh
  (``o3d.t.geometry.RaycastingScene``), the floor of any mesh-based path.

On a shared machine wall time includes time spent descheduled: ``*_per_core_pair_s`` figures
divide by the process CPU time over the thread count instead (what 2 cores of its own would do,
assuming the threads overlap perfectly).

Figures are medians of ``--repeats`` runs after a warm-up, alternating the LiDAR paths so that
they see the same contention. ``--profile`` prints where the camera time goes (cProfile, top
functions by own time).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import BENCH_DIR, DEFAULT_RUN, BenchmarkReport, median_cpu_time, median_time, paired_median_times, standard_parser  # noqa: E402

import numpy as np  # noqa: E402

TARGETS = {"camera_mpix_s": (">=", 0.3), "lidar_surface_mrays_s": (">=", 1.0)}


def main() -> int:
    parser = standard_parser(__doc__)
    parser.add_argument("--run", default=str(DEFAULT_RUN), help="trained run of the default synthetic log")
    parser.add_argument("--mesh-cache", default=str(BENCH_DIR / "mesh_cache"), help="surface mesh cache")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--profile", action="store_true", help="print where the camera time goes")
    args = parser.parse_args()

    import open3d as o3d
    import torch

    from redrive.log import DriveLog
    from redrive.log.types import Trajectory
    from redrive.render.lidar_models import lidar_model
    from redrive.render.neural import NeuralScene
    from redrive.render.rays import camera_rays, lidar_rays

    torch.set_num_threads(args.threads)
    repeats = 1 if args.quick else args.repeats
    report = BenchmarkReport("render_speed")
    scene = NeuralScene.from_run(args.run, mesh_cache=args.mesh_cache, progress=True)
    log = DriveLog.open(scene.log_path)
    ego = Trajectory(log.ego.times, np.linalg.inv(scene.world_from_scene) @ log.ego.poses)
    t_prep = time.perf_counter()
    scene.surface.prepare()
    report.add("mesh_prepare_s", time.perf_counter() - t_prep, "surface meshes extracted or loaded (s)")
    print(f"run {args.run} (step {scene.step}); {args.threads} threads")

    def t(a):
        return torch.from_numpy(np.ascontiguousarray(a)).float()

    # --- camera
    cam_name, cam = next(iter(log.cameras.items()))
    rays = camera_rays(cam, ego, float(cam.frame_times[len(cam) // 2]))
    n = len(rays) if not args.quick else len(rays) // 4
    o, d, tt = t(rays.origins[:n]), t(rays.directions[:n]), t(rays.times[:n])
    report.section(f"camera {cam_name} {cam.intrinsics.width}x{cam.intrinsics.height} ({n} pixels)")

    band = scene.band

    def camera(banded: bool):
        scene.band = band if banded else None
        return scene.camera(o, d, tt, cam_name)

    times = paired_median_times({"band": lambda: camera(True), "full": lambda: camera(False)}, repeats=max(1, repeats // 2),
                                warmup=1)
    report.add("camera_mpix_s", n / times["band"] / 1e6, "band volume rendering, as redrive render (M pixels/s, target >= 0.3)")
    cpu = median_cpu_time(lambda: camera(True), repeats=1, warmup=0)
    report.add("camera_mpix_per_core_pair_s", n / (cpu / args.threads) / 1e6,
               f"same, from CPU time / {args.threads} (on cores of its own)")
    report.add("camera_full_volume_mpix_s", n / times["full"] / 1e6, "volume rendering along whole rays (M pixels/s)")
    a, b = camera(True).rgb, camera(False).rgb
    report.add("camera_band_vs_full_psnr_db", float(-10 * torch.log10(((a - b) ** 2).mean())),
               "band vs whole-ray rendering: PSNR between the two (dB)")
    scene.band = band
    if args.profile:
        import cProfile
        import pstats

        prof = cProfile.Profile()
        prof.enable()
        camera(True)
        prof.disable()
        pstats.Stats(prof).sort_stats("tottime").print_stats(12)

    # --- LiDAR
    model = lidar_model("pandar64")
    lidar_name = next(iter(log.lidars))
    mount = log.lidar(lidar_name).vehicle_from_lidar
    sweep = lidar_rays(model, ego, mount, float(log.lidar(lidar_name).sweep_times[len(log.lidar(lidar_name)) // 2]))
    lo, ld, lt = t(sweep.origins), t(sweep.directions), t(sweep.times)
    sub = slice(None, None, 8)
    gt = log.load_mesh(log.ground_truth.static_mesh)
    gt_scene = o3d.t.geometry.RaycastingScene()
    gt_scene.add_triangles(o3d.core.Tensor(np.asarray(gt.vertices, np.float32)), o3d.core.Tensor(np.asarray(gt.faces, np.uint32)))
    world_rays = o3d.core.Tensor(np.concatenate([sweep.origins + scene.world_from_scene[:3, 3], sweep.directions], 1).astype(np.float32))
    report.section(f"LiDAR {model.name} ({len(sweep)} rays per sweep)")
    times = paired_median_times({
        "surface": lambda: scene.lidar(lo, ld, lt, surface=True),
        "embree_gt": lambda: gt_scene.cast_rays(world_rays),
    }, repeats=repeats, warmup=1)
    vol_s = median_time(lambda: scene.lidar(lo[sub], ld[sub], lt[sub], surface=False), repeats=max(1, repeats // 2), warmup=0)
    n_vol = len(range(len(sweep))[sub])
    report.add("lidar_surface_mrays_s", len(sweep) / times["surface"] / 1e6, "surface path (M rays/s, target >= 1)")
    cpu = median_cpu_time(lambda: scene.lidar(lo, ld, lt, surface=True), repeats=repeats, warmup=0)
    report.add("lidar_surface_mrays_per_core_pair_s", len(sweep) / (cpu / args.threads) / 1e6,
               f"same, from CPU time / {args.threads} (on cores of its own)")
    report.add("lidar_volume_mrays_s", n_vol / vol_s / 1e6, "volume path (M rays/s)")
    report.add("embree_gt_mesh_mrays_s", len(sweep) / times["embree_gt"] / 1e6,
               f"reference: Embree on the truth mesh ({len(gt.faces)} triangles) (M rays/s)")
    report.add("surface_vs_volume_ratio", (len(sweep) / times["surface"]) / (n_vol / vol_s), "surface / volume speed")
    report.add("surface_vs_embree_ratio", times["embree_gt"] / times["surface"], "surface path / bare Embree speed")
    bg = scene.surface.background()
    report.add("background_mesh_triangles", len(bg[1]), "triangles of the background mesh")
    report.print_targets(TARGETS)
    report.finish(args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
