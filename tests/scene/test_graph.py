import json

import numpy as np
import pytest

from redrive.errors import RedriveError
from redrive.log import DriveLog
from redrive.scene import SceneGraph


def test_scene_frame_is_the_world_shifted_to_the_path(small_log):
    log = DriveLog.open(small_log)
    scene = SceneGraph.from_log(log, margin_m=5.0)
    np.testing.assert_allclose(scene.world_from_scene @ scene.ego.poses, log.ego.poses, atol=1e-12)
    positions = scene.ego.poses[:, :3, 3]
    np.testing.assert_allclose(0.5 * (positions.min(0) + positions.max(0)), 0.0, atol=1e-12)
    assert (scene.bounds[0, :2] <= positions[:, :2].min(0) - 5.0 + 1e-9).all()
    assert (scene.bounds[1, :2] >= positions[:, :2].max(0) + 5.0 - 1e-9).all()


def test_bounds_grow_to_nearby_lidar_points_only(small_log):
    log = DriveLog.open(small_log)
    centre = SceneGraph.from_log(log).world_from_scene[:3, 3]
    near = centre + np.array([[30.0, 25.0, 0.0]] * 1000)
    far = centre + np.array([[500.0, 0.0, 0.0]] * 10)
    scene = SceneGraph.from_log(log, lidar_points=np.concatenate([near, far]), max_extent_m=60.0, lidar_pad_m=1.5)
    # the farthest returns lie inside the box, 1.5 m from its faces; the far cluster is ignored
    assert scene.bounds[1, 0] == pytest.approx(31.5) and scene.bounds[1, 1] == pytest.approx(26.5)


def test_boxes_at_follow_tracks_and_presence(small_log):
    log = DriveLog.open(small_log)
    scene = SceneGraph.from_log(log)
    times = np.array([-1.0, 0.1, 0.2])
    boxes = scene.boxes_at(times)
    assert list(boxes["ids"]) == ["car_1", "ped_1"]
    # The moving car exists within its track's span; the static pedestrian always.
    assert boxes["present"].tolist() == [[False, True], [True, True], [True, True]]
    expected = scene.scene_from_world @ log.actors["car_1"].trajectory.at(0.2)
    np.testing.assert_allclose(boxes["scene_from_box"][2, 0], expected, atol=1e-9)
    np.testing.assert_array_equal(boxes["size"][1], [0.6, 0.6, 1.8])


def test_json_round_trip_and_unknown_actor(small_log):
    scene = SceneGraph.from_log(DriveLog.open(small_log))
    again = SceneGraph.from_dict(json.loads(json.dumps(scene.to_dict())))
    np.testing.assert_array_equal(again.bounds, scene.bounds)
    np.testing.assert_array_equal(again.actors["car_1"].trajectory.poses, scene.actors["car_1"].trajectory.poses)
    assert again.actors["ped_1"].category == "pedestrian"
    with pytest.raises(RedriveError, match="unknown actor 'bus_9'.*car_1, ped_1"):
        scene.actor("bus_9")
