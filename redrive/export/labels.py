"""KITTI labels of one camera frame from the log's actor tracks.

For every actor present at the frame's time whose box projects into the image:

- **bbox**: the box's projected extent (corners, clipped at the near plane), clipped to the image
  (amodal: occluded parts count, as KITTI's annotators drew them).
- **truncated**: the fraction of that projected extent outside the image.
- **occluded**: 0/1/2 from the fraction of the box's in-image pixels covered by something
  nearer than the box. "Nearer" is read from the log's ground-truth depth and instance masks
  when it has them (any surface, static scene included, of another actor or of no actor, closer
  than the point where the pixel's ray enters the box), otherwise from a z-buffer of the other
  actors' boxes (static scene occluders are then unknown). Box pixels where the ray misses the
  actor's own surface (around a car's roof) see what lies behind and count as visible.
- **location, dimensions, rotation_y, alpha**: ``_kitti_formats.label_from_box`` in the camera
  frame (which is the KITTI rect frame of the exported data).

Actors whose box is entirely covered (visible fraction 0) are left out, as KITTI leaves out what
its annotators could not see.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from redrive.export.common import Rectifier
from redrive.geometry.cameras import CameraModel
from redrive.geometry.se3 import invert
from redrive.log import DriveLog
from redrive.log.readers import _kitti_formats as kf

NEAR_M = 0.1
"""Boxes are clipped at this depth in front of the camera."""
OCCLUDED_LEVELS = (0.1, 0.5)
"""Occluded fraction below the first -> 0 (fully visible), below the second -> 1 (partly),
else 2 (largely occluded)."""
DEPTH_MARGIN = 0.02
"""A surface occludes a box pixel when nearer than its entry depth by more than this fraction
(plus 5 cm), so that the actor's own surface on the box face never counts."""


@dataclass
class FrameLabel:
    """A label with its provenance."""

    actor_id: str
    label: kf.Label
    visible_fraction: float
    """Fraction of the box's in-image pixels not covered by anything nearer."""
    occlusion_source: str
    """``instance_masks`` (ground truth / render) or ``box_zbuffer``."""


def _clipped_corners(cam_from_box: np.ndarray, size: np.ndarray) -> np.ndarray:
    """Box corners (camera frame) in front of the near plane, plus the edges' crossings of it."""
    signs = np.array([[sx, sy, sz] for sx in (1, -1) for sy in (1, -1) for sz in (1, -1)], float)
    corners = (signs * size / 2.0) @ cam_from_box[:3, :3].T + cam_from_box[:3, 3]
    front = corners[:, 2] >= NEAR_M
    points = [corners[front]]
    for i in range(8):
        for j in range(i + 1, 8):
            if np.count_nonzero(signs[i] != signs[j]) == 1 and front[i] != front[j]:
                a, b = corners[i], corners[j]
                s = (NEAR_M - a[2]) / (b[2] - a[2])
                points.append((a + s * (b - a))[None])
    return np.concatenate(points, 0)


def _entry_depth(cam_from_box: np.ndarray, size: np.ndarray, intr: CameraModel, box: tuple[int, int, int, int]) -> np.ndarray:
    """Z-depth where each pixel's ray enters the box, over the pixel window ``box``
    (u0, v0, u1, v1 inclusive-exclusive); inf where the ray misses it."""
    u0, v0, u1, v1 = box
    v, u = np.mgrid[v0:v1, u0:u1].astype(np.float64)
    # Rays with unit z: the ray parameter is the z-depth (the camera is pinhole here).
    d = np.stack([(u - intr.cx) / intr.fx, (v - intr.cy) / intr.fy, np.ones_like(u)], -1)
    box_from_cam = invert(cam_from_box)
    origin = box_from_cam[:3, 3]
    dirs = d @ box_from_cam[:3, :3].T
    half = size / 2.0
    with np.errstate(divide="ignore", invalid="ignore"):
        inv = 1.0 / dirs
        t1 = (-half - origin) * inv
        t2 = (half - origin) * inv
    tmin = np.nanmax(np.minimum(t1, t2), axis=-1)
    tmax = np.nanmin(np.maximum(t1, t2), axis=-1)
    entry = np.maximum(tmin, NEAR_M)
    hit = tmax >= entry
    return np.where(hit, entry, np.inf)


