"""Reconstruction on the synthetic ``tiny`` log: learning, exact resume, refused checkpoints."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from redrive.cli import main
from redrive.recon.checkpoint import CheckpointError
from redrive.recon.config import preset
from redrive.recon.renderer import render_chunked
from redrive.recon.trainer import Trainer, load_run

from tests.recon.conftest import SMALL


def _fixed_rays(trainer, n=2048):
    idx = torch.linspace(0, len(trainer.cameras) - 1, n).long()
    return trainer.cameras.take(idx)


def _psnr(model, rays) -> float:
    r = render_chunked(model, rays.origins, rays.directions, rays.times, 4096)
    rgb = model.appearance(r["rgb"], rays.targets["image"]).clamp(0, 1)
    return float(-10 * torch.log10(((rgb.detach() - rays.targets["rgb"]) ** 2).mean()))


def _lidar_error(model, trainer, n=2048) -> float:
    lid = trainer.lidar
    ret = torch.nonzero(~lid.targets["dropped"]).squeeze(1)
    sel = lid.take(ret[torch.linspace(0, ret.numel() - 1, n).long()])
    r = render_chunked(model, sel.origins, sel.directions, sel.times, 4096, need_rgb=False)
    err = (r["median_depth"] - sel.targets["range"]).abs()
    err[~torch.isfinite(err)] = 100.0
    return float(err.median())


def test_training_beats_untrained_and_constant_colour(tiny_log, tmp_path):
    cfg = preset("fast", SMALL + ["train.steps=300", "train.checkpoint_every=300"])
    trainer = Trainer(tiny_log, tmp_path / "run", cfg, progress=False)
    rays = _fixed_rays(trainer)
    untrained_psnr = _psnr(trainer.model, rays)
    untrained_lidar = _lidar_error(trainer.model, trainer)
    mean_colour = rays.targets["rgb"].mean(0)
    constant_psnr = float(-10 * torch.log10(((mean_colour - rays.targets["rgb"]) ** 2).mean()))
    trainer.train()
    trained_psnr = _psnr(trainer.model, rays)
    trained_lidar = _lidar_error(trainer.model, trainer)
    # A broken model (no learning, wrong geometry, colour ignoring position) cannot pass these.
    figures = (trained_psnr, constant_psnr, untrained_psnr, trained_lidar, untrained_lidar)
    assert trained_psnr > constant_psnr + 2.5, figures
    assert trained_psnr > untrained_psnr + 2.5, figures
    assert trained_lidar < 0.3, figures
    assert untrained_lidar > 1.0, figures
    # the run reloads to the same model
    model, _, info = load_run(tmp_path / "run")
    assert info["step"] == 300
    assert abs(_psnr(model, rays) - trained_psnr) < 1e-4


def _state(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_resume_after_interruption_equals_uninterrupted(tiny_log, tmp_path):
    cfg = preset("fast", SMALL + ["train.steps=30", "train.checkpoint_every=10", "sampling.update_every=15"])
    full = Trainer(tiny_log, tmp_path / "full", cfg, progress=False)
    full.train()
    part = Trainer(tiny_log, tmp_path / "part", cfg, progress=False)
    part.train(stop_at=17)  # "killed" after step 17: the last checkpoint is step 10
    del part
    resumed = Trainer(tiny_log, tmp_path / "part", cfg, resume=True, progress=False)
    assert resumed.step == 10
    resumed.train()
    a, b = _state(full.model), _state(resumed.model)
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(b[k], a[k], rtol=1e-5, atol=1e-5, msg=lambda m, k=k: f"{k}: {m}")
    assert [c["step"] for c in resumed.curves] == [c["step"] for c in full.curves]
    np.testing.assert_allclose([c["loss"] for c in resumed.curves], [c["loss"] for c in full.curves], rtol=1e-4)


def test_corrupted_checkpoint_is_refused_and_previous_kept(tiny_log, tmp_path, capsys):
    run = tmp_path / "run"
    args = ["recon", str(tiny_log), "--out", str(run), "--preset", "fast", "--quiet"]
    for o in SMALL + ["train.steps=20", "train.checkpoint_every=10"]:
        args += ["--set", o]
    assert main(args) == 0
    newest = run / "ckpt-00000020.pt"
    previous = run / "ckpt-00000010.pt"
    data = bytearray(newest.read_bytes())
    newest.write_bytes(data[: len(data) // 3])  # truncated by a crash or a full disk
    model, _, info = load_run(run)
    out = capsys.readouterr().out
    assert info["step"] == 10 and "truncated" in out and previous.exists()
    # resuming continues from the previous checkpoint and redoes the lost steps
    assert main(["recon", str(tiny_log), "--out", str(run), "--resume", "--quiet"]) == 0
    assert load_run(run)[2]["step"] == 20
    # when no checkpoint is usable the error says so plainly
    for p in run.glob("ckpt-*.pt"):
        blob = bytearray(p.read_bytes())
        blob[len(blob) // 2] ^= 0xFF
        p.write_bytes(blob)
    with pytest.raises(CheckpointError, match="no usable checkpoint"):
        load_run(run)
    assert main(["recon", str(tiny_log), "--out", str(run), "--resume", "--quiet"]) == 2
    assert "corrupted" in capsys.readouterr().err


def test_config_errors_are_clear(tiny_log, tmp_path, capsys):
    assert main(["recon", str(tiny_log), "--out", str(tmp_path / "r"), "--preset", "nope"]) == 2
    assert "unknown recon preset 'nope'" in capsys.readouterr().err
    assert main(["recon", str(tiny_log), "--out", str(tmp_path / "r"), "--set", "train.stepz=3"]) == 2
    assert "stepz" in capsys.readouterr().err
    assert main(["recon", str(tiny_log), "--out", str(tmp_path / "r"), "--set", "sky_mask=segmentation"]) == 2
    assert "field 'sky_mask' = 'segmentation': must be one of 'auto', 'none'" in capsys.readouterr().err
    assert main(["recon", str(tiny_log), "--out", str(tmp_path / "r"), "--print-config"]) == 0
    assert "camera_rays" in capsys.readouterr().out


def test_eval_and_mesh_commands_write_their_outputs(tiny_log, tmp_path, capsys):
    import json

    run = tmp_path / "run"
    args = ["recon", str(tiny_log), "--out", str(run), "--preset", "fast", "--quiet"]
    for o in SMALL + ["train.steps=20", "train.checkpoint_every=20", "eval.mesh_resolution_m=0.4",
                      "eval.max_frames_per_camera=0", "eval.max_sweeps=0"]:
        args += ["--set", o]
    assert main(args) == 0
    assert main(["eval", str(run), "--quiet"]) == 0
    doc = json.loads((run / "eval" / "metrics.json").read_text())
    s = doc["summary"]
    for key in ("psnr_db", "ssim", "lidar_median_abs_m", "lidar_median_sq_m2", "intensity_rmse", "ray_drop_accuracy",
                "lidar_chamfer_mean_m", "lidar_chamfer_sq_sum_per_gt_m2"):
        assert key in s and np.isfinite(s[key]), key
    assert "mesh_chamfer_mean_m" in s  # inf when 20 steps have not yet formed a surface
    assert s["heldout_images"] == 3 * 4  # 3 cameras, frames 1, 3, 5, 7 of 8
    assert {e["frame"] for e in doc["images"]} == {1, 3, 5, 7}
    for name in ("grid.png", "curves.png"):
        assert (run / "eval" / name).stat().st_size > 0, name
    assert main(["mesh", str(run), "--cell", "0.4", "--actor-cell", "0.2"]) == 0
    assert (run / "meshes" / "background.ply").stat().st_size > 0
    assert main(["eval", str(tmp_path / "missing")]) == 2
    assert "config.json" in capsys.readouterr().err
