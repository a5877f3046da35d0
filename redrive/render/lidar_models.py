"""LiDAR sensor models: how and when a LiDAR fires its beams, and a library of real sensors.

Sensor frame and angles (all models): x forward (the sensor's 0° azimuth), y left, z up.
Azimuth ``phi`` is counter-clockwise from +x about +z (``atan2(y, x)``), elevation ``theta`` is
above the xy-plane; a beam's unit direction is
``(cos theta cos phi, cos theta sin phi, sin theta)``.
Manufacturers publish azimuth offsets clockwise-positive (seen from above): the tables below
store them negated, in this counter-clockwise convention.

Three kinds of scan:

- ``SpinningScan``: a rotating head with one row per laser (elevation, azimuth offset and firing
  time within a column). Column ``c`` starts at ``c / (rotation_hz * azimuth_count)`` seconds
  after the sweep start; laser ``b`` of that column fires ``firing_offsets_s[b]`` later and, the
  head turning all the while, points at
  ``start_azimuth - s * 360 * rotation_hz * t + azimuth_offset[b]`` with ``s = +1`` for a
  clockwise head (every sensor of the library) and ``t`` its firing time since the sweep start.
- ``PatternScan``: an explicit, repeating table of firings (azimuth, elevation, time offset,
  beam), e.g. exported from a solid-state sensor's documentation or recorded data.
- ``RosetteScan``: a Livox-style non-repetitive pattern from two counter-rotating Risley prisms;
  directions depend on the absolute time, so consecutive frames sample different directions
  and the covered fraction of the field of view grows with integration time.

Beam index convention: the row of the model's beam table, i.e. the manufacturer's laser /
channel number minus one (Velodyne laser ID, Hesai channel - 1, Ouster channel). Range-image
rows sorted by elevation come from ``LidarModel.rows_by_elevation()``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any, Callable, Union

import numpy as np

from redrive.log.types import LidarBeams
from redrive.render.errors import SensorSpecError

# ---------------------------------------------------------------------------------------------
# Firings: the output of every scan


@dataclass
class Firings:
    """The laser firings of one sweep (or a time window of it), in the sensor frame."""

    beam: np.ndarray
    """(N,) int16 beam (laser) index."""
    column: np.ndarray
    """(N,) int32 range-image column for spinning scans; the firing's index in its pattern for
    pattern and rosette scans."""
    time_s: np.ndarray
    """(N,) float64 firing time, seconds since the sweep start."""
    azimuth_rad: np.ndarray
    """(N,) float64 azimuth, counter-clockwise from +x, wrapped to (-pi, pi]."""
    elevation_rad: np.ndarray
    """(N,) float64 elevation above the sensor's xy-plane."""

    def __len__(self) -> int:
        return len(self.beam)

    def directions(self) -> np.ndarray:
        """(N, 3) float64 unit directions in the sensor frame."""
        ce = np.cos(self.elevation_rad)
        return np.stack(
            [ce * np.cos(self.azimuth_rad), ce * np.sin(self.azimuth_rad), np.sin(self.elevation_rad)], -1
        )


def _wrap(angle_rad: np.ndarray) -> np.ndarray:
    """Angles wrapped to (-pi, pi]."""
    return np.pi - np.mod(np.pi - angle_rad, 2.0 * np.pi)


# ---------------------------------------------------------------------------------------------
# Validation helpers (every problem names the model, the field and the value)


def _positive(what: str, name: str, value: Any, allow_zero: bool = False, integer: bool = False) -> None:
    ok_type = isinstance(value, (int, np.integer)) and not isinstance(value, bool) if integer else (
        isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
    )
    if not ok_type or not np.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        kind = "integer" if integer else "finite number"
        bound = "non-negative" if allow_zero else "positive"
        raise SensorSpecError(what, name, value, f"must be a {bound} {kind}")


def _vector(what: str, name: str, value: Any, length: int | None = None) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise SensorSpecError(what, name, value, "must be a list of numbers") from None
    if arr.ndim != 1:
        raise SensorSpecError(what, name, value, "must be a flat list of numbers")
    if length is not None and len(arr) != length:
        raise SensorSpecError(what, name, value, f"must have one value per beam ({length}), has {len(arr)}")
    if not np.isfinite(arr).all():
        raise SensorSpecError(what, name, value, "values must be finite")
    return arr


# ---------------------------------------------------------------------------------------------
# Scans


