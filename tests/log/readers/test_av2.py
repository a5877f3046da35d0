"""Argoverse 2 reader on the real test logs of av2-api (../shared/realdata/av2_sensor_testlogs)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from redrive.errors import LogFormatError, RedriveError, UnknownSensorError
from redrive.geometry import se3
from redrive.log import ACTOR_CATEGORIES, DriveLog
from redrive.log.readers import ImportOptions, import_log

SWEEP_NS = 315966265259836000


def _feather(path: Path) -> dict:
    import pyarrow.feather as feather

    return feather.read_table(path).to_pydict()


@pytest.fixture(scope="module")
def av2_imported(av2_log_dir: Path, tmp_path_factory) -> DriveLog:
    out = tmp_path_factory.mktemp("av2") / "log"
    import_log("av2", av2_log_dir, out)
    return DriveLog.open(out)


def _world_points(log: DriveLog, stamp_ns: int) -> tuple[np.ndarray, np.ndarray, dict]:
    """World points of the sweep at ``stamp_ns`` from every LiDAR, read back with the DriveLog rule
    ``ego(t_i) @ vehicle_from_lidar @ p_i``; also their times and the raw sweeps."""
    pts, times, sweeps = [], [], {}
    t = log.to_seconds(stamp_ns)
    for name, sensor in log.lidars.items():
        index = int(np.flatnonzero(np.isclose(sensor.sweep_times, t, atol=1e-9))[0])
        sweep = sweeps[name] = log.load_sweep(name, index)
        world_from_lidar = log.ego.at(sweep.times) @ sensor.vehicle_from_lidar
        pts.append(np.einsum("nij,nj->ni", world_from_lidar[:, :3, :3], sweep.points.astype(np.float64))
                   + world_from_lidar[:, :3, 3])
        times.append(sweep.times)
    return np.concatenate(pts), np.concatenate(times), sweeps


def _interior_counts(log: DriveLog, rows: list[int], ann: dict, world_points: np.ndarray, t: float) -> np.ndarray:
    counts = []
    for i in rows:
        actor = log.actors[ann["track_uuid"][i]]
        local = se3.transform_points(se3.invert(actor.trajectory.at(t)), world_points)
        counts.append(int(np.all(np.abs(local) <= actor.size / 2, axis=1).sum()))
    return np.array(counts)


def test_interior_points_match_all_81_boxes(av2_imported: DriveLog, av2_log_dir: Path):
    ann = _feather(av2_log_dir / "annotations.feather")
    rows = [i for i, s in enumerate(ann["timestamp_ns"]) if s == SWEEP_NS]
    assert len(rows) == 81
    world, _, _ = _world_points(av2_imported, SWEEP_NS)
    counts = _interior_counts(av2_imported, rows, ann, world, av2_imported.to_seconds(SWEEP_NS))
    expected = np.array([ann["num_interior_pts"][i] for i in rows])
    assert (counts == expected).sum() == 81, list(zip(counts[counts != expected], expected[counts != expected]))


def test_points_reproduce_the_source_sweep(av2_imported: DriveLog, av2_log_dir: Path):
    from scipy.spatial import cKDTree

    src = _feather(av2_log_dir / "sensors" / "lidar" / f"{SWEEP_NS}.feather")
    p_ego = np.stack([src["x"], src["y"], src["z"]], -1).astype(np.float64)
    world, times, sweeps = _world_points(av2_imported, SWEEP_NS)
    back_in_ego = se3.transform_points(se3.invert(av2_imported.ego.at(av2_imported.to_seconds(SWEEP_NS))), world)
    assert len(back_in_ego) == len(p_ego) == 99229
    dist, _ = cKDTree(p_ego).query(back_in_ego)
    assert dist.max() < 1e-4  # float32 storage of sensor-frame coordinates
    # Each point keeps its own firing time: sweep timestamp + offset_ns.
    expected_times = np.sort(av2_imported.to_seconds(SWEEP_NS + np.asarray(src["offset_ns"], np.int64)))
    np.testing.assert_allclose(np.sort(times), expected_times, atol=1e-9)
    # Beams split by laser_number: 0-31 up, 32-63 down (stored 0-31 in each sensor).
    assert sweeps["up_lidar"].beam.max() == 31 and sweeps["down_lidar"].beam.max() == 31
    assert len(sweeps["up_lidar"]) == sum(1 for n in src["laser_number"] if n < 32)
    intensity = np.concatenate([s.intensity for s in sweeps.values()])
    assert intensity.min() >= 0 and intensity.max() == pytest.approx(max(src["intensity"]) / 255.0)


def test_per_point_times_matter(av2_imported: DriveLog, av2_log_dir: Path):
    """Reading the points back at the sweep time instead of their own times misplaces them (the
    ego moves during the 0.1 s sweep), so the exact agreement above is not a coincidence."""
    world, _, sweeps = _world_points(av2_imported, SWEEP_NS)
    t = av2_imported.to_seconds(SWEEP_NS)
    wrong = np.concatenate([se3.transform_points(av2_imported.ego.at(t) @ av2_imported.lidars[n].vehicle_from_lidar,
                                                 s.points.astype(np.float64)) for n, s in sweeps.items()])
    assert np.linalg.norm(wrong - world, axis=1).max() > 0.05


def test_sensors_tracks_and_provenance(av2_imported: DriveLog, av2_log_dir: Path):
    log = av2_imported
    assert sorted(log.lidars) == ["down_lidar", "up_lidar"]
    assert [len(s) for s in log.lidars.values()] == [2, 2]
    assert log.cameras == {}  # the excerpt has calibrations but no images
    assert len(log.actors) == 114
    assert all(a.category in ACTOR_CATEGORIES for a in log.actors.values())
    assert log.source["original_categories"]["b87c7491-db0b-49e1-9fb8-ecc52f13184e"] == "BOX_TRUCK"
    assert log.actors["b87c7491-db0b-49e1-9fb8-ecc52f13184e"].category == "truck"
    assert log.source["sweep_timestamps_ns"] == [315966265259836000, 315966265360032000]
    assert set(log.source["cameras_without_images"]) >= {"ring_front_center", "stereo_front_left"}
    # Boxes are upright in the world (AV2 cuboids only yaw in an ego frame that is nearly level).
    poses = np.concatenate([a.trajectory.poses for a in log.actors.values()])
    assert np.abs(poses[:, 2, 2]).min() > 0.99
    # Up LiDAR mounted upright at ~1.6 m, down LiDAR upside down.
    assert log.lidars["up_lidar"].vehicle_from_lidar[2, 2] > 0.99
    assert log.lidars["down_lidar"].vehicle_from_lidar[2, 2] < -0.99


def test_time_window_and_sensor_selection(av2_log_dir: Path, tmp_path: Path):
    origin = DriveLog.open(import_log("av2", av2_log_dir, tmp_path / "all", ImportOptions(lidars=[]))).source["source_origin_ns"]
    first_sweep_s = (SWEEP_NS - origin) / 1e9
    out = import_log("av2", av2_log_dir, tmp_path / "win",
                     ImportOptions(start_s=first_sweep_s - 0.05, end_s=first_sweep_s + 0.05, lidars=["UP_LIDAR"]))
    log = DriveLog.open(out)
    assert list(log.lidars) == ["up_lidar"] and len(log.lidars["up_lidar"]) == 1
    # Only the 81 annotated boxes of that sweep fall in the window, each observed once.
    assert len(log.actors) == 81
    assert all(len(a.trajectory) == 1 for a in log.actors.values())
    ego_t0, ego_t1 = log.time_span
    assert ego_t1 - ego_t0 < 0.5  # poses trimmed to the window (plus bracketing samples)
    with pytest.raises(UnknownSensorError, match="up_lidar, down_lidar"):
        import_log("av2", av2_log_dir, tmp_path / "bad", ImportOptions(lidars=["top"]))
    with pytest.raises(RedriveError, match="empty"):
        import_log("av2", av2_log_dir, tmp_path / "bad", ImportOptions(start_s=2.0, end_s=1.0))


def test_cameras_import_with_their_calibration(av2_log_dir: Path, tmp_path: Path):
    """The excerpt has no images; a copy gets two JPEG frames for one ring camera so that the
    camera path (intrinsics, extrinsics in OpenCV axes, frame times, files kept as is) is exercised."""
    import imageio.v3 as iio

    log_dir = tmp_path / av2_log_dir.name
    shutil.copytree(av2_log_dir, log_dir, ignore=shutil.ignore_patterns("flow_labels.feather", "map"))
    cam_dir = log_dir / "sensors" / "cameras" / "ring_front_center"
    cam_dir.mkdir(parents=True)
    image = np.full((2048, 1550, 3), 90, np.uint8)
    stamps = [SWEEP_NS + 5_000_000, SWEEP_NS + 55_000_000]
    for s in stamps:
        iio.imwrite(cam_dir / f"{s}.jpg", image, extension=".jpg")
    log = DriveLog.open(import_log("av2", log_dir, tmp_path / "out", ImportOptions(lidars=[])))
    cam = log.camera("ring_front_center")
    assert (cam.intrinsics.model, cam.intrinsics.width, cam.intrinsics.height) == ("opencv", 1550, 2048)
    assert cam.intrinsics.fx == pytest.approx(1776.0414843455)
    assert cam.intrinsics.distortion == pytest.approx((-0.24073199487285743, -0.21224344364217385, 0.0, 0.0, 0.32590167193407427))
    np.testing.assert_array_equal(log.to_ns(cam.frame_times), stamps)
    # OpenCV camera: optical axis (+z) looks along the vehicle's +x.
    assert cam.vehicle_from_camera[:3, 2] @ np.array([1.0, 0, 0]) > 0.999
    assert (log.root / log.image_files["ring_front_center"][0]).read_bytes() == (cam_dir / f"{stamps[0]}.jpg").read_bytes()
    assert log.load_image("ring_front_center", 1).shape == (2048, 1550, 3)
    with pytest.raises(RedriveError, match="no images"):
        import_log("av2", log_dir, tmp_path / "out2", ImportOptions(cameras=["ring_rear_left"]))


def test_refuses_log_without_calibration(av2_log_no_calibration_dir: Path, tmp_path: Path):
    log_dir = av2_log_no_calibration_dir
    with pytest.raises(LogFormatError, match="egovehicle_SE3_sensor.feather"):
        import_log("av2", log_dir, tmp_path / "out")
    # Poses and tracks alone need no calibration.
    log = DriveLog.open(import_log("av2", log_dir, tmp_path / "out", ImportOptions(cameras=[], lidars=[])))
    assert log.lidars == {} and len(log.actors) > 0


def test_refuses_corrupt_tables(av2_log_dir: Path, tmp_path: Path):
    log_dir = tmp_path / av2_log_dir.name
    shutil.copytree(av2_log_dir, log_dir, ignore=shutil.ignore_patterns("flow_labels.feather", "map"))
    sweep = log_dir / "sensors" / "lidar" / f"{SWEEP_NS}.feather"
    sweep.write_bytes(sweep.read_bytes()[:5000])
    with pytest.raises(LogFormatError, match=f"{SWEEP_NS}.feather.*cannot be read"):
        import_log("av2", log_dir, tmp_path / "out")
    assert not (tmp_path / "out").exists()  # nothing half-written is left behind

    import pyarrow as pa
    import pyarrow.feather as feather

    poses = feather.read_table(log_dir / "city_SE3_egovehicle.feather")
    feather.write_feather(poses.drop_columns(["qz"]), log_dir / "city_SE3_egovehicle.feather")
    with pytest.raises(LogFormatError, match="'qz'.*required column"):
        import_log("av2", log_dir, tmp_path / "out")
    qw = poses.column("qw").to_numpy().copy()
    qw[3] = 2.0
    feather.write_feather(poses.set_column(poses.column_names.index("qw"), "qw", pa.array(qw)),
                          log_dir / "city_SE3_egovehicle.feather")
    with pytest.raises(LogFormatError, match=r"qw..qz\[3\].*unit quaternion"):
        import_log("av2", log_dir, tmp_path / "out")


def test_import_command(av2_log_dir: Path, tmp_path: Path, capsys):
    from redrive.cli import main

    out = tmp_path / "cli"
    assert main(["import", "av2", str(av2_log_dir), "--out", str(out), "--lidars", "down_lidar", "--cameras", "",
                 "--start", "11.6", "--end", "11.75"]) == 0
    log = DriveLog.open(out)
    assert list(log.lidars) == ["down_lidar"] and len(log.lidars["down_lidar"]) == 1
    assert "down_lidar" in capsys.readouterr().out
    assert main(["import", "av2", str(av2_log_dir), "--out", str(out)]) == 2  # exists, no --overwrite
    assert "already exists" in capsys.readouterr().err
    assert main(["import", "av2", str(av2_log_dir), "--out", str(out), "--overwrite", "--lidars", ""]) == 0
    assert DriveLog.open(out).lidars == {}
