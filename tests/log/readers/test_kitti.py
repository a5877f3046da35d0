"""KITTI reader and formats: the real object frame (../shared/realdata), conversions both ways,
file formats, and refusals of bad input."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from redrive.errors import LogFormatError, RedriveError, UnknownSensorError
from redrive.geometry.se3 import invert, make_pose, so3_exp, so3_log, transform_points, yaw_rotation
from redrive.log import DriveLog
from redrive.log.readers import ImportOptions, import_log
from redrive.log.readers import _kitti_formats as kf

REALDATA = Path(__file__).resolve().parents[3] / ".." / "shared" / "realdata"
KITTI_FRAME = ("kitti_object_mmdet3d_demo_frame",)


def realdata_path(*parts: str) -> Path:
    path = REALDATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real data excerpt not found: {path} (../shared/realdata beside the repository)")
    return path


@pytest.fixture(scope="module")
def real_frame_log(tmp_path_factory) -> DriveLog:
    src = realdata_path(*KITTI_FRAME)
    return DriveLog.open(import_log("kitti", src, tmp_path_factory.mktemp("kitti") / "log", ImportOptions()))


def _info() -> dict:
    return json.loads((realdata_path(*KITTI_FRAME) / "000008_info.json").read_text())["data_list"][0]


def test_real_velodyne_points_project_into_image_2(real_frame_log: DriveLog) -> None:
    log = real_frame_log
    cam = log.camera("image_02")
    assert (cam.intrinsics.width, cam.intrinsics.height) == (1242, 375)
    sweep = log.load_sweep("velodyne", 0)
    cam_from_velo = invert(cam.vehicle_from_camera) @ log.lidar("velodyne").vehicle_from_lidar
    pts = transform_points(cam_from_velo, sweep.points.astype(np.float64))
    front = pts[:, 2] > 0
    uv, _, valid = cam.intrinsics.project(pts[front])
    inside = valid & (uv[:, 0] >= -0.5) & (uv[:, 0] <= 1241.5) & (uv[:, 1] >= -0.5) & (uv[:, 1] <= 374.5)
    # mmdetection3d's demo scan is cropped to the camera's view: nearly every point lands inside.
    assert inside.mean() > 0.99
    # Our calibration chain (IMU vehicle frame, rect, P2's baseline) equals the file's lidar2img.
    lidar2img = np.array(_info()["images"]["CAM2"]["lidar2img"])
    h = np.c_[sweep.points[front], np.ones(front.sum())] @ lidar2img.T
    np.testing.assert_allclose(uv, h[:, :2] / h[:, 2:3], atol=1e-3)
    # Velodyne is ~0.27 m behind and ~0.08 m above the camera, and looks the same way.
    assert np.dot(cam_from_velo[:3, 0], [0, 0, 1]) > 0.99


def test_real_boxes_hold_their_annotated_point_counts(real_frame_log: DriveLog) -> None:
    log = real_frame_log
    instances = [i for i in _info()["instances"] if i["bbox_label_3d"] != -1]
    assert len(log.actors) == len(instances) == 6  # the four DontCare regions are no actors
    sweep = log.load_sweep("velodyne", 0)
    velo = log.lidar("velodyne").vehicle_from_lidar
    for k, inst in enumerate(instances):
        actor = log.actors[f"object_{k}"]
        assert actor.category == "car"
        local = transform_points(invert(actor.trajectory.poses[0]) @ velo, sweep.points.astype(np.float64))
        count = int((np.abs(local) <= actor.size / 2).all(axis=1).sum())
        if inst["truncated"] == 0.0:  # mmdetection3d counts only points in the image's view
            assert abs(count - inst["num_lidar_pts"]) <= max(3, 0.03 * inst["num_lidar_pts"]), (k, count)
        # The box's 3D extent projects around the annotated 2D box (KITTI draws visible extents).
        cam = log.camera("image_02")
        corners = transform_points(invert(cam.vehicle_from_camera), actor.box_corners(0.0))
        uv, _, _ = cam.intrinsics.project(corners)
        x0, y0, x1, y1 = inst["bbox"]
        u = np.clip([uv[:, 0].min(), uv[:, 0].max()], 0, 1241)
        v = np.clip([uv[:, 1].min(), uv[:, 1].max()], 0, 374)
        centre = [u.mean(), v.mean()]
        assert x0 - 5 <= centre[0] <= x1 + 5 and y0 - 5 <= centre[1] <= y1 + 5


def test_object_layout_files(tmp_path: Path) -> None:
    """The same frame laid out as the object benchmark's files (calib/, velodyne/, image_2/, label_2/)."""
    src = realdata_path(*KITTI_FRAME)
    info = _info()
    split = tmp_path / "training"
    calib = kf.calib_from_mmdet3d_info(src / "000008_info.json", info)
    calib.projections = {i: calib.projections[i] for i in range(4)}
    for folder, name, source in (("velodyne", "000008.bin", "000008.bin"), ("image_2", "000008.png", "000008.png")):
        (split / folder).mkdir(parents=True)
        shutil.copyfile(src / source, split / folder / name)
    (split / "calib").mkdir()
    (split / "calib" / "000008.txt").write_text(kf.format_sequence_calib(calib, "object"))
    (split / "label_2").mkdir()
    lines = []
    for inst in info["instances"]:
        x, y, z, l, h, w, ry = inst["bbox_3d"]
        kind = "Car" if inst["bbox_label_3d"] == 2 else "DontCare"
        lines.append(kf.format_label(kf.Label(kind, inst["truncated"], inst["occluded"], inst["alpha"], np.array(inst["bbox"]),
                                              np.array([h, w, l]), np.array([x, y, z]), ry), tracking=False))
    (split / "label_2" / "000008.txt").write_text("".join(lines))
    a = DriveLog.open(import_log("kitti", split, tmp_path / "a", ImportOptions(scene="000008")))
    b = DriveLog.open(import_log("kitti", src, tmp_path / "b", ImportOptions()))
    np.testing.assert_allclose(a.camera("image_02").vehicle_from_camera, b.camera("image_02").vehicle_from_camera, atol=1e-9)
    assert len(a.actors) == 6
    for k in range(6):
        np.testing.assert_allclose(a.actors[f"object_{k}"].trajectory.poses, b.actors[f"object_{k}"].trajectory.poses, atol=1e-6)
    with pytest.raises(RedriveError, match="no object frame"):
        import_log("kitti", split, tmp_path / "c", ImportOptions(scene="000009"))


