"""Procedural generation of a scene description from a preset config and a seed."""

from __future__ import annotations

import numpy as np

from redrive.geometry.cameras import CameraModel
from redrive.geometry.se3 import make_pose, yaw_rotation
from redrive.log.synth.assets import CLOTHING_COLORS, VEHICLE_COLORS, AssetSpec, build_asset
from redrive.log.synth.presets import SynthConfig
from redrive.log.synth.scene import (
    BuildingSpec,
    PoleSpec,
    RoadSpec,
    StaticLayout,
    SynthActor,
    SynthScene,
    TreeSpec,
)
from redrive.log.types import CameraSensor, LidarBeams, LidarSensor, Trajectory

WALL_COLORS = [(0.72, 0.62, 0.5), (0.6, 0.34, 0.26), (0.78, 0.76, 0.7), (0.5, 0.52, 0.55), (0.82, 0.72, 0.55),
               (0.45, 0.4, 0.36), (0.66, 0.7, 0.74)]
WINDOW_COLORS = [(0.12, 0.16, 0.22), (0.2, 0.25, 0.3), (0.1, 0.12, 0.14)]


def planar_pose(x: np.ndarray, y: np.ndarray, z: np.ndarray | float, yaw: np.ndarray) -> np.ndarray:
    """(N, 4, 4) poses from positions and yaw angles."""
    x = np.asarray(x, float)
    return make_pose(yaw_rotation(np.broadcast_to(yaw, x.shape)), np.stack([x, np.broadcast_to(y, x.shape),
                                                                           np.broadcast_to(z, x.shape)], -1))


def straight_track(times: np.ndarray, x0: float, y: float, z: float, heading: float, speed: float) -> Trajectory:
    """Constant-speed motion along a heading (radians) from (x0, y)."""
    d = speed * times
    return Trajectory(times, planar_pose(x0 + d * np.cos(heading), y + d * np.sin(heading), z, np.full(len(times), heading)))


def _colour(rng: np.random.Generator, palette) -> tuple[float, float, float]:
    base = np.asarray(palette[rng.integers(len(palette))])
    return tuple(float(c) for c in np.clip(base * rng.uniform(0.9, 1.1, 3), 0, 1))


def _camera_extrinsics(x: float, y: float, z: float, yaw_deg: float, pitch_deg: float) -> np.ndarray:
    # Camera axes (x right, y down, z forward) expressed in the vehicle frame for a camera looking
    # along vehicle +x, then yawed left and pitched down.
    base = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])
    p = np.radians(pitch_deg)
    pitch = np.array([[np.cos(p), 0, np.sin(p)], [0, 1, 0], [-np.sin(p), 0, np.cos(p)]])  # nose down for p > 0
    rot = yaw_rotation(np.radians(yaw_deg)) @ pitch @ base
    return make_pose(rot, np.array([x, y, z]))


def make_rig(config: SynthConfig) -> tuple[list[CameraSensor], list[LidarSensor]]:
    """Three cameras (front pinhole, front-left OpenCV-distorted, front-right pinhole with a rolling
    shutter) and one spinning LiDAR on the roof; frames mid-sweep, sweeps every 1 / rate_hz."""
    w, h = config.image_width, config.image_height
    f = (w / 2) / np.tan(np.radians(config.horizontal_fov_deg) / 2)
    cx, cy = (w - 1) / 2, (h - 1) / 2
    period = 1.0 / config.rate_hz
    frame_times = (np.arange(config.frames) + 0.5) * period
    yaw = config.side_camera_yaw_deg
    cameras = [
        CameraSensor("front", CameraModel("pinhole", w, h, f, f, cx, cy), _camera_extrinsics(1.6, 0.0, 1.55, 0.0, 3.0),
                     frame_times.copy()),
        CameraSensor("front_left", CameraModel("opencv", w, h, f * 0.9, f * 0.9, cx + 1.5, cy - 1.0, (-0.12, 0.02, 0.0006, -0.0004)),
                     _camera_extrinsics(1.3, 0.45, 1.55, yaw, 4.0), frame_times.copy()),
        CameraSensor("front_right", CameraModel("pinhole", w, h, f, f, cx, cy), _camera_extrinsics(1.3, -0.45, 1.55, -yaw, 4.0),
                     frame_times.copy(), rolling_shutter_s=config.rolling_shutter_s),
    ]
    lo, hi = config.lidar_elevation_deg
    beams = LidarBeams(np.linspace(lo, hi, config.lidar_beams), config.lidar_azimuths, None, config.rate_hz, 0.5,
                       config.lidar_max_range_m)
    lidar = LidarSensor("lidar_top", make_pose(np.eye(3), np.array([0.4, 0.0, 1.95])), np.arange(config.frames) * period, beams)
    return cameras, [lidar]