@dataclass(frozen=True, eq=False)
class SpinningScan:
    """A rotating multi-beam head."""

    elevations_deg: np.ndarray
    """(B,) elevation of each laser, degrees, in beam-index order."""
    azimuth_count: int
    """Columns (firings per laser) per revolution."""
    rotation_hz: float = 10.0
    """Revolutions per second."""
    azimuth_offsets_deg: np.ndarray | None = None
    """(B,) per-laser horizontal offset, degrees, counter-clockwise positive; None = all zero."""
    firing_offsets_s: np.ndarray | None = None
    """(B,) firing time of each laser after its column's start, seconds; None = all at once.
    Must be shorter than a column period."""
    clockwise: bool = True
    """Rotation sense seen from above (Velodyne, Hesai and Ouster heads all turn clockwise)."""
    start_azimuth_deg: float = 180.0
    """Azimuth of column 0 at the sweep start (180 = behind the sensor, where most sensors and
    datasets split their sweeps)."""

    def __post_init__(self) -> None:
        what = "spinning LiDAR scan"
        elev = _vector(what, "elevations_deg", self.elevations_deg)
        if len(elev) == 0:
            raise SensorSpecError(what, "elevations_deg", [], "beam table is empty (need at least one beam)")
        if np.abs(elev).max() > 90.0:
            raise SensorSpecError(what, "elevations_deg", float(elev[np.argmax(np.abs(elev))]), "elevations must be within [-90, 90] degrees")
        object.__setattr__(self, "elevations_deg", elev)
        _positive(what, "azimuth_count", self.azimuth_count, integer=True)
        _positive(what, "rotation_hz", self.rotation_hz)
        if self.azimuth_offsets_deg is not None:
            object.__setattr__(self, "azimuth_offsets_deg", _vector(what, "azimuth_offsets_deg", self.azimuth_offsets_deg, len(elev)))
        if self.firing_offsets_s is not None:
            offsets = _vector(what, "firing_offsets_s", self.firing_offsets_s, len(elev))
            period = self.column_period_s
            if offsets.min() < 0 or offsets.max() >= period:
                bad = float(offsets.min() if offsets.min() < 0 else offsets.max())
                raise SensorSpecError(what, "firing_offsets_s", bad, f"firing offsets must lie in [0, column period {period:.3e} s)")
            object.__setattr__(self, "firing_offsets_s", offsets)
        if not np.isfinite(self.start_azimuth_deg):
            raise SensorSpecError(what, "start_azimuth_deg", self.start_azimuth_deg, "must be finite")

    @property
    def beam_count(self) -> int:
        return len(self.elevations_deg)

    @property
    def column_period_s(self) -> float:
        return 1.0 / (self.rotation_hz * self.azimuth_count)

    @property
    def sweep_duration_s(self) -> float:
        return 1.0 / self.rotation_hz

    def firings(self, t0: float, t1: float, sweep_start: float = 0.0) -> Firings:
        """Firings of the columns that start in ``[t0, t1)`` seconds after the sweep start."""
        del sweep_start  # a spinning head repeats every revolution
        n, b = self.azimuth_count, self.beam_count
        c0 = max(0, int(np.ceil(t0 / self.column_period_s - 1e-9)))
        c1 = min(n, int(np.ceil(t1 / self.column_period_s - 1e-9)))
        cols = np.arange(c0, max(c0, c1), dtype=np.int32)
        offsets = np.zeros(b) if self.firing_offsets_s is None else self.firing_offsets_s
        az_off = np.zeros(b) if self.azimuth_offsets_deg is None else self.azimuth_offsets_deg
        times = cols[:, None] * self.column_period_s + offsets[None, :]
        sense = 1.0 if self.clockwise else -1.0
        az_deg = self.start_azimuth_deg - sense * 360.0 * self.rotation_hz * times + az_off[None, :]
        return Firings(
            beam=np.broadcast_to(np.arange(b, dtype=np.int16), times.shape).ravel(),
            column=np.broadcast_to(cols[:, None], times.shape).ravel().astype(np.int32),
            time_s=times.ravel(),
            azimuth_rad=_wrap(np.deg2rad(az_deg)).ravel(),
            elevation_rad=np.broadcast_to(np.deg2rad(self.elevations_deg), times.shape).ravel().copy(),
        )


