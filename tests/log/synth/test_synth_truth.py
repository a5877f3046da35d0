"""The generator's ground truth agrees with its sensors: LiDAR returns lie on the truth meshes and
project onto the cameras' truth depth."""

from __future__ import annotations

import numpy as np

from redrive.geometry.se3 import invert
from tests.log.synth.synth_truth import sweep_world_points


def test_lidar_returns_lie_on_truth_meshes(synth_log, truth):
    lidar = next(iter(synth_log.lidars))
    dists, on_actor = [], 0
    for k in range(len(synth_log.lidar(lidar))):
        sweep, world = sweep_world_points(synth_log, lidar, k)
        d, which = truth.nearest(world, sweep.times)
        dists.append(d)
        on_actor += int((which >= 0).sum())
    d = np.concatenate(dists)
    assert len(d) > 10_000
    assert on_actor > 200, "the tiny log should have LiDAR returns on actors"
    assert np.median(d) < 0.01
    # Every return is computed exactly, so not only the median: virtually all are on a surface.
    assert np.quantile(d, 0.999) < 0.01, np.quantile(d, [0.5, 0.99, 0.999, 1.0])


def test_moving_actor_returns_are_exact_at_their_own_time(synth_log, truth):
    """Returns on moving actors lie on the actor posed at the return's time, not at the sweep start."""
    lidar = next(iter(synth_log.lidars))
    moving = [a for a in synth_log.actors.values() if a.dynamic]
    at_own, at_start = [], []
    for k in range(len(synth_log.lidar(lidar))):
        sweep, world = sweep_world_points(synth_log, lidar, k)
        static = truth.to_static(world)
        for actor in moving:
            d = truth.to_actor(actor.id, world, sweep.times)
            hit = (d < 0.05) & (d < static)
            if hit.sum() < 5:
                continue
            at_own.append(d[hit])
            start = np.full(hit.sum(), sweep.times.min())
            at_start.append(truth.to_actor(actor.id, world[hit], start))
    own, start = np.concatenate(at_own), np.concatenate(at_start)
    assert len(own) > 50
    assert np.quantile(own, 0.99) < 0.005
    assert np.median(start) > 0.02, "posing actors at one time per sweep would not be distinguishable"


def _project_static(log, truth, camera: str, index: int, points: np.ndarray):
    """Project world points into a frame; rolling shutter handled by iterating on the row time."""
    sensor = log.camera(camera)
    t = np.full(len(points), sensor.frame_times[index])
    for _ in range(3):
        uniq, inv = np.unique(t, return_inverse=True)
        cam_from_world = invert(log.world_from_camera(camera, uniq))[inv]
        p_cam = np.einsum("nij,nj->ni", cam_from_world[:, :3, :3], points) + cam_from_world[:, :3, 3]
        uv, z, valid = sensor.intrinsics.project(p_cam)
        if sensor.rolling_shutter_s == 0:
            break
        t = sensor.frame_times[index] + sensor.pixel_time_offsets(np.nan_to_num(uv))
    return uv, z, valid


def _depth_errors(log, truth, camera: str, rolling: bool = True) -> np.ndarray:
    """Relative errors between static LiDAR points projected into every frame of ``camera`` and
    the truth depth there (inverse depth interpolated bilinearly: affine across a plane in a
    pinhole image). ``rolling=False`` ignores the camera's rolling shutter, for comparison."""
    from dataclasses import replace

    lidar = next(iter(log.lidars))
    sensor = log.camera(camera)
    h, w = sensor.intrinsics.height, sensor.intrinsics.width
    errors = []
    for k in range(len(sensor)):
        _, world = sweep_world_points(log, lidar, k)
        # Static points are valid at any time; moving surfaces would need the camera's time.
        world = world[truth.to_static(world) < 0.005]
        if not rolling:
            log.cameras[camera] = replace(sensor, rolling_shutter_s=0.0)
        try:
            uv, z, valid = _project_static(log, truth, camera, k, world)
        finally:
            log.cameras[camera] = sensor
        gt = log.load_gt_camera_frame(camera, k)
        inside = valid & (uv[:, 0] >= 0) & (uv[:, 0] <= w - 1) & (uv[:, 1] >= 0) & (uv[:, 1] <= h - 1)
        uv, z = uv[inside], z[inside]
        u0 = np.minimum(np.floor(uv[:, 0]).astype(int), w - 2)
        v0 = np.minimum(np.floor(uv[:, 1]).astype(int), h - 2)
        fu, fv = uv[:, 0] - u0, uv[:, 1] - v0
        inv_d = 1.0 / gt["depth"].astype(np.float64)
        interp = ((1 - fu) * (1 - fv) * inv_d[v0, u0] + fu * (1 - fv) * inv_d[v0, u0 + 1]
                  + (1 - fu) * fv * inv_d[v0 + 1, u0] + fu * fv * inv_d[v0 + 1, u0 + 1])
        ok = interp > 0
        errors.append(np.abs(1.0 / interp[ok] - z[ok]) / z[ok])
    return np.concatenate(errors)


def test_lidar_projected_into_cameras_matches_truth_depth(synth_log, truth):
    for camera in synth_log.cameras:
        err = _depth_errors(synth_log, truth, camera)
        assert len(err) > 500, camera
        assert np.median(err) < 1e-3, (camera, np.median(err))
        assert np.mean(err < 0.01) > 0.8, (camera, np.mean(err < 0.01))


def test_rolling_shutter_rows_are_exposed_at_their_own_time(synth_log, truth):
    camera = next(name for name, c in synth_log.cameras.items() if c.rolling_shutter_s > 0)
    aware = _depth_errors(synth_log, truth, camera, rolling=True)
    naive = _depth_errors(synth_log, truth, camera, rolling=False)
    assert np.median(aware) < 0.1 * np.median(naive), (np.median(aware), np.median(naive))


def test_truth_files_are_complete(synth_log, synth_scene):
    gt = synth_log.ground_truth
    assert gt.static_mesh and len(gt.actor_meshes) == len(synth_scene.actors)
    assert gt.instance_actors == [a.id for a in synth_scene.actors]
    sky = 0
    for camera, sensor in synth_log.cameras.items():
        frame = synth_log.load_gt_camera_frame(camera, 0)
        assert frame["depth"].shape == (sensor.intrinsics.height, sensor.intrinsics.width)
        assert np.isfinite(frame["depth"]).mean() > 0.5 and (frame["depth"] > 0).all()
        sky += int(np.isinf(frame["depth"]).sum())
        assert frame["instance"].max() <= len(gt.instance_actors)
    assert sky > 0, "the front camera sees sky down the street"

    # Boxes are the meshes' bounding boxes.
    for actor_id, rel in gt.actor_meshes.items():
        mesh = synth_log.load_mesh(rel)
        extent = mesh.vertices.max(axis=0) - mesh.vertices.min(axis=0)
        np.testing.assert_allclose(extent, synth_log.actors[actor_id].size, atol=1e-6)
        np.testing.assert_allclose(mesh.vertices.max(axis=0) + mesh.vertices.min(axis=0), 0, atol=1e-6)
    lidar = next(iter(synth_log.lidars.values()))
    sweep = synth_log.load_sweep(lidar.name, 0)
    assert len(sweep) + len(sweep.drop_directions) == lidar.beams.beam_count * lidar.beams.azimuth_count