def build_scene(config: SynthConfig, seed: int = 0, preset_name: str = "custom") -> SynthScene:
    """A street scene with traffic and an ego drive, generated deterministically from ``seed``."""
    config.check()
    rng = np.random.default_rng([seed, 20261123])
    period = 1.0 / config.rate_hz
    t_end = (config.frames + 1) * period
    cameras, lidars = make_rig(config)
    road = RoadSpec(x_min=-80.0, x_max=config.ego_speed_mps * t_end + 160.0)
    lw, cy, by, curb = road.lane_width, road.curb_y, road.building_y, road.curb_height

    # Ego: right lane, a gentle speed change and a slow sway inside the lane (so the path is not
    # a perfect line and rotations are exercised).
    t_ego = np.arange(0.0, t_end + 1e-9, 0.02)
    v = config.ego_speed_mps
    sway_period = 7.0
    x = v * (t_ego + 0.04 * np.sin(2 * np.pi * t_ego / 5.0) * 5.0 / (2 * np.pi))
    y = -lw / 2 + 0.15 * np.sin(2 * np.pi * t_ego / sway_period)
    dx = v * (1 + 0.04 * np.cos(2 * np.pi * t_ego / 5.0))
    dy = 0.15 * 2 * np.pi / sway_period * np.cos(2 * np.pi * t_ego / sway_period)
    ego = Trajectory(t_ego, planar_pose(x, y, 0.0, np.arctan2(dy, dx)))

    layout = StaticLayout(road=road)
    for side in (1, -1):
        xb = road.x_min - 20.0
        while xb < road.x_max + 20.0:
            width = rng.uniform(9.0, 24.0)
            floor = rng.uniform(2.9, 3.5)
            bay = rng.uniform(2.4, 3.6)
            layout.buildings.append(BuildingSpec(
                side=side, x0=float(xb), x1=float(xb + width), depth=float(rng.uniform(8, 14)),
                height=float(floor * rng.integers(2, 7) + rng.uniform(0.3, 1.0)),
                wall_color=_colour(rng, WALL_COLORS), window_color=_colour(rng, WINDOW_COLORS),
                floor_height=float(floor), bay_width=float(bay), window_width=float(bay * rng.uniform(0.4, 0.6)),
                window_height=float(rng.uniform(1.2, 1.8))))
            xb += width + (rng.uniform(2.5, 6.0) if rng.random() < 0.35 else 0.0)
        for i, xp in enumerate(np.arange(road.x_min + 10.0 + (12.5 if side < 0 else 0.0), road.x_max - 5.0, 25.0)):
            layout.poles.append(PoleSpec(float(xp), float(side * (cy + 0.6)), 7.0))
        xt = road.x_min + rng.uniform(3, 9)
        while xt < road.x_max - 5.0:
            if all(abs(p.x - xt) > 2.5 for p in layout.poles if np.sign(p.y) == side):
                layout.trees.append(TreeSpec(float(xt), float(side * (cy + 1.1)), float(rng.uniform(2.2, 3.2)),
                                             float(rng.uniform(1.3, 2.2)), int(rng.integers(1 << 30))))
            xt += rng.uniform(9.0, 16.0)

    times = np.arange(0.0, t_end + 1e-9, 0.1)
    actors: list[SynthActor] = []

    def add(prefix: str, asset: AssetSpec, traj: Trajectory, dynamic: bool) -> None:
        count = sum(a.id.startswith(prefix + "_") for a in actors)
        actors.append(SynthActor(f"{prefix}_{count:03d}", asset, traj, dynamic))

    car_assets, car_weights = ["sedan", "suv", "van", "truck"], [0.5, 0.28, 0.15, 0.07]
    for side in (-1, 1):
        # Parked cars where the sensors can see them: from behind the start to well past the end.
        xp = -30.0 + rng.uniform(0, 6)
        while xp < v * t_end + 90.0:
            spec = AssetSpec(str(rng.choice(car_assets, p=car_weights)), _colour(rng, VEHICLE_COLORS))
            size = build_asset(spec).size
            xc = xp + size[0] / 2
            heading = (0.0 if side < 0 else np.pi) + rng.uniform(-0.03, 0.03)
            pose = planar_pose(np.array([xc, xc]), side * (lw + road.parking_width / 2 + rng.uniform(-0.1, 0.1)),
                               size[2] / 2, np.array([heading, heading]))
            add("parked", spec, Trajectory(np.array([0.0, t_end]), pose), False)
            xp += size[0] + rng.exponential(config.parked_spacing_m - 4.5) + 1.0

    for i in range(config.lead_vehicles):
        spec = AssetSpec(str(rng.choice(car_assets[:3])), _colour(rng, VEHICLE_COLORS))
        size = build_asset(spec).size
        add("lead", spec, straight_track(times, 14.0 + 22.0 * i, -lw / 2, size[2] / 2, 0.0, v * rng.uniform(0.95, 1.08)), True)
    for i in range(config.oncoming_vehicles):
        spec = AssetSpec(str(rng.choice(car_assets, p=car_weights)), _colour(rng, VEHICLE_COLORS))
        size = build_asset(spec).size
        x0 = 35.0 + i * rng.uniform(18.0, 30.0) + (v - 7.0) * t_end
        add("oncoming", spec, straight_track(times, x0, lw / 2 - 0.1, size[2] / 2, np.pi, rng.uniform(6.5, 10.5)), True)
    for i in range(config.cyclists):
        spec = AssetSpec("cyclist", _colour(rng, CLOTHING_COLORS))
        size = build_asset(spec).size
        add("cyclist", spec, straight_track(times, 30.0 + 25.0 * i + v * t_end * 0.5, lw - 0.25, size[2] / 2, np.pi,
                                            rng.uniform(3.5, 5.0)), True)
    bands = np.linspace(cy + 1.7, by - 0.6, 4)
    for i in range(config.pedestrians):
        side = 1 if i % 2 == 0 else -1
        spec = AssetSpec("pedestrian", _colour(rng, CLOTHING_COLORS))
        size = build_asset(spec).size
        heading = 0.0 if rng.random() < 0.5 else np.pi
        x0 = rng.uniform(-2.0, v * t_end + 35.0)
        y = side * (bands[(i // 2) % len(bands)] + rng.uniform(-0.15, 0.15))
        add("ped", spec, straight_track(times, x0, y, curb + size[2] / 2, heading, rng.uniform(1.1, 1.6)), True)

    return SynthScene(name=f"synth-{preset_name}-seed{seed}", seed=int(seed), preset=preset_name, layout=layout,
                      actors=actors, ego=ego, cameras=cameras, lidars=lidars, render=config.render)
