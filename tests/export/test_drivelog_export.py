"""`redrive export --format drivelog`: a window and a sensor selection as a new log; the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from redrive.cli import main
from redrive.log import DriveLog


def test_window_and_sensors_keep_ground_truth(scene_log_masks: Path, tmp_path: Path) -> None:
    out = tmp_path / "cut"
    assert main(["export", str(scene_log_masks), "--format", "drivelog", "--out", str(out),
                 "--start", "0.2", "--end", "0.5", "--cameras", "left"]) == 0
    orig, cut = DriveLog.open(scene_log_masks), DriveLog.open(out)
    assert list(cut.cameras) == ["left"] and list(cut.lidars) == ["top"]
    np.testing.assert_allclose(cut.camera("left").frame_times, [0.25, 0.35, 0.45])
    np.testing.assert_allclose(cut.lidar("top").sweep_times, [0.2, 0.3, 0.4, 0.5])  # window inclusive
    np.testing.assert_array_equal(cut.load_image("left", 0), orig.load_image("left", 2))
    np.testing.assert_array_equal(cut.load_gt_camera_frame("left", 1)["instance"], orig.load_gt_camera_frame("left", 3)["instance"])
    np.testing.assert_allclose(cut.ego.at(0.33), orig.ego.at(0.33), atol=1e-12)
    assert set(cut.actors) == set(orig.actors) and cut.ground_truth.instance_actors == orig.ground_truth.instance_actors
    # The export refuses to replace it without --overwrite, and replaces it with.
    assert main(["export", str(scene_log_masks), "--format", "drivelog", "--out", str(out)]) == 2
    assert main(["export", str(scene_log_masks), "--format", "drivelog", "--out", str(out), "--overwrite"]) == 0
    assert len(DriveLog.open(out).camera("right")) == 8


def test_cli_kitti_and_nerfstudio(scene_log: Path, tmp_path: Path, capsys) -> None:
    assert main(["export", str(scene_log), "--format", "kitti", "--out", str(tmp_path / "k"), "--cameras", "left",
                 "--kitti-layout", "object", "--every", "3"]) == 0
    assert sorted(p.name for p in (tmp_path / "k" / "training" / "image_2").iterdir()) == ["000000.png", "000001.png", "000002.png"]
    assert main(["export", str(scene_log), "--format", "nerfstudio", "--out", str(tmp_path / "n"), "--max-points", "0"]) == 0
    meta = json.loads((tmp_path / "n" / "transforms.json").read_text())
    assert len(meta["frames"]) == 16 and "ply_file_path" not in meta
    assert main(["export", str(scene_log), "--format", "kitti", "--out", str(tmp_path / "x"), "--cameras", "nope"]) == 2
    assert "unknown camera sensor 'nope'" in capsys.readouterr().err
    assert main(["export", str(tmp_path), "--format", "kitti", "--out", str(tmp_path / "y")]) == 2
