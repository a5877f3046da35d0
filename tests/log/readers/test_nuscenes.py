"""nuScenes reader on a table-layout dataroot written around the real keyframe of scene-0061
(../shared/realdata/nuscenes_mmdet3d_demo_frame: six JPEGs, LIDAR_TOP, mmdet3d's sample_info.json).

The fixture turns the info's matrices into nuScenes records (translation + rotation w, x, y, z)
and its 69 LiDAR-frame boxes into global sample_annotation records; the reader then reads the
dataroot like any other. Camera ego poses are recovered from the info's lidar2cam, so each
sample_data has its own (real) ego pose.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from redrive.errors import LogFormatError, RedriveError, UnknownSensorError
from redrive.geometry import se3
from redrive.log import DriveLog
from redrive.log.readers import ImportOptions, import_log
from redrive.log.readers._common import rotation_to_quat

NUSCENES_CATEGORY = {"car": "vehicle.car", "truck": "vehicle.truck", "trailer": "vehicle.trailer",
                     "bus": "vehicle.bus.rigid", "construction_vehicle": "vehicle.construction",
                     "bicycle": "vehicle.bicycle", "motorcycle": "vehicle.motorcycle",
                     "pedestrian": "human.pedestrian.adult", "traffic_cone": "movable_object.trafficcone",
                     "barrier": "movable_object.barrier"}


def _record(token: str, pose: np.ndarray, **extra) -> dict:
    return {"token": token, "translation": pose[:3, 3].tolist(), "rotation": rotation_to_quat(pose[:3, :3])[0].tolist(), **extra}


def write_dataroot(frame_dir: Path, root: Path, extra_sweep: bool = False) -> dict:
    """Write ``root/v1.0-mini`` tables and ``root/samples`` links; returns the fixture's truth."""
    info_doc = json.loads((frame_dir / "sample_info.json").read_text())
    info = info_doc["data_list"][0]
    labels = {v: k for k, v in info_doc["metainfo"]["categories"].items()}
    tables = root / "v1.0-mini"
    tables.mkdir(parents=True)
    ego2global = np.array(info["ego2global"])
    lidar2ego = np.array(info["lidar_points"]["lidar2ego"])
    scene, sample, log = "scene-token-0061", info["token"], "log-token-n015"
    sensors, calibs, egos, datas = [], [], [], []

    def add_data(channel: str, modality: str, file: Path, stamp_us: int, sensor_pose: np.ndarray,
                 world_from_ego: np.ndarray, key: bool, size=(0, 0), K=None) -> None:
        if not any(s["channel"] == channel for s in sensors):
            sensors.append({"token": f"sensor-{channel}", "channel": channel, "modality": modality})
            calibs.append(_record(f"calib-{channel}", sensor_pose, sensor_token=f"sensor-{channel}",
                                  camera_intrinsic=[] if K is None else np.asarray(K).tolist()))
        folder = "samples" if key else "sweeps"
        rel = f"{folder}/{channel}/{file.name}"
        (root / folder / channel).mkdir(parents=True, exist_ok=True)
        if not (root / rel).exists():
            os.symlink(file, root / rel)
        token = f"sd-{channel}-{stamp_us}"
        egos.append(_record(f"ego-{token}", world_from_ego, timestamp=stamp_us))
        datas.append({"token": token, "sample_token": sample, "ego_pose_token": f"ego-{token}",
                      "calibrated_sensor_token": f"calib-{channel}", "timestamp": stamp_us,
                      "fileformat": file.suffix.lstrip("."), "is_key_frame": key, "height": size[1], "width": size[0],
                      "filename": rel, "prev": "", "next": ""})

    lidar_us = round(info["timestamp"] * 1e6)
    lidar_file = frame_dir / info["lidar_points"]["lidar_path"]
    add_data("LIDAR_TOP", "lidar", lidar_file, lidar_us, lidar2ego, ego2global, True)
    if extra_sweep:
        # A non-keyframe sweep 50 ms earlier, 0.5 m behind (same returns: it tests table handling).
        behind = ego2global.copy()
        behind[:3, 3] -= 0.5 * ego2global[:3, 0]
        add_data("LIDAR_TOP", "lidar", lidar_file.with_name(lidar_file.name), lidar_us - 50_000, lidar2ego, behind, False)
    for channel, cam in info["images"].items():
        cam2ego = np.array(cam["cam2ego"])
        # lidar2cam = inv(cam2ego) inv(ego'2global) ego2global lidar2ego  ->  the camera's own ego pose.
        cam_ego2global = ego2global @ lidar2ego @ np.linalg.inv(np.array(cam["lidar2cam"])) @ np.linalg.inv(cam2ego)
        cam_ego2global[:3, :3] = _orthonormal(cam_ego2global[:3, :3])
        add_data(channel, "camera", frame_dir / cam["img_path"], round(cam["timestamp"] * 1e6), cam2ego,
                 cam_ego2global, True, size=(1600, 900), K=cam["cam2img"])
    boxes, annotations, instances, categories = [], [], [], {}
    for i, inst in enumerate(info["instances"]):
        x, y, z, length, width, height, yaw = inst["bbox_3d"]
        # The info keeps nuScenes' geometric centre (mmdet3d moves it to the bottom only when loading).
        world_from_box = ego2global @ lidar2ego @ se3.make_pose(se3.yaw_rotation(yaw), [x, y, z])
        # The info's matrices are float32-rounded: the truth is the rigid box the tables describe.
        world_from_box[:3, :3] = _orthonormal(world_from_box[:3, :3])
        # mmdet3d marks classes outside its ten with -1; give them a nuScenes class outside them too.
        name = NUSCENES_CATEGORY.get(labels.get(inst["bbox_label_3d"]), "movable_object.pushable_pullable")
        categories.setdefault(name, {"token": f"cat-{name}", "name": name, "description": ""})
        instances.append({"token": f"inst-{i}", "category_token": f"cat-{name}", "nbr_annotations": 1,
                          "first_annotation_token": f"ann-{i}", "last_annotation_token": f"ann-{i}"})
        annotations.append(_record(f"ann-{i}", world_from_box, sample_token=sample, instance_token=f"inst-{i}",
                                   size=[width, length, height], num_lidar_pts=inst["num_lidar_pts"],
                                   num_radar_pts=0, visibility_token="4", attribute_tokens=[], prev="", next=""))
        boxes.append((f"inst-{i}", world_from_box, np.array([length, width, height]), inst["num_lidar_pts"]))
    docs = {
        "log": [{"token": log, "logfile": "n015-2018-07-24-11-22-45+0800", "vehicle": "n015",
                 "date_captured": "2018-07-24", "location": "singapore-onenorth"}],
        "scene": [{"token": scene, "name": "scene-0061", "description": "", "log_token": log, "nbr_samples": 1,
                   "first_sample_token": sample, "last_sample_token": sample}],
        "sample": [{"token": sample, "timestamp": lidar_us, "scene_token": scene, "prev": "", "next": ""}],
        "sample_data": datas, "ego_pose": egos, "calibrated_sensor": calibs, "sensor": sensors,
        "sample_annotation": annotations, "instance": instances, "category": list(categories.values()),
    }
    for name, rows in docs.items():
        (tables / f"{name}.json").write_text(json.dumps(rows))
    return {"boxes": boxes, "lidar_us": lidar_us, "info": info}


