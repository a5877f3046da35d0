"""In-memory description of a DriveLog: sensors, trajectories, actors, sweeps.

Times in memory are float64 seconds relative to the log's ``start_time_ns`` (on disk they are
int64 nanoseconds). Poses are float64 4x4 ``world_from_<frame>`` matrices.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from redrive.geometry.cameras import CameraModel
from redrive.geometry.se3 import interpolate_poses

ACTOR_CATEGORIES = (
    "car",
    "truck",
    "bus",
    "trailer",
    "motorcycle",
    "bicycle",
    "pedestrian",
    "animal",
    "barrier",
    "traffic_cone",
    "other",
)
"""Actor classes of the DriveLog; readers map each source's taxonomy onto these."""

ROLLING_SHUTTER_DIRECTIONS = ("top_to_bottom", "bottom_to_top", "left_to_right", "right_to_left")


@dataclass
class Trajectory:
    """Poses of one frame over time, interpolated along SE(3) geodesics between samples."""

    times: np.ndarray
    """(N,) float64 seconds since the log start, strictly increasing."""
    poses: np.ndarray
    """(N, 4, 4) float64 ``world_from_<frame>``."""

    def __post_init__(self) -> None:
        self.times = np.atleast_1d(np.asarray(self.times, dtype=np.float64))
        self.poses = np.asarray(self.poses, dtype=np.float64).reshape(-1, 4, 4)
        if len(self.times) != len(self.poses) or len(self.times) == 0:
            raise ValueError(f"a trajectory needs as many poses as times (>= 1), got {len(self.poses)} and {len(self.times)}")

    def at(self, t: np.ndarray | float) -> np.ndarray:
        """Pose(s) (..., 4, 4) at time(s) ``t``; held constant outside the sampled span."""
        return interpolate_poses(self.times, self.poses, t)

    @property
    def span(self) -> tuple[float, float]:
        return float(self.times[0]), float(self.times[-1])

    def __len__(self) -> int:
        return len(self.times)


@dataclass
class ActorTrack:
    """One tracked actor: a box of fixed size moving along a trajectory."""

    id: str
    """Stable identifier, unique within the log."""
    category: str
    """One of ``ACTOR_CATEGORIES``."""
    size: np.ndarray
    """(3,) float64 box length (along box x), width (y), height (z), metres."""
    trajectory: Trajectory
    """``world_from_box`` over time; the box frame is centred on the box, x forward, z up."""
    dynamic: bool
    """Whether the actor moves during the log (static actors may still be tracked)."""

    def exists_at(self, t: np.ndarray | float) -> np.ndarray:
        """Whether the actor is in the scene at time(s) ``t``.

        A dynamic actor is there within its track's span; a static one for the whole drive
        (a parked car does not vanish when the tracker stops seeing it).
        """
        t = np.asarray(t, dtype=np.float64)
        if not self.dynamic:
            return np.ones(t.shape, dtype=bool)
        t0, t1 = self.trajectory.span
        return (t >= t0) & (t <= t1)

    def box_corners(self, t: float) -> np.ndarray:
        """(8, 3) world coordinates of the box corners at time ``t``."""
        signs = np.array([[sx, sy, sz] for sx in (1, -1) for sy in (1, -1) for sz in (1, -1)])
        local = signs * (self.size / 2.0)
        pose = self.trajectory.at(t)
        return local @ pose[:3, :3].T + pose[:3, 3]