@dataclass(frozen=True, eq=False)
class PatternScan:
    """An explicit table of firings that repeats every ``period_s``."""

    azimuth_deg: np.ndarray
    """(P,) azimuth of each firing, degrees, counter-clockwise from +x."""
    elevation_deg: np.ndarray
    """(P,) elevation of each firing, degrees."""
    time_offsets_s: np.ndarray
    """(P,) firing time within the period, seconds, non-decreasing, in [0, period_s)."""
    period_s: float
    """Length of one repetition of the table (one frame), seconds."""
    beam: np.ndarray | None = None
    """(P,) laser index of each firing; None = a single laser (all 0)."""

    def __post_init__(self) -> None:
        what = "pattern LiDAR scan"
        az = _vector(what, "azimuth_deg", self.azimuth_deg)
        if len(az) == 0:
            raise SensorSpecError(what, "azimuth_deg", [], "pattern is empty (need at least one firing)")
        el = _vector(what, "elevation_deg", self.elevation_deg, len(az))
        if np.abs(el).max() > 90.0:
            raise SensorSpecError(what, "elevation_deg", float(el[np.argmax(np.abs(el))]), "elevations must be within [-90, 90] degrees")
        _positive(what, "period_s", self.period_s)
        t = _vector(what, "time_offsets_s", self.time_offsets_s, len(az))
        if (np.diff(t) < 0).any():
            i = int(np.argmax(np.diff(t) < 0)) + 1
            raise SensorSpecError(what, f"time_offsets_s[{i}]", float(t[i]), f"firing times must be non-decreasing (previous is {t[i - 1]})")
        if t[0] < 0 or t[-1] >= self.period_s:
            raise SensorSpecError(what, "time_offsets_s", float(t[0] if t[0] < 0 else t[-1]), f"firing times must lie in [0, period_s={self.period_s})")
        beam = np.zeros(len(az), dtype=np.int16) if self.beam is None else np.asarray(self.beam)
        if beam.shape != az.shape or beam.dtype.kind not in "iu" or (beam < 0).any():
            raise SensorSpecError(what, "beam", self.beam, "must hold one non-negative integer laser index per firing")
        for name, value in (("azimuth_deg", az), ("elevation_deg", el), ("time_offsets_s", t), ("beam", beam.astype(np.int16))):
            object.__setattr__(self, name, value)

    @property
    def beam_count(self) -> int:
        return int(self.beam.max()) + 1

    @property
    def sweep_duration_s(self) -> float:
        return float(self.period_s)

    def firings(self, t0: float, t1: float, sweep_start: float = 0.0) -> Firings:
        del sweep_start  # the table repeats identically every period
        i0, i1 = np.searchsorted(self.time_offsets_s, [t0, t1], side="left")
        sel = slice(int(i0), int(i1))
        return Firings(
            beam=self.beam[sel].copy(),
            column=np.arange(i0, i1, dtype=np.int32),
            time_s=self.time_offsets_s[sel].copy(),
            azimuth_rad=_wrap(np.deg2rad(self.azimuth_deg[sel])),
            elevation_rad=np.deg2rad(self.elevation_deg[sel]),
        )


@dataclass(frozen=True, eq=False)
class RosetteScan:
    """A Livox-style non-repetitive rosette: a single laser deflected by two prisms turning in
    opposite directions at incommensurate rates.

    The deflection from the boresight (+x) at absolute time ``tau`` is the sum of two rotating
    vectors of length ``fov_deg / 4`` (so it reaches ``fov_deg / 2`` at most and passes through
    the centre); with an irrational rate ratio the curve never closes, which is what makes the
    pattern non-repetitive.
    """

    fov_deg: float
    """Full cone angle of the circular field of view, degrees."""
    point_rate_hz: float
    """Firings per second."""
    prism_hz: tuple[float, float]
    """Rotation rates of the two prisms (revolutions per second; they turn in opposite senses)."""
    integration_s: float = 0.1
    """Length of one frame (the time its points are accumulated over), seconds."""

    def __post_init__(self) -> None:
        what = "rosette LiDAR scan"
        _positive(what, "fov_deg", self.fov_deg)
        if self.fov_deg >= 180.0:
            raise SensorSpecError(what, "fov_deg", self.fov_deg, "a rosette field of view must be below 180 degrees")
        _positive(what, "point_rate_hz", self.point_rate_hz)
        _positive(what, "integration_s", self.integration_s)
        rates = tuple(self.prism_hz)
        if len(rates) != 2:
            raise SensorSpecError(what, "prism_hz", self.prism_hz, "needs two prism rates")
        for i, r in enumerate(rates):
            _positive(what, f"prism_hz[{i}]", r)
        if rates[0] == rates[1]:
            raise SensorSpecError(what, "prism_hz", self.prism_hz, "equal prism rates give a repeating line, not a rosette")
        object.__setattr__(self, "prism_hz", rates)

    @property
    def beam_count(self) -> int:
        return 1

    @property
    def sweep_duration_s(self) -> float:
        return float(self.integration_s)

    def deflection_deg(self, tau: np.ndarray) -> np.ndarray:
        """(N, 2) deflection of the beam from the boresight at absolute times ``tau`` (N,), degrees,
        as (left, up) components."""
        a = self.fov_deg / 4.0
        w1, w2 = 2.0 * np.pi * self.prism_hz[0], 2.0 * np.pi * self.prism_hz[1]
        return a * np.stack([np.cos(w1 * tau) + np.cos(w2 * tau), np.sin(w1 * tau) - np.sin(w2 * tau)], -1)

    def firings(self, t0: float, t1: float, sweep_start: float = 0.0) -> Firings:
        """Firings in ``[t0, t1)`` after a frame starting at absolute time ``sweep_start``.

        Firings sit on the absolute clock (one every ``1 / point_rate_hz`` since time 0), so a
        frame boundary never repeats or skips one.
        """
        dt = 1.0 / self.point_rate_hz
        k0 = int(np.ceil((sweep_start + max(t0, 0.0)) / dt - 1e-9))
        k1 = int(np.ceil((sweep_start + min(t1, self.integration_s)) / dt - 1e-9))
        k = np.arange(k0, max(k0, k1), dtype=np.int64)
        tau = k * dt
        d = np.deg2rad(self.deflection_deg(tau))
        off = np.hypot(d[:, 0], d[:, 1])
        psi = np.arctan2(d[:, 1], d[:, 0])
        # A deflection of ``off`` from +x towards the direction ``psi`` in the (y, z) plane.
        x, y, z = np.cos(off), np.sin(off) * np.cos(psi), np.sin(off) * np.sin(psi)
        start = int(np.ceil(sweep_start / dt - 1e-9))
        return Firings(
            beam=np.zeros(len(k), dtype=np.int16),
            column=(k - start).astype(np.int32),
            time_s=tau - sweep_start,
            azimuth_rad=np.arctan2(y, x),
            elevation_rad=np.arcsin(np.clip(z, -1.0, 1.0)),
        )


