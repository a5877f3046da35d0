"""A tiny noise-free synthetic log generated once per session, and helpers on its truth."""

from __future__ import annotations

from dataclasses import replace

import pytest

from redrive.log import DriveLog
from redrive.log.synth import RenderSettings, build_scene, preset, render_scene
from tests.log.synth.synth_truth import TruthMeshes

SEED = 3


@pytest.fixture(scope="session")
def synth_scene():
    """The tiny preset without range noise, so returns lie exactly on the truth meshes."""
    config = preset("tiny", render=replace(RenderSettings(), range_noise_m=0.0))
    return build_scene(config, SEED, "tiny")


@pytest.fixture(scope="session")
def synth_log(synth_scene, tmp_path_factory) -> DriveLog:
    out = tmp_path_factory.mktemp("synth") / "tiny"
    render_scene(synth_scene, out, progress=False)
    return DriveLog.open(out)


@pytest.fixture(scope="session")
def truth(synth_log) -> TruthMeshes:
    return TruthMeshes(synth_log)
