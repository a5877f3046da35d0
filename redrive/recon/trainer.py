"""Training of a reconstruction: losses, optimiser, progress, checkpoints and exact resume.

A run directory holds ``config.json`` (the resolved ReconConfig), ``scene.json`` (the scene
graph), ``checkpoints.json`` + ``ckpt-*.pt`` (model, optimiser, step, training curves) and
``curves.json``. Each step's batch and random choices depend only on ``(seed, step)``, so
``--resume`` after a kill continues with exactly the batches an uninterrupted run would draw.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from redrive.config import from_dict, to_dict
from redrive.errors import RedriveError
from redrive.log.writer import atomic_write_json
from redrive.recon.checkpoint import CheckpointError, latest_checkpoint, save_checkpoint
from redrive.recon.config import ReconConfig
from redrive.recon.data import RaySet, batch_indices, image_keys, step_generator, training_rays
from redrive.recon.fields import central_gradient
from redrive.recon.model import SceneModel
from redrive.recon.occupancy_init import actor_owned, init_occupancy, update_occupancy
from redrive.recon.renderer import render_rays
from redrive.scene.graph import SceneGraph


def build_scene(log, lidar_world: np.ndarray | None = None) -> SceneGraph:
    return SceneGraph.from_log(log, lidar_points=lidar_world)


def load_run(run_dir: str | Path) -> tuple[SceneModel, ReconConfig, dict]:
    """The model of a run at its latest usable checkpoint, its config and the checkpoint info
    (``step``, ``curves``, ``log``)."""
    run_dir = Path(run_dir)
    cfg_path, scene_path = run_dir / "config.json", run_dir / "scene.json"
    for p in (cfg_path, scene_path):
        if not p.is_file():
            raise RedriveError(f"{p}: missing; is {run_dir} a reconstruction run (redrive recon LOG --out RUN)?")
    cfg = from_dict(ReconConfig, json.loads(cfg_path.read_text())["config"], cfg_path)
    meta = json.loads(cfg_path.read_text())
    scene = SceneGraph.from_dict(json.loads(scene_path.read_text()))
    ckpt, refused = latest_checkpoint(run_dir)
    for reason in refused:
        print(f"warning: refused checkpoint: {reason}")
    if ckpt is None:
        raise CheckpointError(f"{run_dir}: no usable checkpoint" + (f" ({'; '.join(refused)})" if refused else ""))
    model = SceneModel(scene, cfg, int(meta["n_images"]))
    model.load_state_dict(ckpt["state"]["model"])
    return model, cfg, {"step": ckpt["step"], "curves": ckpt["state"].get("curves", []), "log": meta["log"]}


def _eikonal(grad: torch.Tensor) -> torch.Tensor:
    """Mean (|grad| - 1)^2 of gradients ``[N, 3]``."""
    return ((grad.norm(dim=-1) - 1.0) ** 2).mean()


class Trainer:
    """Trains a SceneModel on a DriveLog into ``run_dir``."""

    def __init__(self, log_path: str | Path, run_dir: str | Path, cfg: ReconConfig, resume: bool = False,
                 progress: bool = True):
        from redrive.log import DriveLog

        self.run_dir = Path(run_dir)
        self.cfg = cfg
        self.progress = progress
        torch.set_num_threads(cfg.train.threads)
        self.log = DriveLog.open(log_path)
        if resume and not (self.run_dir / "config.json").is_file():
            raise RedriveError(f"{self.run_dir}: nothing to resume (no config.json); run without --resume")
        if not resume and (self.run_dir / "checkpoints.json").exists():
            raise RedriveError(f"{self.run_dir}: already holds a run; use --resume to continue it or another --out")
        if resume:
            saved = json.loads((self.run_dir / "config.json").read_text())
            self.cfg = cfg = from_dict(ReconConfig, saved["config"], self.run_dir / "config.json")
        sky = cfg.sky_mask == "auto"
        scene = build_scene(self.log)
        self.cameras, self.lidar = training_rays(self.log, scene, cfg.eval.holdout_every, cfg.train.pixel_stride, sky,
                                                 progress)
        if self.lidar is not None and len(self.lidar):
            ret = ~self.lidar.targets["dropped"]
            pts = (self.lidar.origins[ret] + self.lidar.directions[ret] * self.lidar.targets["range"][ret, None]).double()
            scene = build_scene(self.log, pts[::7].numpy() + scene.world_from_scene[:3, 3])
        if resume:
            scene = SceneGraph.from_dict(json.loads((self.run_dir / "scene.json").read_text()))
        self.scene = scene
        self.n_images = sum(len(s) for s in self.log.cameras.values())
        torch.manual_seed(cfg.train.seed)
        self.model = SceneModel(scene, cfg, self.n_images)
        # fused: one pass over each parameter instead of a dozen elementwise ops (the hash tables
        # are ~11 M parameters: 34 -> 6 ms per step on the CPU here)
        self.opt = torch.optim.Adam(self.model.param_groups(cfg.train.lr), betas=(0.9, 0.99), fused=True)
        self.step = 0
        self.curves: list[dict] = []
        if resume:
            ckpt, refused = latest_checkpoint(self.run_dir)
            for reason in refused:
                print(f"warning: refused checkpoint, using the previous one: {reason}")
            if ckpt is None:
                raise CheckpointError(f"{self.run_dir}: no usable checkpoint to resume from"
                                      + (f" ({'; '.join(refused)})" if refused else ""))
            st = ckpt["state"]
            self.model.load_state_dict(st["model"])
            self.opt.load_state_dict(st["optimizer"])
            self.step = ckpt["step"]
            self.curves = list(st["curves"])
        else:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            atomic_write_json(self.run_dir / "config.json", {
                "config": to_dict(cfg), "log": str(Path(log_path).resolve()), "n_images": self.n_images,
                "image_keys": image_keys(self.log)})
            atomic_write_json(self.run_dir / "scene.json", scene.to_dict())
            init_occupancy(self.model, self.lidar, cfg.sampling.dilate_cells)

    # ------------------------------------------------------------------ one step
    def losses(self, k: int) -> tuple[torch.Tensor, dict[str, float]]:
        cfg, model = self.cfg, self.model
        w, tc = cfg.loss, cfg.train
        terms: dict[str, torch.Tensor] = {}
        cam = self.cameras.take(batch_indices(len(self.cameras), tc.camera_rays, tc.seed, k))
        out = render_rays(model, cam.origins, cam.directions, cam.times, need_rgb=True, need_lidar=False,
                          generator=step_generator(tc.seed, k, 0), keep_aux=True)
        rgb = model.appearance(out.rgb, cam.targets["image"])
        mse = F.mse_loss(rgb, cam.targets["rgb"])
        terms["rgb"] = w.rgb * mse
        sky = cam.targets["sky"]
        if sky.any():
            terms["sky"] = w.sky_opacity * out.opacity[sky].mean()
        eik_pts = [out.aux["bg_pts"].detach()]
        actor_local, actor_ids = [], []
        for a in out.aux["actor_sets"]:
            actor_local.append(a["local"].detach())
            actor_ids.append(a["actor"])
        if self.lidar is not None and len(self.lidar):
            lid = self.lidar.take(batch_indices(len(self.lidar), tc.lidar_rays, tc.seed + 7919, k))
            lo = render_rays(model, lid.origins, lid.directions, lid.times, need_rgb=False,
                             generator=step_generator(tc.seed, k, 1))
            ret = ~lid.targets["dropped"]
            r = lid.targets["range"]
            if ret.any():
                terms["lidar_depth"] = w.lidar_depth * ((lo.depth[ret] - r[ret]).abs().mean() + (1 - lo.opacity[ret]).mean())
            if (~ret).any():
                terms["drop_opacity"] = w.drop_opacity * lo.opacity[~ret].mean()
            inten, drop_logit = model.lidar_heads(lo.features, lid.directions, lo.depth.detach(), lo.opacity.detach())
            if ret.any():
                terms["intensity"] = w.intensity * F.mse_loss(inten[ret], lid.targets["intensity"][ret])
            terms["ray_drop"] = w.ray_drop * F.binary_cross_entropy_with_logits(drop_logit, lid.targets["dropped"].float())
            # surface and free space at the returns, in the field that owns each return
            ri = torch.nonzero(ret).squeeze(1)
            o, d, rr = lid.origins[ri], lid.directions[ri], r[ri]
            owner, frames = actor_owned(model, o, d, lid.times[ri], rr)
            bgm = owner < 0
            surf = o + d * rr[:, None]
            g = step_generator(tc.seed, k, 2)
            if bgm.any():
                ob, db, rb = o[bgm], d[bgm], rr[bgm]
                before = ob + db * (rb - 0.1 - 0.9 * torch.rand(rb.shape, generator=g))[:, None]
                behind = ob + db * (rb + 0.05)[:, None]
                pts = torch.cat([surf[bgm], before, behind])
                s = model.background.sdf(pts)
                m = bgm.sum()
                terms["lidar_surface"] = w.lidar_surface * s[:m].abs().mean()
                terms["freespace"] = w.lidar_freespace * (F.relu(-s[m:2 * m]).mean() + F.relu(s[2 * m:]).mean())
                eik_pts.append(surf[bgm])
            if (~bgm).any() and model.actors is not None:
                am = ~bgm
                aa = owner[am]
                T = model.poses.box_from_scene[frames[am], aa]
                local = torch.einsum("mij,mj->mi", T[:, :, :3], surf[am]) + T[:, :, 3]
                s, _ = model.actors.query(local, aa)
                terms["lidar_surface_actor"] = w.lidar_surface * s.abs().mean()
                actor_local.append(local)
                actor_ids.append(aa)
        # eikonal on a random subset of background (and actor) points
        g = step_generator(tc.seed, k, 3)
        pts = torch.cat(eik_pts)
        if pts.shape[0]:
            sel = torch.randint(0, pts.shape[0], (min(w.eikonal_points, pts.shape[0]),), generator=g)
            grad = model.background.gradient(pts[sel], create_graph=True)
            terms["eikonal"] = w.eikonal * _eikonal(grad)
            if w.eikonal_step_m > 0:
                grad = central_gradient(model.background.sdf, pts[sel], w.eikonal_step_m)
                terms["eikonal_wide"] = w.eikonal * _eikonal(grad)
        if actor_local and model.actors is not None:
            loc, ids = torch.cat(actor_local), torch.cat(actor_ids)
            if loc.shape[0]:
                sel = torch.randint(0, loc.shape[0], (min(w.eikonal_points // 2, loc.shape[0]),), generator=g)
                grad = model.actors.gradient(loc[sel], ids[sel], create_graph=True)
                terms["eikonal_actor"] = w.eikonal * _eikonal(grad)
                if w.eikonal_step_m > 0:
                    slot = ids[sel].repeat_interleave(6)
                    grad = central_gradient(lambda q: model.actors.query(q, slot)[0], loc[sel], w.eikonal_step_m)
                    terms["eikonal_wide_actor"] = w.eikonal * _eikonal(grad)
        sets = out.aux["actor_sets"]
        if sets and w.separation > 0:
            # separation: the background is empty inside the (ungrown) box of a present actor;
            # the bottom fifth of the box is left out (the road under the wheels is background)
            loc = torch.cat([a["local"] for a in sets]).detach()
            ids = torch.cat([a["actor"] for a in sets])
            p_sc = torch.cat([a["pts"] for a in sets]).detach()
            sel = torch.randint(0, loc.shape[0], (min(w.eikonal_points, loc.shape[0]),), generator=g)
            half = model.actors.half_extent[ids[sel]] / (1.0 + cfg.actors.box_margin)
            inner = (loc[sel].abs() < half).all(dim=-1) & (loc[sel, 2] > -0.6 * half[:, 2])
            if inner.any():
                sb = model.background.sdf(p_sc[sel][inner])
                terms["separation"] = w.separation * F.relu(0.2 - sb).mean()
        total = sum(terms.values())
        stats = {k2: float(v.detach()) for k2, v in terms.items()}
        stats["psnr"] = float(-10.0 * torch.log10(mse.detach().clamp_min(1e-10)))
        stats["inv_s"] = float(model.inv_s.detach())
        return total, stats

    # ------------------------------------------------------------------ loop
    def checkpoint(self) -> None:
        state = {"model": self.model.state_dict(), "optimizer": self.opt.state_dict(), "curves": self.curves}
        save_checkpoint(self.run_dir, self.step, state)
        atomic_write_json(self.run_dir / "curves.json", self.curves)

    def train(self, stop_at: int | None = None, on_step=None) -> dict:
        """Run to ``train.steps``. ``stop_at`` stops after that step without a checkpoint, as a
        kill would (tests of interruption). ``on_step(trainer)`` is called after every step (a
        benchmark's probe; time it spends is not the trainer's)."""
        from tqdm import tqdm

        tc = self.cfg.train
        end = tc.steps if stop_at is None else min(stop_at, tc.steps)
        rays_per_step = tc.camera_rays + (tc.lidar_rays if self.lidar is not None else 0)
        bar = tqdm(total=tc.steps, initial=self.step, desc="recon", unit="step", disable=not self.progress)
        t_start = time.perf_counter()
        done_here = 0
        while self.step < end:
            k = self.step
            lr = tc.lr * tc.lr_final_ratio ** (k / max(1, tc.steps))
            for i, group in enumerate(self.opt.param_groups):
                group["lr"] = lr if i == 0 else lr * tc.mlp_lr_ratio
            self.opt.zero_grad(set_to_none=True)
            loss, stats = self.losses(k)
            loss.backward()
            self.opt.step()
            loss_value = float(loss.detach())
            self.step += 1
            done_here += 1
            su = self.cfg.sampling.update_every
            if su and self.step % su == 0 and self.step < tc.steps:
                stats["occupied"] = update_occupancy(self.model, self.cfg.sampling.update_band_m)
            elapsed = time.perf_counter() - t_start
            if self.step % tc.log_every == 0 or self.step == tc.steps:
                self.curves.append({"step": self.step, "loss": loss_value, **stats})
            bar.set_postfix(loss=f"{loss_value:.4f}", psnr=f"{stats['psnr']:.2f}",
                            rays_s=f"{done_here * rays_per_step / max(elapsed, 1e-9):.0f}")
            bar.update(1)
            if self.step % tc.checkpoint_every == 0 or self.step == tc.steps:
                self.checkpoint()
            if on_step is not None:
                on_step(self)
        bar.close()
        return {"step": self.step, "curves": self.curves}


def train_run(log_path, run_dir, cfg: ReconConfig, resume: bool = False, progress: bool = True) -> dict:
    return Trainer(log_path, run_dir, cfg, resume, progress).train()


__all__ = ["Trainer", "load_run", "train_run"]
