"""nerfstudio export: transforms.json against nerfstudio's documented schema and camera
convention, the LiDAR point cloud, and nerfstudio's own parser when it is installed."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from redrive.export.common import ExportOptions
from redrive.export.nerfstudio import NerfstudioExportConfig, export
from redrive.geometry.cameras import CameraModel
from redrive.log import DriveLog, DriveLogWriter

CAMERA_MODELS = {"PINHOLE", "OPENCV", "OPENCV_FISHEYE"}


def _check_schema(meta: dict, root: Path) -> None:
    """The keys and types nerfstudio's dataparser reads (nerfstudio_dataparser.py)."""
    assert meta["camera_model"] in CAMERA_MODELS
    intrinsic_keys = ("fl_x", "fl_y", "cx", "cy", "w", "h")
    top = all(k in meta for k in intrinsic_keys)
    for frame in meta["frames"]:
        assert (root / frame["file_path"]).is_file()
        m = np.array(frame["transform_matrix"], dtype=float)
        assert m.shape == (4, 4) and np.allclose(m[3], [0, 0, 0, 1])
        assert np.allclose(m[:3, :3].T @ m[:3, :3], np.eye(3), atol=1e-9)
        if not top:
            assert all(k in frame for k in intrinsic_keys)
            assert isinstance(frame["w"], int) and isinstance(frame["h"], int)
    applied = np.array(meta["applied_transform"])
    assert applied.shape == (3, 4)


def test_transforms_json_schema_and_opengl_convention(scene_log: Path, tmp_path: Path) -> None:
    out = export(scene_log, tmp_path / "ns", ExportOptions(every=2))
    meta = json.loads((out / "transforms.json").read_text())
    _check_schema(meta, out)
    log = DriveLog.open(scene_log)
    # Both cameras share intrinsics: they sit at the top level; pinhole -> PINHOLE, no distortion.
    assert meta["camera_model"] == "PINHOLE" and meta["w"] == 160 and meta["fl_x"] == 100.0
    assert "k1" not in meta
    assert len(meta["frames"]) == 2 * 4
    shift = -np.array(meta["applied_transform"])[:, 3]
    # A world point in front of the camera is at negative z in nerfstudio's (OpenGL) camera axes,
    # above the image centre at positive y; and it projects to the same pixel both ways.
    frame = next(f for f in meta["frames"] if f["camera"] == "left" and f["file_path"].endswith("000002.png"))
    c2w = np.array(frame["transform_matrix"])
    c2w[:3, 3] += shift
    world_from_cam = log.world_from_camera("left", log.camera("left").frame_times[2])
    p_cam = np.array([0.5, -1.0, 8.0])  # OpenCV: right, up (y down), ahead
    p_world = world_from_cam[:3, :3] @ p_cam + world_from_cam[:3, 3]
    p_gl = np.linalg.solve(c2w, np.r_[p_world, 1.0])[:3]
    np.testing.assert_allclose(p_gl, [0.5, 1.0, -8.0], atol=1e-9)
    u = meta["fl_x"] * p_gl[0] / -p_gl[2] + meta["cx"]
    v = meta["fl_y"] * -p_gl[1] / -p_gl[2] + meta["cy"]
    uv, _, _ = log.camera("left").intrinsics.project(p_cam[None])
    # nerfstudio's pixel centres are at +0.5, redrive's at integers
    np.testing.assert_allclose([u, v], uv[0] + 0.5, atol=1e-9)
    # Recentred: the mean camera position is at the origin.
    positions = np.array([f["transform_matrix"] for f in meta["frames"]])[:, :3, 3]
    np.testing.assert_allclose(positions.mean(0), 0.0, atol=1e-9)


def test_point_cloud_is_world_lidar_coloured_by_intensity(scene_log: Path, tmp_path: Path) -> None:
    import open3d as o3d

    out = export(scene_log, tmp_path / "ns", ExportOptions(cameras=["left"]), NerfstudioExportConfig(max_points=5000))
    meta = json.loads((out / "transforms.json").read_text())
    assert meta["ply_file_path"] == "points3D.ply"
    pcd = o3d.io.read_point_cloud(str(out / "points3D.ply"))
    pts, colours = np.asarray(pcd.points), np.asarray(pcd.colors)
    assert len(pts) == 5000 and colours.shape == (5000, 3)
    # The scene's returns lie on the ground (z = 3) or on boxes standing on it (tops at 4.5..4.8),
    # in the recentred frame of the camera poses.
    z = pts[:, 2] - np.array(meta["applied_transform"])[2, 3]
    assert (z > 2.99).all() and (z < 4.81).all()
    assert np.isclose(z, 3.0, atol=1e-3).mean() > 0.5
    grey = np.unique(np.round(colours[:, 0] * 255))
    assert set(grey) <= {51.0, 204.0} and np.allclose(colours[:, 0], colours[:, 1])