@dataclass
class CameraSensor:
    """A camera on the vehicle and the times of its frames."""

    name: str
    """Sensor name, unique among the log's sensors."""
    intrinsics: CameraModel
    """Projection model, resolution and distortion."""
    vehicle_from_camera: np.ndarray
    """(4, 4) float64 extrinsics; camera frame is OpenCV's (x right, y down, z forward)."""
    frame_times: np.ndarray
    """(F,) float64 seconds: capture time of each frame (the middle row for rolling shutter)."""
    rolling_shutter_s: float = 0.0
    """Readout time from the first to the last row (or column); 0 for a global shutter."""
    rolling_shutter_direction: str = "top_to_bottom"
    """Readout order, one of ``ROLLING_SHUTTER_DIRECTIONS``."""

    def pixel_time_offsets(self, uv: np.ndarray) -> np.ndarray:
        """(N,) seconds by which pixels (N, 2) are captured after the frame time.

        The frame time is the capture of the middle row (or column), so offsets span
        ``[-readout/2, +readout/2]``.
        """
        if self.rolling_shutter_s == 0.0:
            return np.zeros(len(uv))
        w, h = self.intrinsics.width, self.intrinsics.height
        direction = self.rolling_shutter_direction
        coord, extent = (uv[:, 1], h) if direction.endswith(("top", "bottom")) else (uv[:, 0], w)
        frac = (coord + 0.5) / extent
        if direction in ("bottom_to_top", "right_to_left"):
            frac = 1.0 - frac
        return (frac - 0.5) * self.rolling_shutter_s

    def __len__(self) -> int:
        return len(self.frame_times)


@dataclass
class LidarBeams:
    """How a spinning LiDAR fires: one row per laser."""

    elevations_deg: np.ndarray
    """(B,) elevation of each beam above the sensor's xy-plane, degrees."""
    azimuth_count: int
    """Firings per beam per revolution (the columns of the range image)."""
    azimuth_offsets_deg: np.ndarray | None = None
    """(B,) per-beam horizontal offset, degrees, or None when all beams fire in one column."""
    rotation_hz: float = 10.0
    """Revolutions per second."""
    min_range_m: float = 0.0
    """Returns closer than this are not reported."""
    max_range_m: float = 200.0
    """Returns farther than this are not reported."""

    @property
    def beam_count(self) -> int:
        return len(self.elevations_deg)


@dataclass
class LidarSensor:
    """A LiDAR on the vehicle and the times of its sweeps."""

    name: str
    """Sensor name, unique among the log's sensors."""
    vehicle_from_lidar: np.ndarray
    """(4, 4) float64 extrinsics."""
    sweep_times: np.ndarray
    """(S,) float64 seconds: reference time of each sweep (its start for spinning sensors)."""
    beams: LidarBeams | None = None
    """Beam layout when the source describes it."""

    def __len__(self) -> int:
        return len(self.sweep_times)


@dataclass
class LidarSweep:
    """The returns of one sweep, in the sensor frame at each return's own time (not de-skewed).

    A point ``p_i`` is in the world at ``ego.at(t_i) @ vehicle_from_lidar @ p_i``.
    """

    points: np.ndarray
    """(N, 3) float32 sensor-frame coordinates, metres."""
    times: np.ndarray
    """(N,) float64 seconds since the log start."""
    intensity: np.ndarray
    """(N,) float32 return intensity, normalised to [0, 1] where the source's scale is known."""
    beam: np.ndarray
    """(N,) int16 beam (laser) index, -1 where unknown."""
    drop_directions: np.ndarray | None = None
    """(M, 3) float32 unit directions (sensor frame) of rays fired without a return, if known."""
    drop_times: np.ndarray | None = None
    """(M,) float64 seconds: firing times of the dropped rays."""
    drop_beam: np.ndarray | None = None
    """(M,) int16 beam index of the dropped rays."""

    def __len__(self) -> int:
        return len(self.points)


@dataclass
class GroundTruth:
    """Optional truth saved with a log (synthetic logs have it; real ones usually don't)."""

    static_mesh: str | None = None
    """Relative path of the static scene's mesh (PLY), world frame."""
    actor_meshes: dict[str, str] = field(default_factory=dict)
    """Actor id -> relative path of its mesh (PLY) in its box frame."""
    camera_frames: dict[str, list[str]] = field(default_factory=dict)
    """Camera name -> per-frame relative paths of npz files with ``depth`` (H, W) float32
    z-depth (inf where no surface) and ``instance`` (H, W) int32 (0 = no actor, k = the actor
    ``instance_actors[k - 1]``)."""
    instance_actors: list[str] = field(default_factory=list)
    """Actor ids in instance-mask order."""
