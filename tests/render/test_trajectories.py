import json
from pathlib import Path

import numpy as np
import pytest

from redrive.errors import LogFormatError, RedriveError
from redrive.geometry import se3
from redrive.log.types import Trajectory
from redrive.render.errors import TrajectorySpecError
from redrive.render.trajectories import (
    load_trajectory,
    offset_trajectory,
    parse_trajectory_spec,
    resolve_trajectory,
    save_trajectory,
)

START_NS = 1_700_000_000_000_000_000


def curve() -> Trajectory:
    """A curving, slightly pitching drive sampled at 10 Hz."""
    t = np.linspace(0.0, 2.0, 21)
    rot = se3.so3_exp(np.stack([0.01 * np.sin(3 * t), 0.02 * np.cos(2 * t), 0.4 * t], -1))
    return Trajectory(t, se3.make_pose(rot, np.stack([10 * np.sin(0.4 * t) / 0.4, 10 * (1 - np.cos(0.4 * t)) / 0.4, 0.2 * t], -1)))


def test_spec_strings():
    assert parse_trajectory_spec("original").is_original
    s = parse_trajectory_spec("lane-shift:+2.0")
    assert (s.lateral_m, s.vertical_m, s.file) == (2.0, 0.0, None)
    s = parse_trajectory_spec("lane-shift:-1.5, height:+0.25")
    assert (s.lateral_m, s.vertical_m) == (-1.5, 0.25)
    assert parse_trajectory_spec("height:.5").vertical_m == 0.5


@pytest.mark.parametrize("spec, match", [
    ("", "empty"),
    ("lane-shift:", "signed number"),
    ("lane-shift:two", "signed number"),
    ("height:+1,height:+2", "given twice"),
    ("sideways:+2", "unknown term 'sideways:\\+2'"),
    ("missing_file.csv", "does not exist"),
])
def test_bad_spec_strings(spec, match):
    with pytest.raises(TrajectorySpecError, match=match) as info:
        parse_trajectory_spec(spec)
    assert isinstance(info.value, RedriveError)


def test_lane_shift_follows_the_road_through_curves():
    base = curve()
    left = resolve_trajectory("lane-shift:+2.0", base)
    both = resolve_trajectory("lane-shift:-1.0,height:+0.5", base)
    assert resolve_trajectory("original", base) is base
    for i in range(len(base)):
        pose = base.poses[i]
        # Shifted along the vehicle's own left axis, at every pose, orientation unchanged.
        np.testing.assert_allclose(left.poses[i][:3, 3] - pose[:3, 3], 2.0 * pose[:3, 1], atol=1e-12)
        np.testing.assert_allclose(left.poses[i][:3, :3], pose[:3, :3], atol=1e-15)
        np.testing.assert_allclose(both.poses[i][:3, 3] - pose[:3, 3], -1.0 * pose[:3, 1] + 0.5 * pose[:3, 2], atol=1e-12)
    # Between samples, the shifted path stays 2 m from the original.
    q = np.linspace(0.03, 1.97, 50)
    d = left.at(q)[:, :3, 3] - base.at(q)[:, :3, 3]
    np.testing.assert_allclose(np.linalg.norm(d, axis=1), 2.0, atol=1e-9)
    fwd = offset_trajectory(base, longitudinal_m=1.0)
    np.testing.assert_allclose(fwd.poses[5][:3, 3] - base.poses[5][:3, 3], base.poses[5][:3, 0], atol=1e-12)


@pytest.mark.parametrize("suffix", [".csv", ".json"])
def test_save_load_round_trip(tmp_path: Path, suffix: str):
    base = curve()
    path = save_trajectory(tmp_path / f"sub/path{suffix}", base)
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".")]  # no temporary left
    back = load_trajectory(path)
    np.testing.assert_array_equal(back.times, base.times)
    np.testing.assert_allclose(back.poses, base.poses, atol=1e-14)
    # The CLI form with an offset on top of a file.
    shifted = resolve_trajectory(f"{path},height:+1.0", curve())
    np.testing.assert_allclose(shifted.poses[:, :3, 3] - base.poses[:, :3, 3], base.poses[:, :3, 2], atol=1e-12)


def test_csv_with_yaw_and_absolute_timestamps(tmp_path: Path):
    path = tmp_path / "drawn.csv"
    path.write_text("# a hand-drawn path\ntimestamp_ns,x,y,z,yaw_deg\n"
                    f"{START_NS + 500_000_000},0,0,0,0\n{START_NS + 1_500_000_000},10,5,0.5,90\n")
    traj = load_trajectory(path, start_time_ns=START_NS)
    np.testing.assert_allclose(traj.times, [0.5, 1.5])
    np.testing.assert_allclose(traj.poses[1][:3, :3], se3.yaw_rotation(np.pi / 2), atol=1e-15)
    np.testing.assert_allclose(traj.poses[1][:3, 3], [10, 5, 0.5])
    with pytest.raises(LogFormatError, match="timestamp_ns.*start time"):
        load_trajectory(path)


