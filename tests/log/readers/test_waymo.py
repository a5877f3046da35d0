"""Waymo Open Dataset v1 reader on the real one-frame segment of the WOD repository's test data
(../shared/realdata/waymo_pvps_one_frame)."""

from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np
import pytest

from redrive.errors import LogFormatError, RedriveError, UnknownSensorError
from redrive.geometry import se3
from redrive.log import DriveLog
from redrive.log.readers import ImportOptions, import_log
from redrive.log.readers._tfrecord import iter_records, write_records
from redrive.log.readers._waymo_proto import CAMERA_NAMES, messages


def _frame(path: Path):
    _, _, payload = next(iter_records(path))
    frame = messages()["Frame"]()
    frame.ParseFromString(payload)
    return frame


@pytest.fixture(scope="module")
def waymo_imported(waymo_tfrecord: Path, tmp_path_factory) -> DriveLog:
    out = tmp_path_factory.mktemp("waymo") / "log"
    import_log("waymo", waymo_tfrecord, out)
    return DriveLog.open(out)


def test_cameras_and_calibrations(waymo_imported: DriveLog, waymo_tfrecord: Path):
    log, frame = waymo_imported, _frame(waymo_tfrecord)
    assert sorted(log.cameras) == ["front", "front_left", "front_right", "side_left", "side_right"]
    sizes = {n: (c.intrinsics.width, c.intrinsics.height) for n, c in log.cameras.items()}
    assert sizes == {"front": (1920, 1280), "front_left": (1920, 1280), "front_right": (1920, 1280),
                     "side_left": (1920, 886), "side_right": (1920, 886)}
    for calib in frame.context.camera_calibrations:
        cam = log.cameras[CAMERA_NAMES[calib.name]]
        fu, fv, cu, cv, k1, k2, p1, p2, k3 = calib.intrinsic
        assert (cam.intrinsics.fx, cam.intrinsics.fy, cam.intrinsics.cx, cam.intrinsics.cy) == (fu, fv, cu, cv)
        assert cam.intrinsics.distortion == (k1, k2, p1, p2, k3)
        extr = np.array(calib.extrinsic.transform).reshape(4, 4)
        # OpenCV +z (optical axis) is Waymo's camera +x; OpenCV +x (right) is Waymo's -y.
        np.testing.assert_allclose(cam.vehicle_from_camera[:3, 2], extr[:3, 0], atol=1e-12)
        np.testing.assert_allclose(cam.vehicle_from_camera[:3, 0], -extr[:3, 1], atol=1e-12)
        np.testing.assert_allclose(cam.vehicle_from_camera[:3, 3], extr[:3, 3], atol=1e-12)
        assert cam.rolling_shutter_direction == "left_to_right"
    for image in frame.images:
        cam = log.cameras[CAMERA_NAMES[image.name]]
        # Frame time: middle of the readout; readout: done - trigger - exposure.
        mid_ns = round((image.camera_trigger_time + image.camera_readout_done_time) / 2 * 1e6) * 1000
        assert log.to_ns(cam.frame_times[0]) == mid_ns
        readout = image.camera_readout_done_time - image.camera_trigger_time - image.shutter
        assert cam.rolling_shutter_s == pytest.approx(readout, abs=1e-9)
        assert 0.04 < cam.rolling_shutter_s < 0.05
        stored = (log.root / log.image_files[CAMERA_NAMES[image.name]][0]).read_bytes()
        assert stored == image.image  # the source's JPEG, byte for byte
    assert log.load_image("side_left", 0).shape == (886, 1920, 3)
    # Ego poses: the images' own poses at their pose timestamps.
    for image in frame.images:
        t = log.to_seconds(round(image.pose_timestamp * 1e6) * 1000)
        np.testing.assert_allclose(log.ego.at(t), np.array(image.pose.transform).reshape(4, 4), atol=1e-9)


def test_laser_labels_become_tracks(waymo_imported: DriveLog, waymo_tfrecord: Path):
    log, frame = waymo_imported, _frame(waymo_tfrecord)
    assert len(frame.laser_labels) == 75 and len(log.actors) == 75
    counts = {c: sum(a.category == c for a in log.actors.values()) for c in ("car", "pedestrian", "bicycle", "other")}
    assert counts == {"car": 37, "pedestrian": 12, "bicycle": 1, "other": 25}
    frame_pose = np.array(frame.pose.transform).reshape(4, 4)
    t = log.to_seconds(frame.timestamp_micros * 1000)
    for label in frame.laser_labels:
        actor = log.actors[label.id]
        np.testing.assert_allclose(actor.size, [label.box.length, label.box.width, label.box.height])
        in_vehicle = se3.invert(frame_pose) @ actor.trajectory.at(t)
        np.testing.assert_allclose(in_vehicle[:3, 3], [label.box.center_x, label.box.center_y, label.box.center_z], atol=1e-6)
        assert np.arctan2(in_vehicle[1, 0], in_vehicle[0, 0]) == pytest.approx(label.box.heading, abs=1e-9)
    assert log.source["segment"] == frame.context.name
    assert log.source["frame_timestamps_micros"] == [frame.timestamp_micros]
    assert log.source["lidars_without_returns"] == ["front", "rear", "side_left", "side_right", "top"]


