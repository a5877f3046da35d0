"""`redrive synth`: generate a synthetic DriveLog with ground truth."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, help="directory of the log to write")
    parser.add_argument("--seed", type=int, default=0, help="seed of the scene, traffic and sensor noise (default 0)")
    parser.add_argument("--preset", default="default", help="tiny, default or large (default: default)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing log at --out")
    parser.add_argument("--frames", type=int, default=None, help="override the preset's number of frames")
    parser.add_argument("--remove", action="append", default=[], metavar="ACTOR_ID",
                        help="render the scene without this actor (repeatable)")
    parser.add_argument("--lane-shift", type=float, default=0.0, metavar="M",
                        help="shift the ego path sideways by M metres (positive = left)")
    parser.add_argument("--from-log", default=None, metavar="LOG",
                        help="re-render the scene of an existing synthetic log (with --remove / --lane-shift) "
                             "instead of generating a new one")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    import time

    from redrive.log.drivelog import DriveLog
    from redrive.log.synth.edits import remove_actor, shift_ego
    from redrive.log.synth.layout import build_scene
    from redrive.log.synth.presets import preset
    from redrive.log.synth.render import load_scene, render_scene

    start = time.perf_counter()
    if args.from_log:
        scene = load_scene(args.from_log)
    else:
        overrides = {} if args.frames is None else {"frames": args.frames}
        scene = build_scene(preset(args.preset, **overrides), args.seed, args.preset)
    for actor_id in args.remove:
        scene = remove_actor(scene, actor_id)
    if args.lane_shift:
        scene = shift_ego(scene, lateral_m=args.lane_shift)
    out = render_scene(scene, args.out, overwrite=args.overwrite, progress=not args.quiet)
    log = DriveLog.open(out)
    cams = ", ".join(f"{c.name} {c.intrinsics.width}x{c.intrinsics.height}" for c in log.cameras.values())
    lidars = ", ".join(f"{s.name} {s.beams.beam_count}x{s.beams.azimuth_count}" for s in log.lidars.values() if s.beams)
    frames = max((len(c) for c in log.cameras.values()), default=0)
    print(f"wrote {out}")
    print(f"{log.name}: {frames} frames, cameras [{cams}], lidar [{lidars}], {len(log.actors)} actors, "
          f"ground truth meshes + depth + instances; {time.perf_counter() - start:.1f} s")
    return 0
