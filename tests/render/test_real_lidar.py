"""The VLP-32C model against real VLP-32C sweeps (Argoverse 2 test log in ../shared/realdata).

AV2 records two VLP-32C sensors, with its own laser numbering (matched here to the manual's laser
IDs by elevation) and each return's firing time, so the real elevations, firing groups and
rotation can be compared with the model built from the manual.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from redrive.log import DriveLog
from redrive.render.lidar_models import lidar_model

AV2_LOG = (Path(__file__).resolve().parents[2] / ".." / "shared" / "realdata" / "av2_sensor_testlogs" / "sensor" / "val"
           / "7fab2350-7eaf-3b7e-a39d-6937a4c1bede")


@pytest.fixture(scope="module")
def av2_sweep(tmp_path_factory):
    if not AV2_LOG.is_dir():
        pytest.skip(f"real data excerpt not found: {AV2_LOG} (../shared/realdata beside the repository)")
    pytest.importorskip("pyarrow")
    from redrive.log.readers import ImportOptions, import_log

    out = tmp_path_factory.mktemp("av2") / "log"
    os.environ.setdefault("TQDM_DISABLE", "1")
    import_log("av2", AV2_LOG, out, ImportOptions(cameras=[], lidars=["up_lidar"]))
    return DriveLog.open(out).load_sweep("up_lidar", 0)


def _laser_ids(sweep) -> np.ndarray:
    """VLP-32C laser ID of every return, matching each AV2 ``laser_number`` by its elevation."""
    table = lidar_model("vlp32c").scan.elevations_deg
    p = sweep.points.astype(np.float64)
    elevation = np.degrees(np.arctan2(p[:, 2], np.hypot(p[:, 0], p[:, 1])))
    measured = np.array([np.median(elevation[sweep.beam == b]) for b in range(32)])
    ids = np.abs(measured[:, None] - table[None, :]).argmin(axis=1)
    return ids, measured, table


def test_vlp32c_elevations_match_real_returns(av2_sweep):
    ids, measured, table = _laser_ids(av2_sweep)
    # Each real laser matches a different laser of the manual's table, within 0.03 deg.
    assert len(np.unique(ids)) == 32
    np.testing.assert_allclose(measured, table[ids], atol=0.03)


def test_vlp32c_firing_times_and_rotation_match_real_returns(av2_sweep):
    model = lidar_model("vlp32c")
    ids, _, _ = _laser_ids(av2_sweep)
    laser = ids[av2_sweep.beam]
    t = av2_sweep.times - av2_sweep.times.min()
    # If the model's firing offsets are right, ``t - offset(laser)`` is the start of the firing
    # cycle of each return: the values cluster (one cluster per cycle, ~55 us apart) with no
    # spread inside a cluster.
    cycle_start = np.sort(t - model.scan.firing_offsets_s[laser])
    gaps = np.diff(cycle_start)
    same_cycle, next_cycle = gaps < 5e-9, gaps > 20e-6
    assert (same_cycle | next_cycle).mean() > 0.999
    assert np.median(np.diff(cycle_start[1:][next_cycle])) == pytest.approx(55.296e-6, rel=1e-3)
    # The wrong pairing (e.g. every laser at the column start) fails this test.
    wrong = np.diff(np.sort(t))
    assert ((wrong < 5e-9) | (wrong > 20e-6)).mean() < 0.9
    # The head turns clockwise (azimuth decreasing) at 10 Hz.
    order = np.argsort(av2_sweep.times)
    az = np.unwrap(np.arctan2(av2_sweep.points[order, 1], av2_sweep.points[order, 0]).astype(np.float64))
    slope = np.polyfit(av2_sweep.times[order] - av2_sweep.times.min(), np.degrees(az), 1)[0]
    assert slope == pytest.approx(-360.0 * model.scan.rotation_hz, rel=0.02)
