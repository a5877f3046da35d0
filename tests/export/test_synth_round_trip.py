"""The synthetic `tiny` log through KITTI and back: same poses, points and boxes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from redrive.export.common import ExportOptions
from redrive.export.kitti import KittiExportConfig, export
from redrive.geometry.se3 import so3_log
from redrive.log import DriveLog
from redrive.log.readers import ImportOptions, import_log


@pytest.fixture(scope="module")
def tiny_log(tmp_path_factory) -> Path:
    synth = pytest.importorskip("redrive.log.synth")
    return synth.generate(tmp_path_factory.mktemp("synth") / "tiny", preset="tiny", seed=0, progress=False)


def test_synth_tiny_kitti_round_trip(tiny_log: Path, tmp_path: Path) -> None:
    out = export(tiny_log, tmp_path / "kitti", ExportOptions(cameras=["front", "front_left"]), KittiExportConfig(layout="raw"))
    drive = next((out).glob("*/*_sync"))
    back = DriveLog.open(import_log("kitti", drive, tmp_path / "back", ImportOptions()))
    orig = DriveLog.open(tiny_log)
    times = orig.camera("front").frame_times
    shift = orig.ego.at(times[0])[:3, 3]
    offset = (back.start_time_ns - orig.start_time_ns) / 1e9
    for kitti, name in (("image_02", "front"), ("image_03", "front_left")):
        np.testing.assert_allclose(back.camera(kitti).frame_times + offset, orig.camera(name).frame_times, atol=1e-9)
        a = back.world_from_camera(kitti, back.camera(kitti).frame_times)
        b = orig.world_from_camera(name, orig.camera(name).frame_times)
        b[:, :3, 3] -= shift
        assert np.abs(a[:, :3, 3] - b[:, :3, 3]).max() < 1e-6
        assert np.abs(so3_log(np.swapaxes(a[:, :3, :3], 1, 2) @ b[:, :3, :3])).max() < 1e-9
    # The OpenCV camera is rectified to pinhole with its own K.
    left = orig.camera("front_left").intrinsics
    assert back.camera("image_03").intrinsics.model == "pinhole" and back.camera("image_03").intrinsics.fx == pytest.approx(left.fx, rel=1e-9)
    for k in range(len(orig.lidar("lidar_top"))):
        a, b = back.load_sweep("velodyne", k), orig.load_sweep("lidar_top", k)
        np.testing.assert_array_equal(a.points, b.points)
        np.testing.assert_allclose(a.intensity, np.clip(b.intensity, 0, 1))
    np.testing.assert_allclose(back.lidar("velodyne").sweep_times + offset, orig.lidar("lidar_top").sweep_times, atol=1e-9)


def test_synth_tiny_tracking_boxes(tiny_log: Path, tmp_path: Path) -> None:
    out = export(tiny_log, tmp_path / "kitti", ExportOptions(cameras=["front"]), KittiExportConfig(layout="tracking"))
    back = DriveLog.open(import_log("kitti", out / "training", tmp_path / "back", ImportOptions()))
    orig = DriveLog.open(tiny_log)
    t0 = orig.camera("front").frame_times[0]
    shift = orig.ego.at(t0)[:3, 3]
    import json

    ids = json.loads((out / "redrive_export.json").read_text())["track_ids"]
    assert len(back.actors) >= 3
    worst_centre, worst_rot = 0.0, 0.0
    for actor in back.actors.values():
        source = orig.actors[ids[actor.id.removeprefix("track_")]]
        np.testing.assert_allclose(actor.size, source.size, atol=1e-6)
        for t, pose in zip(actor.trajectory.times, actor.trajectory.poses):
            want = source.trajectory.at(t + t0)
            want[:3, 3] -= shift
            worst_centre = max(worst_centre, float(np.linalg.norm(pose[:3, 3] - want[:3, 3])))
            worst_rot = max(worst_rot, float(np.linalg.norm(so3_log(pose[:3, :3].T @ want[:3, :3]))))
    assert worst_centre < 2e-6
    # KITTI boxes turn about the camera's y axis only: upright boxes seen by a camera pitched
    # against the vehicle come back tilted by at most that pitch (centre and size are exact).
    down = orig.camera("front").vehicle_from_camera[:3, 1]
    tilt = float(np.arccos(np.clip(-down[2], -1.0, 1.0)))
    assert worst_rot <= tilt + 1e-6
