"""Presets of the synthetic log generator: how big the log is and what the scene holds."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from redrive.errors import RedriveError
from redrive.log.synth.scene import RenderSettings


@dataclass
class SynthConfig:
    """Size and contents of a generated log."""

    frames: int = 50
    """Camera frames (and LiDAR sweeps) per sensor."""
    rate_hz: float = 10.0
    """Frame rate of the cameras and rotation rate of the LiDAR."""
    image_width: int = 480
    """Camera image width, pixels (all cameras)."""
    image_height: int = 320
    """Camera image height, pixels."""
    horizontal_fov_deg: float = 80.0
    """Horizontal field of view of the pinhole cameras (the distorted one sees a bit more)."""
    side_camera_yaw_deg: float = 55.0
    """Yaw of the two side cameras away from straight ahead."""
    rolling_shutter_s: float = 0.02
    """Readout time of the right camera (the other two have global shutters); 0 for none."""
    lidar_beams: int = 32
    """LiDAR lasers, evenly spread over ``lidar_elevation_deg``."""
    lidar_azimuths: int = 1024
    """LiDAR firings per laser per revolution."""
    lidar_elevation_deg: tuple[float, float] = (-25.0, 15.0)
    """Lowest and highest beam elevation."""
    lidar_max_range_m: float = 120.0
    """Hard maximum range of the LiDAR."""
    ego_speed_mps: float = 7.0
    """Ego cruising speed."""
    parked_spacing_m: float = 9.0
    """Mean distance between parked cars along each parking strip (gaps are random)."""
    oncoming_vehicles: int = 4
    """Vehicles driving towards the ego in the other lane."""
    lead_vehicles: int = 1
    """Vehicles driving ahead of the ego in its lane."""
    pedestrians: int = 6
    """People walking on the sidewalks."""
    cyclists: int = 1
    """Cyclists riding against the ego's direction at the far lane's edge."""
    render: RenderSettings = field(default_factory=RenderSettings)
    """Sensor simulation settings."""

    def check(self) -> "SynthConfig":
        for name in ("frames", "image_width", "image_height", "lidar_beams", "lidar_azimuths"):
            if getattr(self, name) < 1:
                raise RedriveError(f"synthetic config field {name!r} = {getattr(self, name)!r}: must be at least 1")
        for name in ("rate_hz", "horizontal_fov_deg", "ego_speed_mps", "parked_spacing_m", "lidar_max_range_m"):
            if not getattr(self, name) > 0:
                raise RedriveError(f"synthetic config field {name!r} = {getattr(self, name)!r}: must be positive")
        if self.render.antialias < 1:
            raise RedriveError(f"synthetic config field 'render.antialias' = {self.render.antialias!r}: must be at least 1")
        return self


def _tiny() -> SynthConfig:
    return SynthConfig(frames=8, image_width=96, image_height=64, lidar_beams=16, lidar_azimuths=256,
                       oncoming_vehicles=2, pedestrians=3)


def _default() -> SynthConfig:
    return SynthConfig()


def _large() -> SynthConfig:
    return SynthConfig(frames=150, image_width=960, image_height=640, lidar_beams=64, lidar_azimuths=2048,
                       lidar_elevation_deg=(-25.0, 15.0), oncoming_vehicles=8, lead_vehicles=2, pedestrians=14,
                       cyclists=2)


PRESETS = {
    "tiny": _tiny,
    "default": _default,
    "large": _large,
}
"""Preset name -> factory of its config. ``tiny``: 3 cameras at 96x64, 8 frames, 16x256 LiDAR
(tests; a few seconds). ``default``: 3 cameras at 480x320 (one with OpenCV distortion, one with a
rolling shutter), 50 frames at 10 Hz, 32x1024 LiDAR. ``large``: 960x640, 150 frames, 64x2048
LiDAR, more traffic."""


def preset(name: str, **overrides) -> SynthConfig:
    """The config of preset ``name`` with fields replaced by ``overrides``."""
    if name not in PRESETS:
        raise RedriveError(f"unknown synthetic preset {name!r}; choose one of: {', '.join(PRESETS)}")
    return replace(PRESETS[name](), **overrides).check()
