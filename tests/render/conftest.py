"""One small trained reconstruction shared by the rendering tests of a session.

The ``tiny`` synthetic log (seed 3) trained for 250 steps with a coarse model: enough for sharp
surfaces where the LiDAR saw them, a minute or two on the 2-core machine. Meshes are extracted at
0.2 m (actors 0.1 m) into a cache shared by the tests.
"""

from __future__ import annotations

import pytest

TINY_RUN = ["train.steps=250", "train.checkpoint_every=250", "train.camera_rays=512", "train.lidar_rays=512",
            "train.lr=0.02", "background.log2_hashmap_size=15", "actors.log2_hashmap_size=15", "background.levels=8",
            "background.finest_cell_m=0.1", "actors.levels=6", "actors.samples=8", "sampling.max_samples=48",
            "sampling.update_every=50", "background.distant_samples=4"]
"""Overrides of the ``fast`` preset for the shared test run."""

MESH_CELL_M = 0.2


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """``(log_dir, run_dir, mesh_cache_dir)`` of the shared trained run."""
    from redrive.log.synth import generate
    from redrive.recon.config import preset
    from redrive.recon.trainer import Trainer

    root = tmp_path_factory.mktemp("render_run")
    log = generate(root / "log", preset="tiny", seed=3, progress=False)
    Trainer(log, root / "run", preset("fast", TINY_RUN), progress=False).train()
    return log, root / "run", root / "meshes"


@pytest.fixture(scope="session")
def neural_scene(tiny_run):
    """The shared run as a ``NeuralScene`` (surface meshes cached)."""
    import torch

    from redrive.render.neural import NeuralScene
    from redrive.render.surface import SurfaceConfig

    torch.set_num_threads(2)
    _, run, cache = tiny_run
    scene = NeuralScene.from_run(run, mesh_cache=cache, surface=SurfaceConfig(background_cell_m=MESH_CELL_M, actor_cell_m=0.1))
    scene.surface.prepare()
    return scene
