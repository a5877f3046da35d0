"""KITTI export: files in the standard layouts, labels, and the round trip through the reader."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from redrive.errors import RedriveError
from redrive.export.common import ExportOptions
from redrive.export.kitti import KittiExportConfig, export
from redrive.export.labels import frame_labels
from redrive.export.publish import PublishDir
from redrive.geometry.se3 import invert, so3_log
from redrive.log import DriveLog
from redrive.log.readers import ImportOptions, import_log
from redrive.log.readers import _kitti_formats as kf

POSE_TOL_M = 1e-6
"""Translation error allowed after KITTI's text files and the Mercator round trip (measured ~3e-9 m)."""
ROT_TOL_RAD = 1e-9


def _export(log: Path, out: Path, layout: str, cameras=("left", "right")) -> Path:
    return export(log, out, ExportOptions(cameras=list(cameras)), KittiExportConfig(layout=layout, sequence=3))


def test_tracking_round_trip_poses_points_boxes(scene_log: Path, tmp_path: Path) -> None:
    out = _export(scene_log, tmp_path / "kitti", "tracking")
    split = out / "training"
    for rel in ("image_02/0003/000000.png", "image_03/0003/000007.png", "velodyne/0003/000000.bin",
                "calib/0003.txt", "oxts/0003.txt", "label_02/0003.txt"):
        assert (split / rel).is_file(), rel
    back = DriveLog.open(import_log("kitti", split, tmp_path / "back", ImportOptions()))
    orig = DriveLog.open(scene_log)
    assert set(back.cameras) == {"image_02", "image_03"} and set(back.lidars) == {"velodyne"}

    # Camera poses at every frame: same up to KITTI's world origin (the first exported frame).
    t_orig = orig.camera("left").frame_times
    shift = orig.ego.at(t_orig[0])[:3, 3]
    for kitti_name, name in (("image_02", "left"), ("image_03", "right")):
        a = back.world_from_camera(kitti_name, back.camera(kitti_name).frame_times)
        b = orig.world_from_camera(name, t_orig)
        b[:, :3, 3] -= shift
        assert np.abs(a[:, :3, 3] - b[:, :3, 3]).max() < POSE_TOL_M
        assert np.abs(so3_log(np.swapaxes(a[:, :3, :3], 1, 2) @ b[:, :3, :3])).max() < ROT_TOL_RAD
        assert back.camera(kitti_name).intrinsics == orig.camera(name).intrinsics
    # Tracking has no timestamps: 10 Hz from 0, which this log's frames are (offset 0.05 s).
    np.testing.assert_allclose(back.camera("image_02").frame_times, t_orig - t_orig[0], atol=1e-9)

    # Points: bit-identical sensor-frame returns and intensities; extrinsics within tolerance.
    for k in (0, 5):
        a, b = back.load_sweep("velodyne", k), orig.load_sweep("top", k)
        np.testing.assert_array_equal(a.points, b.points)
        np.testing.assert_array_equal(a.intensity, b.intensity)
    np.testing.assert_allclose(back.lidar("velodyne").vehicle_from_lidar, orig.lidar("top").vehicle_from_lidar, atol=1e-9)

    # Boxes: every labelled (actor, frame) comes back with the same centre, size and heading.
    assert {a.category for a in back.actors.values()} == {"car", "truck", "pedestrian"}
    checked = 0
    for actor in back.actors.values():
        source = orig.actors[{"track_0": "lead", "track_1": "hidden", "track_2": "walker"}[actor.id]]
        np.testing.assert_allclose(actor.size, source.size, atol=1e-6)
        for t, pose in zip(actor.trajectory.times, actor.trajectory.poses):
            want = source.trajectory.at(t + t_orig[0])
            want[:3, 3] -= shift
            assert np.linalg.norm(pose[:3, 3] - want[:3, 3]) < 2e-6
            # Cameras are level and the boxes upright, so KITTI's yaw-only boxes lose nothing.
            assert np.abs(so3_log(pose[:3, :3].T @ want[:3, :3])).max() < 2e-6
            checked += 1
    assert checked >= 2 * 8 + 1  # lead and hidden in every frame, the walker once


def test_raw_round_trip_keeps_exact_times(scene_log: Path, tmp_path: Path) -> None:
    out = _export(scene_log, tmp_path / "raw", "raw")
    date = out / "2023_11_14"
    drive = date / "2023_11_14_drive_0003_sync"
    assert (date / "calib_cam_to_cam.txt").is_file() and (drive / "oxts" / "data" / "0000000000.txt").is_file()
    back = DriveLog.open(import_log("kitti", drive, tmp_path / "back", ImportOptions()))
    orig = DriveLog.open(scene_log)
    # Times relative to the first frame, exact to the nanosecond.
    t0 = orig.camera("left").frame_times[0]
    np.testing.assert_allclose(back.camera("image_02").frame_times + (back.start_time_ns - orig.start_time_ns) / 1e9,
                               orig.camera("left").frame_times, atol=1e-9)
    np.testing.assert_allclose(back.lidar("velodyne").sweep_times + (back.start_time_ns - orig.start_time_ns) / 1e9,
                               orig.lidar("top").sweep_times, atol=1e-9)
    assert back.start_time_ns == orig.start_time_ns + round(t0 * 1e9)
    a, b = back.load_sweep("velodyne", 2), orig.load_sweep("top", 2)
    np.testing.assert_array_equal(a.points, b.points)
    # Per-point times come from the azimuth: this scene's LiDAR spins the other way, so only the
    # sweep's span is checked: every return within one revolution.
    assert a.times.min() >= back.lidar("velodyne").sweep_times[2] - 1e-9
    assert a.times.max() <= back.lidar("velodyne").sweep_times[2] + 0.1 + 1e-9


