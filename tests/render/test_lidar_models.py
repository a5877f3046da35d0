import numpy as np
import pytest

from redrive.errors import RedriveError
from redrive.log.types import LidarBeams
from redrive.render.errors import SensorSpecError
from redrive.render.lidar_models import (
    LIDAR_LIBRARY,
    LidarModel,
    PatternScan,
    RosetteScan,
    SpinningScan,
    lidar_model,
)

# name -> (beams, lowest elevation, highest elevation, columns per revolution at 10 Hz, max range)
# from the spec sheets cited in redrive/render/lidar_models.py
SPINNING = {
    "velodyne-vlp16": (16, -15.0, 15.0, 1800, 100.0),
    "velodyne-vlp32c": (32, -25.0, 15.0, 1800, 200.0),
    "velodyne-hdl64e": (64, -24.8, 2.0, 2083, 120.0),
    "hesai-pandar64": (64, -24.897, 14.882, 1800, 200.0),
    "hesai-pandar128": (128, -25.0, 15.0, 1800, 200.0),
    "ouster-os1-64": (64, -16.6, 16.6, 2048, 120.0),
    "ouster-os1-128": (128, -22.5, 22.5, 2048, 120.0),
    "waymo-top": (64, -17.6, 2.4, 2650, 75.0),
}


def test_library_has_every_required_sensor():
    assert set(SPINNING) | {"livox-mid40"} == set(LIDAR_LIBRARY)
    for name in LIDAR_LIBRARY:
        assert lidar_model(name).source, f"{name} must cite its source"


@pytest.mark.parametrize("name", list(SPINNING))
def test_spinning_model_matches_its_table(name):
    beams, lo, hi, columns, max_range = SPINNING[name]
    model = lidar_model(name)
    assert model.kind == "spinning"
    assert model.beam_count == beams
    assert model.elevation_range_deg() == pytest.approx((lo, hi), abs=1e-9)
    assert model.vertical_fov_deg == pytest.approx(hi - lo)
    assert model.scan.azimuth_count == columns and model.scan.rotation_hz == 10.0
    assert model.max_range_m == max_range
    firings = model.firings()
    assert len(firings) == beams * columns
    # Every beam fires once per column and the sweep spans one revolution.
    counts = np.bincount(firings.beam, minlength=beams)
    np.testing.assert_array_equal(counts, columns)
    assert firings.time_s.min() >= 0 and firings.time_s.max() < model.sweep_duration_s
    np.testing.assert_allclose(np.rad2deg(firings.elevation_rad).min(), lo, atol=1e-9)
    np.testing.assert_allclose(np.rad2deg(firings.elevation_rad).max(), hi, atol=1e-9)
    np.testing.assert_allclose(np.linalg.norm(firings.directions(), axis=1), 1.0, atol=1e-12)
    # Distinct elevations: no two lasers share a row.
    assert len(np.unique(np.round(model.scan.elevations_deg, 6))) == beams
    rows = model.rows_by_elevation()
    assert np.all(np.diff(model.scan.elevations_deg[rows]) < 0)


def test_vlp16_timing_and_azimuth_follow_the_manual():
    model = lidar_model("VLP-16")
    f = model.firings()
    column_period = 0.1 / 1800
    # Laser b of column c fires 2.304 us * b after the column start (VLP-16 manual 9.4).
    np.testing.assert_allclose(f.time_s, f.column * column_period + f.beam * 2.304e-6, atol=1e-15)
    # A clockwise head starting behind the sensor: azimuth 180 deg at t=0, then decreasing at
    # 360 deg per revolution, lasers included (each sees the head where it is when it fires).
    expected = 180.0 - 360.0 * 10.0 * f.time_s
    diff = np.rad2deg(f.azimuth_rad) - expected
    np.testing.assert_allclose((diff + 180.0) % 360.0 - 180.0, 0.0, atol=1e-9)
    # Interleaved elevations by laser ID (Table 9-1).
    np.testing.assert_array_equal(model.scan.elevations_deg[:4], [-15, 1, -13, 3])


def test_vlp32c_offsets_are_stored_counter_clockwise():
    model = lidar_model("vlp32c")
    # Laser 0: -25 deg, +1.4 deg clockwise in the manual -> -1.4 deg counter-clockwise here.
    assert model.scan.elevations_deg[0] == -25.0
    assert model.scan.azimuth_offsets_deg[0] == pytest.approx(-1.4)
    assert model.scan.firing_offsets_s[1] == model.scan.firing_offsets_s[0] == 0.0
    assert model.scan.firing_offsets_s[2] == pytest.approx(2.304e-6)
    f = model.firings(window=(0.0, 1e-9))  # column 0 only
    np.testing.assert_allclose(np.rad2deg(f.azimuth_rad[0]), 180.0 - 1.4, atol=1e-9)