# ---------------------------------------------------------------------------- conversions
def test_box_conversion_both_ways() -> None:
    rng = np.random.default_rng(0)
    for _ in range(20):
        loc, dims, ry = rng.normal(0, 10, 3), rng.uniform(0.5, 5, 3), rng.uniform(-np.pi, np.pi)
        pose, size = kf.box_from_label(loc, dims, ry)
        loc2, dims2, ry2 = kf.label_from_box(pose, size)
        np.testing.assert_allclose(loc2, loc, atol=1e-12)
        np.testing.assert_allclose(dims2, dims)
        assert abs(kf.wrap_angle(ry2 - ry)) < 1e-12
    # ry = 0: the box's length runs along camera x, its top is at camera -y (up).
    pose, size = kf.box_from_label(np.array([1.0, 2.0, 10.0]), np.array([1.5, 1.8, 4.0]), 0.0)
    np.testing.assert_allclose(pose[:3, 0], [1, 0, 0], atol=1e-12)
    np.testing.assert_allclose(pose[:3, 2], [0, -1, 0], atol=1e-12)
    np.testing.assert_allclose(pose[:3, 3], [1.0, 1.25, 10.0])  # centre = bottom centre - h/2 along y
    np.testing.assert_array_equal(size, [4.0, 1.8, 1.5])
    # ry = pi/2: the front points along camera -z (towards the camera), as the devkit's roty.
    pose, _ = kf.box_from_label(np.zeros(3), np.ones(3), np.pi / 2)
    np.testing.assert_allclose(pose[:3, 0], [0, 0, -1], atol=1e-12)
    # alpha = ry - atan2(x, z): a car straight ahead with ry = 0 is seen side-on (alpha 0).
    assert kf.alpha_from(0.3, np.array([0.0, 1.0, 10.0])) == pytest.approx(0.3)
    # Real label: location (-1.17, 1.65, 7.86), ry 1.9 -> alpha 2.04 in the file.
    assert kf.alpha_from(1.9, np.array([-1.17, 1.65, 7.86])) == pytest.approx(2.04, abs=0.01)


