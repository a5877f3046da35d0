"""The renderer's editing hooks: actor layers (moved / repeated / foreign boxes) and per-ray stops."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from redrive.recon.config import preset
from redrive.recon.model import ActorPoses, SceneModel
from redrive.recon.renderer import ActorLayer, model_layers, render_chunked
from redrive.scene.graph import SceneGraph

SMALL = ["background.log2_hashmap_size=14", "actors.log2_hashmap_size=14", "background.levels=6",
         "actors.levels=6", "actors.samples=8", "sampling.max_samples=16", "background.distant_samples=4"]


@pytest.fixture(scope="module")
def model_and_rays(tmp_path_factory):
    from redrive.log.synth import generate

    log = generate(tmp_path_factory.mktemp("hooks") / "log", preset="tiny", seed=3)
    from redrive.log import DriveLog

    scene = SceneGraph.from_log(DriveLog.open(log))
    torch.manual_seed(0)
    model = SceneModel(scene, preset("fast", SMALL), 4).eval()
    with torch.no_grad():  # distinct, non-trivial actor SDFs so that swapping slots shows
        model.actors.grid.table.normal_(0.0, 0.5)
        model.background.grid.table.normal_(0.0, 0.2)
    # rays from above every actor box centre at its first time, straight down through it
    a0 = model.actor_ids[0]
    t = float(scene.actors[a0].trajectory.times[0])
    boxes = scene.boxes_at(np.array([t]), model.actor_ids)
    centres = boxes["scene_from_box"][0, :, :3, 3]
    rng = np.random.default_rng(0)
    pts = np.repeat(centres, 64, axis=0) + rng.uniform(-0.8, 0.8, (len(centres) * 64, 3)) * [1, 1, 0]
    o = torch.from_numpy(pts + [0.0, 0.0, 6.0]).float()
    d = torch.tensor([[0.05, 0.0, -1.0]]).expand(o.shape[0], 3)
    d = torch.nn.functional.normalize(d, dim=-1).contiguous()
    times = torch.full((o.shape[0],), t)
    return model, scene, o, d, times


def _render(model, o, d, times, **kw):
    return render_chunked(model, o, d, times, 4096, **kw)


def test_model_layers_and_masks_match_the_default_path(model_and_rays):
    model, scene, o, d, times = model_and_rays
    ref = _render(model, o, d, times)
    same = _render(model, o, d, times, layers=model_layers(model))
    for k in ref:
        torch.testing.assert_close(same[k], ref[k])
    keep = torch.zeros(len(model.actor_ids), dtype=torch.bool)
    keep[0] = True
    masked = _render(model, o, d, times, actor_mask=keep)
    only_first = ActorPoses(scene, model.actor_ids[:1], model.cfg.actors.time_step_s, field_index=[0])
    layered = _render(model, o, d, times, layers=[ActorLayer(model.actors, only_first)])
    for k in ref:
        torch.testing.assert_close(layered[k], masked[k])
    # removing actors changes the rays through them
    assert (masked["rgb"] - ref["rgb"]).abs().max() > 1e-3


def test_field_index_renders_another_slot_in_a_box(model_and_rays):
    model, scene, o, d, times = model_and_rays
    ids = model.actor_ids[:1]
    step = model.cfg.actors.time_step_s
    own = _render(model, o, d, times, layers=[ActorLayer(model.actors, ActorPoses(scene, ids, step, [0]))])
    other = _render(model, o, d, times, layers=[ActorLayer(model.actors, ActorPoses(scene, ids, step, [1]))])
    through = slice(0, 64)  # the rays aimed at actor 0's box
    assert (own["rgb"][through] - other["rgb"][through]).abs().max() > 1e-3
    with pytest.raises(ValueError, match="field_index"):
        ActorPoses(scene, ids, step, [0, 1])


def test_far_stops_rays_and_leaves_the_rest_to_the_caller(model_and_rays):
    model, scene, o, d, times = model_and_rays
    ref = _render(model, o, d, times)
    unlimited = _render(model, o, d, times, far=torch.full((o.shape[0],), float("inf")))
    for k in ref:
        torch.testing.assert_close(unlimited[k], ref[k])
    far = torch.full((o.shape[0],), 5.8)
    stopped = _render(model, o, d, times, far=far)
    # (opacity is not compared with the unstopped render: the box samples are re-spaced)
    hit = stopped["opacity"] > 0.05
    assert hit.any()
    assert (stopped["depth"][hit] <= 5.8 + 1e-3).all()
    md = stopped["median_depth"]
    assert ((md <= 5.8 + 1e-3) | torch.isinf(md)).all()
    # no sky on stopped rays: a black sky would not change them
    with torch.no_grad():
        model.sky.net[-1].bias.fill_(-30.0)
        black = _render(model, o, d, times, far=far)
        model.sky.net[-1].bias.zero_()
    torch.testing.assert_close(black["rgb"], stopped["rgb"])
