"""Fixtures of the reader tests: where the real data excerpts are (../shared/realdata beside the
repository, see its README), skipping with a reason when they are absent."""

from __future__ import annotations

from pathlib import Path

import pytest

REALDATA_DIR = Path(__file__).resolve().parents[3] / ".." / "shared" / "realdata"


def realdata_path(*parts: str) -> Path:
    """A path inside the real data folder; skips the calling test when it is missing."""
    path = REALDATA_DIR.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real data excerpt not found: {path} (../shared/realdata beside the repository)")
    return path


AV2_LOG = ("av2_sensor_testlogs", "sensor", "val", "7fab2350-7eaf-3b7e-a39d-6937a4c1bede")
AV2_LOG_NO_CALIBRATION = ("av2_sensor_testlogs", "sensor_dataset_logs", "av2", "sensor", "val",
                          "adcf7d18-0510-35b0-a2fa-b4cea13a6d76")
WAYMO_FRAME = ("waymo_pvps_one_frame", "pvps_data_one_frame.tfrecord")
NUSCENES_FRAME = ("nuscenes_mmdet3d_demo_frame",)


@pytest.fixture(scope="module")
def av2_log_dir() -> Path:
    return realdata_path(*AV2_LOG)


@pytest.fixture(scope="module")
def av2_log_no_calibration_dir() -> Path:
    return realdata_path(*AV2_LOG_NO_CALIBRATION)


@pytest.fixture(scope="module")
def waymo_tfrecord() -> Path:
    return realdata_path(*WAYMO_FRAME)


@pytest.fixture(scope="module")
def nuscenes_frame_dir() -> Path:
    return realdata_path(*NUSCENES_FRAME)