Scan = Union[SpinningScan, PatternScan, RosetteScan]


# ---------------------------------------------------------------------------------------------
# The model


@dataclass(frozen=True, eq=False)
class LidarModel:
    """A LiDAR: its scan, range limits and optics, with the source of its numbers."""

    name: str
    """Library name (or a user's name for a custom model)."""
    scan: Scan
    """How the sensor fires (``SpinningScan``, ``PatternScan`` or ``RosetteScan``)."""
    max_range_m: float = 200.0
    """Returns farther than this are not reported (become ray drops)."""
    min_range_m: float = 0.0
    """Returns closer than this are not reported."""
    beam_divergence_mrad: tuple[float, float] | None = None
    """Full beam divergence (horizontal, vertical), milliradians, when published; renderers may
    use it as the ray's cone angle."""
    source: str = ""
    """Where the numbers come from (spec sheet / manual, and what was chosen where it is silent)."""

    def __post_init__(self) -> None:
        what = f"lidar model {self.name!r}"
        if not isinstance(self.scan, (SpinningScan, PatternScan, RosetteScan)):
            raise SensorSpecError(what, "scan", type(self.scan).__name__, "must be a SpinningScan, PatternScan or RosetteScan")
        _positive(what, "max_range_m", self.max_range_m)
        _positive(what, "min_range_m", self.min_range_m, allow_zero=True)
        if self.min_range_m >= self.max_range_m:
            raise SensorSpecError(what, "min_range_m", self.min_range_m, f"must be below max_range_m ({self.max_range_m})")
        if self.beam_divergence_mrad is not None:
            div = tuple(self.beam_divergence_mrad)
            if len(div) != 2:
                raise SensorSpecError(what, "beam_divergence_mrad", self.beam_divergence_mrad, "needs (horizontal, vertical)")
            for i, v in enumerate(div):
                _positive(what, f"beam_divergence_mrad[{i}]", v, allow_zero=True)
            object.__setattr__(self, "beam_divergence_mrad", div)

    # -------------------------------------------------------------- description
    @property
    def kind(self) -> str:
        """``spinning``, ``pattern`` or ``rosette``."""
        return {SpinningScan: "spinning", PatternScan: "pattern", RosetteScan: "rosette"}[type(self.scan)]

    @property
    def beam_count(self) -> int:
        return self.scan.beam_count

    @property
    def sweep_duration_s(self) -> float:
        """Duration of one sweep (a revolution, a pattern period or a frame's integration)."""
        return self.scan.sweep_duration_s

    def elevation_range_deg(self) -> tuple[float, float]:
        """(lowest, highest) beam elevation, degrees (nominal, without divergence)."""
        if isinstance(self.scan, SpinningScan):
            e = self.scan.elevations_deg
        elif isinstance(self.scan, PatternScan):
            e = self.scan.elevation_deg
        else:
            return -self.scan.fov_deg / 2.0, self.scan.fov_deg / 2.0
        return float(e.min()), float(e.max())

    @property
    def vertical_fov_deg(self) -> float:
        lo, hi = self.elevation_range_deg()
        return hi - lo

    def rows_by_elevation(self) -> np.ndarray:
        """(B,) beam indices from the highest to the lowest elevation (range-image row order)."""
        if not isinstance(self.scan, SpinningScan):
            raise SensorSpecError(f"lidar model {self.name!r}", "scan", self.kind, "only spinning sensors have range-image rows")
        return np.argsort(-self.scan.elevations_deg, kind="stable")

    # -------------------------------------------------------------- firing
    def firings(self, window: tuple[float, float] | None = None, sweep_start: float = 0.0) -> Firings:
        """Firings of one sweep, or of the part of it in ``window = (t0, t1)`` seconds after the
        sweep start (spinning: the columns starting in the window). ``sweep_start`` is the
        sweep's absolute time, which only a rosette's phase depends on."""
        t0, t1 = (0.0, self.sweep_duration_s) if window is None else (float(window[0]), float(window[1]))
        return self.scan.firings(t0, t1, sweep_start)

    def windows(self, count: int) -> list[tuple[float, float]]:
        """``count`` consecutive time windows that split one sweep (for chunked rendering)."""
        _positive(f"lidar model {self.name!r}", "count", count, integer=True)
        edges = np.linspace(0.0, self.sweep_duration_s, count + 1)
        return [(float(a), float(b)) for a, b in zip(edges[:-1], edges[1:])]

    # -------------------------------------------------------------- DriveLog interop
    def to_beams(self) -> LidarBeams:
        """The DriveLog's beam description (spinning sensors only).

        ``LidarBeams`` has no place for firing offsets, rotation sense, start azimuth or
        divergence: those are lost (see docs/sensors.md for the proposed format fields).
        """
        if not isinstance(self.scan, SpinningScan):
            raise SensorSpecError(f"lidar model {self.name!r}", "scan", self.kind,
                                  "only spinning sensors convert to the DriveLog's LidarBeams")
        s = self.scan
        return LidarBeams(
            elevations_deg=s.elevations_deg.copy(),
            azimuth_count=int(s.azimuth_count),
            azimuth_offsets_deg=None if s.azimuth_offsets_deg is None else s.azimuth_offsets_deg.copy(),
            rotation_hz=float(s.rotation_hz),
            min_range_m=float(self.min_range_m),
            max_range_m=float(self.max_range_m),
        )

    @classmethod
    def from_beams(cls, beams: LidarBeams, name: str = "from-log") -> "LidarModel":
        """A spinning model from a DriveLog beam table (clockwise, starting behind, all lasers of a
        column fired at once: what a log without timing details implies)."""
        return cls(
            name=name,
            scan=SpinningScan(
                elevations_deg=np.asarray(beams.elevations_deg, dtype=np.float64),
                azimuth_count=int(beams.azimuth_count),
                rotation_hz=float(beams.rotation_hz),
                azimuth_offsets_deg=beams.azimuth_offsets_deg,
            ),
            max_range_m=float(beams.max_range_m),
            min_range_m=float(beams.min_range_m),
            source="DriveLog beam table",
        )

    # -------------------------------------------------------------- user specs
    def to_dict(self) -> dict:
        """A JSON-able description (``from_dict`` reads it back)."""
        out: dict[str, Any] = {"name": self.name, "kind": self.kind, "max_range_m": self.max_range_m,
                               "min_range_m": self.min_range_m}
        if self.beam_divergence_mrad is not None:
            out["beam_divergence_mrad"] = list(self.beam_divergence_mrad)
        s = self.scan
        if isinstance(s, SpinningScan):
            out.update(elevations_deg=s.elevations_deg.tolist(), azimuth_count=int(s.azimuth_count),
                       rotation_hz=s.rotation_hz, clockwise=s.clockwise, start_azimuth_deg=s.start_azimuth_deg)
            if s.azimuth_offsets_deg is not None:
                out["azimuth_offsets_deg"] = s.azimuth_offsets_deg.tolist()
            if s.firing_offsets_s is not None:
                out["firing_offsets_s"] = s.firing_offsets_s.tolist()
        elif isinstance(s, PatternScan):
            out.update(azimuth_deg=s.azimuth_deg.tolist(), elevation_deg=s.elevation_deg.tolist(),
                       time_offsets_s=s.time_offsets_s.tolist(), period_s=s.period_s, beam=s.beam.tolist())
        else:
            out.update(fov_deg=s.fov_deg, point_rate_hz=s.point_rate_hz, prism_hz=list(s.prism_hz),
                       integration_s=s.integration_s)
        if self.source:
            out["source"] = self.source
        return out

    @classmethod
    def from_dict(cls, spec: dict) -> "LidarModel":
        """A model from a user's description: either ``{"model": "<library name>", ...overrides}``
        (overrides: ``azimuth_count``, ``rotation_hz``, ``max_range_m``, ``min_range_m``) or a full
        description as written by ``to_dict``."""
        if not isinstance(spec, dict):
            raise SensorSpecError("lidar spec", "", spec, "must be a mapping")
        if "model" in spec:
            base = lidar_model(spec["model"])
            extra = set(spec) - {"model", "name", "azimuth_count", "rotation_hz", "max_range_m", "min_range_m"}
            if extra:
                raise SensorSpecError(f"lidar spec {spec['model']!r}", sorted(extra)[0], spec[sorted(extra)[0]],
                                      "unknown field (library models accept azimuth_count, rotation_hz, max_range_m, min_range_m)")
            scan_over = {k: spec[k] for k in ("azimuth_count", "rotation_hz") if k in spec}
            scan = base.scan
            if scan_over:
                if not isinstance(scan, SpinningScan):
                    k = next(iter(scan_over))
                    raise SensorSpecError(f"lidar spec {spec['model']!r}", k, spec[k], "only spinning models take this override")
                scan = replace(scan, **scan_over)
            return replace(base, name=spec.get("name", base.name), scan=scan,
                           **{k: spec[k] for k in ("max_range_m", "min_range_m") if k in spec})
        name = spec.get("name", "custom")
        kind = spec.get("kind", "spinning")
        common = {k: spec[k] for k in ("max_range_m", "min_range_m", "beam_divergence_mrad", "source") if k in spec}
        try:
            if kind == "spinning":
                keys = ("elevations_deg", "azimuth_count", "rotation_hz", "azimuth_offsets_deg", "firing_offsets_s",
                        "clockwise", "start_azimuth_deg")
                if "elevations_deg" not in spec or "azimuth_count" not in spec:
                    missing = "elevations_deg" if "elevations_deg" not in spec else "azimuth_count"
                    raise SensorSpecError(f"lidar spec {name!r}", missing, None, "required for a spinning LiDAR")
                scan: Scan = SpinningScan(**{k: spec[k] for k in keys if k in spec})
            elif kind == "pattern":
                keys = ("azimuth_deg", "elevation_deg", "time_offsets_s", "period_s", "beam")
                scan = PatternScan(**{k: spec[k] for k in keys if k in spec})
            elif kind == "rosette":
                keys = ("fov_deg", "point_rate_hz", "prism_hz", "integration_s")
                scan = RosetteScan(**{k: spec[k] for k in keys if k in spec})
            else:
                raise SensorSpecError(f"lidar spec {name!r}", "kind", kind, "must be one of spinning, pattern, rosette")
        except TypeError as exc:  # a required field is missing
            raise SensorSpecError(f"lidar spec {name!r}", "", None, f"incomplete {kind} description: {exc}") from None
        return cls(name=name, scan=scan, **common)


