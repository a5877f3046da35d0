"""Editing a reconstructed scene: remove, move and insert actors (reconstructed ones from any
run, or meshes), change the ego path, validate, and render cameras and LiDAR with labels that
follow the edit. See docs/editing.md.

    import redrive
    scene = redrive.load("runs/drive")
    scene.remove("lead_000")
    rendered = scene.render(["front"])

Importing this package does not import torch; rendering does.
"""

from redrive.editing.assets import Asset, AssetLibrary
from redrive.editing.edits import Edit
from redrive.editing.errors import (
    AssetError,
    DuplicateActorError,
    EditError,
    OutOfRegionError,
    OverlapError,
    ScenarioError,
    UnknownActorError,
)
from redrive.editing.meshes import Lighting
from redrive.editing.scene import ActorInfo, EditableScene, load
from redrive.editing.trajectories import (
    constant_velocity,
    follow_ego,
    heading_from_motion,
    static_pose,
    time_shift,
    waypoint_spline,
)
from redrive.editing.validation import EgoBox

__all__ = [
    "ActorInfo", "Asset", "AssetError", "AssetLibrary", "DuplicateActorError", "Edit", "EditError", "EditableScene",
    "EgoBox", "Lighting", "OutOfRegionError", "OverlapError", "ScenarioError", "UnknownActorError", "constant_velocity",
    "follow_ego", "heading_from_motion", "load", "static_pose", "time_shift", "waypoint_spline",
]
