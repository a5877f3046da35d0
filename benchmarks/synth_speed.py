"""Time and peak memory of generating a synthetic log (`redrive synth`).

    python benchmarks/synth_speed.py [--quick] [--preset NAME] [--json PATH]

Prints the wall time of generating the preset's log (default: the ``default`` preset; ``--quick``
uses ``tiny``), the process's peak RSS, and as a same-run baseline the time Embree alone takes to
cast the log's primary rays (one per pixel and per LiDAR firing) against the static scene, so
that the ratio holds on a busy machine.
"""

from __future__ import annotations

import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import peak_rss_bytes, standard_parser, write_report  # noqa: E402


def _baseline_cast_s(scene, rays: int) -> float:
    """Seconds to cast ``rays`` rays from the ego's first camera pose against the static scene."""
    from redrive.log.synth.raycast import World, _cast

    world = World(scene)
    cam = scene.cameras[0]
    dirs = cam.intrinsics.unproject(cam.intrinsics.pixel_grid()).astype(np.float32)
    pose = scene.ego.at(float(cam.frame_times[0])) @ cam.vehicle_from_camera
    dirs = (dirs @ pose[:3, :3].T).astype(np.float32)
    origins = np.broadcast_to(pose[:3, 3], dirs.shape)
    _cast(world.static_scene, origins, dirs)  # warm-up (Embree builds its BVH on first use)
    start, done = time.perf_counter(), 0
    while done < rays:
        _cast(world.static_scene, origins, dirs)
        done += len(dirs)
    return (time.perf_counter() - start) * rays / done


def main(argv: list[str] | None = None) -> int:
    parser = standard_parser(__doc__)
    parser.add_argument("--preset", default=None, help="preset to time (default: default, or tiny with --quick)")
    args = parser.parse_args(argv)
    name = args.preset or ("tiny" if args.quick else "default")

    load0 = os.getloadavg()[0]
    import open3d  # noqa: F401  (imported before timing: it is a fixed cost of any redrive process)

    from redrive.log.synth import build_scene, preset, render_scene

    with tempfile.TemporaryDirectory(prefix="synth-bench-") as tmp:
        usage0 = resource.getrusage(resource.RUSAGE_SELF)
        start = time.perf_counter()
        scene = build_scene(preset(name), 0, name)
        render_scene(scene, Path(tmp) / "log", progress=False)
        wall = time.perf_counter() - start
        usage1 = resource.getrusage(resource.RUSAGE_SELF)
        # CPU seconds are less sensitive than wall time to other jobs on a shared machine.
        cpu = (usage1.ru_utime - usage0.ru_utime) + (usage1.ru_stime - usage0.ru_stime)
        peak_gb = peak_rss_bytes() / 1e9
    frames = sum(len(c.frame_times) for c in scene.cameras)
    sweeps = sum(len(s.sweep_times) for s in scene.lidars)
    rays = sum(c.intrinsics.width * c.intrinsics.height * len(c.frame_times) for c in scene.cameras)
    rays += sum(s.beams.beam_count * s.beams.azimuth_count * len(s.sweep_times) for s in scene.lidars)
    base = _baseline_cast_s(scene, rays)

    cam = scene.cameras[0].intrinsics
    lid = scene.lidars[0].beams
    print(f"synthetic log, preset {name!r}: {len(scene.cameras)} cameras {cam.width}x{cam.height}, "
          f"{len(scene.cameras[0].frame_times)} frames, LiDAR {lid.beam_count}x{lid.azimuth_count}, {len(scene.actors)} actors")
    rows = [
        ("generation wall time", f"{wall:.1f} s"),
        ("generation CPU time (all threads)", f"{cpu:.1f} s ({cpu / wall:.2f} cores busy on average)"),
        ("load average before / after (1 min)", f"{load0:.1f} / {os.getloadavg()[0]:.1f}"),
        ("camera frames + sweeps per second", f"{(frames + sweeps) / wall:.2f}"),
        ("peak RSS", f"{peak_gb:.2f} GB"),
        ("baseline: Embree primary rays only", f"{base:.1f} s ({rays / 1e6:.1f} M rays)"),
        ("generation / baseline", f"{wall / base:.1f}x"),
    ]
    width = max(len(r[0]) for r in rows)
    for label, value in rows:
        print(f"  {label:<{width}}  {value}")
    write_report(args.json, "synth_speed" if name == "default" else f"synth_speed_{name}",
                 {"wall_s": round(wall, 2), "cpu_s": round(cpu, 2), "peak_rss_gb": round(peak_gb, 3),
                  "baseline_cast_s": round(base, 2), "ratio_vs_baseline": round(wall / base, 2),
                  "frames_per_s": round((frames + sweeps) / wall, 3)})
    return 0


if __name__ == "__main__":
    sys.exit(main())