def test_distortion_models(tmp_path: Path) -> None:
    """OPENCV keeps the five coefficients; fisheye + perspective are resampled to pinhole."""
    from redrive.geometry import se3
    from redrive.log import Trajectory

    axes = np.array([[0, -1, 0], [0, 0, -1], [1, 0, 0]], float).T
    rng = np.random.default_rng(0)

    def write(out: Path, models: dict[str, CameraModel]) -> Path:
        with DriveLogWriter(out, name="d", start_time_ns=0) as w:
            w.set_ego(Trajectory(np.array([0.0, 1.0]), se3.make_pose(np.eye(3)[None].repeat(2, 0), np.zeros((2, 3)))))
            for name, model in models.items():
                w.add_camera(name, model, se3.make_pose(axes, [1.0, 0, 1.5]))
                w.add_camera_frame(name, 0.5, rng.integers(0, 255, (model.height, model.width, 3), dtype=np.uint8))
        return out

    opencv = CameraModel("opencv", 40, 30, 30.0, 31.0, 19.5, 14.5, (-0.2, 0.05, 0.001, -0.002, 0.01))
    fisheye = CameraModel("fisheye", 40, 30, 20.0, 20.0, 19.5, 14.5, (0.1, -0.01, 0.001, 0.0))
    out = export(write(tmp_path / "a", {"cam": opencv}), tmp_path / "a_ns")
    meta = json.loads((out / "transforms.json").read_text())
    _check_schema(meta, out)
    assert meta["camera_model"] == "OPENCV"
    assert (meta["k1"], meta["k2"], meta["p1"], meta["p2"], meta["k3"]) == (-0.2, 0.05, 0.001, -0.002, 0.01)
    assert meta["frames"][0]["file_path"].endswith(".png")
    out = export(write(tmp_path / "b", {"cam": opencv, "fish": fisheye}), tmp_path / "b_ns")
    meta = json.loads((out / "transforms.json").read_text())
    _check_schema(meta, out)
    assert meta["camera_model"] == "PINHOLE"
    assert {f["camera"]: f["fl_x"] for f in meta["frames"]} == {"cam": 30.0, "fish": 20.0}  # per-frame intrinsics
    assert "k1" not in meta["frames"][0]
    out = export(write(tmp_path / "c", {"fish": fisheye}), tmp_path / "c_ns")
    meta = json.loads((out / "transforms.json").read_text())
    assert meta["camera_model"] == "OPENCV_FISHEYE" and meta["k1"] == 0.1 and meta["k4"] == 0.0


def test_nerfstudio_parser_reads_the_export(scene_log: Path, tmp_path: Path) -> None:
    parser_module = pytest.importorskip(
        "nerfstudio.data.dataparsers.nerfstudio_dataparser",
        reason="nerfstudio is not installed (optional; pip install nerfstudio pulls ~150 packages and pins protobuf<=3.20.3: make baselines-env)")
    out = export(scene_log, tmp_path / "ns", ExportOptions(cameras=["left", "right"]), NerfstudioExportConfig(max_points=2000))
    config = parser_module.NerfstudioDataParserConfig(data=out, eval_mode="all", auto_scale_poses=False,
                                                      center_method="none", orientation_method="none")
    if hasattr(config, "load_3D_points"):  # nerfstudio >= 1.0 reads the point cloud only when asked
        config.load_3D_points = True
    outputs = config.setup().get_dataparser_outputs(split="train")
    assert len(outputs.image_filenames) == 16
    cams = outputs.cameras
    assert float(cams.fx[0]) == 100.0 and int(cams.width[0]) == 160
    meta = json.loads((out / "transforms.json").read_text())
    by_name = {f["file_path"]: np.array(f["transform_matrix"]) for f in meta["frames"]}
    for name, c2w in zip(outputs.image_filenames, cams.camera_to_worlds.numpy()):
        want = by_name[str(Path(name).relative_to(out))]
        np.testing.assert_allclose(c2w, want[:3], atol=1e-5)
    # The points share the poses' frame: with centring/orientation off, nerfstudio keeps them as is.
    import open3d as o3d

    raw = np.asarray(o3d.io.read_point_cloud(str(out / "points3D.ply")).points)
    xyz = outputs.metadata["points3D_xyz"].numpy()
    assert xyz.shape == (2000, 3)
    np.testing.assert_allclose(xyz, raw, atol=1e-4)