def _box_image_rect(log: DriveLog, actor, camera: str, t_box: float, samples: int = 12):
    """Axis-aligned rectangle (clamped to the image) around the projected surface of a 3D box,
    the way the format defines projected labels; None when part of the box is behind the camera."""
    s = np.linspace(-0.5, 0.5, samples)
    grid = np.stack(np.meshgrid(s, s, s, indexing="ij"), -1).reshape(-1, 3)
    surface = grid[np.any(np.isclose(np.abs(grid), 0.5), axis=1)] * actor.size
    world = se3.transform_points(actor.trajectory.at(t_box), surface)
    cam = log.cameras[camera]
    in_cam = se3.transform_points(se3.invert(log.world_from_camera(camera, cam.frame_times[0])), world)
    uv, _, valid = cam.intrinsics.project(in_cam)
    if (in_cam[:, 2] < 0.1).any() or not valid.all():
        return None
    (u0, v0), (u1, v1) = uv.min(0), uv.max(0)
    return np.array([max(u0, 0), max(v0, 0), min(u1, cam.intrinsics.width), min(v1, cam.intrinsics.height)])


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def test_labels_project_onto_the_frames_projected_labels(waymo_imported: DriveLog, waymo_tfrecord: Path):
    """3D labels projected through the imported calibration and ego poses agree with the frame's
    own projected_lidar_labels (62 boxes over 5 cameras; boxes reaching behind a camera are left out)."""
    log, frame = waymo_imported, _frame(waymo_tfrecord)
    t_box = log.to_seconds(frame.timestamp_micros * 1000)
    ious, edge_px, total = [], [], 0
    for labels in frame.projected_lidar_labels:
        camera = CAMERA_NAMES[labels.name]
        for label in labels.labels:
            total += 1
            actor_id = label.id[: -(len(camera) + 1)]
            assert label.id.endswith("_" + camera.upper()) and actor_id in log.actors
            b = label.box
            ref = np.array([b.center_x - b.length / 2, b.center_y - b.width / 2,
                            b.center_x + b.length / 2, b.center_y + b.width / 2])
            rect = _box_image_rect(log, log.actors[actor_id], camera, t_box)
            if rect is None:
                continue
            ious.append(_iou(rect, ref))
            edge_px.append(np.abs(rect - ref).max())
    ious, edge_px = np.array(ious), np.array(edge_px)
    print(f"waymo projected labels: {len(ious)}/{total} compared, IoU mean {ious.mean():.4f} min {ious.min():.4f}, "
          f"max edge error median {np.median(edge_px):.2f} px, max {edge_px.max():.2f} px")
    assert total == 62 and len(ious) >= 55
    assert ious.mean() > 0.99 and ious.min() > 0.95
    assert np.median(edge_px) < 0.5


def _with_top_range_image(frame, rows_incl: np.ndarray, cols: int, rng: np.random.Generator):
    """The real frame plus a TOP range image whose world points are known: ranges and per-pixel
    vehicle poses (the frame pose moving 1 m along x over the revolution) are chosen here."""
    M = messages()
    ranges = rng.uniform(3.0, 60.0, (len(rows_incl), cols)).astype(np.float32)
    ranges[rng.random(ranges.shape) < 0.2] = -1.0  # rays without a return
    ri = np.stack([ranges, rng.uniform(0, 1, ranges.shape), np.zeros_like(ranges), np.zeros_like(ranges)], -1)
    frame_pose = np.array(frame.pose.transform).reshape(4, 4)
    yaw = np.arctan2(frame_pose[1, 0], frame_pose[0, 0])
    pitch = -np.arcsin(frame_pose[2, 0])
    roll = np.arctan2(frame_pose[2, 1], frame_pose[2, 2])
    shift = np.linspace(0.0, 1.0, cols)
    pixel = np.zeros((len(rows_incl), cols, 6), np.float32)
    pixel[..., 0], pixel[..., 1], pixel[..., 2] = roll, pitch, yaw
    pixel[..., 3:6] = frame_pose[:3, 3] + shift[None, :, None] * frame_pose[:3, 0]  # float32, as in the format
    laser = frame.lasers.add(name=1)
    mat = M["MatrixFloat"](data=ri.reshape(-1).tolist())
    mat.shape.dims.extend(ri.shape)
    laser.ri_return1.range_image_compressed = zlib.compress(mat.SerializeToString())
    pose_mat = M["MatrixFloat"](data=pixel.reshape(-1).tolist())
    pose_mat.shape.dims.extend(pixel.shape)
    laser.ri_return1.range_image_pose_compressed = zlib.compress(pose_mat.SerializeToString())
    return ri, pixel.astype(np.float64)


