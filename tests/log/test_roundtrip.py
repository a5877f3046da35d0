"""DriveLog write -> read gives back exactly what was written."""

from __future__ import annotations

import json

import numpy as np
import pytest

from redrive.errors import UnknownSensorError
from redrive.geometry import se3
from redrive.geometry.cameras import CameraModel
from redrive.log import ActorTrack, DriveLog, DriveLogWriter, LidarBeams, LidarSweep, Trajectory
from redrive.log.info import summarize
from tests.conftest import START_NS


def test_every_field_round_trips(tmp_path):
    rng = np.random.default_rng(1)
    times = np.array([0.0, 0.1, 0.2, 0.35])
    ego = Trajectory(times, se3.make_pose(se3.so3_exp(rng.normal(0, 0.3, (4, 3))), rng.normal(0, 100, (4, 3))))
    fisheye = CameraModel("fisheye", 20, 16, 9.0, 9.5, 9.7, 7.4, (0.01, -0.002, 0.0003, 0.0))
    extr = se3.make_pose(se3.so3_exp(np.array([0.1, -1.2, 0.4])), [1.0, 2.0, 3.0])
    image = rng.integers(0, 256, (16, 20, 3), dtype=np.uint8)
    sweep = LidarSweep(
        points=rng.normal(0, 20, (100, 3)).astype(np.float32),
        times=0.1 + np.sort(rng.uniform(0, 0.1, 100)),
        intensity=rng.uniform(0, 1, 100).astype(np.float32),
        beam=rng.integers(0, 32, 100).astype(np.int16),
        drop_directions=rng.normal(0, 1, (7, 3)).astype(np.float32),
        drop_times=0.1 + np.sort(rng.uniform(0, 0.1, 7)),
        drop_beam=rng.integers(0, 32, 7).astype(np.int16),
    )
    beams = LidarBeams(np.linspace(-25, 15, 32), 1024, np.linspace(-3, 3, 32), 20.0, 0.5, 120.0)
    track = Trajectory(times[1:], se3.make_pose(se3.yaw_rotation(np.array([0.0, 0.2, 0.4])), rng.normal(0, 10, (3, 3))))
    depth = rng.uniform(0, 80, (16, 20)).astype(np.float32)
    depth[0, :3] = np.inf
    instance = rng.integers(0, 2, (16, 20)).astype(np.int32)

    out = tmp_path / "log"
    with DriveLogWriter(out, "rt", START_NS, source={"kind": "test"}) as w:
        w.set_ego(ego)
        w.add_camera("fish", fisheye, extr, rolling_shutter_s=0.025, rolling_shutter_direction="left_to_right")
        w.add_camera_frame("fish", 0.05, image)
        w.add_gt_camera_frame("fish", 0, depth, instance)
        w.add_lidar("roof", extr, beams)
        w.add_sweep("roof", 0.1, sweep)
        w.add_actor(ActorTrack("truck-7", "truck", np.array([8.0, 2.5, 3.2]), track, True))
        w.set_instance_actors(["truck-7"])

    log = DriveLog.open(out)
    assert log.name == "rt" and log.start_time_ns == START_NS and log.source == {"kind": "test"}
    np.testing.assert_array_equal(log.ego.times, times)
    np.testing.assert_array_equal(log.ego.poses, ego.poses)
    cam = log.camera("fish")
    assert cam.intrinsics == fisheye
    np.testing.assert_array_equal(cam.vehicle_from_camera, extr)
    assert cam.rolling_shutter_s == 0.025 and cam.rolling_shutter_direction == "left_to_right"
    assert cam.frame_times.tolist() == [0.05]
    np.testing.assert_array_equal(log.load_image("fish", 0), image)  # PNG is lossless
    gt = log.load_gt_camera_frame("fish", 0)
    np.testing.assert_array_equal(gt["depth"], depth)
    np.testing.assert_array_equal(gt["instance"], instance)
    lidar = log.lidar("roof")
    for name in ("elevations_deg", "azimuth_offsets_deg"):
        np.testing.assert_array_equal(getattr(lidar.beams, name), getattr(beams, name))
    assert (lidar.beams.azimuth_count, lidar.beams.rotation_hz, lidar.beams.min_range_m, lidar.beams.max_range_m) == (1024, 20.0, 0.5, 120.0)
    got = log.load_sweep("roof", 0)
    for name in ("points", "intensity", "beam", "drop_directions", "drop_beam"):
        np.testing.assert_array_equal(getattr(got, name), getattr(sweep, name))
    # Times go through int64 nanoseconds on disk: exact to the nanosecond.
    np.testing.assert_allclose(got.times, sweep.times, rtol=0, atol=1e-9)
    np.testing.assert_allclose(got.drop_times, sweep.drop_times, rtol=0, atol=1e-9)
    actor = log.actors["truck-7"]
    assert (actor.category, actor.dynamic) == ("truck", True)
    np.testing.assert_array_equal(actor.size, [8.0, 2.5, 3.2])
    np.testing.assert_array_equal(actor.trajectory.poses, track.poses)
    assert log.ground_truth.instance_actors == ["truck-7"]


