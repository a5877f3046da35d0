"""The eikonal's central-difference term: its gradient and its place in the training losses."""

from __future__ import annotations

import torch

from redrive.recon.config import preset
from redrive.recon.fields import central_gradient
from redrive.recon.trainer import Trainer

from tests.recon.conftest import SMALL


def test_central_gradient_matches_the_analytic_gradient():
    centre = torch.tensor([0.3, -0.2, 0.1])
    sdf = lambda p: (p - centre).norm(dim=-1) - 0.5  # noqa: E731
    p = torch.randn(200, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * 2.0
    g = central_gradient(sdf, p, 1e-3)
    exact = torch.nn.functional.normalize(p - centre, dim=-1)
    torch.testing.assert_close(g, exact, rtol=0, atol=1e-5)
    # a step wider than a wiggle sees through it: sin(40 x) / 40 has |grad| up to 1, its
    # central difference over 0.25 m at most |sin(10)| / 10 = 0.054
    wiggle = lambda q: torch.sin(40.0 * q[:, 0]) / 40.0  # noqa: E731
    assert float(central_gradient(wiggle, p, 0.25).norm(dim=-1).max()) < 0.06


def test_wide_eikonal_terms_enter_the_loss_and_reach_the_fields(tiny_log, tmp_path):
    cfg = preset("fast", SMALL + ["train.steps=2", "loss.eikonal_step_m=0.1"])
    trainer = Trainer(tiny_log, tmp_path / "run", cfg, progress=False)
    total, stats = trainer.losses(0)
    assert stats["eikonal_wide"] > 0.0 and "eikonal_wide_actor" in stats, stats
    total.backward()
    assert float(trainer.model.background.grid.table.grad.abs().sum()) > 0.0
    off = Trainer(tiny_log, tmp_path / "off", preset("fast", SMALL + ["train.steps=2"]), progress=False)
    assert "eikonal_wide" not in off.losses(0)[1]
