"""The reconstructed scene: scene graph + fields + occupancy grid, saved and loaded together."""

from __future__ import annotations

import copy
import math

import numpy as np
import torch
from torch import nn

from redrive.ops import OccupancyGrid, OccupancyGridConfig
from redrive.recon.config import ReconConfig
from redrive.recon.fields import ActorFields, Appearance, DistantField, LidarHeads, SDFField, SkyField
from redrive.scene.graph import SceneGraph


class ActorPoses(nn.Module):
    """Actor boxes tabulated over time for ray/box tests: ``box_from_scene [F, A, 3, 4]``,
    ``present [F, A]``, at times ``t0 + k * step``, and ``field_index [A]``: the slot of each box's
    SDF in its ``ActorFields`` (the identity for a reconstruction; an edit can render one learned
    actor in several boxes, or boxes of another run's fields). Derived from a scene graph
    (buffers are rebuilt, not learned), so an edited graph gives edited poses."""

    def __init__(self, scene: SceneGraph, ids: list[str], step: float, field_index: list[int] | None = None):
        super().__init__()
        if field_index is not None and len(field_index) != len(ids):
            raise ValueError(f"field_index has {len(field_index)} entries for {len(ids)} actors")
        t0, t1 = float(scene.ego.times[0]), float(scene.ego.times[-1])
        for a in ids:  # actors may be tracked beyond the ego's span
            t0 = min(t0, float(scene.actors[a].trajectory.times[0]))
            t1 = max(t1, float(scene.actors[a].trajectory.times[-1]))
        t0, t1 = t0 - 0.1, t1 + 0.1
        self.t0, self.step = t0, step
        times = t0 + step * np.arange(int(math.ceil((t1 - t0) / step)) + 1)
        if ids:
            boxes = scene.boxes_at(times, ids)
            inv = np.linalg.inv(boxes["scene_from_box"])[..., :3, :]
            present = boxes["present"]
        else:
            inv = np.zeros((len(times), 0, 3, 4))
            present = np.zeros((len(times), 0), bool)
        self.register_buffer("box_from_scene", torch.from_numpy(inv).float(), persistent=False)
        self.register_buffer("present", torch.from_numpy(present), persistent=False)
        index = list(range(len(ids))) if field_index is None else list(field_index)
        self.register_buffer("field_index", torch.tensor(index, dtype=torch.int64), persistent=False)

    def keeping(self, mask: torch.Tensor) -> ActorPoses:
        """A shallow copy in which the boxes where ``mask [A]`` is False are absent."""
        out = copy.copy(self)
        out._buffers = dict(self._buffers)
        out._buffers["present"] = self.present & mask[None, :]
        return out

    def frames(self, times: torch.Tensor) -> torch.Tensor:
        k = torch.round((times.double() - self.t0) / self.step).long()
        return k.clamp(0, self.box_from_scene.shape[0] - 1)


class SceneModel(nn.Module):
    """Every learned part of a reconstruction."""

    def __init__(self, scene: SceneGraph, cfg: ReconConfig, n_images: int):
        super().__init__()
        self.scene, self.cfg = scene, cfg
        f, a, s = cfg.background, cfg.actors, cfg.sampling
        lo = torch.tensor(scene.bounds[0], dtype=torch.float32)
        hi = torch.tensor(scene.bounds[1], dtype=torch.float32)
        self.background = SDFField(lo, hi, f.levels, f.log2_hashmap_size, f.base_resolution, f.finest_cell_m,
                                   f.hidden, f.geo_features, color_from_grid=f.color_from_grid)
        self.distant = DistantField(lo, hi, f.hidden) if f.distant else None
        self.sky = SkyField(f.sky_frequencies, f.hidden)
        self.actor_ids = list(scene.actors) if a.enabled else []
        half = torch.tensor(np.array([scene.actors[i].size for i in self.actor_ids]).reshape(-1, 3) / 2.0,
                            dtype=torch.float32)
        self.actors = ActorFields(half, a.box_margin, a.symmetric, a.levels, a.log2_hashmap_size, a.finest_cell_m,
                                  f.hidden, f.geo_features, f.color_from_grid) if self.actor_ids else None
        self.poses = ActorPoses(scene, self.actor_ids, a.time_step_s)
        self.lidar_heads = LidarHeads(f.geo_features, f.hidden)
        self.appearance = Appearance(n_images)
        self.log_inv_s = nn.Parameter(torch.tensor([math.log(f.init_inv_s)]))
        res = tuple(max(1, int(math.ceil((scene.bounds[1][k] - scene.bounds[0][k]) / s.occupancy_cell_m))) for k in range(3))
        aabb = tuple(float(v) for v in scene.bounds[0]) + tuple(float(v) for v in scene.bounds[1])
        self.occupancy = OccupancyGrid(OccupancyGridConfig(aabb=aabb, resolution=res, coarse_factor=4, threshold=0.5))
        self.register_buffer("lidar_cells", torch.zeros(self.occupancy.config.n_cells, dtype=torch.bool))

    @property
    def inv_s(self) -> torch.Tensor:
        return self.log_inv_s.exp().clamp(1.0, 5000.0)

    def actor_half_sizes(self) -> torch.Tensor:
        return self.actors.half_extent if self.actors is not None else torch.zeros(0, 3)

    def param_groups(self, lr: float) -> list[dict]:
        grids, nets = [], []
        for name, p in self.named_parameters():
            # the sharpness learns at the grids' rate: at the MLPs' it lags far behind the surfaces
            (grids if name.endswith("grid.table") or name == "log_inv_s" else nets).append(p)
        return [{"params": grids, "lr": lr, "eps": 1e-15}, {"params": nets, "lr": lr * self.cfg.train.mlp_lr_ratio, "eps": 1e-15}]


__all__ = ["ActorPoses", "SceneModel"]