def test_oxts_pose_round_trip() -> None:
    rng = np.random.default_rng(1)
    n = 20
    times = np.arange(n) * 0.1
    rot = so3_exp(rng.normal(0, 0.05, (n, 3))) @ yaw_rotation(rng.uniform(-3, 3, n))
    poses = make_pose(rot, np.cumsum(rng.normal(0, 2, (n, 3)), 0) + [500.0, -300.0, 10.0])
    origin = {"lat": 49.0, "lon": 8.4, "alt": 110.0}
    oxts = kf.poses_to_oxts(times, poses, origin)
    assert oxts.shape == (n, 30)
    text = "".join(kf.format_oxts(r) for r in oxts)
    back, geo = kf.oxts_to_poses(kf.read_oxts(Path("mem.txt"), text))
    want = poses.copy()
    want[:, :3, 3] -= poses[0, :3, 3]
    assert np.abs(back[:, :3, 3] - want[:, :3, 3]).max() < 1e-6
    assert np.abs(so3_log(np.swapaxes(back[:, :3, :3], 1, 2) @ want[:, :3, :3])).max() < 1e-9
    # The first pose sits at the geographic position of its world point (~500 m east, 300 m south).
    first = poses[0, :3, 3]
    mx0, my0 = kf.latlon_to_mercator(49.0, 8.4, kf.mercator_scale(49.0))
    lat, lon = kf.mercator_to_latlon(mx0 + first[0], my0 + first[1], kf.mercator_scale(49.0))
    assert (geo["lat"], geo["lon"]) == pytest.approx((float(lat), float(lon)), abs=1e-12)
    assert geo["alt"] == pytest.approx(110.0 + first[2])
    # Devkit convention: 1e-4 degrees of longitude at latitude 49 is scale * er * 1e-4 * pi / 180 east.
    one = np.zeros((2, 30))
    one[:, 0], one[:, 1] = 49.0, [8.4, 8.4001]
    p, _ = kf.oxts_to_poses(one)
    assert p[1, 0, 3] == pytest.approx(np.cos(np.radians(49.0)) * kf.EARTH_RADIUS_M * np.radians(1e-4), rel=1e-9)
    # Body velocity of a constant-speed straight drive along the heading.
    straight = make_pose(np.repeat(yaw_rotation(0.5)[None], 5, 0), np.outer(np.arange(5) * 0.1, [np.cos(0.5), np.sin(0.5), 0]) * 10)
    ox = kf.poses_to_oxts(np.arange(5) * 0.1, straight, origin)
    np.testing.assert_allclose(ox[:, 8:11], np.tile([10.0, 0.0, 0.0], (5, 1)), atol=1e-9)
    np.testing.assert_allclose(ox[:, 13], kf.GRAVITY_M_S2, atol=1e-9)


