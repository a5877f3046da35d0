"""Synthetic driving logs with ground truth.

A procedural street (road with lane markings, curbs, sidewalks, textured buildings, poles, trees)
with parked and moving vehicles, cyclists and pedestrians, and an ego vehicle driving through it,
ray-traced into cameras and a spinning LiDAR. The scene description (``SynthScene``) is separate
from rendering it, so edits (remove / move / insert actors, shift the ego path, change the rig)
re-render into the ground truth of that edit. See docs/synth.md.

    from redrive.log.synth import generate, load_scene, remove_actor, render_scene
    log_dir = generate("out/synth", preset="default", seed=0)
    scene = load_scene(log_dir)
    render_scene(remove_actor(scene, "lead_000"), "out/synth-removed")
"""

from redrive.log.synth.assets import ASSETS, AssetSpec, assets_by_category, build_asset
from redrive.log.synth.edits import (
    insert_actor,
    move_actor,
    remove_actor,
    set_actor_trajectory,
    shift_ego,
    with_sensors,
)
from redrive.log.synth.layout import build_scene
from redrive.log.synth.presets import PRESETS, SynthConfig, preset
from redrive.log.synth.render import SceneRenderer, generate, load_scene, render_scene
from redrive.log.synth.scene import SCENE_FILE, RenderSettings, SynthActor, SynthScene

__all__ = [
    "ASSETS",
    "AssetSpec",
    "PRESETS",
    "RenderSettings",
    "SCENE_FILE",
    "SceneRenderer",
    "SynthActor",
    "SynthConfig",
    "SynthScene",
    "assets_by_category",
    "build_asset",
    "build_scene",
    "generate",
    "insert_actor",
    "load_scene",
    "move_actor",
    "preset",
    "remove_actor",
    "render_scene",
    "set_actor_trajectory",
    "shift_ego",
    "with_sensors",
]
