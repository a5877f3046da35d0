"""``redrive render`` end to end on the shared tiny run: the DriveLog it writes (sensors, frame
counts, per-point times inside each sweep, labels = the scene graph's actors), previews and point
clouds, and clean errors for bad requests."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from redrive.cli import main
from redrive.geometry.se3 import make_pose
from redrive.log import DriveLog
from redrive.render.lidar_models import lidar_model
from redrive.render.rays import move_sensor_rays

from .conftest import MESH_CELL_M


def _render(tiny_run, out, *extra) -> int:
    _, run, cache = tiny_run
    return main(["render", str(run), "--out", str(out), "--mesh-cell", str(MESH_CELL_M), "--mesh-cache", str(cache),
                 "--quiet", *extra])


@pytest.fixture(scope="module")
def rendered(tiny_run, neural_scene, tmp_path_factory):
    out = tmp_path_factory.mktemp("render_cli") / "out"
    rc = _render(tiny_run, out, "--trajectory", "lane-shift:+1.0", "--lidars", "lidar_top,vlp-16", "--max-frames", "3",
                 "--every", "2", "--scale", "0.5")
    assert rc == 0
    return out


def test_render_writes_a_drivelog_with_the_requested_sensors(rendered, tiny_run, neural_scene):
    src = DriveLog.open(tiny_run[0])
    log = DriveLog.open(rendered)
    assert log.source["generator"] == "redrive.render" and log.source["trajectory"] == "lane-shift:+1.0"
    assert set(log.cameras) == set(src.cameras)
    assert set(log.lidars) == {"lidar_top", "velodyne-vlp16"}
    for name, cam in log.cameras.items():
        # every other recorded frame, at most 3, at half the resolution
        np.testing.assert_allclose(cam.frame_times, src.camera(name).frame_times[::2][:3], atol=1e-9)
        assert (cam.intrinsics.width, cam.intrinsics.height) == (round(src.camera(name).intrinsics.width * 0.5),
                                                                 round(src.camera(name).intrinsics.height * 0.5))
        image = log.load_image(name, 0)
        assert image.shape == (cam.intrinsics.height, cam.intrinsics.width, 3) and image.std() > 5
    np.testing.assert_allclose(log.lidar("velodyne-vlp16").sweep_times, src.lidar("lidar_top").sweep_times[::2][:3], atol=1e-9)
    assert log.lidar("velodyne-vlp16").beams.beam_count == 16
    # the ego is the recorded one shifted 1 m to the left, in the world frame
    shifted = src.ego.poses @ make_pose(np.eye(3), [0.0, 1.0, 0.0])
    np.testing.assert_allclose(log.ego.poses, shifted, atol=1e-6)


def test_sweeps_carry_per_point_times_beams_and_land_on_the_scene(rendered, neural_scene):
    log = DriveLog.open(rendered)
    model = lidar_model("vlp-16")
    for name in log.lidars:
        sensor = log.lidar(name)
        for i, t0 in enumerate(sensor.sweep_times):
            sweep = log.load_sweep(name, i)
            assert len(sweep.points) > 100
            times = np.concatenate([sweep.times, sweep.drop_times])
            duration = model.sweep_duration_s if name == "velodyne-vlp16" else 1.0 / sensor.beams.rotation_hz
            assert times.min() >= t0 - 1e-6 and times.max() <= t0 + duration + 1e-6
            assert np.ptp(times) > 0.5 * duration  # the firings spread over the sweep
            assert sweep.beam.max() < sensor.beams.beam_count and sweep.beam.min() >= 0
    # a point stored in the sensor frame at its own time, re-cast from the moving ego, returns the
    # same range: the per-point time bookkeeping is consistent with the ego's motion
    sweep = log.load_sweep("velodyne-vlp16", 1)
    sel = np.linspace(0, len(sweep.points) - 1, 300).astype(int)
    p = sweep.points[sel].astype(np.float64)
    rng = np.linalg.norm(p, axis=1)
    scene_from_world = np.linalg.inv(neural_scene.world_from_scene)
    from redrive.log.types import Trajectory

    ego_scene = Trajectory(log.ego.times, scene_from_world @ log.ego.poses)
    o, d = move_sensor_rays(ego_scene, log.lidar("velodyne-vlp16").vehicle_from_lidar, sweep.times[sel], p / rng[:, None])
    again = neural_scene.lidar(torch.from_numpy(o).float(), torch.from_numpy(d).float(),
                               torch.from_numpy(sweep.times[sel]).float()).range.numpy()
    np.testing.assert_allclose(again, rng, atol=2e-3)


def test_labels_are_the_scene_graph_actors_in_the_world_frame(rendered, neural_scene):
    log = DriveLog.open(rendered)
    graph = neural_scene.graph
    assert list(log.actors) == list(graph.actors)
    for actor_id, node in graph.actors.items():
        track = log.actors[actor_id]
        assert track.category == node.category and track.dynamic == node.dynamic
        np.testing.assert_allclose(track.size, node.size)
        np.testing.assert_allclose(track.trajectory.times, node.trajectory.times, atol=1e-9)
        np.testing.assert_allclose(track.trajectory.poses, graph.world_from_scene @ node.trajectory.poses, atol=1e-6)


def test_previews_and_point_clouds_decode(rendered):
    from plyfile import PlyData

    log = DriveLog.open(rendered)
    previews = rendered / "previews"
    for name, cam in log.cameras.items():
        frames = _frames(previews / f"{name}.mp4")
        assert len(frames) == len(cam) and frames[0].shape[:2] == (cam.intrinsics.height + cam.intrinsics.height % 2,
                                                                    cam.intrinsics.width + cam.intrinsics.width % 2)
    for name, lid in log.lidars.items():
        bev = _frames(previews / f"{name}_bev.mp4")
        rim = _frames(previews / f"{name}_range.mp4")
        assert len(bev) == len(rim) == len(lid)
        assert rim[0].shape[0] == lid.beams.beam_count and bev[0].max() > 0
        for i in range(len(lid)):
            ply = PlyData.read(str(rendered / "points" / name / f"{i:06d}.ply"))
            sweep = log.load_sweep(name, i)
            v = ply["vertex"]
            assert v.count == len(sweep.points)
            np.testing.assert_allclose(np.stack([v["x"], v["y"], v["z"]], 1), sweep.points, atol=1e-6)
            np.testing.assert_array_equal(v["beam"], sweep.beam)


def _frames(path):
    import imageio.v2 as iio2

    reader = iio2.get_reader(str(path), format="FFMPEG")
    try:
        return [f for f in reader]
    finally:
        reader.close()


@pytest.mark.parametrize("extra, message", [
    (["--lidars", "hdl-128"], "unknown LiDAR model"),
    (["--cameras", "rear"], "neither a camera of the run's rig"),
    (["--trajectory", "lane-shift:left"], "needs a signed number"),
    (["--scale", "-1"], "--scale must be a positive number"),
    (["--frames", "x"], "--frames 'x'"),
    (["--cameras", "none", "--lidars", "none"], "no frame selected"),
])
def test_bad_requests_are_refused_cleanly(tiny_run, tmp_path, capsys, extra, message):
    rc = _render(tiny_run, tmp_path / "out", *extra)
    err = capsys.readouterr().err
    assert rc == 2 and message in err and "Traceback" not in err, err
    assert not (tmp_path / "out").exists()


def test_bad_sensor_spec_files_name_the_field(tiny_run, tmp_path, capsys):
    spec = tmp_path / "cams.json"
    spec.write_text(json.dumps([{"name": "wide", "model": "pinhole", "width": -640, "height": 480, "hfov_deg": 90}]))
    assert _render(tiny_run, tmp_path / "out", "--cameras", str(spec), "--lidars", "none") == 2
    err = capsys.readouterr().err
    assert "camera spec 'wide': field 'width' = -640" in err
    lid = tmp_path / "lidar.json"
    lid.write_text(json.dumps({"name": "odd", "kind": "spinning", "elevations_deg": [], "azimuth_count": 100}))
    assert _render(tiny_run, tmp_path / "out", "--cameras", "none", "--lidars", str(lid)) == 2
    err = capsys.readouterr().err
    assert "field 'elevations_deg' = []" in err and "beam table is empty" in err and "Traceback" not in err


def test_spec_files_place_new_sensors(tiny_run, tmp_path):
    cams = tmp_path / "cams.json"
    cams.write_text(json.dumps({"cameras": [{"name": "fish", "model": "fisheye", "width": 48, "height": 32, "hfov_deg": 180, "distortion": [0.0, 0.0, 0.0, 0.0],
                                             "position_m": [1.5, 0.0, 1.6], "rolling_shutter_s": 0.02}]}))
    lids = tmp_path / "lidars.json"
    lids.write_text(json.dumps([{"name": "roof", "model": "os1-64", "azimuth_count": 512, "position_m": [0.0, 0.0, 2.2]}]))
    out = tmp_path / "out"
    assert _render(tiny_run, out, "--cameras", str(cams), "--lidars", str(lids), "--max-frames", "1", "--volume",
                   "--no-previews", "--no-points", "--drop", "sample", "--seed", "4") == 0
    log = DriveLog.open(out)
    assert log.camera("fish").intrinsics.model == "fisheye" and log.camera("fish").rolling_shutter_s == 0.02
    np.testing.assert_allclose(log.lidar("roof").vehicle_from_lidar[:3, 3], [0.0, 0.0, 2.2])
    assert log.lidar("roof").beams.azimuth_count == 512 and len(log.load_sweep("roof", 0).points) > 100
    assert log.source["lidar_path"] == "volume" and log.source["drop"] == "sample"
    assert not (out / "previews").exists() and not (out / "points").exists()
