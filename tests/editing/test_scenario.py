"""Scenario files: parsing with clear errors, the saved edit list round trip, `redrive edit`."""

from __future__ import annotations

import json

import numpy as np
import pytest

import redrive
from redrive.cli import main
from redrive.editing import ScenarioError
from redrive.editing.scenario import load_scenario
from redrive.log import DriveLog


def _scenario(tmp_path, red_box, tiny_run, extra: str = "", edits: str | None = None):
    text = f"""
run: {tiny_run}
sensors: [front, lidar_top]
frames: {{start: 0, stop: 8, step: 7}}
{extra}
edits:
""" + (edits if edits is not None else f"""
  - {{op: remove, actor: lead_000}}
  - {{op: move, actor: oncoming_001, time_shift: 0.3}}
  - op: insert
    id: red_car
    asset: {{mesh: {red_box}, class: car, reflectivity: 0.5, origin: bottom}}
    trajectory: {{follow_ego: {{ahead_m: 9.0, centre_height_m: 0.0}}}}
  - op: insert
    id: walker
    asset: {{run: {tiny_run}, actor: ped_000}}
    trajectory:
      waypoints: [[12.0, -5.5, 0.875], [16.0, -5.0, 0.875], [20.0, -5.5, 0.875]]
      speed_mps: 1.4
      frame: ego_start
""")
    path = tmp_path / "scenario.yaml"
    path.write_text(text)
    return path


def test_scenario_round_trips_through_the_saved_edit_list(tmp_path, red_box, tiny_run):
    sc = load_scenario(_scenario(tmp_path, red_box, tiny_run))
    scene = sc.scene
    assert [e.op for e in scene.edits] == ["remove", "move", "insert", "insert"]
    assert "lead_000" not in scene.actors and {"red_car", "walker"} <= set(scene.actors)
    assert set(sc.times) == {"front", "front_left", "front_right", "lidar_top"} and len(sc.times["front"]) == 2
    # the walker's waypoints were given in the ego's start frame: x ahead of the ego at t0
    ego0 = scene.world(scene.base.ego.poses[:1])[0]
    start = scene.actors["walker"].trajectory.poses[0, :3, 3]
    np.testing.assert_allclose(np.linalg.inv(ego0)[:3, :3] @ (start - ego0[:3, 3]), [12.0, -5.5, 0.875], atol=1e-6)
    saved = scene.save(tmp_path / "edits.json")
    again = redrive.load(saved)
    assert again.to_dict() == scene.to_dict()
    for a, node in scene.graph.actors.items():
        np.testing.assert_allclose(again.graph.actors[a].trajectory.poses, node.trajectory.poses, atol=1e-9)
        np.testing.assert_allclose(again.graph.actors[a].trajectory.times, node.trajectory.times, atol=1e-12)
    assert json.loads(saved.read_text())["format"] == "redrive-edits"


@pytest.mark.parametrize("edits, field, message", [
    ("  - {op: explode, actor: lead_000}\n", "edits[0].op", "must be one of"),
    ("  - {op: remove, actor: nobody}\n", "edits[0]", "unknown actor 'nobody'"),
    ("  - {op: insert, asset: {mesh: nope.ply, class: car}, trajectory: {static: {position: [0, 0, 0]}}}\n",
     "edits[0].asset", "nope.ply: file not found"),
    ("  - {op: remove, actor: lead_000}\n  - {op: insert, asset: {run: RUN, actor: lead_000},"
     " trajectory: {waypoints: [[0, 0], [1, 'x']], speed_mps: 2}}\n", "edits[1].trajectory.waypoints[1][1]",
     "must be a finite number"),
    ("  - {op: move, actor: lead_000, offset: [1, 2]}\n", "edits[0].offset", "list of 3 numbers"),
])
def test_scenario_errors_name_the_file_field_and_value(tmp_path, red_box, tiny_run, edits, field, message):
    path = _scenario(tmp_path, red_box, tiny_run, edits=edits.replace("RUN", str(tiny_run)))
    with pytest.raises(ScenarioError) as err:
        load_scenario(path)
    text = str(err.value)
    assert str(path) in text and f"field '{field}'" in text and message in text, text


def test_redrive_edit_writes_the_edited_drive_with_labels_and_previews(tmp_path, red_box, tiny_run, capsys):
    path = _scenario(tmp_path, red_box, tiny_run)
    out = tmp_path / "edited"
    assert main(["edit", str(tiny_run), str(path), "--out", str(out), "--quiet"]) == 0
    log = DriveLog.open(out)
    assert "lead_000" not in log.actors and log.actors["red_car"].category == "car"
    np.testing.assert_allclose(log.actors["red_car"].size, [4.0, 1.8, 1.5], atol=1e-5)
    assert log.actors["walker"].category == "pedestrian"
    assert len(log.cameras["front"]) == 2 and len(log.lidars["lidar_top"]) == 2
    assert log.load_image("front", 1).shape == (64, 96, 3)
    assert (out / "previews" / "front.mp4").stat().st_size > 1000  # the simulator's
    assert (out / "previews" / "front_before_after.mp4").stat().st_size > 1000
    saved = json.loads((out / "edits.json").read_text())
    assert [e["op"] for e in saved["edits"]] == ["remove", "move", "insert", "insert"]


def test_failed_edit_writes_nothing(tmp_path, red_box, tiny_run, capsys):
    edits = (f"  - op: insert\n    id: crash\n    asset: {{mesh: {red_box}, class: car}}\n"
             "    trajectory: {follow_ego: {ahead_m: 0.0}}\n")
    path = _scenario(tmp_path, red_box, tiny_run, edits=edits)
    out = tmp_path / "out"
    assert main(["edit", str(tiny_run), str(path), "--out", str(out), "--quiet"]) == 2
    assert "'crash' and 'ego' intersect" in capsys.readouterr().err
    assert not out.exists() and not list(tmp_path.glob(".out*"))