def test_calibration_files_round_trip(tmp_path: Path) -> None:
    k = np.array([[700.0, 0, 600.0], [0, 710.0, 180.0], [0, 0, 1]])
    cam3 = make_pose(yaw_rotation(0.3)[[1, 2, 0]][:, [1, 2, 0]], [-0.5, 0.01, 0.02])  # rotated about camera y
    calib = kf.Calibration({0: np.c_[k, np.zeros(3)], 1: np.c_[k, np.zeros(3)], 2: np.c_[k, [40.0, 0.2, 0.003]],
                            3: k @ cam3[:3, :4]}, make_pose(so3_exp(np.array([0.01, -0.02, 0.005])), np.zeros(3)),
                           make_pose(so3_exp(np.array([1.2, -1.2, 1.2])), [0.1, -0.07, -0.27]),
                           make_pose(so3_exp(np.array([0.0, 0.01, 0.0])), [-0.8, 0.3, -0.8]), {2: (1242, 375), 3: (1242, 375)})
    for kind in ("tracking", "object"):
        path = tmp_path / f"{kind}.txt"
        path.write_text(kf.format_sequence_calib(calib, kind))
        back = kf.read_sequence_calib(path)
        for i in range(4):
            np.testing.assert_allclose(back.projections[i], calib.projections[i], rtol=1e-12)
        np.testing.assert_allclose(back.vehicle_from_camera(3), calib.vehicle_from_camera(3), atol=1e-10)
    assert "R_rect " in (tmp_path / "tracking.txt").read_text() and "R0_rect: " in (tmp_path / "object.txt").read_text()
    k3, pose3 = calib.decompose(3)
    np.testing.assert_allclose(k3, k, atol=1e-9)
    np.testing.assert_allclose(pose3, cam3, atol=1e-12)
    for name, text in kf.format_raw_calib(calib).items():
        (tmp_path / name).write_text(text)
    raw = kf.read_raw_calib(tmp_path)
    assert raw.image_sizes == {2: (1242, 375), 3: (1242, 375)}
    np.testing.assert_allclose(raw.vehicle_from_camera(2), calib.vehicle_from_camera(2), atol=1e-10)


def test_timestamps_round_trip(tmp_path: Path) -> None:
    stamps = np.array([1317046945964389445, 1317046946068058560], dtype=np.int64)
    assert kf.format_timestamp(stamps[0]) == "2011-09-26 14:22:25.964389445"
    path = tmp_path / "timestamps.txt"
    path.write_text("".join(kf.format_timestamp(s) + "\n" for s in stamps))
    np.testing.assert_array_equal(kf.parse_timestamps(path), stamps)


# ---------------------------------------------------------------------------- bad input
def _tracking_split(tmp_path: Path, sequences=("0000",)) -> Path:
    split = tmp_path / "training"
    calib = kf.Calibration({i: np.c_[np.array([[100.0, 0, 50], [0, 100, 40], [0, 0, 1]]), np.zeros(3)] for i in range(4)},
                           np.eye(4), make_pose(np.array([[0, -1, 0], [0, 0, -1], [1, 0, 0]], float), np.zeros(3)), np.eye(4))
    oxts = kf.poses_to_oxts(np.arange(3) * 0.1, make_pose(np.eye(3)[None].repeat(3, 0), np.outer(np.arange(3), [1.0, 0, 0])),
                            {"lat": 49.0, "lon": 8.4, "alt": 100.0})
    for seq in sequences:
        for d in ("calib", "oxts", "label_02", f"velodyne/{seq}", f"image_02/{seq}"):
            (split / d).mkdir(parents=True, exist_ok=True)
        (split / "calib" / f"{seq}.txt").write_text(kf.format_sequence_calib(calib, "tracking"))
        (split / "oxts" / f"{seq}.txt").write_text("".join(kf.format_oxts(r) for r in oxts))
        import imageio.v3 as iio

        for f in range(3):
            iio.imwrite(split / "image_02" / seq / f"{f:06d}.png", np.zeros((80, 100, 3), np.uint8))
            (split / "velodyne" / seq / f"{f:06d}.bin").write_bytes(np.array([[5.0, 1.0, 0.0, 0.5]], "<f4").tobytes())
        (split / "label_02" / f"{seq}.txt").write_text(
            "0 7 Car 0.00 0 0.1 10 10 40 30 1.5 1.8 4.0 1.0 1.5 10.0 0.2\n"
            "1 7 Car 0.00 0 0.1 10 10 40 30 1.5 1.8 4.0 1.0 1.5 9.0 0.2\n"
            "1 -1 DontCare -1 -1 -10 5 5 9 9 -1 -1 -1 -1000 -1000 -1000 -10\n")
    return split


