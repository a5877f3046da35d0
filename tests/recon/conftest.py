"""Fixtures of the reconstruction tests."""

from __future__ import annotations

import pytest

# Small batches and a coarse model: a few hundred steps in well under a minute.
SMALL = ["train.camera_rays=512", "train.lidar_rays=256", "train.lr=0.02", "train.log_every=10",
         "background.log2_hashmap_size=15", "actors.log2_hashmap_size=15",
         "background.levels=8", "background.finest_cell_m=0.1", "actors.levels=6", "actors.samples=8",
         "sampling.max_samples=24", "sampling.update_every=100", "background.distant_samples=4"]


@pytest.fixture(scope="module")
def tiny_log(tmp_path_factory):
    from redrive.log.synth import generate

    return generate(tmp_path_factory.mktemp("recon") / "log", preset="tiny", seed=3)
