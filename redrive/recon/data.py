"""Training and evaluation rays of a DriveLog, in the scene frame.

Camera pixels carry their own capture time (rolling shutter) and the camera pose at that time;
LiDAR returns and drops carry their firing time and the sensor pose at that time (the ego moves
during a sweep). Ray generation is ``redrive.render.rays``; this module only gathers targets
and keeps everything as flat float32 tensors that a sampler draws batches from.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from redrive.eval.protocol import split_indices
from redrive.render.rays import camera_rays, move_sensor_rays
from redrive.scene.graph import SceneGraph


def image_keys(log) -> dict[str, int]:
    """First appearance-code index of each camera: frame ``i`` of camera ``c`` uses code
    ``image_keys(log)[c] + i``."""
    keys, start = {}, 0
    for name, sensor in log.cameras.items():
        keys[name] = start
        start += len(sensor)
    return keys


def camera_frame(log, scene: SceneGraph, camera: str, index: int, stride: int = 1,
                 sky_from_gt: bool = True) -> dict[str, np.ndarray]:
    """Rays and targets of one camera frame (every ``stride``-th pixel in both directions).

    Returns ``origins, directions (N, 3)``, ``times (N,)``, ``rgb (N, 3)`` in [0, 1],
    ``uv (N, 2)``, ``sky (N,)`` bool (all False without a sky mask), ``shape (H', W')``.
    """
    sensor = log.camera(camera)
    w, h = sensor.intrinsics.width, sensor.intrinsics.height
    if stride == 1:
        uv = None
        rows, cols = np.arange(h), np.arange(w)
    else:
        rows, cols = np.arange(stride // 2, h, stride), np.arange(stride // 2, w, stride)
        vv, uu = np.meshgrid(rows, cols, indexing="ij")
        uv = np.stack([uu.ravel(), vv.ravel()], axis=1).astype(np.float64)
    rays = camera_rays(sensor, scene.ego, float(sensor.frame_times[index]), uv)
    image = log.load_image(camera, index)[rows][:, cols]
    sky = np.zeros(len(rays), bool)
    if sky_from_gt and log.ground_truth is not None and camera in log.ground_truth.camera_frames:
        depth = log.load_gt_camera_frame(camera, index)["depth"][rows][:, cols]
        sky = ~np.isfinite(depth).ravel()
    return {
        "origins": rays.origins, "directions": rays.directions, "times": rays.times,
        "rgb": image.reshape(-1, 3).astype(np.float32) / 255.0, "uv": rays.uv, "sky": sky,
        "shape": (len(rows), len(cols)),
    }


def lidar_sweep(log, scene: SceneGraph, lidar: str, index: int) -> dict[str, np.ndarray]:
    """Rays and targets of one LiDAR sweep: returns then drops.

    Returns ``origins, directions (N, 3)``, ``times (N,)``, ``range (N,)`` metres (inf for
    drops), ``intensity (N,)``, ``dropped (N,)`` bool.
    """
    sensor = log.lidar(lidar)
    sweep = log.load_sweep(lidar, index)
    pts = sweep.points.astype(np.float64)
    rng = np.linalg.norm(pts, axis=1)
    dirs = [pts / np.maximum(rng, 1e-9)[:, None]]
    times = [sweep.times]
    ranges = [rng]
    inten = [sweep.intensity.astype(np.float32)]
    if sweep.drop_directions is not None and len(sweep.drop_directions):
        d = sweep.drop_directions.astype(np.float64)
        dirs.append(d / np.linalg.norm(d, axis=1, keepdims=True))
        times.append(sweep.drop_times)
        ranges.append(np.full(len(d), np.inf))
        inten.append(np.zeros(len(d), np.float32))
    d_s, t = np.concatenate(dirs), np.concatenate(times)
    origins, directions = move_sensor_rays(scene.ego, sensor.vehicle_from_lidar, t, d_s)
    r = np.concatenate(ranges)
    return {"origins": origins, "directions": directions, "times": t, "range": r,
            "intensity": np.concatenate(inten), "dropped": ~np.isfinite(r)}


@dataclass
class RaySet:
    """Flat float32 rays of many frames with their targets (torch tensors)."""

    origins: torch.Tensor
    """[N, 3] scene-frame origins."""
    directions: torch.Tensor
    """[N, 3] unit directions."""
    times: torch.Tensor
    """[N] float32 seconds since the log start."""
    targets: dict[str, torch.Tensor]
    """Per-ray targets: cameras ``rgb [N, 3]``, ``sky [N]``, ``image [N]`` (appearance index);
    LiDAR ``range [N]``, ``intensity [N]``, ``dropped [N]``."""

    def __len__(self) -> int:
        return self.origins.shape[0]

    def take(self, idx: torch.Tensor) -> "RaySet":
        return RaySet(self.origins[idx], self.directions[idx], self.times[idx],
                      {k: v[idx] for k, v in self.targets.items()})


def _cat(parts: list[dict[str, np.ndarray]], keys: list[str]) -> RaySet:
    def t(name, dtype=torch.float32):
        return torch.from_numpy(np.concatenate([p[name] for p in parts])).to(dtype)

    targets = {}
    for k in keys:
        sample = parts[0][k]
        dtype = torch.bool if sample.dtype == bool else (torch.int64 if sample.dtype.kind in "iu" else torch.float32)
        targets[k] = t(k, dtype)
    return RaySet(t("origins"), t("directions"), t("times"), targets)


def training_rays(log, scene: SceneGraph, holdout_every: int = 2, pixel_stride: int = 1,
                  sky_from_gt: bool = True, progress: bool = True) -> tuple[RaySet, RaySet | None]:
    """Camera and LiDAR rays of the training frames of every sensor (held-out frames excluded)."""
    from tqdm import tqdm

    keys = image_keys(log)
    jobs = [("camera", name, i) for name, s in log.cameras.items() for i in split_indices(len(s), holdout_every)[0]]
    jobs += [("lidar", name, i) for name, s in log.lidars.items() for i in split_indices(len(s), holdout_every)[0]]
    cams, lids = [], []
    for kind, name, i in tqdm(jobs, desc="loading rays", unit="frame", disable=not progress):
        if kind == "camera":
            f = camera_frame(log, scene, name, int(i), pixel_stride, sky_from_gt)
            f["image"] = np.full(len(f["times"]), keys[name] + int(i), np.int64)
            cams.append(f)
        else:
            lids.append(lidar_sweep(log, scene, name, int(i)))
    camera_set = _cat(cams, ["rgb", "sky", "image"])
    lidar_set = _cat(lids, ["range", "intensity", "dropped"]) if lids else None
    return camera_set, lidar_set


def batch_indices(n: int, size: int, seed: int, step: int) -> torch.Tensor:
    """Indices of the batch of ``step``: a function of (seed, step) only, so a resumed run draws
    exactly the batches an uninterrupted one would."""
    g = torch.Generator().manual_seed(int(seed) * 1_000_003 + int(step))
    return torch.randint(0, n, (min(size, n) if n else 0,), generator=g)


def step_generator(seed: int, step: int, stream: int) -> torch.Generator:
    """A generator for the random choices of one step (jitter, eikonal subsets)."""
    return torch.Generator().manual_seed((int(seed) * 1_000_003 + int(step)) * 7 + stream + 1)


__all__ = ["RaySet", "batch_indices", "camera_frame", "image_keys", "lidar_sweep", "step_generator", "training_rays"]