def _orthonormal(rot: np.ndarray) -> np.ndarray:
    u, _, vt = np.linalg.svd(rot)
    return u @ vt


@pytest.fixture(scope="module")
def nuscenes_root(nuscenes_frame_dir: Path, tmp_path_factory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("nuscenes") / "dataroot"
    return root, write_dataroot(nuscenes_frame_dir, root)


@pytest.fixture(scope="module")
def nuscenes_imported(nuscenes_root, tmp_path_factory) -> DriveLog:
    out = tmp_path_factory.mktemp("nuscenes_log") / "log"
    import_log("nuscenes", nuscenes_root[0], out, ImportOptions(scene="scene-0061"))
    return DriveLog.open(out)


def _lidar_in_camera(log: DriveLog, camera: str):
    sweep = log.load_sweep("lidar_top", 0)
    world = se3.transform_points(log.world_from_lidar("lidar_top", sweep.times[0]), sweep.points.astype(np.float64))
    cam = log.camera(camera)
    in_cam = se3.transform_points(se3.invert(log.world_from_camera(camera, cam.frame_times[0])), world)
    uv, depth, valid = cam.intrinsics.project(in_cam)
    inside = valid & (uv[:, 0] >= 0) & (uv[:, 0] < cam.intrinsics.width) & (uv[:, 1] >= 0) & (uv[:, 1] < cam.intrinsics.height)
    height = se3.transform_points(se3.invert(log.ego.at(sweep.times[0])), world)[:, 2]
    return uv[inside], depth[inside], height[inside]


def test_lidar_projects_onto_the_front_image_content(nuscenes_imported: DriveLog):
    log = nuscenes_imported
    uv, depth, height = _lidar_in_camera(log, "cam_front")
    assert len(uv) > 3000
    # Sky above the road (top centre of the image): the LiDAR has nothing there.
    sky = (uv[:, 1] < 200) & (uv[:, 0] > 700) & (uv[:, 0] < 1300)
    assert sky.sum() == 0
    # The road ahead (bottom centre): ground returns a few metres away, farther up the image.
    road = (uv[:, 1] > 650) & (uv[:, 0] > 600) & (uv[:, 0] < 1100)
    assert road.sum() > 100
    assert np.abs(height[road]).max() < 0.5 and 3.0 < np.median(depth[road]) < 15.0
    rho = np.corrcoef(np.argsort(np.argsort(uv[road, 1])), np.argsort(np.argsort(depth[road])))[0, 1]
    assert rho < -0.9  # rank correlation: lower rows are nearer
    # The parked truck on the left is much nearer than the road at the same image rows.
    truck = (uv[:, 0] > 150) & (uv[:, 0] < 550) & (uv[:, 1] > 300) & (uv[:, 1] < 550)
    far_road = (uv[:, 0] > 800) & (uv[:, 0] < 1000) & (uv[:, 1] > 480) & (uv[:, 1] < 550)
    assert np.median(depth[truck]) < 20.0 and np.median(depth[truck]) < 0.5 * np.median(depth[far_road])
    # Ground points fall on grey asphalt: low colour saturation.
    image = log.load_image("cam_front", 0).astype(np.float64)
    px = image[uv[road, 1].astype(int), uv[road, 0].astype(int)]
    saturation = (px.max(1) - px.min(1)) / np.maximum(px.max(1), 1)
    assert np.median(saturation) < 0.2


def test_boxes_round_trip_and_hold_their_points(nuscenes_imported: DriveLog, nuscenes_root):
    log, truth = nuscenes_imported, nuscenes_root[1]
    assert len(log.actors) == 69
    t = log.to_seconds(truth["lidar_us"] * 1000)
    sweep = log.load_sweep("lidar_top", 0)
    world = se3.transform_points(log.world_from_lidar("lidar_top", sweep.times[0]), sweep.points.astype(np.float64))
    exact = 0
    for token, world_from_box, size, num_pts in truth["boxes"]:
        actor = log.actors[token]
        np.testing.assert_allclose(actor.trajectory.at(t), world_from_box, atol=1e-9)
        np.testing.assert_allclose(actor.size, size, atol=1e-12)
        local = se3.transform_points(se3.invert(actor.trajectory.at(t)), world)
        exact += int(np.all(np.abs(local) <= size / 2, axis=1).sum()) == num_pts
    # num_lidar_pts of nuScenes counts the keyframe's points in each box.
    assert exact >= 61
    assert log.actors["inst-0"].category == "pedestrian"
    assert log.source["instance_categories"]["inst-0"] == "human.pedestrian.adult"


def test_sensors_and_times(nuscenes_imported: DriveLog, nuscenes_root):
    log, info = nuscenes_imported, nuscenes_root[1]["info"]
    assert sorted(log.cameras) == ["cam_back", "cam_back_left", "cam_back_right", "cam_front", "cam_front_left", "cam_front_right"]
    assert list(log.lidars) == ["lidar_top"] and log.lidars["lidar_top"].beams is None
    sweep = log.load_sweep("lidar_top", 0)
    assert len(sweep) == 34688 and sweep.beam.max() == 31 and 0 <= sweep.intensity.min() and sweep.intensity.max() <= 1
    cam = log.camera("cam_front")
    assert log.to_ns(cam.frame_times[0]) == round(info["images"]["CAM_FRONT"]["timestamp"] * 1e6) * 1000
    np.testing.assert_allclose(cam.intrinsics.K, info["images"]["CAM_FRONT"]["cam2img"])
    np.testing.assert_allclose(cam.vehicle_from_camera, info["images"]["CAM_FRONT"]["cam2ego"], atol=1e-6)
    assert log.source["scene_name"] == "scene-0061" and log.source["location"] == "singapore-onenorth"


def test_sweeps_scene_selection_and_bad_input(nuscenes_frame_dir: Path, tmp_path: Path):
    root = tmp_path / "dataroot"
    write_dataroot(nuscenes_frame_dir, root, extra_sweep=True)
    log = DriveLog.open(import_log("nuscenes", root / "v1.0-mini", tmp_path / "a", ImportOptions(cameras=["CAM_FRONT"])))
    lidar = log.lidars["lidar_top"]
    assert len(lidar) == 2 and lidar.sweep_times[1] - lidar.sweep_times[0] == pytest.approx(0.05)
    # Each sweep uses its own ego pose: the sweep 50 ms earlier lands 0.5 m behind.
    a = log.world_from_lidar("lidar_top", lidar.sweep_times[0])
    b = log.world_from_lidar("lidar_top", lidar.sweep_times[1])
    assert np.linalg.norm(a[:3, 3] - b[:3, 3]) == pytest.approx(0.5, abs=1e-6)
    assert list(log.cameras) == ["cam_front"]
    # Time window: only the sweep.
    log = DriveLog.open(import_log("nuscenes", root, tmp_path / "b", ImportOptions(end_s=0.01, cameras=[])))
    assert len(log.lidars["lidar_top"]) == 1 and log.actors == {}
    with pytest.raises(RedriveError, match="no scene named.*scene-0061"):
        import_log("nuscenes", root, tmp_path / "c", ImportOptions(scene="scene-9999"))
    with pytest.raises(UnknownSensorError, match="CAM_BACK"):
        import_log("nuscenes", root, tmp_path / "c", ImportOptions(cameras=["ring_front_center"]))
    rows = json.loads((root / "v1.0-mini" / "sample_annotation.json").read_text())
    rows[3]["rotation"] = [2.0, 0.0, 0.0, 0.0]
    (root / "v1.0-mini" / "sample_annotation.json").write_text(json.dumps(rows))
    with pytest.raises(LogFormatError, match="sample_annotation.json.*ann-3.rotation.*unit quaternion"):
        import_log("nuscenes", root, tmp_path / "c")
    (root / "v1.0-mini" / "instance.json").unlink()
    with pytest.raises(LogFormatError, match="instance.json.*missing"):
        import_log("nuscenes", root, tmp_path / "c")
    assert not (tmp_path / "c").exists()