def test_names_are_forgiving_and_unknown_names_list_the_library():
    assert lidar_model("VLP-16").name == lidar_model("velodyne_vlp16").name == "velodyne-vlp16"
    assert lidar_model("OS1-128").beam_count == 128
    with pytest.raises(SensorSpecError) as info:
        lidar_model("hdl-128")
    message = str(info.value)
    assert "'hdl-128'" in message and "unknown LiDAR model" in message
    for name in LIDAR_LIBRARY:
        assert name in message
    assert isinstance(info.value, RedriveError)


def test_windows_split_a_sweep_without_gaps_or_overlap():
    model = lidar_model("pandar64")
    full = model.firings()
    parts = [model.firings(w) for w in model.windows(7)]
    assert sum(len(p) for p in parts) == len(full)
    joined = np.concatenate([p.time_s for p in parts])
    np.testing.assert_array_equal(joined, full.time_s)
    np.testing.assert_array_equal(np.concatenate([p.column for p in parts]), full.column)
    for (t0, t1), part in zip(model.windows(7), parts):
        assert (part.column * model.scan.column_period_s >= t0 - 1e-12).all()
        assert (part.column * model.scan.column_period_s < t1).all()


def test_beams_round_trip_with_the_drivelog_description():
    model = lidar_model("vlp32c")
    beams = model.to_beams()
    assert isinstance(beams, LidarBeams)
    assert beams.beam_count == 32 and beams.azimuth_count == 1800 and beams.max_range_m == 200.0
    back = LidarModel.from_beams(beams)
    np.testing.assert_array_equal(back.scan.elevations_deg, model.scan.elevations_deg)
    np.testing.assert_array_equal(back.scan.azimuth_offsets_deg, model.scan.azimuth_offsets_deg)
    assert back.max_range_m == model.max_range_m and back.min_range_m == model.min_range_m
    with pytest.raises(SensorSpecError, match="only spinning"):
        lidar_model("livox-mid40").to_beams()


@pytest.mark.parametrize("name", list(LIDAR_LIBRARY))
def test_dict_round_trip_fires_identically(name):
    model = lidar_model(name)
    back = LidarModel.from_dict(model.to_dict())
    assert back.kind == model.kind and back.beam_count == model.beam_count
    a, b = model.firings((0.0, 0.01), sweep_start=1.0), back.firings((0.0, 0.01), sweep_start=1.0)
    np.testing.assert_array_equal(a.beam, b.beam)
    np.testing.assert_allclose(a.time_s, b.time_s, atol=1e-15)
    np.testing.assert_allclose(a.azimuth_rad, b.azimuth_rad, atol=1e-12)
    np.testing.assert_allclose(a.elevation_rad, b.elevation_rad, atol=1e-12)


def test_library_spec_with_overrides():
    model = LidarModel.from_dict({"model": "os1-64", "azimuth_count": 1024, "rotation_hz": 20.0, "max_range_m": 90.0})
    assert model.scan.azimuth_count == 1024 and model.sweep_duration_s == pytest.approx(0.05)
    assert len(model.firings()) == 64 * 1024 and model.max_range_m == 90.0
    with pytest.raises(SensorSpecError, match="unknown field"):
        LidarModel.from_dict({"model": "os1-64", "columns": 1024})
    with pytest.raises(SensorSpecError, match="azimuth_count.*positive integer"):
        LidarModel.from_dict({"model": "os1-64", "azimuth_count": -512})
    with pytest.raises(SensorSpecError, match="only spinning"):
        LidarModel.from_dict({"model": "livox-mid40", "azimuth_count": 100})


def _coverage(model: RosetteScan, duration: float, cell_deg: float = 0.25) -> float:
    scan = RosetteScan(model.fov_deg, model.point_rate_hz, model.prism_hz, duration)
    d = scan.firings(0.0, duration).directions()
    off = np.degrees(np.arccos(np.clip(d[:, 0], -1, 1)))
    psi = np.arctan2(d[:, 2], d[:, 1])
    radius = scan.fov_deg / 2
    n = int(np.ceil(2 * radius / cell_deg))
    iu = np.clip(((off * np.cos(psi) + radius) / cell_deg).astype(int), 0, n - 1)
    iv = np.clip(((off * np.sin(psi) + radius) / cell_deg).astype(int), 0, n - 1)
    hit = np.zeros((n, n), bool)
    hit[iu, iv] = True
    centres = (np.arange(n) + 0.5) * cell_deg - radius
    inside = centres[:, None] ** 2 + centres[None, :] ** 2 <= radius**2
    return (hit & inside).sum() / inside.sum()


