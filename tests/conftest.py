"""Fixtures shared across the suite."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from redrive.geometry import se3
from redrive.geometry.cameras import CameraModel
from redrive.log import ActorTrack, DriveLogWriter, LidarBeams, LidarSweep, Trajectory

START_NS = 1_700_000_000_123_456_789
REALDATA = Path(__file__).resolve().parents[1].parent / "shared" / "realdata"


def write_small_log(out: Path, frames: int = 4, seed: int = 0) -> Path:
    """A small, fully populated DriveLog: two cameras (pinhole, OpenCV with rolling shutter),
    one LiDAR with a beam table and drops, a curving ego path, a moving and a parked actor."""
    rng = np.random.default_rng(seed)
    t = np.linspace(0.0, 0.1 * (frames - 1), frames)
    yaw = 0.05 * t
    ego = Trajectory(t, se3.make_pose(se3.yaw_rotation(yaw), np.stack([8 * t, 0.5 * t**2, 0 * t], -1)))
    cam_from_vehicle_axes = np.array([[0, -1, 0], [0, 0, -1], [1, 0, 0]], float)  # x fwd -> z fwd
    v_from_front = se3.make_pose(cam_from_vehicle_axes.T, [1.5, 0.0, 1.6])
    v_from_left = se3.make_pose(se3.yaw_rotation(0.8) @ cam_from_vehicle_axes.T, [1.2, 0.3, 1.6])
    with DriveLogWriter(out, name="small", start_time_ns=START_NS, source={"kind": "test", "seed": seed}) as w:
        w.set_ego(ego)
        w.add_camera("front", CameraModel("pinhole", 32, 24, 20.0, 20.0, 15.5, 11.5), v_from_front)
        w.add_camera(
            "left",
            CameraModel("opencv", 40, 30, 25.0, 25.0, 19.5, 14.5, (-0.1, 0.01, 0.001, 0.0, 0.0)),
            v_from_left,
            rolling_shutter_s=0.02,
            image_format="jpg",
        )
        w.add_lidar("top", se3.make_pose(np.eye(3), [0.0, 0.0, 1.9]),
                    LidarBeams(np.linspace(-15.0, 5.0, 8), 64, rotation_hz=10.0, max_range_m=80.0))
        for i, ti in enumerate(t):
            for cam, (h, wd) in (("front", (24, 32)), ("left", (30, 40))):
                w.add_camera_frame(cam, ti + 0.001, rng.integers(0, 255, (h, wd, 3), dtype=np.uint8))
                w.add_gt_camera_frame(cam, i, rng.uniform(1, 50, (h, wd)).astype(np.float32),
                                      rng.integers(0, 3, (h, wd)).astype(np.int32))
            n, m = 50, 5
            w.add_sweep("top", ti, LidarSweep(
                points=rng.normal(0, 10, (n, 3)).astype(np.float32),
                times=ti + np.sort(rng.uniform(0, 0.1, n)),
                intensity=rng.uniform(0, 1, n).astype(np.float32),
                beam=rng.integers(0, 8, n).astype(np.int16),
                drop_directions=rng.normal(0, 1, (m, 3)).astype(np.float32),
                drop_times=ti + np.sort(rng.uniform(0, 0.1, m)),
                drop_beam=rng.integers(0, 8, m).astype(np.int16),
            ))
        car_t = np.linspace(-0.05, t[-1] + 0.05, 7)
        w.add_actor(ActorTrack("car_1", "car", np.array([4.5, 1.9, 1.5]),
                               Trajectory(car_t, se3.make_pose(se3.yaw_rotation(0 * car_t), np.stack([10 + 5 * car_t, 3.5 + 0 * car_t, 0.75 + 0 * car_t], -1))), True))
        w.add_actor(ActorTrack("ped_1", "pedestrian", np.array([0.6, 0.6, 1.8]),
                               Trajectory(np.array([0.0]), se3.make_pose(np.eye(3), [6.0, -4.0, 0.9])), False))
        w.add_gt_mesh(np.array([[0, 0, 0], [10, 0, 0], [0, 10, 0]], float), np.array([[0, 1, 2]]))
        w.add_gt_mesh(np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0]], float), np.array([[0, 1, 2]]), actor_id="car_1")
        w.set_instance_actors(["car_1", "ped_1"])
    return out


@pytest.fixture
def small_log(tmp_path: Path) -> Path:
    """Path of a freshly written small DriveLog (see ``write_small_log``)."""
    return write_small_log(tmp_path / "log")


@pytest.fixture(scope="session")
def realdata() -> Path:
    """../shared/realdata beside the repository; tests using it skip when it is absent."""
    if not REALDATA.is_dir():
        pytest.skip(f"real data excerpts not found at {REALDATA} (../shared/realdata beside the repo)")
    return REALDATA