# ---------------------------------------------------------------------------------------------
# The library. Every builder cites its source; numbers are the manufacturers' published design
# values (individual units differ slightly and ship with their own calibration).


def _vlp16() -> LidarModel:
    # Velodyne VLP-16 User Manual (63-9243 Rev D), Table 9-1 / 9.4: laser IDs 0..15 fire in ID
    # order every 2.304 us, the 16 firings plus an 18.432 us recharge make a 55.296 us cycle;
    # elevations -15..+15 deg at 2 deg, interleaved by ID. Datasheet: 100 m range, 0.1-0.4 deg
    # azimuth resolution at 5-20 Hz, i.e. 0.2 deg (1800 columns) at 10 Hz.
    elev = [-15, 1, -13, 3, -11, 5, -9, 7, -7, 9, -5, 11, -3, 13, -1, 15]
    return LidarModel(
        name="velodyne-vlp16",
        scan=SpinningScan(np.array(elev, float), 1800, 10.0, firing_offsets_s=np.arange(16) * 2.304e-6),
        max_range_m=100.0,
        source="Velodyne VLP-16 User Manual 63-9243 Rev D (Table 9-1, section 9.4 firing timing); VLP-16 datasheet "
               "(100 m, 0.2 deg azimuth at 10 Hz)",
    )


