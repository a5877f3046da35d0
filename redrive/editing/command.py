"""`redrive edit RUN SCENARIO --out DIR`: apply a scenario's edits to a reconstruction and write
the rendered DriveLog (edited actor tracks as labels, MP4 previews before/after)."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run", type=Path, help="reconstruction run directory (redrive recon ... --out RUN)")
    parser.add_argument("scenario", type=Path, help="scenario file (.yaml/.yml/.json; docs/editing.md)")
    parser.add_argument("--out", required=True, type=Path, help="output DriveLog directory (written atomically)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing DriveLog at --out")
    parser.add_argument("--allow-overlap", action="store_true", help="render even if actors intersect")
    parser.add_argument("--previews", choices=("recorded", "rendered", "none"), default=None,
                        help="left half of the before/after MP4s (default: the scenario's 'before', else recorded)")
    parser.add_argument("--lidar", choices=("surface", "volume"), default=None,
                        help="LiDAR by the surface path (default) or volume rendering (docs/render.md)")
    parser.add_argument("--mesh-cache", type=Path, default=None,
                        help="where the LiDAR surface path caches the fields' meshes (default: RUN/render_cache)")
    parser.add_argument("--check", action="store_true", help="validate the scenario and exit without rendering")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from redrive.editing.output import write_log
    from redrive.editing.render import rendered_times, resolve_sensors
    from redrive.editing.scenario import load_scenario

    sc = load_scenario(args.scenario, run=args.run, allow_overlap=True if args.allow_overlap else None)
    scene = sc.scene
    if args.mesh_cache is not None:
        scene.mesh_cache = args.mesh_cache
    if args.check:
        cams, lids = resolve_sensors(scene, sc.sensors, sc.times)
        scene.validate(rendered_times(cams, lids))
        print(f"{args.scenario}: {len(scene.edits)} edits valid for {len(cams)} cameras and {len(lids)} LiDARs")
        return 0
    out = write_log(scene, args.out, sc.sensors, sc.times, lighting=sc.lighting,
                    previews=args.previews or sc.before, overwrite=args.overwrite, progress=not args.quiet,
                    lidar_surface=(args.lidar or sc.lidar) == "surface",
                    scenario_text=Path(args.scenario).read_text())
    print(f"wrote the edited drive ({len(scene.edits)} edits, {len(scene.graph.actors)} actors) to {out}")
    return 0
