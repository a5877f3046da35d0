"""Every kind of broken DriveLog is refused with an error naming the file, the field and the value."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from redrive.cli import main
from redrive.errors import LogFormatError
from redrive.log import DriveLog, DriveLogWriter, Trajectory
from tests.conftest import START_NS


def edit_manifest(log: Path, change) -> None:
    path = log / "log.json"
    manifest = json.loads(path.read_text())
    change(manifest)
    path.write_text(json.dumps(manifest))


def expect(log: Path, file: str, field: str, value: str, reason: str) -> LogFormatError:
    with pytest.raises(LogFormatError) as info:
        DriveLog.open(log)
    return check(info.value, log, file, field, value, reason)


def check(err: LogFormatError, log: Path, file: str, field: str, value: str, reason: str) -> LogFormatError:
    assert err.path == str(log / file)
    assert err.field == field
    assert value in str(err)
    assert re.search(reason, err.reason), err.reason
    return err


@pytest.mark.parametrize(
    "change, field, value, reason",
    [
        (lambda m: m["cameras"][0]["intrinsics"].pop("fx"), "cameras[0].intrinsics.fx", "None", "required field is missing"),
        (lambda m: m["cameras"][1]["intrinsics"].__setitem__("width", -3), "cameras[1].intrinsics.width", "-3", "positive integer"),
        (lambda m: m["cameras"][1]["intrinsics"].__setitem__("height", "480"), "cameras[1].intrinsics.height", "'480'", "expected an integer"),
        (lambda m: m["cameras"][0]["intrinsics"].__setitem__("model", "kannala"), "cameras[0].intrinsics.model", "'kannala'", "must be one of"),
        (lambda m: m["cameras"][1]["intrinsics"].__setitem__("distortion", [0.1]), "cameras[1].intrinsics.distortion", "(0.1,)", "takes 4 or 5 or 8"),
        (lambda m: m.__setitem__("version", 7), "version", "7", "reads version 1"),
        (lambda m: m.pop("ego"), "ego", "None", "required field is missing"),
        (lambda m: m["lidars"][0]["beams"].__setitem__("elevations_deg", []), "lidars[0].beams.elevations_deg", "[]", "beam table is empty"),
        (lambda m: m["lidars"][0]["sweeps"][2].__setitem__("timestamp_ns", "soon"), "lidars[0].sweeps[2].timestamp_ns", "'soon'", "expected an integer"),
        (lambda m: m["cameras"][0].__setitem__("name", "top"), "lidars[0].name", "'top'", "unique"),
    ],
)
def test_malformed_manifest_fields(small_log, change, field, value, reason):
    edit_manifest(small_log, change)
    expect(small_log, "log.json", field, value, reason)


@pytest.mark.parametrize("bad_path", ["../../etc/passwd", "/etc/passwd", "cameras/../../outside.png"])
def test_paths_must_stay_inside_the_log(small_log, bad_path):
    edit_manifest(small_log, lambda m: m["cameras"][0]["frames"][1].__setitem__("image", bad_path))
    expect(small_log, "log.json", "cameras[0].frames[1].image", repr(bad_path), "relative path|escapes the log directory")


def test_missing_data_file(small_log):
    (small_log / "lidars/top/000002.npz").unlink()
    expect(small_log, "log.json", "lidars[0].sweeps[2].file", "'lidars/top/000002.npz'", "does not exist")


def test_manifest_that_is_not_json(small_log):
    text = (small_log / "log.json").read_text()
    (small_log / "log.json").write_text(text[: len(text) // 2])
    with pytest.raises(LogFormatError, match=r"log.json: is not valid JSON \(.* at line \d+, column \d+\)"):
        DriveLog.open(small_log)


def test_non_monotonic_frame_timestamps(small_log):
    def swap(m):
        frames = m["cameras"][0]["frames"]
        frames[2]["timestamp_ns"] = frames[1]["timestamp_ns"]
    edit_manifest(small_log, swap)
    expect(small_log, "log.json", "cameras[0].frames[2].timestamp_ns", str(START_NS + 101_000_000), "strictly increasing")


def test_non_rigid_extrinsics(small_log):
    def scale(m):
        m["lidars"][0]["vehicle_from_lidar"][0][0] = 1.5
    edit_manifest(small_log, scale)
    expect(small_log, "log.json", "lidars[0].vehicle_from_lidar", "1.5", "not rigid")


@pytest.mark.parametrize("kind", ["nan", "shear", "backwards"])
def test_bad_ego_poses(small_log, kind):
    path = small_log / "ego_poses.npz"
    data = dict(np.load(path))
    if kind == "nan":
        data["world_from_vehicle"][2, 0, 3] = np.nan
        field, reason = "world_from_vehicle[2]", "not finite"
    elif kind == "shear":
        data["world_from_vehicle"][1, 0, 1] += 0.2
        field, reason = "world_from_vehicle[1]", "not rigid"
    else:
        data["timestamps_ns"][3] = data["timestamps_ns"][0]
        field, reason = "timestamps_ns[3]", "strictly increasing"
    np.savez(path, **data)
    expect(small_log, "ego_poses.npz", field, "", reason)


def test_truncated_image_is_reported_on_load(small_log):
    log = DriveLog.open(small_log)
    image = small_log / "cameras/front/000001.png"
    image.write_bytes(image.read_bytes()[:40])
    with pytest.raises(LogFormatError) as info:
        log.load_image("front", 1)
    check(info.value, small_log, "cameras/front/000001.png", "", "", "truncated or corrupt")
    assert log.load_image("front", 0).shape == (24, 32, 3)  # the other frames still load


def test_truncated_sweep_is_reported_on_load(small_log):
    log = DriveLog.open(small_log)
    sweep = small_log / "lidars/top/000001.npz"
    sweep.write_bytes(sweep.read_bytes()[:100])
    with pytest.raises(LogFormatError) as info:
        log.load_sweep("top", 1)
    check(info.value, small_log, "lidars/top/000001.npz", "", "", "truncated or corrupt")


def test_inconsistent_sweep_arrays(small_log):
    path = small_log / "lidars/top/000000.npz"
    data = dict(np.load(path))
    data["intensity"] = data["intensity"][:-1]
    np.savez(path, **data)
    with pytest.raises(LogFormatError) as info:
        DriveLog.open(small_log).load_sweep("top", 0)
    check(info.value, small_log, "lidars/top/000000.npz", "intensity", "(49,)", "expected shape")


def test_image_of_the_wrong_size(small_log):
    import imageio.v3 as iio

    iio.imwrite(small_log / "cameras/front/000000.png", np.zeros((10, 10, 3), np.uint8))
    with pytest.raises(LogFormatError, match="differs from camera 'front' resolution"):
        DriveLog.open(small_log).load_image("front", 0)


def test_actor_table_refers_to_unknown_entries(small_log):
    path = small_log / "actors.npz"
    data = dict(np.load(path))
    data["actor_index"][-1] = 5
    np.savez(path, **data)
    expect(small_log, "actors.npz", "actor_index", "5", "refers to no entry")


def test_writer_refuses_bad_poses_and_times(tmp_path):
    pose = np.eye(4)
    pose[:3, :3] *= 2.0
    with DriveLogWriter(tmp_path / "log", "x", START_NS) as w:
        with pytest.raises(LogFormatError, match="world_from_vehicle.*not rigid"):
            w.set_ego(Trajectory(np.array([0.0]), pose[None]))
        with pytest.raises(LogFormatError, match="timestamps_ns.*strictly increasing"):
            w.set_ego(Trajectory(np.array([0.0, 0.0]), np.stack([np.eye(4)] * 2)))
        w.set_ego(Trajectory(np.array([0.0]), np.eye(4)[None]))


def test_cli_reports_bad_input_without_a_traceback(small_log, capsys):
    edit_manifest(small_log, lambda m: m["cameras"][0]["intrinsics"].__setitem__("fx", -1))
    assert main(["info", str(small_log)]) == 2
    err = capsys.readouterr().err
    assert "log.json: field 'cameras[0].intrinsics.fx' = -1.0: must be a positive finite number" in err
    assert "Traceback" not in err
