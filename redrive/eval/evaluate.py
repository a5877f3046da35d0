"""Held-out evaluation of a reconstruction run (the protocol of ``redrive.eval.protocol``).

Cameras: PSNR and SSIM over whole held-out images and inside the projections of the actor
boxes present at the frame's time. LiDAR: on held-out sweeps, the rendered range (where the
accumulated opacity crosses 0.5) and the heads' intensity and ray drop, against the recorded
returns and drops. Meshes: the background mesh against the log's ground-truth static mesh,
both restricted to the observed region (the cells that held LiDAR returns, grown by one cell).
Writes ``metrics.json``, PNG grids (render / truth / depth / normals / error) and the training
curves as PNG into the output directory.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from redrive.eval import metrics
from redrive.eval.protocol import sensor_split
from redrive.log.writer import atomic_write_bytes, atomic_write_json


def _spread(indices: np.ndarray, limit: int) -> np.ndarray:
    if limit <= 0 or len(indices) <= limit:
        return indices
    return indices[np.linspace(0, len(indices) - 1, limit).round().astype(int)]


def actor_mask(log, scene, camera: str, frame_time: float) -> np.ndarray:
    """(H, W) bool: pixels inside the 2-D bounding rectangles of the projected boxes of the actors
    present at ``frame_time``."""
    sensor = log.camera(camera)
    w, h = sensor.intrinsics.width, sensor.intrinsics.height
    mask = np.zeros((h, w), bool)
    cam_from_scene = np.linalg.inv(scene.ego.at(frame_time) @ sensor.vehicle_from_camera)
    for node in scene.actors.values():
        if not node.exists_at(frame_time):
            continue
        corners = node.box_corners(frame_time)
        pc = corners @ cam_from_scene[:3, :3].T + cam_from_scene[:3, 3]
        if (pc[:, 2] <= 0.1).any():
            continue  # partly behind the camera: its projection is unbounded
        uv, _, valid = sensor.intrinsics.project(pc)
        if not valid.all():
            continue
        u0, v0 = np.floor(uv.min(0)).astype(int)
        u1, v1 = np.ceil(uv.max(0)).astype(int)
        u0, v0, u1, v1 = max(u0, 0), max(v0, 0), min(u1, w - 1), min(v1, h - 1)
        if u1 > u0 and v1 > v0:
            mask[v0:v1 + 1, u0:u1 + 1] = True
    return mask


def _colourise(values: np.ndarray, lo: float, hi: float) -> np.ndarray:
    import matplotlib

    cmap = matplotlib.colormaps["turbo"]
    x = np.clip((values - lo) / max(hi - lo, 1e-9), 0, 1)
    x = np.where(np.isfinite(values), x, 0.0)
    return (cmap(x)[..., :3] * 255).astype(np.uint8)


def _save_png(path: Path, image: np.ndarray) -> None:
    import imageio.v3 as iio

    atomic_write_bytes(path, iio.imwrite("<bytes>", image, extension=".png"))


def _plot_curves(curves: list[dict], path: Path) -> None:
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not curves:
        return
    steps = [c["step"] for c in curves]
    keys = [k for k in curves[-1] if k not in ("step", "inv_s", "occupied")]
    fig, axes = plt.subplots(1, 2, figsize=(12, 4))
    for k in keys:
        if k == "psnr":
            continue
        axes[0].plot(steps, [c.get(k, np.nan) for c in curves], label=k)
    axes[0].set_yscale("log")
    axes[0].set_xlabel("step")
    axes[0].set_title("losses")
    axes[0].legend(fontsize=7)
    axes[1].plot(steps, [c.get("psnr", np.nan) for c in curves])
    axes[1].set_xlabel("step")
    axes[1].set_title("training PSNR (dB)")
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())


def evaluate_run(run_dir: str | Path, out_dir: str | Path | None = None, progress: bool = True,
                 meshes: bool = True) -> dict:
    """Evaluate a run on its log's held-out frames; returns the metrics (also in metrics.json)."""
    from tqdm import tqdm

    from redrive.log import DriveLog
    from redrive.recon.data import camera_frame, image_keys, lidar_sweep
    from redrive.recon.renderer import render_chunked
    from redrive.recon.trainer import load_run

    run_dir = Path(run_dir)
    out_dir = Path(out_dir) if out_dir is not None else run_dir / "eval"
    out_dir.mkdir(parents=True, exist_ok=True)
    model, cfg, info = load_run(run_dir)
    model.eval()
    torch.set_num_threads(cfg.train.threads)
    log = DriveLog.open(info["log"])
    scene = model.scene
    ec = cfg.eval
    split = sensor_split(log, ec.holdout_every)
    keys = image_keys(log)
    sky_gt = cfg.sky_mask == "auto"
    per_image, grid_rows = [], []
    jobs = [(cam, int(i)) for cam in log.cameras for i in _spread(split[cam]["heldout"], ec.max_frames_per_camera)]
    grid_pick = set(jobs[:: max(1, len(jobs) // max(1, ec.grid_frames))][: ec.grid_frames])
    for cam, i in tqdm(jobs, desc="eval cameras", unit="frame", disable=not progress):
        f = camera_frame(log, scene, cam, i, 1, sky_gt)
        t = lambda a: torch.from_numpy(np.ascontiguousarray(a)).float()  # noqa: E731
        want_normals = (cam, i) in grid_pick
        r = render_chunked(model, t(f["origins"]), t(f["directions"]), t(f["times"]), ec.chunk_rays,
                           need_rgb=True, need_normals=want_normals)
        train_idx = split[cam]["train"]
        neighbours = [keys[cam] + int(j) for j in train_idx[np.argsort(np.abs(train_idx - i))[:2]]]
        mat, off = model.appearance.interpolated(neighbours)
        rgb = (r["rgb"] @ mat.T + off).clamp(0, 1).numpy().reshape(*f["shape"], 3)
        gt = f["rgb"].reshape(*f["shape"], 3)
        mask = actor_mask(log, scene, cam, float(log.camera(cam).frame_times[i]))
        entry = {"camera": cam, "frame": i, "psnr_db": metrics.psnr(rgb, gt), "ssim": metrics.ssim(rgb, gt)}
        if mask[5:-5, 5:-5].any():
            entry["actor_psnr_db"] = metrics.psnr(rgb, gt, mask)
            entry["actor_ssim"] = metrics.ssim(rgb, gt, mask)
            entry["actor_pixels"] = int(mask.sum())
        per_image.append(entry)
        if want_normals:
            depth = r["depth"].numpy().reshape(f["shape"])
            depth = np.where(r["opacity"].numpy().reshape(f["shape"]) > 0.5, depth, np.inf)
            normals = r["normals"].numpy().reshape(*f["shape"], 3)
            err = np.abs(rgb - gt).mean(-1)
            row = np.concatenate([
                (gt * 255).astype(np.uint8), (rgb * 255).astype(np.uint8), _colourise(np.log(depth), 0.0, np.log(80.0)),
                ((normals * 0.5 + 0.5).clip(0, 1) * 255).astype(np.uint8), _colourise(err, 0.0, 0.25)], axis=1)
            grid_rows.append(row)
            _save_png(out_dir / f"{cam}_{i:04d}.png", row)
    if grid_rows:
        _save_png(out_dir / "grid.png", np.concatenate(grid_rows, axis=0))
    result: dict = {"run": str(run_dir), "step": info["step"], "heldout_images": len(per_image)}
    if per_image:
        result["psnr_db"] = float(np.mean([e["psnr_db"] for e in per_image]))
        result["ssim"] = float(np.mean([e["ssim"] for e in per_image]))
        actor = [e for e in per_image if "actor_psnr_db" in e]
        if actor:
            # pixel-weighted: the PSNR of all actor pixels together, from the per-image MSEs
            mse = np.array([10 ** (-e["actor_psnr_db"] / 10) for e in actor])
            px = np.array([e["actor_pixels"] for e in actor], float)
            result["actor_psnr_db"] = float(-10 * np.log10((mse * px).sum() / px.sum()))
            result["actor_ssim"] = float(np.mean([e["actor_ssim"] for e in actor]))
    # --- LiDAR
    lid_pred, lid_true, inten_p, inten_t, drop_p, drop_t, pts_p, pts_t = [], [], [], [], [], [], [], []
    for name in log.lidars:
        for i in tqdm(_spread(split[name]["heldout"], ec.max_sweeps), desc=f"eval {name}", unit="sweep",
                      disable=not progress):
            s = lidar_sweep(log, scene, name, int(i))
            t = lambda a: torch.from_numpy(np.ascontiguousarray(a)).float()  # noqa: E731
            o, d = t(s["origins"]), t(s["directions"])
            r = render_chunked(model, o, d, t(s["times"]), ec.chunk_rays, need_rgb=False)
            with torch.no_grad():
                inten, logit = model.lidar_heads(r["features"], d, r["depth"], r["opacity"])
            prob = torch.sigmoid(logit).numpy()
            rng = r["median_depth"].numpy().astype(np.float64)
            pred = np.where(prob > 0.5, np.inf, rng)
            lid_pred.append(pred)
            lid_true.append(s["range"])
            ret = ~s["dropped"] & np.isfinite(pred)
            inten_p.append(inten.numpy()[ret])
            inten_t.append(s["intensity"][ret])
            drop_p.append(prob)
            drop_t.append(s["dropped"])
            ok = np.isfinite(pred)
            pts_p.append(s["origins"][ok] + s["directions"][ok] * pred[ok, None])
            pts_t.append(s["origins"][~s["dropped"]] + s["directions"][~s["dropped"]] * s["range"][~s["dropped"], None])
    if lid_pred:
        errs = metrics.lidar_range_errors(np.concatenate(lid_pred), np.concatenate(lid_true))
        result["lidar_median_abs_m"] = errs["median_abs_m"]
        result["lidar_median_sq_m2"] = errs["median_sq_m2"]
        result["intensity_rmse"] = metrics.intensity_rmse(np.concatenate(inten_p), np.concatenate(inten_t))
        result["ray_drop_accuracy"] = metrics.ray_drop_accuracy(np.concatenate(drop_p), np.concatenate(drop_t))
        ch = [metrics.chamfer(p, q) for p, q in zip(pts_p, pts_t) if len(p) and len(q)]
        if ch:
            result["lidar_chamfer_sq_sum_per_gt_m2"] = float(np.mean([c["chamfer_sq_sum_per_gt_m2"] for c in ch]))
            result["lidar_chamfer_mean_m"] = float(np.mean([c["chamfer_mean_m"] for c in ch]))
    # --- meshes
    gt = log.ground_truth
    if meshes and gt is not None and gt.static_mesh:
        result.update(_mesh_metrics(model, log, ec.mesh_resolution_m, out_dir))
    _plot_curves(info["curves"], out_dir / "curves.png")
    atomic_write_json(out_dir / "metrics.json", {"summary": result, "images": per_image})
    return result


def _mesh_metrics(model, log, cell: float, out_dir: Path) -> dict:
    import trimesh

    from redrive.recon.mesh import background_mesh

    mesh = background_mesh(model, cell)
    if len(mesh.faces) == 0:
        return {"mesh_chamfer_mean_m": float("inf")}
    atomic_write_bytes(out_dir / "background.ply", mesh.export(file_type="ply"))
    gt = log.load_mesh(log.ground_truth.static_mesh)
    shift = model.scene.world_from_scene[:3, 3]
    gt = trimesh.Trimesh(np.asarray(gt.vertices) - shift, gt.faces, process=False)
    occ = model.occupancy.config
    lidar = model.lidar_cells.numpy()

    def observed(points: np.ndarray) -> np.ndarray:
        ijk = np.floor((points - np.array(occ.aabb[:3])) / np.array(occ.cell_size)).astype(int)
        res = np.array(occ.resolution)
        ok = ((ijk >= 0) & (ijk < res)).all(1)
        ijk = np.clip(ijk, 0, res - 1)
        return ok & lidar[ijk[:, 0] + res[0] * (ijk[:, 1] + res[1] * ijk[:, 2])]

    rng = np.random.default_rng(0)
    p_pred, _ = trimesh.sample.sample_surface(mesh, 200_000, seed=int(rng.integers(2**31)))
    lo, hi = model.scene.bounds
    inside = ((gt.triangles_center >= lo) & (gt.triangles_center <= hi)).all(1)
    gt_crop = trimesh.Trimesh(gt.vertices, gt.faces[inside], process=False)
    p_gt, _ = trimesh.sample.sample_surface(gt_crop, 400_000, seed=int(rng.integers(2**31)))
    p_pred, p_gt = p_pred[observed(p_pred)], p_gt[observed(p_gt)]
    if len(p_pred) == 0 or len(p_gt) == 0:
        return {"mesh_chamfer_mean_m": float("inf")}
    c = metrics.chamfer(p_pred, p_gt)
    return {"mesh_chamfer_mean_m": c["chamfer_mean_m"], "mesh_chamfer_sq_sum_per_gt_m2": c["chamfer_sq_sum_per_gt_m2"]}


__all__ = ["actor_mask", "evaluate_run"]
