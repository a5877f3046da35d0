"""Typed configuration of a reconstruction, and its presets (``fast``, ``default``, ``quality``).

Every option is a dataclass field with a docstring; ``redrive recon --print-config`` shows them
(``redrive.config.describe``), and the resolved config is saved with the run as ``config.json``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from redrive.config import apply_overrides
from redrive.errors import RedriveError


@dataclass
class FieldConfig:
    """Background SDF, distant region and sky."""

    levels: int = 12
    """Hash-grid levels of the background SDF."""
    log2_hashmap_size: int = 19
    """log2 rows per hashed level. A street of ~100 x 20 m has far more surface cells at the
    fine levels than 2^16 rows: collisions blurred the colour, so the table trades cache
    locality for capacity."""
    base_resolution: int = 16
    """Cells per axis of the coarsest level (over the longest side of the bounds)."""
    finest_cell_m: float = 0.04
    """Target cell size of the finest level, metres."""
    hidden: int = 64
    """Width of the one hidden layer of the geometry and colour MLPs."""
    geo_features: int = 15
    """Features the geometry MLP passes to the colour MLP (besides the SDF)."""
    color_from_grid: bool = False
    """Also feed the raw hash-grid encoding to the colour MLPs (background and actors), so that
    texture detail does not have to pass through the geometry MLP's few outputs. Off in the
    dataclass so that runs saved before the option load unchanged; the presets turn it on."""
    init_inv_s: float = 50.0
    """Initial NeuS sharpness (1 / standard deviation of the logistic density), 1/m."""
    distant: bool = True
    """Model the region beyond the bounds with a density field on contracted coordinates."""
    distant_samples: int = 8
    """Samples per ray in the distant region (uniform in inverse distance)."""
    distant_far_m: float = 1000.0
    """How far the distant region reaches, metres."""
    sky_frequencies: int = 4
    """Frequencies of the sky model's positional encoding of the view direction."""


@dataclass
class ActorConfig:
    """Actor fields: one shared hash grid, each actor in its own slot of an atlas."""

    enabled: bool = True
    """Give tracked actors their own SDFs (off: the background explains everything)."""
    levels: int = 10
    """Hash-grid levels of the shared actor grid."""
    log2_hashmap_size: int = 17
    """log2 rows per hashed level of the actor grid."""
    finest_cell_m: float = 0.03
    """Target finest cell size inside an actor box, metres."""
    box_margin: float = 0.1
    """Boxes are grown by this fraction so that surfaces on the box faces stay inside."""
    symmetric: bool = True
    """Mirror the box frame's y (left/right symmetry): unseen sides copy the seen ones."""
    samples: int = 16
    """Samples per ray and box, uniform between entry and exit."""
    time_step_s: float = 0.002
    """Actor poses are tabulated at this step for ray/box tests (a car at 15 m/s moves 3 cm)."""


@dataclass
class SamplingConfig:
    """How samples are placed along background rays."""

    occupancy_cell_m: float = 0.2
    """Cell size of the background occupancy grid, metres."""
    dilate_cells: int = 1
    """LiDAR-hit cells are grown by this many cells when the grid is initialised."""
    step_min_m: float = 0.05
    """Smallest step along a ray, metres."""
    cone: float = 0.004
    """Step = max(step_min, cone * distance)."""
    max_samples: int = 48
    """Cap on background samples per ray."""
    stretch: bool = False
    """A ray with more occupied steps than the cap takes longer steps to reach its far end
    (``ops.MarchConfig.stretch``); False: it is cut at the cap. Off: trained with it, the
    default run measured no better (docs/recon.md)."""
    update_every: int = 200
    """Steps between occupancy-grid updates from the SDF (0: never)."""
    update_band_m: float = 0.25
    """Cells whose |SDF| exceeds this at their centre become empty at an update."""


@dataclass
class LossConfig:
    """Weights of the losses."""

    rgb: float = 1.0
    """Photometric (Huber on linear RGB) on camera rays."""
    lidar_depth: float = 0.1
    """L1 on the expected LiDAR range, per metre."""
    lidar_surface: float = 1.0
    """|SDF| at LiDAR returns (the owning field, in its frame)."""
    lidar_freespace: float = 0.2
    """SDF >= 0 before and <= 0 just behind a LiDAR return (hinges)."""
    eikonal: float = 0.2
    """(|grad SDF| - 1)^2 on a random subset of samples (each of the two terms below). It must
    hold its own against ``lidar_surface``: |SDF| at noisy returns is smallest for a field that
    is flat across the surface. At 0.05 the default run's field was ~15x too flat along road
    returns, which put its zero crossing ~0.13 m in front of them on grazing rays."""
    eikonal_points: int = 2048
    """Samples per step on which the eikonal is computed (double backward is costly)."""
    eikonal_step_m: float = 0.1
    """Step of a second eikonal term on central differences, metres (0: none). The analytic
    gradient can reach |grad| = 1 through the finest levels' wiggles alone while the field stays
    nearly flat over tens of centimetres; a difference over a few finest cells measures that
    wider slope."""
    sky_opacity: float = 0.05
    """Opacity -> 0 on sky pixels (where the log has a sky mask)."""
    drop_opacity: float = 0.01
    """Opacity -> 0 on LiDAR rays without return (some drops are weak returns: keep it low)."""
    intensity: float = 0.1
    """MSE of the LiDAR intensity head."""
    ray_drop: float = 0.02
    """Binary cross-entropy of the LiDAR ray-drop head."""
    separation: float = 0.1
    """Background SDF > 0 inside actor boxes while the actor is there."""