# VLP-32C User Manual (63-9325 Rev C) Table 9-2: (elevation deg, azimuth offset deg clockwise)
# for laser IDs 0..31.
_VLP32C_TABLE = [
    (-25.0, 1.4), (-1.0, -4.2), (-1.667, 1.4), (-15.639, -1.4), (-11.31, 1.4), (0.0, -1.4), (-0.667, 4.2),
    (-8.843, -1.4), (-7.254, 1.4), (0.333, -4.2), (-0.333, 1.4), (-6.148, -1.4), (-5.333, 4.2), (1.333, -1.4),
    (0.667, 4.2), (-4.0, -1.4), (-4.667, 1.4), (1.667, -4.2), (1.0, 1.4), (-3.667, -4.2), (-3.333, 4.2),
    (3.333, -1.4), (2.333, 1.4), (-2.667, -1.4), (-3.0, 1.4), (7.0, -1.4), (4.667, 1.4), (-2.333, -4.2),
    (-2.0, 4.2), (15.0, -1.4), (10.333, 1.4), (-1.333, -1.4),
]


def _vlp32c() -> LidarModel:
    # Same manual, sections 9.4-9.5: lasers fire in pairs (IDs 2k and 2k+1) every 2.304 us,
    # 16 firings + recharge = 55.296 us. Datasheet: 200 m, +15..-25 deg, 0.2 deg at 10 Hz.
    # Checked against real VLP-32C sweeps (tests/render/test_real_lidar.py). The real head fires
    # on a fixed 55.296 us cycle (1808.4 cycles per revolution at 10 Hz); a range image needs a
    # whole number of columns, so the model keeps the published 0.2 deg (1800, 55.56 us).
    table = np.array(_VLP32C_TABLE)
    return LidarModel(
        name="velodyne-vlp32c",
        scan=SpinningScan(table[:, 0], 1800, 10.0, azimuth_offsets_deg=-table[:, 1],
                          firing_offsets_s=(np.arange(32) // 2) * 2.304e-6),
        max_range_m=200.0,
        source="Velodyne VLP-32C User Manual 63-9325 Rev C (Table 9-2 elevations and azimuth offsets, 9.4 firing "
               "timing); VLP-32C datasheet (200 m, 0.2 deg azimuth at 10 Hz)",
    )


def _hdl64e() -> LidarModel:
    # HDL-64E S2/S3 manuals and datasheet: 64 lasers in an upper block of 32 (+2 deg down to
    # -8.33 deg, 1/3 deg apart) and a lower block of 32 (about 1/2 deg apart, down to -24.8 deg);
    # vertical FOV +2..-24.8 deg; 120 m range; >1.3 M points/s, i.e. ~2083 firings per laser per
    # revolution at 10 Hz (0.17 deg). The exact per-laser angles come from each unit's
    # calibration (db.xml); the lower block here is spread evenly to reach the published -24.8.
    upper = 2.0 - np.arange(32) / 3.0
    lower = np.linspace(-8.83, -24.8, 32)
    return LidarModel(
        name="velodyne-hdl64e",
        scan=SpinningScan(np.concatenate([upper, lower]), 2083, 10.0),
        max_range_m=120.0,
        source="Velodyne HDL-64E S2/S3 user manual and datasheet (upper block 1/3 deg, lower block ~1/2 deg spacing, "
               "+2..-24.8 deg, 120 m, ~1.33 M points/s -> 2083 columns at 10 Hz); per-laser angles are unit "
               "calibrations, lower block spread evenly; all lasers of a column fired at once",
    )


# Pandar64 User Manual, Appendix I (Channel Distribution): design elevations of channels 1..64.
_PANDAR64_ELEV = [
    14.882, 11.032, 8.059, 5.057, 3.04, 2.028, 1.86, 1.688, 1.522, 1.351, 1.184, 1.013, 0.846, 0.675, 0.508,
    0.337, 0.169, 0.0, -0.169, -0.337, -0.508, -0.675, -0.845, -1.013, -1.184, -1.351, -1.522, -1.688, -1.86,
    -2.028, -2.198, -2.365, -2.536, -2.7, -2.873, -3.04, -3.21, -3.375, -3.548, -3.712, -3.884, -4.05, -4.221,
    -4.385, -4.558, -4.72, -4.892, -5.057, -5.229, -5.391, -5.565, -5.726, -5.898, -6.061, -7.063, -8.059,
    -9.06, -9.885, -11.032, -12.006, -12.974, -13.93, -18.889, -24.897,
]
# Same appendix: horizontal angle offsets (clockwise positive) of channels 1..64; channels 7..54
# cycle through the four columns of the emitter board.
_PANDAR64_AZ = [-1.042] * 6 + [1.042, 3.125, 5.208, -5.208, -3.125, -1.042] * 8 + [-1.042] * 10


def _pandar64() -> LidarModel:
    return LidarModel(
        name="hesai-pandar64",
        scan=SpinningScan(np.array(_PANDAR64_ELEV), 1800, 10.0, azimuth_offsets_deg=-np.array(_PANDAR64_AZ)),
        max_range_m=200.0,
        min_range_m=0.3,
        source="Hesai Pandar64 User Manual, Appendix I channel distribution (design elevations and azimuth offsets); "
               "datasheet: -25..+15 deg, 0.167 deg finest, 0.2 deg azimuth at 10 Hz, 0.3-200 m. Per-channel firing "
               "times within a block (Appendix II) are not modelled: a column fires at once",
    )


def _pandar128() -> LidarModel:
    # Pandar128E3X datasheet: 128 channels, -25..+15 deg, finest 0.125 deg around the horizon,
    # 0.2 deg azimuth at 10 Hz in standard mode (0.1 deg in high-resolution mode), 0.3-200 m.
    # The per-channel design table was not reproduced here: the layout is 64 channels at the
    # published 0.125 deg from -6 to +1.875 deg, 16 evenly spread above up to +15 deg and 48 below
    # down to -25 deg (same FOV, count and finest spacing as the datasheet).
    dense = 1.875 - 0.125 * np.arange(64)
    above = np.linspace(15.0, 2.5, 16)
    below = np.linspace(-6.5, -25.0, 48)
    return LidarModel(
        name="hesai-pandar128",
        scan=SpinningScan(np.concatenate([above, dense, below]), 1800, 10.0),
        max_range_m=200.0,
        min_range_m=0.3,
        source="Hesai Pandar128E3X datasheet and user manual (-25..+15 deg, 0.125 deg finest, 0.2 deg azimuth at "
               "10 Hz standard mode, 200 m); channel layout reconstructed from the FOV and resolution bands",
    )


def _ouster(channels: int) -> LidarModel:
    # Ouster OS1 datasheet (Gen 1): 16/64 channels +16.6..-16.6 deg, 128 channels +22.5..-22.5
    # deg; 512/1024/2048 columns at 10 or 20 Hz; 0.8-120 m (80 % target); divergence 0.13 deg
    # (64 ch) / 0.18 deg (128 ch) FWHM. Beams are uniformly spaced (the "uniform" option; later
    # revisions also sell "gradient" and "below horizon" spacings and a wider 64-channel FOV);
    # all channels of a column fire together; per-unit beam azimuth staggers are not modelled.
    half = 16.6 if channels == 64 else 22.5
    div = np.deg2rad(0.13 if channels == 64 else 0.18) * 1000.0
    return LidarModel(
        name=f"ouster-os1-{channels}",
        scan=SpinningScan(np.linspace(half, -half, channels), 2048, 10.0),
        max_range_m=120.0,
        min_range_m=0.8,
        beam_divergence_mrad=(div, div),
        source=f"Ouster OS1 datasheet (OS1-{channels}: +/-{half} deg vertical, 2048 columns at 10 Hz, 0.8-120 m, "
               f"divergence {0.13 if channels == 64 else 0.18} deg); uniform beam spacing chosen",
    )


def _waymo_top() -> LidarModel:
    # Waymo Open Dataset (Sun et al., CVPR 2020, Table 2): top LiDAR, 64 beams, vertical FOV
    # [-17.6, +2.4] deg, 75 m range, range images of 64 x 2650 at 10 Hz. The dataset ships the
    # (non-uniform, per-vehicle) beam inclinations; here they are spread evenly over the FOV.
    return LidarModel(
        name="waymo-top",
        scan=SpinningScan(np.linspace(2.4, -17.6, 64), 2650, 10.0),
        max_range_m=75.0,
        source="Waymo Open Dataset paper (Sun et al. 2020): top LiDAR 64 beams, +2.4..-17.6 deg, 2650 azimuths, "
               "75 m; uniform inclinations chosen",
    )


def _livox_mid40() -> LidarModel:
    # Livox Mid-40 datasheet: circular FOV 38.4 deg, 100,000 points/s, non-repetitive scanning,
    # 260 m at 80 % reflectivity, beam divergence 0.28 deg (vertical) x 0.03 deg (horizontal),
    # 10 Hz frames by default. The prism rates are not published: 100 Hz and 100 * golden ratio
    # (the "most irrational" ratio, so the curve spreads as evenly as possible) cover about 23 %
    # of the FOV (0.25 deg cells) in 0.1 s and 97 % in 1 s, close to Livox's description of
    # Mid-40 coverage growing with integration time.
    return LidarModel(
        name="livox-mid40",
        scan=RosetteScan(fov_deg=38.4, point_rate_hz=100_000.0, prism_hz=(50.0 * (1.0 + np.sqrt(5.0)), 100.0), integration_s=0.1),
        max_range_m=260.0,
        min_range_m=1.0,
        beam_divergence_mrad=(np.deg2rad(0.03) * 1000.0, np.deg2rad(0.28) * 1000.0),
        source="Livox Mid-40 datasheet (38.4 deg circular FOV, 100 k points/s, 260 m @ 80 %, 0.28 x 0.03 deg "
               "divergence, 0.1 s frames); prism rates chosen (not published)",
    )


LIDAR_LIBRARY: dict[str, Callable[[], LidarModel]] = {
    "velodyne-vlp16": _vlp16,
    "velodyne-vlp32c": _vlp32c,
    "velodyne-hdl64e": _hdl64e,
    "hesai-pandar64": _pandar64,
    "hesai-pandar128": _pandar128,
    "ouster-os1-64": lambda: _ouster(64),
    "ouster-os1-128": lambda: _ouster(128),
    "waymo-top": _waymo_top,
    "livox-mid40": _livox_mid40,
}
"""Built-in models by name (see ``lidar_model`` for accepted spellings)."""


def _key(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


_ALIASES = {_key(n): n for n in LIDAR_LIBRARY}
_ALIASES.update({_key(n.split("-", 1)[1]): n for n in LIDAR_LIBRARY if n.split("-", 1)[0] in ("velodyne", "hesai", "ouster", "livox")})


def lidar_model(name: str) -> LidarModel:
    """A fresh copy of a library model. Case, dashes and the vendor prefix are optional:
    ``"VLP-16"``, ``"vlp16"`` and ``"velodyne-vlp16"`` are the same sensor."""
    if not isinstance(name, str) or _key(name) not in _ALIASES:
        raise SensorSpecError("lidar spec", "model", name, f"unknown LiDAR model; known models: {', '.join(LIDAR_LIBRARY)}")
    return LIDAR_LIBRARY[_ALIASES[_key(name)]]()


__all__ = [
    "Firings",
    "LIDAR_LIBRARY",
    "LidarModel",
    "PatternScan",
    "RosetteScan",
    "SpinningScan",
    "lidar_model",
]