def test_tracking_sequence_selection_window_and_sensors(tmp_path: Path) -> None:
    split = _tracking_split(tmp_path, ("0000", "0001"))
    with pytest.raises(RedriveError, match="holds 2 tracking sequences"):
        import_log("kitti", split, tmp_path / "a", ImportOptions())
    log = DriveLog.open(import_log("kitti", split / "image_02" / "0001", tmp_path / "b", ImportOptions(start_s=0.05)))
    assert len(log.camera("image_02")) == 2 and len(log.lidar("velodyne")) == 2
    assert log.name.endswith("0001")
    track = log.actors["track_7"]
    assert len(track.trajectory) == 1  # frame 0 is outside the window
    log = DriveLog.open(import_log("kitti", split, tmp_path / "c", ImportOptions(scene="0000", lidars=[])))
    assert not log.lidars and len(log.actors["track_7"].trajectory) == 2
    with pytest.raises(UnknownSensorError, match="image_02"):
        import_log("kitti", split, tmp_path / "d", ImportOptions(scene="0000", cameras=["image_03"]))
    with pytest.raises(RedriveError, match="selects no frame"):
        import_log("kitti", split, tmp_path / "e", ImportOptions(scene="0000", start_s=5.0))


@pytest.mark.parametrize("damage, match", [
    (lambda s: (s / "oxts" / "0000.txt").write_text("49.0 8.4 100.0 0 0 0\n"), r"oxts/0000.txt: field 'line 1'.*expected 30 numbers"),
    (lambda s: (s / "oxts" / "0000.txt").write_text(" ".join(["95.0"] + ["0"] * 29) + "\n"), r"field 'line 1.lat' = 95.0"),
    (lambda s: (s / "calib" / "0000.txt").write_text("P0: 1 0 0 0 0 1 0 0 0 0 1 0\n"), r"calib/0000.txt: field 'P2'.*missing"),
    (lambda s: (s / "calib" / "0000.txt").write_text((s / "calib" / "0000.txt").read_text().replace("Tr_velo_cam 0", "Tr_velo_cam 5")),
     r"field 'Tr_velo_cam'.*not a rigid transform"),
    (lambda s: (s / "label_02" / "0000.txt").write_text("0 1 Bus 0 0 0 1 1 2 2 1 1 1 0 0 5 0\n"), r"field 'line 1.type' = 'Bus'"),
    (lambda s: (s / "label_02" / "0000.txt").write_text("9 1 Car 0 0 0 1 1 2 2 1 1 1 0 0 5 0\n"), r"field 'line 1.frame' = 9.*3 frames"),
    (lambda s: (s / "label_02" / "0000.txt").write_text("0 1 Car 0 0 0 1 1 2 2 1 1\n"), r"field 'line 1'.*expected 17 fields"),
    (lambda s: (s / "velodyne" / "0000" / "000001.bin").write_bytes(b"\0" * 10), r"000001.bin.*multiple of 16"),
])
def test_bad_input_is_refused_naming_file_and_field(tmp_path: Path, damage, match) -> None:
    split = _tracking_split(tmp_path)
    damage(split)
    with pytest.raises(LogFormatError, match=match):
        import_log("kitti", split, tmp_path / "out", ImportOptions())
    assert not (tmp_path / "out").exists()


def test_unknown_source_is_refused(tmp_path: Path) -> None:
    with pytest.raises(RedriveError, match="not a KITTI source"):
        import_log("kitti", tmp_path, tmp_path / "out", ImportOptions())
