"""Determinism, the scene description's JSON round trip, presets, assets, noise, CLI and errors."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from redrive.errors import LogFormatError, RedriveError
from redrive.log import ACTOR_CATEGORIES, DriveLog
from redrive.log.synth import (
    ASSETS,
    PRESETS,
    SCENE_FILE,
    AssetSpec,
    SceneRenderer,
    SynthScene,
    assets_by_category,
    build_asset,
    build_scene,
    load_scene,
    preset,
    remove_actor,
    with_sensors,
)
from tests.log.synth.conftest import SEED


def test_same_seed_gives_identical_arrays(synth_log, synth_scene):
    again = SceneRenderer(build_scene(preset("tiny", render=synth_scene.render), SEED, "tiny"))
    for camera in synth_log.cameras:
        image, depth, instance = again.camera_frame(camera, 5)
        gt = synth_log.load_gt_camera_frame(camera, 5)
        np.testing.assert_array_equal(image, synth_log.load_image(camera, 5))
        np.testing.assert_array_equal(depth, gt["depth"])
        np.testing.assert_array_equal(instance, gt["instance"])
    lidar = next(iter(synth_log.lidars))
    a, b = again.lidar_sweep(lidar, 4), synth_log.load_sweep(lidar, 4)
    np.testing.assert_array_equal(a.points, b.points)
    np.testing.assert_array_equal(synth_log.to_ns(a.times), synth_log.to_ns(b.times))
    np.testing.assert_array_equal(a.intensity, b.intensity)
    np.testing.assert_array_equal(a.drop_directions, b.drop_directions)


def test_other_seed_gives_another_scene(synth_scene):
    other = build_scene(preset("tiny"), SEED + 1, "tiny")
    assert other.to_dict()["layout"] != synth_scene.to_dict()["layout"]


def test_scene_round_trips_through_its_json_file(synth_log, synth_scene):
    loaded = load_scene(synth_log.root)
    assert loaded.to_dict() == synth_scene.to_dict()
    assert (synth_log.root / SCENE_FILE).is_file() and synth_log.source["scene_file"] == SCENE_FILE
    # The loaded description re-renders the log exactly.
    image, depth, _ = SceneRenderer(loaded).camera_frame("front_left", 2)
    np.testing.assert_array_equal(image, synth_log.load_image("front_left", 2))
    np.testing.assert_array_equal(depth, synth_log.load_gt_camera_frame("front_left", 2)["depth"])


def test_log_matches_scene(synth_log, synth_scene):
    assert synth_log.source["generator"] == "redrive.log.synth" and synth_log.source["seed"] == SEED
    for actor in synth_scene.actors:
        track = synth_log.actors[actor.id]
        assert track.category in ACTOR_CATEGORIES
        np.testing.assert_allclose(track.trajectory.poses, actor.trajectory.poses)
    cam = synth_log.camera("front_right")
    assert cam.rolling_shutter_s == pytest.approx(0.02)
    assert synth_log.camera("front_left").intrinsics.model == "opencv"
    lidar = next(iter(synth_log.lidars.values()))
    assert lidar.beams.beam_count == 16 and lidar.beams.azimuth_count == 256
    # LiDAR points carry their own firing times, spread over the 0.1 s sweep.
    sweep = synth_log.load_sweep(lidar.name, 1)
    assert np.ptp(sweep.times) == pytest.approx(0.1, abs=0.002)


def test_range_noise_is_radial_and_has_the_configured_spread(synth_scene):
    lidar = synth_scene.lidars[0].name
    clean = SceneRenderer(synth_scene).lidar_sweep(lidar, 2)
    noisy_scene = replace(synth_scene, render=replace(synth_scene.render, range_noise_m=0.02))
    noisy = SceneRenderer(noisy_scene).lidar_sweep(lidar, 2)
    np.testing.assert_array_equal(clean.times, noisy.times)  # same rays return
    r0, r1 = np.linalg.norm(clean.points, axis=1), np.linalg.norm(noisy.points, axis=1)
    np.testing.assert_allclose(clean.points / r0[:, None], noisy.points / r1[:, None], atol=1e-5)
    assert np.std(r1 - r0) == pytest.approx(0.02, rel=0.1)


def test_drops_cover_sky_and_random_losses(synth_log):
    lidar = next(iter(synth_log.lidars.values()))
    sweep = synth_log.load_sweep(lidar.name, 0)
    up = sweep.drop_directions[:, 2] > np.sin(np.radians(5))
    assert up.mean() > 0.15
    # Upward beams mostly see sky; the lowest beam hits the ground almost everywhere.
    top, bottom = lidar.beams.beam_count - 1, 0
    assert np.mean(sweep.drop_beam == top) > np.mean(sweep.beam == top)
    assert np.sum(sweep.beam == bottom) > 0.9 * lidar.beams.azimuth_count
    assert ((sweep.intensity >= 0) & (sweep.intensity <= 1)).all()
    # Lane markings are retro-reflective: the brightest returns are far brighter than asphalt.
    assert np.quantile(sweep.intensity, 0.99) > 3 * np.median(sweep.intensity)


def test_other_rig_renders_with_its_own_beam_table(synth_scene):
    from redrive.log.types import LidarBeams, LidarSensor

    base = synth_scene.lidars[0]
    beams = LidarBeams(np.linspace(-20, 10, 8), 128, np.linspace(-2, 2, 8), 10.0, 0.5, 100.0)
    scene = with_sensors(synth_scene, lidars=[LidarSensor("pandar", base.vehicle_from_lidar, base.sweep_times, beams)])
    sweep = SceneRenderer(scene).lidar_sweep("pandar", 1)
    assert len(sweep) + len(sweep.drop_directions) == 8 * 128
    assert set(np.unique(sweep.beam)) <= set(range(8))
    with pytest.raises(RedriveError, match="beam table"):
        with_sensors(synth_scene, lidars=[LidarSensor("bad", base.vehicle_from_lidar, base.sweep_times, None)])


def test_assets_boxes_fit_meshes_and_categories_are_drivelog_ones():
    assert set(ASSETS) == {"sedan", "suv", "van", "truck", "pedestrian", "cyclist"}
    for name in ASSETS:
        asset = build_asset(AssetSpec(name))
        lo, hi = asset.mesh.vertices.min(axis=0), asset.mesh.vertices.max(axis=0)
        np.testing.assert_allclose(hi - lo, asset.size)
        np.testing.assert_allclose(hi + lo, 0, atol=1e-12)
        assert asset.category in ACTOR_CATEGORIES
        assert asset.mesh.material.max() < len(asset.materials)
    assert assets_by_category()["pedestrian"] == ["pedestrian"]
    with pytest.raises(RedriveError, match="unknown synthetic asset 'tank'"):
        build_asset(AssetSpec("tank"))


def test_presets_are_sized_as_documented():
    assert set(PRESETS) == {"tiny", "default", "large"}
    d = preset("default")
    assert (d.image_width, d.image_height, d.frames, d.rate_hz, d.lidar_beams, d.lidar_azimuths) == (480, 320, 50, 10.0, 32, 1024)
    t = preset("tiny")
    assert t.image_width < 128 and t.frames <= 10
    assert preset("large").frames > d.frames
    with pytest.raises(RedriveError, match="unknown synthetic preset 'huge'"):
        preset("huge")
    with pytest.raises(RedriveError, match="'frames'"):
        preset("tiny", frames=0)


def test_edits_check_their_input(synth_scene):
    with pytest.raises(RedriveError, match="no actor 'nobody'"):
        remove_actor(synth_scene, "nobody")
    edited = remove_actor(synth_scene, synth_scene.actors[0].id)
    assert len(synth_scene.actors) == len(edited.actors) + 1  # the input is left alone


def test_bad_scene_files_are_reported(tmp_path, synth_log):
    with pytest.raises(RedriveError, match="not made by the synthetic generator"):
        bad = tmp_path / "notsynth"
        bad.mkdir()
        (bad / "log.json").write_text(json.dumps({"source": {"reader": "kitti"}}))
        load_scene(bad)
    doc = json.loads((synth_log.root / SCENE_FILE).read_text())
    doc["version"] = 99
    path = tmp_path / "scene.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(LogFormatError, match="version"):
        SynthScene.load(path)
    del doc["layout"]
    doc["version"] = 1
    path.write_text(json.dumps(doc))
    with pytest.raises(LogFormatError, match="layout"):
        SynthScene.load(path)


def test_cli_generates_and_edits(tmp_path, capsys):
    from redrive.cli import main

    out = tmp_path / "cli"
    assert main(["synth", "--out", str(out), "--preset", "tiny", "--frames", "2", "--seed", "5", "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert str(out) in printed and "2 frames" in printed
    log = DriveLog.open(out)
    assert len(log.camera("front")) == 2 and log.source["seed"] == 5
    victim = next(iter(log.actors))
    edited = tmp_path / "cli-edit"
    assert main(["synth", "--out", str(edited), "--from-log", str(out), "--remove", victim, "--lane-shift", "2", "--quiet"]) == 0
    assert victim not in DriveLog.open(edited).actors
    # An existing log is not replaced without --overwrite; the error is reported, not raised.
    assert main(["synth", "--out", str(out), "--preset", "tiny", "--frames", "2", "--quiet"]) == 2
    assert "already exists" in capsys.readouterr().err
