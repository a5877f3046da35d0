import json

import numpy as np

from redrive.log import DriveLog
from redrive.scene import SceneGraph
from tests.conftest import write_small_log


def test_scene_graph_carries_the_sensor_rig_through_json(tmp_path):
    log = DriveLog.open(write_small_log(tmp_path / "log"))
    scene = SceneGraph.from_log(log)
    assert set(scene.sensors) == set(log.cameras) | set(log.lidars)
    back = SceneGraph.from_dict(json.loads(json.dumps(scene.to_dict())))
    for name, cam in log.cameras.items():
        node = back.sensors[name]
        assert node.kind == "camera"
        np.testing.assert_allclose(node.vehicle_from_sensor, cam.vehicle_from_camera)
        assert node.camera_model() == cam.intrinsics
        assert node.rolling_shutter_s == cam.rolling_shutter_s
    for name, lid in log.lidars.items():
        assert back.sensors[name].kind == "lidar"
        np.testing.assert_allclose(back.sensors[name].vehicle_from_sensor, lid.vehicle_from_lidar)
    # a scene saved before the rig existed still loads (no sensors)
    d = scene.to_dict()
    del d["sensors"]
    assert SceneGraph.from_dict(d).sensors == {}
