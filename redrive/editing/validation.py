"""Checks of an edited scene before anything is rendered: oriented-box overlaps between actors
(and with the ego vehicle) and trajectories leaving the reconstructed region."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from redrive.editing.errors import OutOfRegionError, OverlapError
from redrive.scene.graph import SceneGraph


@dataclass
class EgoBox:
    """The ego vehicle's box in its own frame (x forward, y left, z up)."""

    size: tuple[float, float, float] = (4.6, 1.9, 1.6)
    """Length, width, height, metres."""
    centre: tuple[float, float, float] = (1.3, 0.0, 0.8)
    """Box centre in the vehicle frame (the usual origin is on the ground under the rear axle)."""


def boxes_overlap(pose_a: np.ndarray, size_a: np.ndarray, pose_b: np.ndarray, size_b: np.ndarray,
                  margin_m: float = 0.0) -> np.ndarray:
    """(T,) whether oriented boxes intersect: poses (T, 4, 4) of the box centres, sizes (3,).
    Separating-axis test over the 15 axes of two boxes; ``margin_m`` shrinks both boxes (a
    touching contact is not an overlap)."""
    ra, rb = pose_a[:, :3, :3], pose_b[:, :3, :3]
    ha = np.maximum(np.asarray(size_a, float) / 2.0 - margin_m, 0.0)
    hb = np.maximum(np.asarray(size_b, float) / 2.0 - margin_m, 0.0)
    d = pose_b[:, :3, 3] - pose_a[:, :3, 3]
    axes = [ra[:, :, i] for i in range(3)] + [rb[:, :, j] for j in range(3)]
    axes += [np.cross(ra[:, :, i], rb[:, :, j]) for i in range(3) for j in range(3)]
    separated = np.zeros(len(d), bool)
    for ax in axes:
        norm = np.linalg.norm(ax, axis=1)
        ok = norm > 1e-9  # parallel edges give a zero cross product: no axis there
        u = ax / np.where(ok, norm, 1.0)[:, None]
        proj_a = np.abs(np.einsum("tij,ti->tj", ra, u)) @ ha
        proj_b = np.abs(np.einsum("tij,ti->tj", rb, u)) @ hb
        dist = np.abs(np.einsum("ti,ti->t", d, u))
        separated |= ok & (dist > proj_a + proj_b)
    return ~separated


def check_overlaps(graph: SceneGraph, times: np.ndarray, edited: set[str], ego_changed: bool, ego_box: EgoBox,
                   margin_m: float = 0.05) -> None:
    """Raise ``OverlapError`` for the first pair (involving an edited actor, or the ego when its
    path changed) whose boxes intersect at one of ``times``. Recorded actors are not checked
    against each other: trackers' boxes of real logs often touch."""
    times = np.asarray(times, dtype=np.float64)
    if len(times) == 0:
        return
    ids = list(graph.actors)
    boxes = graph.boxes_at(times, ids)
    present, poses, sizes = boxes["present"], boxes["scene_from_box"], boxes["size"]
    ego_centre = np.eye(4)
    ego_centre[:3, 3] = ego_box.centre
    ego_poses = graph.ego.at(times) @ ego_centre
    index = {a: k for k, a in enumerate(ids)}
    checked: set[tuple[str, str]] = set()
    for a in ids:
        ka = index[a]
        others = ids if a in edited else [b for b in ids if b in edited]
        for b in others:
            if b == a or (b, a) in checked:
                continue
            checked.add((a, b))
            kb = index[b]
            both = present[:, ka] & present[:, kb]
            if not both.any():
                continue
            hit = np.zeros(len(times), bool)
            hit[both] = boxes_overlap(poses[both, ka], sizes[ka], poses[both, kb], sizes[kb], margin_m)
            if hit.any():
                first = int(np.argmax(hit))
                raise OverlapError(a, b, times[first], int(hit.sum()))
        if a in edited or ego_changed:
            on = present[:, ka]
            hit = np.zeros(len(times), bool)
            hit[on] = boxes_overlap(poses[on, ka], sizes[ka], ego_poses[on], np.asarray(ego_box.size), margin_m)
            if hit.any():
                first = int(np.argmax(hit))
                raise OverlapError(a, "ego", times[first], int(hit.sum()))


def check_region(graph: SceneGraph, times: np.ndarray, edited: set[str], ego_changed: bool,
                 recorded: dict[str, np.ndarray] | None = None) -> None:
    """Raise ``OutOfRegionError`` when an edited actor's box centre, or the (changed) ego, is
    outside the scene bounds at one of ``times`` while present. A moved recorded actor may also
    be anywhere within the extent of its recorded track (``recorded[id]`` (2, 3) min/max of its
    centres): the log shows it there (oncoming traffic often starts beyond the bounds)."""
    recorded = recorded or {}
    times = np.asarray(times, dtype=np.float64)
    if len(times) == 0:
        return
    lo, hi = graph.bounds
    for a in edited:
        node = graph.actors[a]
        on = node.exists_at(times)
        if not on.any():
            continue
        pos = node.trajectory.at(times[on])[:, :3, 3]
        out = ((pos < lo) | (pos > hi)).any(axis=1)
        if a in recorded:
            r_lo, r_hi = recorded[a]
            out &= ((pos < np.minimum(lo, r_lo)) | (pos > np.maximum(hi, r_hi))).any(axis=1)
        if out.any():
            k = int(np.argmax(out))
            raise OutOfRegionError(f"actor {a!r}", times[on][k], pos[k], graph.bounds)
    if ego_changed:
        pos = graph.ego.at(times)[:, :3, 3]
        out = ((pos < lo) | (pos > hi)).any(axis=1)
        if out.any():
            k = int(np.argmax(out))
            raise OutOfRegionError("the ego trajectory", times[k], pos[k], graph.bounds)


__all__ = ["EgoBox", "boxes_overlap", "check_overlaps", "check_region"]
