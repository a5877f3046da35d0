"""The DriveLog: redrive's neutral on-disk log format, its in-memory types, reader and writer."""

from redrive.log.drivelog import DriveLog
from redrive.log.types import (
    ACTOR_CATEGORIES,
    ActorTrack,
    CameraSensor,
    GroundTruth,
    LidarBeams,
    LidarSensor,
    LidarSweep,
    Trajectory,
)
from redrive.log.writer import DriveLogWriter

__all__ = [
    "ACTOR_CATEGORIES",
    "ActorTrack",
    "CameraSensor",
    "DriveLog",
    "DriveLogWriter",
    "GroundTruth",
    "LidarBeams",
    "LidarSensor",
    "LidarSweep",
    "Trajectory",
]
