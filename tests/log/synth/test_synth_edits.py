"""Re-rendering an edited scene changes the sensors exactly where the edit is."""

from __future__ import annotations

import numpy as np
import pytest

from redrive.geometry.se3 import make_pose
from redrive.log.synth import (
    AssetSpec,
    SceneRenderer,
    insert_actor,
    move_actor,
    remove_actor,
    shift_ego,
)
from redrive.log.types import Trajectory
from tests.log.synth.synth_truth import TruthMeshes, sweep_world_points


def _dilate(mask: np.ndarray, r: int) -> np.ndarray:
    out = mask.copy()
    for _ in range(r):
        grown = out.copy()
        grown[1:] |= out[:-1]
        grown[:-1] |= out[1:]
        grown[:, 1:] |= out[:, :-1]
        grown[:, :-1] |= out[:, 1:]
        out = grown
    return out


def _most_visible_moving_actor(log) -> str:
    counts = {}
    for camera, sensor in log.cameras.items():
        for k in range(len(sensor)):
            inst = log.load_gt_camera_frame(camera, k)["instance"]
            ids, n = np.unique(inst[inst > 0], return_counts=True)
            for i, c in zip(ids, n):
                actor = log.ground_truth.instance_actors[i - 1]
                if log.actors[actor].dynamic:
                    counts[actor] = counts.get(actor, 0) + int(c)
    return max(counts, key=counts.get)


def _mask(log_or_scene_ids: list[str], instance: np.ndarray, actor_id: str) -> np.ndarray:
    return instance == log_or_scene_ids.index(actor_id) + 1 if actor_id in log_or_scene_ids else np.zeros(instance.shape, bool)


@pytest.fixture(scope="module")
def edited_actor(synth_log) -> str:
    return _most_visible_moving_actor(synth_log)


def test_remove_actor_changes_exactly_its_pixels(synth_log, synth_scene, edited_actor):
    removed = SceneRenderer(remove_actor(synth_scene, edited_actor))
    ids = synth_log.ground_truth.instance_actors
    seen = 0
    for camera, sensor in synth_log.cameras.items():
        for k in range(len(sensor)):
            image = synth_log.load_image(camera, k)
            gt = synth_log.load_gt_camera_frame(camera, k)
            new_image, new_depth, new_instance = removed.camera_frame(camera, k)
            mask = _mask(ids, gt["instance"], edited_actor)
            seen += int(mask.sum())
            # Truth from pixel centres: depth changes on exactly the actor's pixels.
            np.testing.assert_array_equal(new_depth != gt["depth"], mask)
            # Colour: anti-aliased edges may reach one pixel beyond the centre-sampled mask
            # (and the supersampling decision one more); nothing else moves at all.
            changed = np.any(new_image != image, axis=-1)
            assert not (changed & ~_dilate(mask, 2)).any(), (camera, k)
            if mask.sum():
                assert changed[mask].mean() > 0.95
            # Other actors keep their pixels (instance ids are renumbered without the removed one).
            others = [a for a in ids if a != edited_actor]
            for a in others[:5]:
                np.testing.assert_array_equal(_mask(ids, gt["instance"], a) & ~_dilate(mask, 1),
                                              _mask(others, new_instance, a) & ~_dilate(mask, 1))
    assert seen > 100, "the edited actor should be visible in the tiny log"


def test_remove_actor_changes_only_the_lidar_rays_that_hit_it(synth_log, synth_scene, edited_actor, truth):
    removed = SceneRenderer(remove_actor(synth_scene, edited_actor))
    lidar = next(iter(synth_log.lidars))
    hit_total = 0
    for k in range(len(synth_log.lidar(lidar))):
        sweep, world = sweep_world_points(synth_log, lidar, k)
        new = removed.lidar_sweep(lidar, k)
        on_actor = (truth.to_actor(edited_actor, world, sweep.times) < 1e-3) & (truth.to_static(world) > 1e-3)
        hit_total += int(on_actor.sum())
        # Rays are identified by (firing time, beam); returns and drops together cover every ray.
        old_ret = {(t, b): p for t, b, p in zip(synth_log.to_ns(sweep.times), sweep.beam, map(tuple, sweep.points))}
        new_ret = {(t, b): p for t, b, p in zip(synth_log.to_ns(new.times), new.beam, map(tuple, new.points))}
        on_actor_keys = {key for key, hit in zip(old_ret, on_actor) if hit}
        changed = {key for key in old_ret.keys() | new_ret.keys() if old_ret.get(key) != new_ret.get(key)}
        old_drops = set(zip(synth_log.to_ns(sweep.drop_times), sweep.drop_beam))
        # Every return on the actor changes; any other change is a ray that was dropped before
        # (a dropped ray may have been aimed at the actor: grazing, too weak or random).
        assert on_actor_keys <= changed
        assert changed - on_actor_keys <= old_drops
    assert hit_total > 20