def test_object_layout_labels_match_frame_labels(scene_log: Path, tmp_path: Path) -> None:
    out = _export(scene_log, tmp_path / "object", "object", cameras=("left",))
    log = DriveLog.open(scene_log)
    for f in (0, 4):
        labels = kf.read_labels(out / "training" / "label_2" / f"{f:06d}.txt", tracking=False)
        want = frame_labels(log, "left", f)
        assert [lab.type for lab in labels] == [w.label.type for w in want]
        for lab, w in zip(labels, want):
            np.testing.assert_allclose(lab.location, w.label.location, atol=1e-6)
            np.testing.assert_allclose(lab.bbox, w.label.bbox, atol=0.005)
            assert lab.occluded == w.label.occluded
    calib = kf.read_sequence_calib(out / "training" / "calib" / "000000.txt")
    # The exported rect frame is the first camera: P2 = [K | 0], R0_rect = I.
    np.testing.assert_allclose(calib.projections[2], np.c_[log.camera("left").intrinsics.K, np.zeros(3)], atol=1e-9)
    back = DriveLog.open(import_log("kitti", out / "training" / "velodyne" / "000004.bin", tmp_path / "b", ImportOptions()))
    assert len(back.actors) == len(frame_labels(log, "left", 4))


def test_labels_truncation_and_occlusion(scene_log: Path, scene_log_masks: Path) -> None:
    log = DriveLog.open(scene_log)
    by_id = {fl.actor_id: fl for fl in frame_labels(log, "left", 4)}
    lead, hidden, walker = by_id["lead"].label, by_id["hidden"].label, by_id["walker"].label
    assert lead.occluded == 0 and lead.truncated == 0.0
    assert hidden.occluded == 2 and 0.0 < by_id["hidden"].visible_fraction < 0.5
    # The pedestrian straddles the left image edge: its box projects partly left of u = 0.
    assert 0.3 < walker.truncated < 0.7 and walker.bbox[0] == 0.0
    assert by_id["lead"].occlusion_source == "box_zbuffer"
    # Masks rendered from the same boxes give the same answer through the ground-truth path.
    with_masks = {fl.actor_id: fl for fl in frame_labels(DriveLog.open(scene_log_masks), "left", 4)}
    assert with_masks["hidden"].occlusion_source == "instance_masks"
    for actor_id, fl in by_id.items():
        assert abs(with_masks[actor_id].visible_fraction - fl.visible_fraction) < 0.02
        assert with_masks[actor_id].label.occluded == fl.label.occluded
    # alpha is rotation_y minus the centre's azimuth.
    assert abs(lead.alpha - kf.wrap_angle(lead.rotation_y - np.arctan2(lead.location[0], lead.location[2]))) < 1e-9


def test_unsynchronised_cameras_are_refused(scene_log: Path, tmp_path: Path) -> None:
    with pytest.raises(RedriveError, match="not synchronised"):
        export(scene_log, tmp_path / "x", ExportOptions(cameras=["left", "right"]),
               KittiExportConfig(layout="tracking", sync_tolerance_s=-1.0))
    assert not (tmp_path / "x").exists()
    with pytest.raises(RedriveError, match="at most 2 cameras"):
        export(scene_log, tmp_path / "x", ExportOptions(cameras=["left", "right", "left"]))


def test_interrupted_export_leaves_no_dataset(scene_log: Path, tmp_path: Path, monkeypatch) -> None:
    out = tmp_path / "kitti"

    def boom(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("redrive.export.kitti.frame_labels", boom)
    with pytest.raises(KeyboardInterrupt):
        _export(scene_log, out, "tracking")
    assert not out.exists() and not list(tmp_path.glob(".kitti.partial-*"))
    # A process killed outright leaves its hidden partial directory; the next export removes it.
    stale = tmp_path / ".kitti.partial-999999999"
    (stale / "training").mkdir(parents=True)
    monkeypatch.undo()
    _export(scene_log, out, "tracking")
    assert out.is_dir() and not stale.exists()
    with pytest.raises(RedriveError, match="already exists"):
        _export(scene_log, out, "tracking")
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("x")
    with pytest.raises(RedriveError, match="not a redrive export"):
        PublishDir(tmp_path / "mine", overwrite=True)
    assert os.path.exists(tmp_path / "mine" / "notes.txt")