@dataclass
class TrainConfig:
    """Optimisation."""

    steps: int = 3400
    """Optimisation steps (the default preset: 0.26-0.32 s per step on the quiet 2-core
    machine, whose speed drifts by ~20 % between hours: 15-18 minutes; held-out PSNR still rises
    by ~0.1 dB per 250 steps at 2600, and 3900 steps gave +0.12 dB but 1261 s on a slow hour)."""
    camera_rays: int = 2048
    """Camera rays per step."""
    lidar_rays: int = 1024
    """LiDAR rays per step."""
    lr: float = 0.01
    """Adam learning rate of the hash grids and the NeuS sharpness."""
    mlp_lr_ratio: float = 1.0
    """Learning rate of the MLPs, heads and appearance, as a fraction of ``lr``."""
    lr_final_ratio: float = 0.1
    """Learning rate decays exponentially to this fraction at the last step."""
    seed: int = 0
    """Seed of initialisation and of the ray sampler (each step's batch depends only on it)."""
    checkpoint_every: int = 500
    """Steps between checkpoints."""
    log_every: int = 25
    """Steps between training-curve records."""
    threads: int = 2
    """torch threads (fixed so that a resumed run computes exactly what an uninterrupted one does)."""
    pixel_stride: int = 1
    """Keep every n-th pixel of the training frames in memory (1: all)."""


@dataclass
class EvalConfig:
    """Held-out evaluation."""

    holdout_every: int = 2
    """Per sensor, frame i is held out when i % holdout_every == holdout_every - 1."""
    max_frames_per_camera: int = 0
    """Evaluate at most this many held-out frames per camera, evenly spread (0: all)."""
    max_sweeps: int = 0
    """Evaluate at most this many held-out LiDAR sweeps (0: all)."""
    grid_frames: int = 3
    """Held-out frames shown in each PNG grid."""
    chunk_rays: int = 8192
    """Rays rendered at once."""
    mesh_resolution_m: float = 0.1
    """Marching-cubes cell of the background mesh, metres."""


@dataclass
class ReconConfig:
    """A reconstruction."""

    preset: str = "default"
    """Name of the preset this config started from."""
    background: FieldConfig = field(default_factory=FieldConfig)
    actors: ActorConfig = field(default_factory=ActorConfig)
    sampling: SamplingConfig = field(default_factory=SamplingConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    sky_mask: Literal["auto", "none"] = "auto"
    """Where sky pixels come from: ``auto`` (ground-truth depth = inf when the log has it, as a
    stand-in for a segmentation mask), ``none``."""


PRESETS: dict[str, list[str]] = {
    "fast": [
        "background.color_from_grid=true", "train.steps=600", "train.camera_rays=2048", "train.lidar_rays=1024", "train.lr=0.02",
        "train.pixel_stride=2", "background.levels=10", "background.finest_cell_m=0.08", "sampling.max_samples=32",
        "sampling.update_every=150", "eval.max_frames_per_camera=2", "eval.max_sweeps=3",
        "actors.levels=8", "actors.samples=12", "eval.mesh_resolution_m=0.2",
        # measured on the demo: the default's stronger, wider eikonal costs this coarse grid
        # 0.1 dB held-out and 1.1 dB actor PSNR in 600 steps
        "loss.eikonal=0.05", "loss.eikonal_step_m=0",
    ],
    "default": ["background.color_from_grid=true"],
    "quality": [
        "background.color_from_grid=true", "train.steps=12000", "train.camera_rays=4096", "train.lidar_rays=2048",
        "background.levels=16", "background.log2_hashmap_size=17", "background.finest_cell_m=0.02",
        "sampling.max_samples=64", "actors.levels=12", "actors.samples=24",
    ],
}
"""Preset name -> overrides of the defaults. ``fast`` is the demo (a few minutes on 2 cores),
``default`` the benchmark (about 20 minutes), ``quality`` longer and finer."""


def preset(name: str, overrides: list[str] | None = None) -> ReconConfig:
    """The config of preset ``name`` with ``section.option=value`` overrides applied."""
    if name not in PRESETS:
        raise RedriveError(f"unknown recon preset {name!r}; choose one of: {', '.join(PRESETS)}")
    cfg = apply_overrides(ReconConfig(preset=name), PRESETS[name])
    return apply_overrides(cfg, list(overrides or []))


__all__ = ["ActorConfig", "EvalConfig", "FieldConfig", "LossConfig", "PRESETS", "ReconConfig", "SamplingConfig",
           "TrainConfig", "preset"]
