"""A small deterministic street scene for the exporters: an ego car driving (and turning
slightly), a stereo pair of level pinhole cameras, a 10 Hz LiDAR whose returns lie on the actor
boxes and the ground, a car ahead, a second car hidden behind it, a pedestrian at the image edge.

``with_masks`` adds ground-truth depth and instance masks rendered from the boxes themselves
(the actors' surfaces *are* their boxes here), so occlusion from masks and from the box z-buffer
must agree.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from redrive.geometry import se3
from redrive.geometry.cameras import CameraModel
from redrive.log import ActorTrack, DriveLogWriter, LidarBeams, LidarSweep, Trajectory

START_NS = 1_700_000_000_000_000_000
FRAMES = 8
W, H = 160, 96
INTR = CameraModel("pinhole", W, H, 100.0, 100.0, 79.5, 47.5)
CAM_AXES = np.array([[0, -1, 0], [0, 0, -1], [1, 0, 0]], float)  # vehicle (x fwd, z up) -> OpenCV
VEHICLE_FROM_LEFT = se3.make_pose(CAM_AXES.T, [1.5, 0.25, 1.6])
VEHICLE_FROM_RIGHT = se3.make_pose(CAM_AXES.T, [1.5, -0.25, 1.6])
VEHICLE_FROM_LIDAR = se3.make_pose(se3.yaw_rotation(0.01), [0.8, 0.0, 1.9])


def ego_trajectory() -> Trajectory:
    t = np.linspace(0.0, 0.1 * FRAMES + 0.1, FRAMES * 4 + 5)
    yaw = 0.05 * t
    pos = np.stack([6.0 * t, 0.15 * t**2, 0.0 * t], -1) + [100.0, -50.0, 3.0]
    return Trajectory(t, se3.make_pose(se3.yaw_rotation(yaw), pos))


def actors() -> list[ActorTrack]:
    t = np.linspace(0.0, 0.1 * FRAMES + 0.1, 12)
    ahead = np.stack([112.0 + 5.0 * t, -50.0 + 0.3 * t, 3.0 + 0.75 + 0 * t], -1)
    behind = np.stack([122.0 + 5.0 * t, -49.8 + 0 * t, 3.0 + 0.8 + 0 * t], -1)
    return [
        ActorTrack("lead", "car", np.array([4.5, 1.9, 1.5]),
                   Trajectory(t, se3.make_pose(se3.yaw_rotation(0.02 + 0 * t), ahead)), True),
        ActorTrack("hidden", "truck", np.array([6.0, 2.0, 1.6]),
                   Trajectory(t, se3.make_pose(se3.yaw_rotation(0 * t), behind)), True),
        ActorTrack("walker", "pedestrian", np.array([0.6, 0.6, 1.8]),
                   Trajectory(np.array([0.0]), se3.make_pose(np.eye(3), [108.0, -46.6, 3.9])), False),
    ]


def box_hits(origins: np.ndarray, dirs: np.ndarray, pose: np.ndarray, size: np.ndarray) -> np.ndarray:
    """Ray parameter (N,) where rays enter the box, inf where they miss."""
    inv = se3.invert(pose)
    o = origins @ inv[:3, :3].T + inv[:3, 3]
    d = dirs @ inv[:3, :3].T
    with np.errstate(divide="ignore", invalid="ignore"):
        t1, t2 = (-size / 2 - o) / d, (size / 2 - o) / d
    tmin = np.nanmax(np.minimum(t1, t2), -1)
    tmax = np.nanmin(np.maximum(t1, t2), -1)
    return np.where((tmax >= np.maximum(tmin, 1e-6)), np.maximum(tmin, 0.0), np.inf)


def write_scene_log(out: Path, with_masks: bool = False) -> Path:
    ego = ego_trajectory()
    tracks = actors()
    rng = np.random.default_rng(0)
    beams = LidarBeams(np.linspace(-20.0, 4.0, 16), 360, rotation_hz=10.0, max_range_m=60.0)
    with DriveLogWriter(out, name="export-scene", start_time_ns=START_NS, source={"kind": "test"}) as w:
        w.set_ego(ego)
        w.add_camera("left", INTR, VEHICLE_FROM_LEFT)
        w.add_camera("right", INTR, VEHICLE_FROM_RIGHT, image_format="jpg")
        w.add_lidar("top", VEHICLE_FROM_LIDAR, beams)
        for tr in tracks:
            w.add_actor(tr)
        for i in range(FRAMES):
            ti = 0.05 + 0.1 * i
            for name, ext in (("left", VEHICLE_FROM_LEFT), ("right", VEHICLE_FROM_RIGHT)):
                image = rng.integers(0, 255, (H, W, 3), dtype=np.uint8)
                w.add_camera_frame(name, ti, image)
                if with_masks:
                    depth, inst = render_masks(ego.at(ti) @ ext, tracks, ti)
                    w.add_gt_camera_frame(name, i, depth, inst)
            w.add_sweep("top", ti - 0.05, lidar_sweep(ego, tracks, ti - 0.05, beams))
        if with_masks:
            w.set_instance_actors([tr.id for tr in tracks])
    return out


def render_masks(world_from_cam: np.ndarray, tracks: list[ActorTrack], t: float) -> tuple[np.ndarray, np.ndarray]:
    dirs_cam = np.concatenate([(INTR.pixel_grid() - [INTR.cx, INTR.cy]) / [INTR.fx, INTR.fy], np.ones((W * H, 1))], 1)
    dirs = dirs_cam @ world_from_cam[:3, :3].T
    origins = np.broadcast_to(world_from_cam[:3, 3], dirs.shape)
    best = np.full(len(dirs), np.inf)
    inst = np.zeros(len(dirs), np.int32)
    for k, tr in enumerate(tracks, 1):
        if not tr.exists_at(t):
            continue
        hit = box_hits(origins, dirs, tr.trajectory.at(t), tr.size)
        closer = hit < best
        best[closer], inst[closer] = hit[closer], k
    return best.reshape(H, W).astype(np.float32), inst.reshape(H, W)


def lidar_sweep(ego: Trajectory, tracks: list[ActorTrack], t0: float, beams: LidarBeams) -> LidarSweep:
    """Returns of a spinning LiDAR on the boxes and the ground plane z = 3 (per-point times)."""
    az = np.radians(np.arange(beams.azimuth_count) * (360.0 / beams.azimuth_count))
    el = np.radians(beams.elevations_deg)
    a, e = np.meshgrid(az, el, indexing="ij")
    times = t0 + (a / (2 * np.pi)).ravel() * 0.1
    dirs = np.stack([np.cos(e) * np.cos(a), np.cos(e) * np.sin(a), np.sin(e)], -1).reshape(-1, 3)
    world = ego.at(times) @ VEHICLE_FROM_LIDAR
    o = world[:, :3, 3]
    d = np.einsum("nij,nj->ni", world[:, :3, :3], dirs)
    with np.errstate(divide="ignore", invalid="ignore"):
        ground = np.where(d[:, 2] < -1e-6, (3.0 - o[:, 2]) / d[:, 2], np.inf)
    best = ground
    for tr in tracks:
        hit = np.full(len(d), np.inf)
        for j in range(0, len(d), 720):  # actors move during the sweep: use each ray's time
            sl = slice(j, j + 720)
            pose = tr.trajectory.at(times[sl].mean())
            hit[sl] = box_hits(o[sl], d[sl], pose, tr.size)
        best = np.minimum(best, hit)
    keep = np.isfinite(best) & (best < beams.max_range_m)
    points = dirs[keep] * best[keep, None]
    return LidarSweep(points=points.astype(np.float32), times=times[keep],
                      intensity=(0.2 + 0.6 * (points[:, 2] > -1.5)).astype(np.float32),
                      beam=np.tile(np.arange(len(el)), len(az))[keep].astype(np.int16))


@pytest.fixture(scope="module")
def scene_log(tmp_path_factory) -> Path:
    return write_scene_log(tmp_path_factory.mktemp("scene") / "log")


@pytest.fixture(scope="module")
def scene_log_masks(tmp_path_factory) -> Path:
    return write_scene_log(tmp_path_factory.mktemp("scene_masks") / "log", with_masks=True)
