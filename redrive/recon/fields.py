"""Neural fields of a scene: background SDF, distant region, sky, actor SDFs, LiDAR heads.

All positions are scene-frame metres (actors: their box frame); SDFs are in metres. The hash
grids are the native kernels of ``redrive.ops``.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from redrive.ops import HashGrid, HashGridConfig, run_mlp


def _mlp(n_in: int, hidden: int, n_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(n_in, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, n_out))


def _grid(levels: int, log2_size: int, base: int, finest: float) -> HashGrid:
    finest_res = int(min(max(base + 1, round(finest)), 2**19))
    return HashGrid(HashGridConfig(n_levels=levels, n_features_per_level=2, log2_hashmap_size=log2_size,
                                   base_resolution=base, finest_resolution=finest_res, init_scale=1e-4))


def direction_encoding(d: torch.Tensor) -> torch.Tensor:
    """Real spherical harmonics up to degree 2 of unit directions ``[N, 3]`` -> ``[N, 9]``."""
    x, y, z = d.unbind(-1)
    return torch.stack([
        torch.full_like(x, 0.28209479), 0.48860251 * y, 0.48860251 * z, 0.48860251 * x,
        1.09254843 * x * y, 1.09254843 * y * z, 0.31539157 * (3 * z * z - 1), 1.09254843 * x * z,
        0.54627421 * (x * x - y * y),
    ], dim=-1)


def _color_input(features: torch.Tensor, encoding: torch.Tensor | None, directions: torch.Tensor) -> torch.Tensor:
    parts = [features] if encoding is None else [features, encoding]
    return torch.cat(parts + [direction_encoding(directions)], dim=-1)


class SDFField(nn.Module):
    """SDF + geometry features on a hash grid over an axis-aligned box, with a colour head.

    ``query(points)`` -> ``(sdf [N], features [N, F])``; ``query_with_color`` also returns what
    the colour head needs besides the features: the raw grid encoding ``[N, E]`` with
    ``color_from_grid`` (texture detail then does not have to pass through the geometry MLP's
    few outputs), else None; ``color(features, encoding, directions)`` -> ``[N, 3]``. Points are normalised to the unit cube per axis (the grid's cells are as long
    as the box is along each axis, divided by the level's resolution).
    """

    def __init__(self, lo: torch.Tensor, hi: torch.Tensor, levels: int, log2_size: int, base: int,
                 finest_cell_m: float, hidden: int, geo_features: int, sdf_bias: float = 0.3,
                 color_from_grid: bool = False):
        super().__init__()
        self.register_buffer("lo", lo.float().clone())
        self.register_buffer("extent", (hi - lo).float().clone())
        self.grid = _grid(levels, log2_size, base, float(self.extent.max()) / finest_cell_m)
        self.geo = _mlp(self.grid.out_dim, hidden, 1 + geo_features)
        self.color_from_grid = color_from_grid
        self.rgb = _mlp(geo_features + 9 + (self.grid.out_dim if color_from_grid else 0), hidden, 3)
        with torch.no_grad():  # start empty everywhere: surfaces appear where the data puts them
            self.geo[-1].bias.zero_()
            self.geo[-1].bias[0] = sdf_bias

    def normalise(self, points: torch.Tensor) -> torch.Tensor:
        return ((points - self.lo) / self.extent).clamp(0.0, 1.0)

    def query_with_color(self, points: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        enc = self.grid(self.normalise(points))
        h = run_mlp(self.geo, enc)
        return h[:, 0], h[:, 1:], enc if self.color_from_grid else None

    def query(self, points: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.query_with_color(points)[:2]

    def sdf(self, points: torch.Tensor) -> torch.Tensor:
        return self.query(points)[0]

    def color(self, features: torch.Tensor, encoding: torch.Tensor | None, directions: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(run_mlp(self.rgb, _color_input(features, encoding, directions)))

    def gradient(self, points: torch.Tensor, create_graph: bool) -> torch.Tensor:
        """``d sdf / d points`` ``[N, 3]`` (metres per metre)."""
        with torch.enable_grad():
            p = points.detach().requires_grad_(True)
            s = self.sdf(p)
            (g,) = torch.autograd.grad(s.sum(), p, create_graph=create_graph)
        return g


def central_gradient(sdf, points: torch.Tensor, step: float) -> torch.Tensor:
    """``[N, 3]`` gradient of ``sdf`` (``[M, 3] -> [M]``) at ``points`` by central differences of
    ``step`` along each axis (differentiable through the field; no double backward)."""
    offsets = torch.cat([torch.eye(3), -torch.eye(3)]) * step  # [6, 3]
    s = sdf((points[:, None, :] + offsets).reshape(-1, 3)).reshape(-1, 6)
    return (s[:, :3] - s[:, 3:]) / (2.0 * step)


def contract(points: torch.Tensor, centre: torch.Tensor, half: torch.Tensor) -> torch.Tensor:
    """Mip-NeRF 360 contraction relative to a box: the box maps to [-1, 1]^3 unchanged, the rest
    of space to [-2, 2]^3 (inf-norm), then everything to the unit cube."""
    y = (points - centre) / half
    n = y.abs().amax(dim=-1, keepdim=True).clamp_min(1e-6)
    y = torch.where(n <= 1.0, y, (2.0 - 1.0 / n) * y / n)
    return (y + 2.0) / 4.0


class DistantField(nn.Module):
    """Density and colour beyond the background box, on contracted coordinates."""

    def __init__(self, lo: torch.Tensor, hi: torch.Tensor, hidden: int):
        super().__init__()
        self.register_buffer("centre", (0.5 * (lo + hi)).float())
        self.register_buffer("half_extent", (0.5 * (hi - lo)).float())
        self.grid = _grid(8, 15, 8, 256)
        self.net = _mlp(self.grid.out_dim, hidden, 1 + 8)
        self.rgb = _mlp(8 + 9, hidden, 3)
        with torch.no_grad():
            self.net[-1].bias[0] = -10.0  # transparent at the start (it spans up to a kilometre)

    def density(self, points: torch.Tensor) -> torch.Tensor:
        """``[N]`` density alone (a LiDAR needs no colour, which costs as much again)."""
        return nn.functional.softplus(run_mlp(self.net, self.grid(contract(points, self.centre, self.half_extent)))[:, 0])

    def query(self, points: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(density [N], features [N, 8])``: the colour head needs the features and a direction."""
        h = run_mlp(self.net, self.grid(contract(points, self.centre, self.half_extent)))
        return nn.functional.softplus(h[:, 0]), h[:, 1:]

    def color(self, features: torch.Tensor, encoding: None, directions: torch.Tensor) -> torch.Tensor:
        """``[N, 3]`` (``encoding`` is unused: the same signature as the SDF fields' colour heads)."""
        return torch.sigmoid(run_mlp(self.rgb, torch.cat([features, direction_encoding(directions)], dim=-1)))

    def forward(self, points: torch.Tensor, directions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        density, features = self.query(points)
        return density, self.color(features, None, directions)


class SkyField(nn.Module):
    """Sky colour as a function of the view direction only."""

    def __init__(self, frequencies: int, hidden: int):
        super().__init__()
        self.register_buffer("freqs", 2.0 ** torch.arange(frequencies, dtype=torch.float32) * math.pi)
        self.net = _mlp(3 + 6 * frequencies, hidden, 3)

    def forward(self, directions: torch.Tensor) -> torch.Tensor:
        x = directions[:, :, None] * self.freqs
        enc = torch.cat([directions, torch.sin(x).flatten(1), torch.cos(x).flatten(1)], dim=-1)
        return torch.sigmoid(run_mlp(self.net, enc))


class ActorFields(nn.Module):
    """SDFs of all actors in one shared hash grid: each actor owns one slot of an atlas.

    An actor's box frame (grown by ``margin``) is normalised to [-1, 1]^3 and placed in slot
    ``k`` of an ``n x n x n`` lattice inside the unit cube, so actors share the table and the
    MLPs but not grid cells (no per-point hash salt is needed). With ``symmetric``, the box y
    is mirrored (|y|), so both sides of a vehicle are one surface.
    """

    def __init__(self, half_sizes: torch.Tensor, margin: float, symmetric: bool, levels: int, log2_size: int,
                 finest_cell_m: float, hidden: int, geo_features: int, color_from_grid: bool = False):
        super().__init__()
        n_actors = max(1, half_sizes.shape[0])
        self.n = max(1, math.ceil(n_actors ** (1.0 / 3.0) - 1e-9))
        self.symmetric = symmetric
        self.register_buffer("half_extent", (half_sizes.float() * (1.0 + margin)).reshape(-1, 3))
        k = torch.arange(self.half_extent.shape[0])
        n = self.n
        # each slot's lattice corner, plus the 2 % left empty around it (derived: not saved)
        self.register_buffer("_slot_base", torch.stack([k % n, (k // n) % n, k // (n * n)], dim=-1).float() + 0.02,
                             persistent=False)
        longest = float(self.half_extent.max()) * 2.0 if self.half_extent.numel() else 1.0
        self.grid = _grid(levels, log2_size, 4 * self.n, self.n * longest / finest_cell_m)
        self.geo = _mlp(self.grid.out_dim, hidden, 1 + geo_features)
        self.color_from_grid = color_from_grid
        self.rgb = _mlp(geo_features + 9 + (self.grid.out_dim if color_from_grid else 0), hidden, 3)
        with torch.no_grad():
            self.geo[-1].bias.zero_()
            self.geo[-1].bias[0] = 0.1

    def _atlas(self, local: torch.Tensor, actor: torch.Tensor) -> torch.Tensor:
        c = (local / self.half_extent[actor]).clamp(-1.0, 1.0)
        if self.symmetric:
            c = torch.cat([c[:, :1], c[:, 1:2].abs() * 2.0 - 1.0, c[:, 2:]], dim=-1)
        # 2 % of each slot is left empty around it so that interpolation never mixes actors.
        return (self._slot_base[actor] + 0.96 * (c + 1.0) / 2.0) / self.n

    def query_with_color(self, local: torch.Tensor, actor: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """As ``SDFField.query_with_color``, in box frames, ``actor [N]`` = slots."""
        return self._query_atlas(self._atlas(local, actor))

    def query_along(self, origins: torch.Tensor, directions: torch.Tensor, t: torch.Tensor,
                    actor: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``query_with_color`` at the points ``origins + t directions`` of ``[H]`` box-frame rays
        (``t [H, S]``, ``actor [H]``), flattened to ``[H * S]``: the atlas is affine along a ray, so
        its coefficients are per ray, not per point (inference: no gradient)."""
        inv = 1.0 / self.half_extent[actor]
        c = torch.addcmul((origins * inv)[:, None, :], (directions * inv)[:, None, :], t[..., None]).clamp_(-1.0, 1.0)
        if self.symmetric:
            c[..., 1] = c[..., 1].abs() * 2.0 - 1.0
        coords = (self._slot_base[actor][:, None, :] + 0.96 * (c + 1.0) / 2.0) / self.n
        return self._query_atlas(coords.reshape(-1, 3))

    def _query_atlas(self, coords: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        enc = self.grid(coords)
        h = run_mlp(self.geo, enc)
        return h[:, 0], h[:, 1:], enc if self.color_from_grid else None

    def query(self, local: torch.Tensor, actor: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.query_with_color(local, actor)[:2]

    def color(self, features: torch.Tensor, encoding: torch.Tensor | None, local_dirs: torch.Tensor) -> torch.Tensor:
        if self.symmetric:
            local_dirs = torch.cat([local_dirs[:, :1], local_dirs[:, 1:2].abs(), local_dirs[:, 2:]], dim=-1)
        return torch.sigmoid(run_mlp(self.rgb, _color_input(features, encoding, local_dirs)))

    def gradient(self, local: torch.Tensor, actor: torch.Tensor, create_graph: bool) -> torch.Tensor:
        with torch.enable_grad():
            p = local.detach().requires_grad_(True)
            s = self.query(p, actor)[0]
            (g,) = torch.autograd.grad(s.sum(), p, create_graph=create_graph)
        return g


class LidarHeads(nn.Module):
    """Intensity and ray-drop probability of a LiDAR ray from its composited features."""

    def __init__(self, geo_features: int, hidden: int):
        super().__init__()
        self.net = _mlp(geo_features + 9 + 2, hidden, 2)

    def forward(self, features: torch.Tensor, directions: torch.Tensor, depth: torch.Tensor,
                opacity: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.cat([features, direction_encoding(directions), (depth / 50.0)[:, None], opacity[:, None]], dim=-1)
        h = run_mlp(self.net, x)
        return torch.sigmoid(h[:, 0]), h[:, 1]  # intensity in [0, 1], drop logit


class Appearance(nn.Module):
    """Per-image affine colour correction (exposure and white balance): ``rgb' = A rgb + b``."""

    def __init__(self, n_images: int):
        super().__init__()
        self.matrix = nn.Parameter(torch.eye(3).repeat(max(1, n_images), 1, 1))
        self.offset = nn.Parameter(torch.zeros(max(1, n_images), 3))

    def forward(self, rgb: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
        return torch.einsum("nij,nj->ni", self.matrix[image], rgb) + self.offset[image]

    @torch.no_grad()
    def interpolated(self, neighbours: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        """Correction of an unseen image: the mean of its ``neighbours``' (e.g. the adjacent
        training frames of the same camera)."""
        idx = torch.tensor(neighbours, dtype=torch.int64)
        return self.matrix[idx].mean(0), self.offset[idx].mean(0)


__all__ = ["ActorFields", "Appearance", "DistantField", "LidarHeads", "SDFField", "SkyField", "contract",
           "direction_encoding"]