def frame_labels(log: DriveLog, camera: str, index: int, use_ground_truth: bool = True,
                 rectifier: Rectifier | None = None) -> list[FrameLabel]:
    """KITTI labels of frame ``index`` of ``camera`` (boxes in that camera's frame), in the
    pixels of the camera's pinhole version (its own when it is pinhole: see ``Rectifier``)."""
    sensor = log.camera(camera)
    rectifier = rectifier or Rectifier(sensor.intrinsics)
    intr = rectifier.target
    t = float(sensor.frame_times[index])
    camera_from_world = invert(log.world_from_camera(camera, t))
    w, h = intr.width, intr.height

    candidates = []
    for actor in log.actors.values():
        if not actor.exists_at(t):
            continue
        cam_from_box = camera_from_world @ actor.trajectory.at(t)
        points = _clipped_corners(cam_from_box, actor.size)
        if len(points) == 0:
            continue
        uv = points[:, :2] / points[:, 2:3] * [intr.fx, intr.fy] + [intr.cx, intr.cy]
        full = np.array([uv[:, 0].min(), uv[:, 1].min(), uv[:, 0].max(), uv[:, 1].max()])
        clipped = np.array([max(full[0], 0.0), max(full[1], 0.0), min(full[2], w - 1.0), min(full[3], h - 1.0)])
        if clipped[2] <= clipped[0] or clipped[3] <= clipped[1]:
            continue
        area = (full[2] - full[0]) * (full[3] - full[1])
        truncated = 1.0 - (clipped[2] - clipped[0]) * (clipped[3] - clipped[1]) / area if area > 0 else 1.0
        window = (int(np.floor(clipped[0])), int(np.floor(clipped[1])), int(np.ceil(clipped[2])) + 1, int(np.ceil(clipped[3])) + 1)
        entry = _entry_depth(cam_from_box, actor.size, intr, window)
        if not np.isfinite(entry).any():
            continue
        candidates.append((actor, cam_from_box, clipped, float(np.clip(truncated, 0.0, 1.0)), window, entry))

    gt = log.ground_truth
    masks = None
    if use_ground_truth and gt is not None and camera in gt.camera_frames and gt.instance_actors and candidates:
        masks = log.load_gt_camera_frame(camera, index)
        if not rectifier.identity:
            # Masks are resampled like the image, nearest neighbour (labels must not blend).
            uv = np.round(rectifier.map).astype(np.int64)
            inside = (uv[..., 0] >= 0) & (uv[..., 0] < w) & (uv[..., 1] >= 0) & (uv[..., 1] < h)
            u, v = np.clip(uv[..., 0], 0, w - 1), np.clip(uv[..., 1], 0, h - 1)
            masks = {"depth": np.where(inside, masks["depth"][v, u], np.inf),
                     "instance": np.where(inside, masks["instance"][v, u], 0)}
    zbuffer = None
    if masks is None and candidates:
        zbuffer = np.full((h, w), np.inf)
    if zbuffer is not None:
        for actor, _, _, _, (u0, v0, u1, v1), entry in candidates:
            zbuffer[v0:v1, u0:u1] = np.minimum(zbuffer[v0:v1, u0:u1], entry)

    labels = []
    for actor, cam_from_box, clipped, truncated, (u0, v0, u1, v1), entry in candidates:
        hit = np.isfinite(entry)
        margin = np.where(hit, entry * DEPTH_MARGIN + 0.05, 0.0)
        if masks is not None:
            k = gt.instance_actors.index(actor.id) + 1 if actor.id in gt.instance_actors else -1
            depth = masks["depth"][v0:v1, u0:u1]
            inst = masks["instance"][v0:v1, u0:u1]
            covered = hit & (depth < entry - margin) & (inst != k)
            source = "instance_masks"
        else:
            covered = hit & (zbuffer[v0:v1, u0:u1] < entry - margin)
            source = "box_zbuffer"
        visible = 1.0 - covered.sum() / hit.sum()
        if visible <= 0.0:
            continue
        occluded_fraction = 1.0 - visible
        occluded = int(np.searchsorted(OCCLUDED_LEVELS, occluded_fraction, side="right"))
        location, dims, rotation_y = kf.label_from_box(cam_from_box, actor.size)
        label = kf.Label(
            type=kf.CATEGORY_TO_KITTI[actor.category], truncated=truncated, occluded=occluded,
            alpha=kf.alpha_from(rotation_y, location), bbox=clipped, dimensions=dims, location=location,
            rotation_y=float(kf.wrap_angle(rotation_y)))
        labels.append(FrameLabel(actor.id, label, float(visible), source))
    return labels