def test_rosette_is_deterministic_non_repetitive_and_fills_its_fov():
    model = lidar_model("livox-mid40")
    scan = model.scan
    assert model.kind == "rosette" and model.beam_count == 1
    a = model.firings(sweep_start=0.0)
    assert len(a) == 10_000  # 100 k points/s over a 0.1 s frame
    b = model.firings(sweep_start=0.0)
    np.testing.assert_array_equal(a.azimuth_rad, b.azimuth_rad)
    # Within the circular FOV, reaching its edge.
    cone = np.degrees(np.arccos(np.clip(a.directions()[:, 0], -1, 1)))
    assert cone.max() <= 19.2 + 1e-9 and cone.max() > 19.0
    # The next frame samples other directions (non-repetitive) and continues the firing clock.
    nxt = model.firings(sweep_start=0.1)
    assert np.abs(nxt.azimuth_rad - a.azimuth_rad).max() > 0.01
    assert nxt.time_s[0] == pytest.approx(0.0, abs=1e-12)
    # Coverage grows with integration time, nearly complete after one second.
    cov = [_coverage(scan, t) for t in (0.1, 0.5, 1.0)]
    assert cov[0] < cov[1] < cov[2]
    assert 0.15 < cov[0] < 0.4 and cov[2] > 0.9


def test_explicit_pattern_scan():
    scan = PatternScan(azimuth_deg=[-10.0, 0.0, 10.0, 0.0], elevation_deg=[0.0, 5.0, 0.0, -5.0],
                       time_offsets_s=[0.0, 0.01, 0.02, 0.03], period_s=0.04, beam=[0, 1, 0, 1])
    model = LidarModel("grid", scan, max_range_m=50.0)
    assert model.kind == "pattern" and model.beam_count == 2 and model.sweep_duration_s == 0.04
    f = model.firings((0.005, 0.025))
    np.testing.assert_array_equal(f.column, [1, 2])
    np.testing.assert_allclose(np.rad2deg(f.elevation_rad), [5.0, 0.0])
    np.testing.assert_allclose(f.directions()[1], [np.cos(np.radians(10)), np.sin(np.radians(10)), 0.0], atol=1e-12)


@pytest.mark.parametrize(
    "build, match",
    [
        (lambda: SpinningScan(np.array([]), 100), "beam table is empty"),
        (lambda: SpinningScan(np.array([1.0, 2.0]), -5), "azimuth_count.*positive integer"),
        (lambda: SpinningScan(np.array([1.0, 2.0]), 0), "azimuth_count"),
        (lambda: SpinningScan(np.array([1.0, 2.0]), 10.5), "azimuth_count"),
        (lambda: SpinningScan(np.array([1.0, 2.0]), 100, rotation_hz=-10.0), "rotation_hz"),
        (lambda: SpinningScan(np.array([1.0, 95.0]), 100), r"\[-90, 90\]"),
        (lambda: SpinningScan(np.array([1.0, 2.0]), 100, azimuth_offsets_deg=[0.0]), "one value per beam"),
        (lambda: SpinningScan(np.array([1.0, 2.0]), 100, firing_offsets_s=[0.0, 1.0]), "column period"),
        (lambda: PatternScan([0.0, 1.0], [0.0, 0.0], [0.02, 0.01], 0.1), r"time_offsets_s\[1\].*non-decreasing"),
        (lambda: PatternScan([], [], [], 0.1), "pattern is empty"),
        (lambda: RosetteScan(38.4, 1e5, (100.0, 100.0)), "repeating line"),
        (lambda: LidarModel("x", SpinningScan(np.array([0.0]), 10), max_range_m=-1.0), "max_range_m"),
        (lambda: LidarModel("x", SpinningScan(np.array([0.0]), 10), max_range_m=5.0, min_range_m=6.0), "below max_range_m"),
        (lambda: LidarModel.from_dict({"kind": "spinning", "azimuth_count": 10}), "elevations_deg.*required"),
        (lambda: LidarModel.from_dict({"kind": "solid", "elevations_deg": [0.0]}), "kind"),
    ],
)
def test_invalid_specs_are_refused_clearly(build, match):
    with pytest.raises(SensorSpecError, match=match):
        build()
