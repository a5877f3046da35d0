"""Edit fidelity against ground truth: the synthetic generator re-renders each edit exactly.

On the default synthetic log and its trained run (``out/bench/recon_quality/{log,run}`` when present; else
``--workdir``: generate the default log and train the default preset there first, ~25 min on 2
cores), four edits are made with ``redrive.editing`` and by the generator (``remove_actor``,
``move_actor``, ``insert_actor``):

  (a) remove a moving car (the lead car in the ego's lane);
  (b) move a parked car 3 m along the curb (the first parked car, in view, whose move is valid);
  (c) insert a car reconstructed elsewhere in the log (a parked car's field) at a free kerb spot;
  (d) insert a mesh asset: the generator's own asset exported to PLY, loaded from an asset
      library folder through ``Asset.from_mesh`` (so the truth and the edit show the same object).

Figures: PSNR inside the affected image region (pixels whose truth changed between the original
and the edited truth, dilated by 2 px) of the edited render against the edited truth, and the
LiDAR median absolute range error on the affected beams (rays whose truth range changed by more
than 5 cm, or that gained or lost a return; over rays returning in both). A second PSNR
counts only region pixels whose edited truth lies within 60 m (what a removal reveals beyond
that, straight ahead behind a lead car, is never observed in the log). LiDAR: the simulator's
surface path (``--lidar volume``: volume rendering). Frames: the held-out
(odd) frames 1, 11, 21, 31, 41 of every camera and LiDAR (``--quick``: 11 and 31, front camera);
only camera frames where the edit changes at least 20 truth pixels are rendered and scored. Targets: removal and insertion PSNR >= 22 dB; LiDAR on inserted or
revealed surfaces <= 0.15 m. Writes ``edit_fidelity_grid.png`` (a row per case, the frame with the largest region: original,
edited truth, edited render, affected region) beside the JSON (or in the working directory).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import BENCH_DIR, DEFAULT_RUN, BenchmarkReport, standard_parser  # noqa: E402

TARGETS = {"psnr": 22.0, "lidar": 0.15}
NEAR_M = 60.0
"""A second PSNR counts only region pixels whose edited truth is this close: farther content
straight ahead (the end of the street behind a lead car) is never seen in the log."""


def ensure_run(args) -> tuple[Path, Path]:
    """(log, run): the given ones, the lead's default run, or a fresh one in --workdir."""
    if args.run is not None:
        import json

        run = Path(args.run)
        log = Path(args.log) if args.log else Path(json.loads((run / "config.json").read_text())["log"])
        return log, run
    if (DEFAULT_RUN / "eval" / "metrics.json").is_file():
        import json

        return Path(json.loads((DEFAULT_RUN / "config.json").read_text())["log"]), DEFAULT_RUN
    from redrive.log.synth import generate
    from redrive.recon.config import preset
    from redrive.recon.trainer import Trainer

    work = Path(args.workdir)
    log, run = work / "log", work / "run"
    if not (log / "log.json").is_file():
        generate(log, preset="default", seed=0)
    if not (run / "checkpoints.json").is_file() or args.resume:
        Trainer(log, run, preset("default"), resume=(run / "config.json").is_file()).train()
    return log, run


# ---------------------------------------------------------------------------------------------
# ground truth and regions


def lidar_ranges(sweep, t0: float, beams) -> np.ndarray:
    """(A*B,) range per ray in firing order (column-major), inf for drops."""
    col = np.round((sweep.times - t0) * beams.azimuth_count * beams.rotation_hz).astype(np.int64)
    out = np.full(beams.azimuth_count * beams.beam_count, np.inf)
    out[col * beams.beam_count + sweep.beam] = np.linalg.norm(sweep.points.astype(np.float64), axis=1)
    return out


def dilate(mask: np.ndarray, px: int = 2) -> np.ndarray:
    from scipy.ndimage import binary_dilation

    return binary_dilation(mask, iterations=px) if mask.any() else mask


# ---------------------------------------------------------------------------------------------
# choosing the edits


