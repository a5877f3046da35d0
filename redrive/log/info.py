"""`redrive info LOG`: a human-readable summary of a DriveLog."""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

import numpy as np

from redrive.log.drivelog import DriveLog


def summarize(log: DriveLog) -> str:
    """Sensors, frames, duration, actors by class and the spatial extent of the drive."""
    t0, t1 = log.time_span
    positions = log.ego.poses[:, :3, 3]
    path_length = float(np.linalg.norm(np.diff(positions, axis=0), axis=1).sum())
    lo, hi = positions.min(axis=0), positions.max(axis=0)
    lines = [
        f"DriveLog {log.name!r} at {log.root}",
        f"  source:   {', '.join(f'{k}={v}' for k, v in log.source.items() if not isinstance(v, (dict, list))) or '-'}",
        f"  duration: {t1 - t0:.2f} s ({len(log.ego)} ego poses, path {path_length:.1f} m)",
        f"  extent:   x {lo[0]:.1f}..{hi[0]:.1f}  y {lo[1]:.1f}..{hi[1]:.1f}  z {lo[2]:.1f}..{hi[2]:.1f} m (ego path)",
        f"  cameras:  {len(log.cameras)}",
    ]
    for cam in log.cameras.values():
        intr = cam.intrinsics
        rs = f", rolling shutter {cam.rolling_shutter_s * 1e3:.1f} ms" if cam.rolling_shutter_s else ""
        lines.append(f"    {cam.name:<20} {intr.model:<8} {intr.width}x{intr.height}, {len(cam)} frames{rs}")
    lines.append(f"  lidars:   {len(log.lidars)}")
    for lid in log.lidars.values():
        beams = f"{lid.beams.beam_count} beams x {lid.beams.azimuth_count}" if lid.beams else "no beam table"
        lines.append(f"    {lid.name:<20} {beams}, {len(lid)} sweeps")
    by_class = Counter(a.category for a in log.actors.values())
    dynamic = sum(a.dynamic for a in log.actors.values())
    classes = ", ".join(f"{n} {c}" for c, n in sorted(by_class.items())) or "none"
    lines.append(f"  actors:   {len(log.actors)} ({dynamic} dynamic): {classes}")
    gt = log.ground_truth
    if gt is not None:
        parts = []
        if gt.static_mesh:
            parts.append("static mesh")
        if gt.actor_meshes:
            parts.append(f"{len(gt.actor_meshes)} actor meshes")
        if gt.camera_frames:
            parts.append(f"depth+instance for {len(gt.camera_frames)} cameras")
        lines.append(f"  truth:    {', '.join(parts) or 'none'}")
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("log", type=Path, help="DriveLog directory")


def run(args: argparse.Namespace) -> int:
    print(summarize(DriveLog.open(args.log)))
    return 0
