"""``redrive render``: re-simulate a reconstruction's sensors along a trajectory into a DriveLog.

Sensors (``--cameras``, ``--lidars``): comma-separated terms, each a sensor name of the run's
recorded rig, a JSON file of specs (one spec, a list, or ``{"cameras": [...], "lidars": [...]}``;
see docs/sensors.md), or for LiDARs a library model name (``pandar64``, ``os1-128``...) mounted
where the recorded LiDAR sits. ``none`` renders no sensor of that kind. Default: the recorded rig.

Frame times: a recorded sensor keeps its own frame / sweep times; a new camera takes the first
recorded camera's, a new LiDAR the first recorded LiDAR's (10 Hz over the drive when the log
has none). A trajectory file restricts them to its time span (10 Hz over the span when no
recorded time falls inside). ``--frames A:B``, ``--every N`` and ``--max-frames N`` then select
frame indices (in that order) of every sensor.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import numpy as np

from redrive.errors import LogFormatError, RedriveError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run", help="reconstruction run directory (redrive recon ... --out RUN)")
    parser.add_argument("--out", required=True, help="output directory (a DriveLog with previews/ and points/)")
    parser.add_argument("--trajectory", default="original",
                        help="original | lane-shift:+2.0 (left positive) | height:+0.5 | FILE.csv/json (combinable with commas)")
    parser.add_argument("--cameras", default=None, help="camera names of the rig, SPEC.json, or none (default: the rig's cameras)")
    parser.add_argument("--lidars", default=None,
                        help="LiDAR names of the rig, library models (pandar64, vlp-16, ...), SPEC.json, or none "
                             "(default: the rig's LiDARs)")
    parser.add_argument("--frames", default=None, metavar="A:B", help="frame index range (Python slice, e.g. 0:20)")
    parser.add_argument("--every", type=int, default=1, help="keep every N-th frame")
    parser.add_argument("--max-frames", type=int, default=0, help="at most N frames per sensor (0: all)")
    parser.add_argument("--scale", type=float, default=1.0, help="camera resolution factor (default 1: full resolution)")
    path = parser.add_mutually_exclusive_group()
    path.add_argument("--surface", dest="surface", action="store_true", default=True,
                      help="LiDAR by the surface path: meshes ray-cast with Embree (default)")
    path.add_argument("--volume", dest="surface", action="store_false", help="LiDAR by volume rendering")
    parser.add_argument("--camera-full-volume", action="store_true",
                        help="volume render camera rays along their whole length (default: only a band around "
                             "the first mesh surface where a ray hits one; see docs/render.md)")
    parser.add_argument("--drop", choices=("threshold", "sample"), default="threshold",
                        help="ray drop: drop_prob > 0.5 (default) or sampled with --seed")
    parser.add_argument("--seed", type=int, default=0, help="seed of sampled ray drops")
    parser.add_argument("--appearance", choices=("nearest", "mean"), default="nearest",
                        help="camera colour correction: nearest training frames in time (default) or the camera's mean")
    parser.add_argument("--mesh-cell", type=float, default=0.1,
                        help="marching-cubes cell of the background mesh of the surface path, metres (actors: half of it)")
    parser.add_argument("--mesh-cache", default=None, help="directory of the surface meshes (default: RUN/render_cache)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    parser.add_argument("--no-previews", action="store_true", help="do not write MP4 previews")
    parser.add_argument("--no-points", action="store_true", help="do not write PLY point clouds")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output DriveLog")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def _load_specs(path: Path, kind: str) -> list[dict]:
    from redrive.log.manifest import read_json

    doc = read_json(path)
    if isinstance(doc, dict) and (kind in doc or "cameras" in doc or "lidars" in doc):
        doc = doc.get(kind, [])
    specs = doc if isinstance(doc, list) else [doc]
    for i, s in enumerate(specs):
        if not isinstance(s, dict):
            raise LogFormatError(path, f"{kind}[{i}]", s, "each sensor spec must be an object")
    return specs


def _terms(text: str | None) -> list[str] | None:
    if text is None:
        return None
    terms = [t.strip() for t in text.split(",") if t.strip()]
    if not terms:
        raise RedriveError("empty sensor list; use 'none' to render no sensor of this kind")
    return [] if terms == ["none"] else terms


def _ten_hz(t0: float, t1: float) -> np.ndarray:
    return t0 + 0.1 * np.arange(int(np.floor((t1 - t0) / 0.1 + 1e-9)) + 1)


def resolve_cameras(text: str | None, graph, log) -> list[tuple]:
    """``[(CameraSpec, recorded frame times or None)]`` of a ``--cameras`` value."""
    from redrive.render.sensors import CameraSpec, camera_from_spec

    rig = {n: s for n, s in graph.sensors.items() if s.kind == "camera"}
    terms = _terms(text)
    out = []
    for term in (list(rig) if terms is None else terms):
        if term.lower().endswith(".json"):
            for spec in _load_specs(Path(term), "cameras"):
                out.append((camera_from_spec(spec), None))
        elif term in rig:
            s = rig[term]
            times = np.asarray(log.camera(term).frame_times) if log is not None and term in log.cameras else None
            out.append((CameraSpec(term, s.camera_model(), np.asarray(s.vehicle_from_sensor, float), s.rolling_shutter_s,
                                   s.rolling_shutter_direction), times))
        else:
            raise RedriveError(f"--cameras: {term!r} is neither a camera of the run's rig ({', '.join(rig) or 'none'}) "
                               "nor a .json spec file")
    return out


def resolve_lidars(text: str | None, graph, log) -> list[tuple]:
    """``[(LidarSpec, recorded sweep times or None)]`` of a ``--lidars`` value."""
    from redrive.render.lidar_models import LidarModel, lidar_model
    from redrive.render.sensors import LidarSpec, lidar_from_spec

    rig = {n: s for n, s in graph.sensors.items() if s.kind == "lidar"}
    mount = np.asarray(next(iter(rig.values())).vehicle_from_sensor, float) if rig else None
    terms = _terms(text)
    out = []
    for term in (list(rig) if terms is None else terms):
        if term.lower().endswith(".json"):
            for spec in _load_specs(Path(term), "lidars"):
                placed = "position_m" in spec or "rotation_deg" in spec
                ls = lidar_from_spec(spec)
                if not placed and mount is not None:
                    ls.vehicle_from_lidar = mount.copy()
                out.append((ls, None))
        elif term in rig:
            beams = log.lidar(term).beams if log is not None and term in log.lidars else None
            if beams is None:
                raise RedriveError(f"--lidars: the recorded LiDAR {term!r} has no beam table in the log; "
                                   "name a library model (e.g. pandar64) or give a .json spec")
            times = np.asarray(log.lidar(term).sweep_times)
            out.append((LidarSpec(term, LidarModel.from_beams(beams, name=term), np.asarray(rig[term].vehicle_from_sensor, float)),
                        times))
        else:
            model = lidar_model(term)  # SensorSpecError listing the library when unknown
            if mount is None:
                raise RedriveError(f"--lidars: the run's rig has no LiDAR to mount {term!r} at; give a .json spec "
                                   "with position_m / rotation_deg")
            name = re.sub(r"[^A-Za-z0-9_-]", "_", model.name)
            out.append((LidarSpec(name, model, mount.copy()), None))
    return out


def select_frames(times: np.ndarray, frames: str | None, every: int, max_frames: int) -> np.ndarray:
    """The frame times chosen by ``--frames A:B``, ``--every`` and ``--max-frames``."""
    if every < 1:
        raise RedriveError(f"--every must be >= 1, got {every}")
    if max_frames < 0:
        raise RedriveError(f"--max-frames must be >= 0, got {max_frames}")
    idx = np.arange(len(times))
    if frames:
        m = re.fullmatch(r"\s*(-?\d*)\s*:\s*(-?\d*)\s*", frames)
        if not m:
            raise RedriveError(f"--frames {frames!r}: expected A:B (a Python slice of frame indices, e.g. 0:20)")
        a, b = (int(v) if v else None for v in m.groups())
        idx = idx[slice(a, b)]
    idx = idx[::every]
    if max_frames:
        idx = idx[:max_frames]
    return np.asarray(times)[idx]


def _times_for(recorded, fallback: np.ndarray, span: tuple[float, float]) -> np.ndarray:
    times = np.asarray(recorded if recorded is not None else fallback, float)
    inside = times[(times >= span[0] - 1e-9) & (times <= span[1] + 1e-9)]
    return inside if len(inside) else _ten_hz(*span)


def run(args: argparse.Namespace) -> int:
    import torch

    from redrive.render.neural import NeuralScene
    from redrive.render.surface import SurfaceConfig
    from redrive.render.simulate import CameraJob, LidarJob, SimulateOptions, scale_camera, simulate
    from redrive.render.trajectories import parse_trajectory_spec, resolve_trajectory
    from redrive.log.types import Trajectory

    if args.threads < 1:
        raise RedriveError(f"--threads must be >= 1, got {args.threads}")
    torch.set_num_threads(args.threads)
    run_dir = Path(args.run)
    spec = parse_trajectory_spec(args.trajectory)  # refuse a bad spec before loading anything
    if not args.mesh_cell > 0:
        raise RedriveError(f"--mesh-cell must be a positive number of metres, got {args.mesh_cell}")
    surface = SurfaceConfig(background_cell_m=args.mesh_cell, actor_cell_m=args.mesh_cell / 2)
    scene = NeuralScene.from_run(run_dir, mesh_cache=args.mesh_cache or True, surface=surface, progress=not args.quiet)
    if args.camera_full_volume:
        scene.band = None
    graph = scene.graph
    log = None
    if scene.log_path is not None and scene.log_path.is_dir():
        from redrive.log import DriveLog

        log = DriveLog.open(scene.log_path)
    original = Trajectory(graph.ego.times, scene.world_from_scene @ graph.ego.poses)
    ego = resolve_trajectory(spec, original, scene.start_time_ns)
    span = (float(ego.times[0]), float(ego.times[-1]))
    cams = resolve_cameras(args.cameras, graph, log)
    lids = resolve_lidars(args.lidars, graph, log)
    drive = _ten_hz(float(original.times[0]), float(original.times[-1]))
    cam_default = next((t for _, t in cams if t is not None), None)
    if cam_default is None and log is not None and log.cameras:
        cam_default = np.asarray(next(iter(log.cameras.values())).frame_times)
    lid_default = None
    if log is not None and log.lidars:
        lid_default = np.asarray(next(iter(log.lidars.values())).sweep_times)
    camera_jobs = [CameraJob(scale_camera(c, args.scale), select_frames(
        _times_for(t, cam_default if cam_default is not None else drive, span), args.frames, args.every, args.max_frames))
        for c, t in cams]
    lidar_jobs = [LidarJob(lspec, select_frames(
        _times_for(t, lid_default if lid_default is not None else drive, span), args.frames, args.every, args.max_frames))
        for lspec, t in lids]
    if not any(len(j.frame_times) for j in camera_jobs) and not any(len(j.sweep_times) for j in lidar_jobs):
        raise RedriveError("no frame selected: check --cameras/--lidars and --frames/--every/--max-frames")
    if not args.quiet:
        print(f"render {run_dir} (step {scene.step}) along {args.trajectory}: "
              f"{', '.join(f'{j.spec.name} {j.spec.intrinsics.width}x{j.spec.intrinsics.height} x{len(j.frame_times)}' for j in camera_jobs) or 'no camera'}; "
              f"{', '.join(f'{j.spec.name} ({j.spec.model.name}) x{len(j.sweep_times)}' for j in lidar_jobs) or 'no lidar'}")
    if args.surface and lidar_jobs:
        scene.surface.prepare()
    options = SimulateOptions(lidar_surface=args.surface, drop=args.drop, seed=args.seed, appearance=args.appearance,
                              previews=not args.no_previews, point_clouds=not args.no_points,
                              name=f"{run_dir.resolve().name}-render", overwrite=args.overwrite, progress=not args.quiet,
                              source={"trajectory": args.trajectory})
    result = simulate(scene, graph, ego, camera_jobs, lidar_jobs, args.out, options)
    summary = {"out": str(result.out_dir), "camera_frames": result.camera_frames, "sweeps": result.sweeps,
               "camera_mpix_s": round(result.camera_pixels_per_s / 1e6, 4), "lidar_mrays_s": round(result.lidar_rays_per_s / 1e6, 4)}
    print(json.dumps(summary))
    return 0


__all__ = ["add_arguments", "resolve_cameras", "resolve_lidars", "run", "select_frames"]