def free_slot(base, node_size, candidates, times, min_visible: int, prepare=None) -> tuple[np.ndarray, float] | None:
    """The first candidate ``(position [x, y, z], heading rad)`` where a box of ``node_size``
    passes validation at ``times`` (after ``prepare(scene)``'s edits) and is in view of the
    front camera in ``min_visible`` frames."""
    from redrive.editing import Asset, EditError

    for pos, heading in candidates:
        probe = _fresh(base.run, base)
        if prepare is not None:
            prepare(probe)
        try:
            probe.insert(Asset("mesh", "car", np.asarray(node_size, float), {}, name="probe"),
                         _parked(base, pos, heading), actor_id="probe")
            probe.validate(times)
        except EditError:
            continue
        if len(probe.actors["probe"].visible_frames.get("front", [])) >= min_visible:
            return np.asarray(pos, float), float(heading)
    return None


def _parked(base, pos, heading: float):
    """Standing still for the whole drive (the generator keeps an actor within its track's span)."""
    from redrive.editing.trajectories import static_pose

    t0, t1 = base.graph.ego.span
    return static_pose(pos, np.degrees(heading), t0 - 1.0, t1 + 1.0)


def _fresh(run, base):
    import redrive

    es = redrive.load(run)
    # share the opened log, the loaded fields and the simulator's scene (its LiDAR meshes)
    es._log, es._models, es._steps, es._neural = base._log, base._models, base._steps, base.neural_scene()
    es.mesh_cache = base.mesh_cache
    return es