def test_range_image_returns_and_drops(waymo_tfrecord: Path, tmp_path: Path):
    from scipy.spatial.transform import Rotation

    frame = _frame(waymo_tfrecord)
    for laser in list(frame.lasers):
        if laser.name == 1:
            frame.lasers.remove(laser)
    calib = next(c for c in frame.context.laser_calibrations if c.name == 1)
    incl = np.array(calib.beam_inclinations)
    cols = 120
    ri, pixel = _with_top_range_image(frame, incl, cols, np.random.default_rng(0))
    segment = tmp_path / "segment.tfrecord"
    write_records(segment, [frame.SerializeToString()])
    # Expected world points, from the format's definition.
    extr = np.array(calib.extrinsic.transform).reshape(4, 4)
    az = ((cols - np.arange(cols) - 0.5) / cols * 2 - 1) * np.pi - np.arctan2(extr[1, 0], extr[0, 0])
    el = incl[::-1][:, None]
    p_sensor = ri[..., :1] * np.stack(np.broadcast_arrays(np.cos(el) * np.cos(az), np.cos(el) * np.sin(az), np.sin(el)), -1)
    rot = Rotation.from_euler("ZYX", pixel[..., [2, 1, 0]].reshape(-1, 3)).as_matrix().reshape(pixel.shape[:2] + (3, 3))
    p_vehicle = p_sensor @ extr[:3, :3].T + extr[:3, 3]
    expected = np.einsum("hwij,hwj->hwi", rot, p_vehicle) + pixel[..., 3:6]
    expected = expected[ri[..., 0] > 0]

    log = DriveLog.open(import_log("waymo", segment, tmp_path / "log", ImportOptions(cameras=[], lidars=["TOP"])))
    assert list(log.lidars) == ["top"] and log.cameras == {}
    lidar = log.lidars["top"]
    assert lidar.beams.beam_count == 64 and lidar.beams.azimuth_count == cols
    np.testing.assert_allclose(lidar.beams.elevations_deg, np.degrees(incl))
    sweep = log.load_sweep("top", 0)
    world_from_lidar = log.ego.at(sweep.times) @ lidar.vehicle_from_lidar
    world = np.einsum("nij,nj->ni", world_from_lidar[:, :3, :3], sweep.points.astype(np.float64)) + world_from_lidar[:, :3, 3]
    from scipy.spatial import cKDTree

    dist, _ = cKDTree(expected).query(world)
    assert len(world) == len(expected) and dist.max() < 2e-3
    assert len(sweep.drop_directions) == int((ri[..., 0] <= 0).sum())
    np.testing.assert_allclose(np.linalg.norm(sweep.drop_directions, axis=1), 1.0, atol=1e-5)
    t0 = log.to_seconds(frame.timestamp_micros * 1000)
    assert t0 <= sweep.times.min() and sweep.times.max() <= t0 + 0.1 and np.all(np.diff(sweep.times) >= 0)
    # Row 0 is the highest beam, stored as beam index 63 (elevations ascend with the index).
    top_row_hits = int((ri[0, :, 0] > 0).sum())
    assert int((sweep.beam == 63).sum()) == top_row_hits


def test_selection_and_bad_input(waymo_tfrecord: Path, tmp_path: Path):
    log = DriveLog.open(import_log("waymo", waymo_tfrecord, tmp_path / "front", ImportOptions(cameras=["FRONT"])))
    assert list(log.cameras) == ["front"] and len(log.actors) == 75
    with pytest.raises(UnknownSensorError, match="front_left"):
        import_log("waymo", waymo_tfrecord, tmp_path / "x", ImportOptions(cameras=["ring_front_center"]))
    with pytest.raises(RedriveError, match="no frame"):
        import_log("waymo", waymo_tfrecord, tmp_path / "x", ImportOptions(start_s=1.0))
    data = waymo_tfrecord.read_bytes()
    truncated = tmp_path / "truncated.tfrecord"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(LogFormatError, match="truncated record"):
        import_log("waymo", truncated, tmp_path / "x")
    assert not (tmp_path / "x").exists()


def test_corrupt_payload_is_refused(waymo_tfrecord: Path, tmp_path: Path):
    pytest.importorskip("google_crc32c", reason="payload checksums are verified only with google-crc32c (readers extra)")
    flipped = bytearray(waymo_tfrecord.read_bytes())
    flipped[1000] ^= 0xFF  # inside the first camera JPEG: protobuf alone would not notice
    corrupt = tmp_path / "corrupt.tfrecord"
    corrupt.write_bytes(bytes(flipped))
    with pytest.raises(LogFormatError, match="record 0.*payload checksum mismatch"):
        import_log("waymo", corrupt, tmp_path / "x")