def test_moved_actor_changes_its_old_and_new_pixels(synth_log, synth_scene, edited_actor):
    moved_scene = move_actor(synth_scene, edited_actor, (0.0, 1.2, 0.0))
    moved = SceneRenderer(moved_scene)
    ids = synth_log.ground_truth.instance_actors
    new_seen = 0
    for camera, sensor in synth_log.cameras.items():
        for k in range(len(sensor)):
            image = synth_log.load_image(camera, k)
            gt = synth_log.load_gt_camera_frame(camera, k)
            new_image, new_depth, new_instance = moved.camera_frame(camera, k)
            old = _mask(ids, gt["instance"], edited_actor)
            new = _mask([a.id for a in moved_scene.actors], new_instance, edited_actor)
            new_seen += int((new & ~old).sum())
            either = old | new
            depth_changed = new_depth != gt["depth"]
            assert not (depth_changed & ~either).any()
            assert depth_changed[old ^ new].all()
            changed = np.any(new_image != image, axis=-1)
            assert not (changed & ~_dilate(either, 2)).any(), (camera, k)
    assert new_seen > 50, "the moved actor should cover new pixels"


def test_inserted_actor_appears_where_placed(synth_log, synth_scene):
    ego = synth_scene.ego
    # A pedestrian standing in the ego's lane 9 m ahead of the ego's position at t = 0.3 s.
    ahead = ego.at(0.3) @ make_pose(np.eye(3), np.array([9.0, 0.0, 0.0]))
    traj = Trajectory(np.array([0.0, ego.span[1]]), np.stack([ahead, ahead]))
    scene = insert_actor(synth_scene, AssetSpec("pedestrian", (0.9, 0.1, 0.1)), traj, on_ground=True)
    assert scene.actors[-1].id == "inserted_000" and len(scene.actors) == len(synth_scene.actors) + 1
    new_image, new_depth, new_instance = SceneRenderer(scene).camera_frame("front", 3)
    mask = new_instance == len(scene.actors)
    assert mask.sum() > 10
    gt = synth_log.load_gt_camera_frame("front", 3)
    np.testing.assert_array_equal(new_depth != gt["depth"], mask)
    # Depth of the inserted person: about 9 m minus the camera's forward offset minus half its depth.
    assert 6.5 < np.median(new_depth[mask]) < 8.5
    changed = np.any(new_image != synth_log.load_image("front", 3), axis=-1)
    assert not (changed & ~_dilate(mask, 2)).any()


def test_lane_shift_moves_every_camera_by_the_shift(synth_log, synth_scene, tmp_path):
    from redrive.log import DriveLog
    from redrive.log.synth import render_scene

    shifted_scene = shift_ego(synth_scene, lateral_m=2.0)
    shifted = DriveLog.open(render_scene(shifted_scene, tmp_path / "shifted", progress=False))
    for camera, sensor in synth_log.cameras.items():
        t = sensor.frame_times
        before, after = synth_log.world_from_camera(camera, t), shifted.world_from_camera(camera, t)
        np.testing.assert_allclose(after[:, :3, :3], before[:, :3, :3], atol=1e-12)
        left = synth_log.ego.at(t)[:, :3, 1]  # the vehicle's y axis in the world
        np.testing.assert_allclose(after[:, :3, 3] - before[:, :3, 3], 2.0 * left, atol=1e-9)
        assert not np.array_equal(shifted.load_image(camera, 0), synth_log.load_image(camera, 0))
    # The LiDAR moves with the ego, and its static returns still lie on the same world.
    truth = TruthMeshes(shifted)
    sweep, world = sweep_world_points(shifted, next(iter(shifted.lidars)), 2)
    d, _ = truth.nearest(world, sweep.times)
    assert np.median(d) < 0.01
