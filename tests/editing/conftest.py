"""One tiny trained reconstruction shared by the editing tests (trained once per session)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

# The small, fast model of tests/recon/test_recon.py: a few hundred steps on the tiny log.
SMALL = ["train.camera_rays=512", "train.lidar_rays=256", "train.lr=0.02", "train.log_every=50",
         "background.log2_hashmap_size=15", "actors.log2_hashmap_size=15",
         "background.levels=8", "background.finest_cell_m=0.1", "actors.levels=6", "actors.samples=8",
         "sampling.max_samples=24", "sampling.update_every=100", "background.distant_samples=4"]


@pytest.fixture(scope="session", autouse=True)
def coarse_lidar_meshes():
    """The LiDAR surface path's meshes at 0.25 m / 0.1 m cells (the defaults take ~6x longer to
    extract, which the tests do not need)."""
    from redrive.editing import EditableScene
    from redrive.render.surface import SurfaceConfig

    saved = EditableScene.surface_config
    EditableScene.surface_config = SurfaceConfig(background_cell_m=0.25, actor_cell_m=0.1)
    yield
    EditableScene.surface_config = saved


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> Path:
    """A run directory trained for 300 steps on the tiny synthetic log (seed 3).
    ``REDRIVE_TEST_EDIT_RUN`` may name such a run trained earlier (saves ~1.5 min while iterating)."""
    import os

    if os.environ.get("REDRIVE_TEST_EDIT_RUN"):
        return Path(os.environ["REDRIVE_TEST_EDIT_RUN"])
    from redrive.log.synth import generate
    from redrive.recon.config import preset
    from redrive.recon.trainer import Trainer

    root = tmp_path_factory.mktemp("editing")
    log = generate(root / "log", preset="tiny", seed=3, progress=False)
    # 300 steps leave part of a moving car in a background trained with the default separation
    # weight (the removal test then failed for 4 of 6 training seeds); at 1.0, 6 of 6 pass
    cfg = preset("fast", SMALL + ["train.steps=300", "train.checkpoint_every=300", "loss.separation=1.0"])
    Trainer(log, root / "run", cfg, progress=False).train()
    return root / "run"


@pytest.fixture(scope="session")
def red_box(tmp_path_factory) -> Path:
    """A 4 x 1.8 x 1.5 m box mesh with red face colours (PLY)."""
    import trimesh

    mesh = trimesh.creation.box(extents=[4.0, 1.8, 1.5])
    mesh.visual.face_colors = np.tile([220, 20, 20, 255], (len(mesh.faces), 1))
    path = tmp_path_factory.mktemp("assets") / "red_box.ply"
    mesh.export(path)
    return path


def points_in_scene(scene, sweep, vehicle_from_lidar) -> np.ndarray:
    """(N, 3) scene-frame positions of a rendered sweep's returns."""
    from redrive.render.rays import sensor_poses

    poses = sensor_poses(scene.graph.ego, vehicle_from_lidar, sweep.times)
    return np.einsum("nij,nj->ni", poses[:, :3, :3], sweep.points.astype(np.float64)) + poses[:, :3, 3]


def inside_box(points: np.ndarray, scene_from_box: np.ndarray, size: np.ndarray, grow: float) -> np.ndarray:
    """(N,) whether scene-frame points lie in the box grown by ``grow`` metres."""
    inv = np.linalg.inv(scene_from_box)
    local = points @ inv[:3, :3].T + inv[:3, 3]
    return (np.abs(local) <= np.asarray(size) / 2 + grow).all(axis=1)
