"""Mesh assets (axes, scaling, colours), asset libraries, and mesh ray casting at per-ray times."""

from __future__ import annotations

import json

import numpy as np
import pytest
import trimesh

from redrive.editing import Asset, AssetError, AssetLibrary
from redrive.editing.meshes import Lighting, MeshCaster, lidar_intensity, shade
from redrive.geometry.se3 import make_pose
from redrive.log.types import Trajectory
from redrive.scene.graph import ActorNode


def _box(path, extents, rgb=(255, 0, 0)):
    mesh = trimesh.creation.box(extents=extents)
    mesh.apply_translation([5.0, 5.0, 5.0])  # off-centre in the file: the asset re-centres it
    mesh.visual.face_colors = np.tile([*rgb, 255], (len(mesh.faces), 1))
    mesh.export(path)
    return path


def test_mesh_axes_scaling_and_colours(tmp_path):
    path = _box(tmp_path / "long.ply", [1.0, 2.0, 4.0])  # longest along the file's z
    z_up = Asset.from_mesh(path, "car")
    np.testing.assert_allclose(z_up.size, [1.0, 2.0, 4.0], atol=1e-6)
    np.testing.assert_allclose(z_up.mesh.vertices.mean(0), 0.0, atol=1e-6)
    gltf = Asset.from_mesh(path, "car", up="y")  # +Z forward, +X left, +Y up
    np.testing.assert_allclose(gltf.size, [4.0, 1.0, 2.0], atol=1e-6)
    np.testing.assert_allclose(Asset.from_mesh(path, "car", size=[4.5, 1.8, 1.5]).size, [4.5, 1.8, 1.5], atol=1e-6)
    np.testing.assert_allclose(Asset.from_mesh(path, "car", scale=2.0).size, [2.0, 4.0, 8.0], atol=1e-6)
    np.testing.assert_allclose(z_up.mesh.albedo[0], [1.0, 0.0, 0.0], atol=1e-6)  # sRGB 255 -> linear 1
    np.testing.assert_allclose(Asset.from_mesh(path, "car", color=[0.5, 0.5, 0.5]).mesh.albedo[0], 0.5**2.2, atol=1e-6)
    with pytest.raises(AssetError, match="reflectivity"):
        Asset.from_mesh(path, "car", reflectivity=2.0)
    with pytest.raises(AssetError, match="either size or scale"):
        Asset.from_mesh(path, "car", size=[1, 1, 1], scale=2.0)


def test_library_lists_by_class_and_loads(tmp_path):
    _box(tmp_path / "van.ply", [5.0, 2.0, 2.2])
    _box(tmp_path / "kid.obj", [0.3, 0.4, 1.2], (20, 200, 20))
    (tmp_path / "index.json").write_text(json.dumps({"assets": [
        {"name": "white_van", "file": "van.ply", "class": "car", "reflectivity": 0.6}]}))
    AssetLibrary.write_entry(tmp_path, "kid", "kid.obj", "pedestrian", origin="bottom")
    lib = AssetLibrary(tmp_path)
    assert [e.name for e in lib.list()] == ["kid", "white_van"]
    assert [e.name for e in lib.list(class_name="pedestrian")] == ["kid"]
    van = lib.get("white_van")
    assert van.category == "car" and van.reflectivity == 0.6
    assert van.to_dict() == {"library": str(tmp_path.resolve()), "name": "white_van"}
    assert Asset.from_dict(van.to_dict()).size.tolist() == pytest.approx([5.0, 2.0, 2.2])
    assert lib.get("kid").origin == "bottom"
    with pytest.raises(AssetError, match="no asset 'bus'"):
        lib.get("bus")
    (tmp_path / "broken.json").write_text("{not json")
    with pytest.raises(AssetError, match="broken.json"):
        AssetLibrary(tmp_path)


def test_mesh_caster_places_meshes_at_each_rays_time(tmp_path):
    asset = Asset.from_mesh(_box(tmp_path / "b.ply", [2.0, 2.0, 2.0], (128, 128, 128)), "other", reflectivity=0.8)
    # the box drives along +x at 10 m/s from x = 10 (t = 0) to x = 20 (t = 1)
    traj = Trajectory(np.array([0.0, 1.0]), np.stack([make_pose(np.eye(3), [10.0, 0, 0]), make_pose(np.eye(3), [20.0, 0, 0])]))
    caster = MeshCaster([ActorNode("b", "other", asset.size, traj, True)], [asset])
    o = np.zeros((3, 3))
    d = np.tile([1.0, 0.0, 0.0], (3, 1))
    hits = caster.cast(o, d, np.array([0.0, 0.5, 2.0]))  # at t = 2 the actor is gone
    np.testing.assert_allclose(hits.t[:2], [9.0, 14.0], atol=1e-4)
    assert np.isinf(hits.t[2])
    np.testing.assert_allclose(hits.normal[:2], [[-1, 0, 0]] * 2, atol=1e-6)
    np.testing.assert_allclose(lidar_intensity(hits, d.astype(np.float32))[:2], 0.8, atol=1e-6)
    grey = shade(hits, Lighting(sun_direction=(-1.0, 0.0, 0.0), ambient=0.0))[0]
    np.testing.assert_allclose(grey, (128 / 255) * np.ones(3), atol=2e-3)  # fully lit: the file's colour