def test_manifest_is_versioned_json_with_relative_paths(small_log):
    manifest = json.loads((small_log / "log.json").read_text())
    assert manifest["format"] == "redrive-drivelog" and manifest["version"] == 1
    paths = [f["image"] for c in manifest["cameras"] for f in c["frames"]]
    paths += [s["file"] for lid in manifest["lidars"] for s in lid["sweeps"]]
    assert paths and all(not p.startswith("/") and ".." not in p for p in paths)
    assert manifest["cameras"][1]["frames"][0]["image"].endswith(".jpg")


def test_small_log_reads_back(small_log):
    log = DriveLog.open(small_log)
    assert set(log.cameras) == {"front", "left"} and set(log.lidars) == {"top"}
    assert len(log.camera("left")) == 4 and len(log.lidar("top")) == 4
    assert log.load_image("left", 3).shape == (30, 40, 3)  # JPEG decodes to the camera size
    assert not log.actors["ped_1"].dynamic
    text = summarize(log)
    assert "actors:   2 (1 dynamic): 1 car, 1 pedestrian" in text
    assert "front" in text and "8 beams x 64" in text


def test_camera_pose_follows_ego(small_log):
    log = DriveLog.open(small_log)
    t = 0.17
    expected = log.ego.at(t) @ log.camera("front").vehicle_from_camera
    np.testing.assert_allclose(log.world_from_camera("front", t), expected)
    np.testing.assert_array_equal(log.to_ns(log.to_seconds(START_NS + 123)), START_NS + 123)


def test_unknown_sensor_names_the_known_ones(small_log):
    log = DriveLog.open(small_log)
    with pytest.raises(UnknownSensorError, match=r"unknown camera sensor 'rear'.*front, left"):
        log.camera("rear")
    with pytest.raises(UnknownSensorError, match=r"unknown lidar sensor 'front'.*top"):
        log.lidar("front")


def test_interrupted_write_leaves_nothing_that_looks_complete(tmp_path):
    out = tmp_path / "log"
    with pytest.raises(RuntimeError):
        with DriveLogWriter(out, "x", START_NS) as w:
            w.set_ego(Trajectory(np.array([0.0]), np.eye(4)[None]))
            raise RuntimeError("killed")
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_overwrite_replaces_a_log_but_never_another_directory(tmp_path, small_log):
    with DriveLogWriter(small_log, "again", START_NS, overwrite=True) as w:
        w.set_ego(Trajectory(np.array([0.0]), np.eye(4)[None]))
    assert DriveLog.open(small_log).name == "again"
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "thesis.txt").write_text("keep me")
    with pytest.raises(Exception, match="not a DriveLog"):
        DriveLogWriter(precious, "x", START_NS, overwrite=True)
    assert (precious / "thesis.txt").read_text() == "keep me"