def build_cases(log_dir: Path, run: Path, library: Path, mesh_cache: Path | None = None):
    """(base scene, synthetic scene, [(name, kind, EditableScene, edited SynthScene)])."""
    import redrive
    from redrive.editing import Asset, AssetLibrary, EditError
    from redrive.log.synth import AssetSpec, build_asset, insert_actor, load_scene, move_actor, remove_actor

    synth = load_scene(log_dir)
    base = redrive.load(run)
    base.mesh_cache = mesh_cache  # the LiDAR surface meshes: never inside someone else's run
    times = np.unique(np.concatenate([c.frame_times for c in base.log.cameras.values()]))
    min_visible = max(2, len(base.log.cameras["front"]) // 5)
    infos = base.actors
    parked = [a for a in synth.actors if a.id.startswith("parked")
              and len(infos[a.id].visible_frames.get("front", [])) >= min_visible]
    cases = []

    # (a) remove the moving lead car
    lead = next(a.id for a in synth.actors if a.id.startswith("lead"))
    es = _fresh(run, base)
    es.remove(lead)
    cases.append(("a_remove_moving_car", "removal", es, remove_actor(synth, lead)))

    # (b) move a parked car 3 m along the kerb (forward, else backward) where that is valid
    chosen = None
    for a in parked:
        for dx in (3.0, -3.0):
            es = _fresh(run, base)
            es.move(a.id, offset=(dx, 0.0, 0.0), frame="box")
            try:
                es.validate(times)
            except EditError:
                continue
            chosen = (a.id, dx, es)
            break
        if chosen:
            break
    if chosen is None:
        raise SystemExit("no parked car in view can be moved 3 m without an overlap")
    pid, dx, es = chosen
    cases.append((f"b_move_parked_{pid}_{dx:+.0f}m", "move", es, move_actor(synth, pid, (dx, 0.0, 0.0), frame="box")))

    # kerb spots ahead of the ego on both sides, facing the way the cars parked there face
    ego_x = base.world(base.graph.ego.poses)[:, 0, 3]
    kerb = {}
    for a in synth.actors:
        if a.id.startswith("parked"):
            p = a.trajectory.poses[0]
            kerb.setdefault(np.sign(p[1, 3]), (abs(p[1, 3]), float(np.arctan2(p[1, 0], p[0, 0]))))
    xs = np.arange(ego_x[0] + 10.0, ego_x[-1] + 25.0, 1.0)

    def spots(height: float):
        return [([x, side * y, height], yaw) for x in xs for side, (y, yaw) in sorted(kerb.items())]

    # (c) a parked car's reconstruction inserted at a free kerb spot
    donor = next(a for a in parked if a.id != pid)
    size = infos[donor.id].size
    found = free_slot(base, size, spots(float(donor.trajectory.poses[0, 2, 3])), times, min_visible)
    if found is None:
        raise SystemExit("no free kerb spot for the reconstructed car")
    traj = _parked(base, *found)
    es = _fresh(run, base)
    es.insert(Asset.from_run(run, donor.id), traj, actor_id="inserted_recon")
    cases.append((f"c_insert_reconstructed_{donor.id}", "insertion", es,
                  insert_actor(synth, donor.asset, traj, actor_id="inserted_recon")))

    # (d) the generator's SUV exported to a mesh library, inserted at another free kerb spot
    spec = AssetSpec("suv", (0.08, 0.15, 0.45))
    built = build_asset(spec)
    export_asset_mesh(built, library / "blue_suv.ply")
    AssetLibrary.write_entry(library, "blue_suv", "blue_suv.ply", built.category,
                             reflectivity=built.materials[0].reflectivity, origin="center")
    asset = AssetLibrary(library).get("blue_suv")
    recon_traj = traj
    found = free_slot(base, built.size, spots(float(built.size[2]) / 2), times, min_visible,  # clear of (c)'s car
                      prepare=lambda s: s.insert(Asset.from_run(run, donor.id), recon_traj, actor_id="inserted_recon"))
    if found is None:
        raise SystemExit("no free kerb spot for the mesh asset")
    traj = _parked(base, *found)
    es = _fresh(run, base)
    es.insert(asset, traj, actor_id="inserted_mesh")
    cases.append(("d_insert_mesh_asset", "insertion", es, insert_actor(synth, spec, traj, actor_id="inserted_mesh")))
    return base, synth, cases


def export_asset_mesh(built, path: Path) -> None:
    """PLY of a generator asset with per-face sRGB colours of its materials' base colours."""
    import trimesh

    base = np.array([m.color for m in built.materials], np.float64)
    srgb = np.round(np.clip(base[built.mesh.material], 0, 1) ** (1 / 2.2) * 255).astype(np.uint8)
    mesh = trimesh.Trimesh(built.mesh.vertices, built.mesh.faces, process=False)
    mesh.visual.face_colors = np.concatenate([srgb, np.full((len(srgb), 1), 255, np.uint8)], axis=1)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(mesh.export(file_type="ply"))


# ---------------------------------------------------------------------------------------------


def main() -> int:
    parser = standard_parser(__doc__)
    parser.add_argument("--run", default=None, help="trained run (default: out/bench/recon_quality/run, left by recon_quality.py)")
    parser.add_argument("--log", default=None, help="its synthetic log (default: the run's)")
    parser.add_argument("--workdir", default=str(BENCH_DIR / "edit_fidelity"), help="where to generate + train if needed")
    parser.add_argument("--resume", action="store_true", help="resume training in --workdir")
    parser.add_argument("--lidar", choices=("surface", "volume"), default="surface", help="LiDAR path (docs/render.md)")
    parser.add_argument("--frames", default=None, help="comma-separated frame indices (default: 1,11,21,31,41)")
    parser.add_argument("--grid", default=None, help="PNG grid path (default: beside --json or ./edit_fidelity_grid.png)")
    args = parser.parse_args()

    import imageio.v3 as iio
    import torch

    from redrive.log.synth import SceneRenderer

    torch.set_num_threads(2)
    t_start = time.perf_counter()
    log_dir, run = ensure_run(args)
    frames = [11, 31] if args.quick else [1, 11, 21, 31, 41]
    if args.frames:
        frames = [int(v) for v in args.frames.split(",")]
    library = Path(args.workdir) / "asset_library"
    base, synth, cases = build_cases(log_dir, run, library, Path(args.workdir) / "render_cache")
    log = base.log
    cams = ["front"] if args.quick else list(log.cameras)
    lidars = list(log.lidars)
    frames = [f for f in frames if f < len(log.cameras["front"])]
    report = BenchmarkReport("edit_fidelity")
    print(f"run {run} (log {log_dir}); frames {frames}; cameras {cams}; lidars {lidars}")
    grid_rows = []
    summary = {}
    for name, kind, es, truth_scene in cases:
        report.section(f"{name}: {[e.op for e in es.edits]}")
        truth = SceneRenderer(truth_scene)
        # truth first: only the camera frames the edit changes are rendered
        regions = {}
        for c in cams:
            for f in frames:
                orig = log.load_image(c, f).astype(np.float64) / 255
                image, depth, _ = truth.camera_frame(c, f)
                edit_truth = image.astype(np.float64) / 255
                region = dilate(np.abs(edit_truth - orig).max(-1) > 2.5 / 255)
                if region.sum() >= 20:
                    regions[(c, f)] = (orig, edit_truth, region, depth <= NEAR_M)
        times = {}
        for c, f in regions:
            times.setdefault(c, []).append(float(log.cameras[c].frame_times[f]))
        times.update({lname: log.lidars[lname].sweep_times[frames] for lname in lidars})
        rendered = es.render(list(times), times, lidar_surface=args.lidar == "surface")
        se, n_px, se_near, n_near, errs, picked = 0.0, 0, 0.0, 0, [], None
        for (c, f), (orig, edit_truth, region, near) in regions.items():
            k = times[c].index(float(log.cameras[c].frame_times[f]))
            pred = rendered.images[c][k].astype(np.float64) / 255
            sq = ((pred - edit_truth) ** 2).sum(-1)
            se += float(sq[region].sum())
            n_px += int(region.sum()) * 3
            se_near += float(sq[region & near].sum())
            n_near += int((region & near).sum()) * 3
            if picked is None or region.sum() > picked[0]:
                picked = (region.sum(), orig, edit_truth, pred, region)
        print(f"  rendered camera frames: {sorted(regions)}")
        for lname in lidars:
            beams = log.lidars[lname].beams
            for k, f in enumerate(frames):
                t0 = float(log.lidars[lname].sweep_times[f])
                r_orig = lidar_ranges(log.load_sweep(lname, f), t0, beams)
                r_truth = lidar_ranges(truth.lidar_sweep(lname, f), t0, beams)
                r_pred = lidar_ranges(rendered.sweeps[lname][k], t0, beams)
                with np.errstate(invalid="ignore"):
                    changed = (np.isfinite(r_orig) != np.isfinite(r_truth)) | (np.abs(r_orig - r_truth) > 0.05)
                both = changed & np.isfinite(r_truth) & np.isfinite(r_pred)
                errs.append(np.abs(r_pred[both] - r_truth[both]))
        psnr = -10 * np.log10(se / n_px) if n_px else float("nan")
        err = np.concatenate(errs) if errs else np.zeros(0)
        lid = float(np.median(err)) if len(err) else float("nan")
        report.add(f"{name}_region_psnr_db", psnr, f"{kind}: PSNR in the affected region ({n_px // 3} px)")
        report.add(f"{name}_region_near_psnr_db", -10 * np.log10(se_near / n_near) if n_near else float("nan"),
                   f"{kind}: ... where the edited truth is within {NEAR_M:.0f} m ({n_near // 3} px)")
        report.add(f"{name}_lidar_median_abs_m", lid, f"{kind}: LiDAR median |range error| ({len(err)} rays)")
        summary[name] = (kind, psnr, lid)
        if picked is not None:
            _, orig, et, pred, region = picked
            overlay = et.copy()
            overlay[region] = 0.5 * overlay[region] + 0.5 * np.array([1.0, 0.0, 1.0])
            grid_rows.append(np.concatenate([orig, et, pred, overlay], axis=1))
    report.section("targets")
    for name, (kind, psnr, lid) in summary.items():
        ok_p = psnr >= TARGETS["psnr"] if kind in ("removal", "insertion") else None
        ok_l = lid <= TARGETS["lidar"]
        print(f"  {name:<44} PSNR {psnr:6.2f} dB {'' if ok_p is None else ('(meets >= 22)' if ok_p else '(BELOW 22)')}"
              f"   LiDAR {lid:.3f} m {'(meets <= 0.15)' if ok_l else '(ABOVE 0.15)'}")
    report.add("wall_s", time.perf_counter() - t_start, "wall time, s")
    grid = Path(args.grid) if args.grid else (args.json.parent if args.json else Path(".")) / "edit_fidelity_grid.png"
    if grid_rows:
        iio.imwrite(grid, (np.clip(np.concatenate(grid_rows, axis=0), 0, 1) * 255).astype(np.uint8))
        print(f"grid (rows: cases; columns: original, edited truth, edited render, affected region): {grid}")
    report.finish(args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
