"""Spinning LiDAR simulation parametrised by a ``LidarBeams`` table.

Column ``a`` of a sweep fires at ``t0 + a / (azimuth_count * rotation_hz)`` at azimuth
``pi - 2 pi a / azimuth_count`` (plus the beam's offset): the head starts facing backwards and
turns clockwise seen from above. Every ray is cast from the sensor's pose at its own firing time
and the return is stored in the sensor frame at that time, as ``LidarSweep`` specifies.

Intensity is the surface's reflectivity times |cos(incidence)|. Rays are dropped when nothing is
hit, outside [min_range, max_range], when the return is too weak
(``range > power_range_m * sqrt(reflectivity * |cos|)``), at grazing incidence (probability rising
to 1 as |cos| -> 0 below ``grazing_cos``) and at a small random rate. The random numbers of a
sweep depend only on the seed and the sweep, one per ray whatever the ray hits, so re-rendering
an edited scene changes only the rays that see the edit.
"""

from __future__ import annotations

import numpy as np

from redrive.log.synth.raycast import World
from redrive.log.synth.scene import RenderSettings
from redrive.log.types import LidarSensor, LidarSweep, Trajectory


def beam_directions(lidar: LidarSensor) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sensor-frame unit directions (A*B, 3) in firing order (column-major: for each column,
    every beam), with each ray's column (A*B,) and beam (A*B,) index."""
    beams = lidar.beams
    if beams is None:
        raise ValueError(f"lidar {lidar.name!r} has no beam table to simulate")
    a_count, b_count = beams.azimuth_count, beams.beam_count
    col = np.repeat(np.arange(a_count), b_count)
    beam = np.tile(np.arange(b_count), a_count)
    offsets = np.zeros(b_count) if beams.azimuth_offsets_deg is None else np.asarray(beams.azimuth_offsets_deg, float)
    az = np.pi - 2 * np.pi * col / a_count + np.radians(offsets)[beam]
    el = np.radians(np.asarray(beams.elevations_deg, float))[beam]
    dirs = np.stack([np.cos(el) * np.cos(az), np.cos(el) * np.sin(az), np.sin(el)], -1)
    return dirs, col, beam


class LidarRenderer:
    """Renders sweeps of one LiDAR of a scene."""

    def __init__(self, world: World, lidar: LidarSensor, settings: RenderSettings, seed: int, sensor_index: int = 0):
        self.world, self.lidar, self.settings = world, lidar, settings
        self.seed, self.sensor_index = int(seed), int(sensor_index)
        self.dirs, self.col, self.beam = beam_directions(lidar)

    def render(self, ego: Trajectory, sweep_index: int) -> LidarSweep:
        lidar, beams, s = self.lidar, self.lidar.beams, self.settings
        t0 = float(lidar.sweep_times[sweep_index])
        a_count, b_count = beams.azimuth_count, beams.beam_count
        col_times = t0 + np.arange(a_count) / (a_count * beams.rotation_hz)
        poses = ego.at(col_times) @ lidar.vehicle_from_lidar
        col = self.col
        dirs = np.einsum("nij,nj->ni", poses[col, :3, :3], self.dirs).astype(np.float32)
        hits = self.world.cast(poses[col, :3, 3], dirs, col_times[col])
        _, refl = self.world.surface(hits)
        t_hit = hits.t
        cos = np.abs(np.einsum("ij,ij->i", hits.normal, dirs))
        n = len(dirs)
        rng = np.random.default_rng([self.seed, 7, self.sensor_index, int(sweep_index)])
        u_drop, u_graze, noise = rng.random(n), rng.random(n), rng.standard_normal(n)
        with np.errstate(invalid="ignore"):
            keep = np.isfinite(t_hit) & (t_hit >= beams.min_range_m) & (t_hit <= beams.max_range_m)
            keep &= t_hit <= s.power_range_m * np.sqrt(refl * cos)
            if s.grazing_cos > 0:
                keep &= u_graze >= 1.0 - cos / s.grazing_cos
            keep &= u_drop >= s.random_drop_rate
        r = t_hit[keep] + s.range_noise_m * noise[keep]
        times = col_times[self.col]
        drop = ~keep
        return LidarSweep(
            points=(self.dirs[keep] * r[:, None]).astype(np.float32),
            times=times[keep],
            intensity=np.clip(refl[keep] * cos[keep], 0, 1).astype(np.float32),
            beam=self.beam[keep].astype(np.int16),
            drop_directions=self.dirs[drop].astype(np.float32),
            drop_times=times[drop],
            drop_beam=self.beam[drop].astype(np.int16),
        )
