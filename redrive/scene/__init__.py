"""The scene graph: background region, actors (box + trajectory), ego path, sensor rig.

Pure data and interpolation, no neural code: reconstruction attaches fields to its nodes and
editing changes the graph, never the fields' weights.
"""

from redrive.scene.graph import ActorNode, SceneGraph, SensorNode

__all__ = ["ActorNode", "SceneGraph", "SensorNode"]