def test_json_with_matrices_quaternions_and_euler(tmp_path: Path):
    path = tmp_path / "t.json"
    pose = se3.make_pose(se3.yaw_rotation(0.3), [1.0, 2.0, 3.0])
    path.write_text(json.dumps([
        {"t": 0.0, "matrix": pose.tolist()},
        {"t": 1.0, "translation": [2, 2, 3], "quaternion_wxyz": [0.7071, 0, 0, 0.7071]},
        {"t": 2.0, "translation": [3, 2, 3], "yaw_deg": 90, "pitch_deg": 0, "roll_deg": 0},
    ]))
    traj = load_trajectory(path)
    np.testing.assert_allclose(traj.poses[0], pose)
    np.testing.assert_allclose(traj.poses[1][:3, :3], se3.yaw_rotation(np.pi / 2), atol=1e-12)
    np.testing.assert_allclose(traj.poses[2][:3, :3], se3.yaw_rotation(np.pi / 2), atol=1e-12)


BAD_CSV = [
    ("t,x,y,z,qw,qx,qy,qz\n0,0,0,0,1,0,0,0\n0.1,1,0,0,1,0,0,0\n0.1,2,0,0,1,0,0,0\n",
     r"line 4, column 't'' = '0.1': times must be strictly increasing"),
    ("t,x,y,z,qw,qx,qy,qz\n0,0,0,0,1,0,0,0\n0.1,1,0,0,2,0,0,0\n", r"line 3, columns 'qw qx qy qz'.*not a unit quaternion"),
    ("t,x,y,z,qw,qx,qy,qz\n0,0,zero,0,1,0,0,0\n", r"line 2, column 'y'' = 'zero': must be a number"),
    ("t,x,y,z,qw,qx,qy,qz\n0,0,0,0,1,0,0\n", r"line 2.*has 7 values"),
    ("t,x,y,qw,qx,qy,qz\n0,0,0,1,0,0,0\n", "missing column"),
    ("t,x,y,z\n0,0,0,0\n", "orientation columns"),
    ("x,y,z,yaw_deg\n0,0,0,0\n", "one time column"),
    ("t,x,y,z,yaw_deg\n0,0,0,0,nan\n", "must be finite"),
    ("t,x,y,z,yaw_deg\n", "no poses"),
]


@pytest.mark.parametrize("text, match", BAD_CSV)
def test_bad_csv_files_name_line_column_and_value(tmp_path: Path, text: str, match: str):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(LogFormatError, match=match) as info:
        load_trajectory(path)
    assert str(path) in str(info.value)


BAD_JSON = [
    ("{", "not valid JSON"),
    ('{"poses": [{"t": 0, "matrix": [[1,0,0,0],[0,2,0,0],[0,0,1,0],[0,0,0,1]]}]}', r"poses\[0\].matrix.*not rigid"),
    ('[{"t": 0, "translation": [0,0,0], "yaw_deg": 0}, {"t": -1, "translation": [0,0,0], "yaw_deg": 0}]',
     r"poses\[1\] time.*strictly increasing"),
    ('[{"translation": [0,0,0], "yaw_deg": 0}]', r"poses\[0\].*exactly one time"),
    ('[{"t": 0, "translation": [0,0], "yaw_deg": 0}]', r"poses\[0\].translation.*\[x, y, z\]"),
    ('[{"t": 0, "translation": [0,0,0]}]', "needs an orientation"),
    ('{"frame": "world_from_camera", "poses": []}', "world_from_vehicle"),
    ('[]', "no poses"),
]


@pytest.mark.parametrize("text, match", BAD_JSON)
def test_bad_json_files_name_entry_field_and_value(tmp_path: Path, text: str, match: str):
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(LogFormatError, match=match):
        load_trajectory(path)


def test_unknown_file_types_are_refused(tmp_path: Path):
    path = tmp_path / "poses.txt"
    path.write_text("0 0 0 0")
    with pytest.raises(LogFormatError, match=".csv or .json"):
        load_trajectory(path)
    with pytest.raises(LogFormatError, match="does not exist"):
        load_trajectory(tmp_path / "none.csv")
    with pytest.raises(LogFormatError, match=".csv or .json"):
        save_trajectory(tmp_path / "out.txt", curve())
