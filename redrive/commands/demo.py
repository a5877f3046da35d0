"""`redrive demo`: the main job on the bundled default.

Generates the default synthetic log (deterministic for the seed), reconstructs it with the
``fast`` preset and evaluates the reconstruction on the held-out frames, then prints where the
metrics and pictures are.
"""

from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, default=Path("out/demo"), help="output directory (default: out/demo)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the synthetic scene")
    parser.add_argument("--preset", default="default", help="synthetic log preset")
    parser.add_argument("--recon-preset", default="fast", help="reconstruction preset (default: fast)")


def run(args: argparse.Namespace) -> int:
    from redrive.eval.evaluate import evaluate_run
    from redrive.log import DriveLog
    from redrive.log.info import summarize
    from redrive.log.synth import generate
    from redrive.recon.config import preset
    from redrive.recon.trainer import Trainer

    t0 = time.perf_counter()
    log_dir = args.out / "log"
    run_dir = args.out / "recon"
    print(f"[1/3] generating the {args.preset!r} synthetic log (seed {args.seed}) in {log_dir}")
    generate(log_dir, preset=args.preset, seed=args.seed, overwrite=True)
    print(summarize(DriveLog.open(log_dir)))
    print(f"[2/3] reconstructing it with the {args.recon_preset!r} preset into {run_dir}")
    if run_dir.exists():
        shutil.rmtree(run_dir)  # the demo always starts over: the log was just regenerated
    Trainer(log_dir, run_dir, preset(args.recon_preset)).train()
    print(f"[3/3] evaluating on the held-out frames (every other frame per sensor)")
    result = evaluate_run(run_dir, run_dir / "eval")
    print()
    for key in ("psnr_db", "ssim", "actor_psnr_db", "lidar_median_abs_m", "intensity_rmse", "ray_drop_accuracy",
                "lidar_chamfer_mean_m", "mesh_chamfer_mean_m"):
        if key in result:
            print(f"  {key:24s} {result[key]:.4f}")
    print(f"\nmetrics:  {run_dir / 'eval' / 'metrics.json'}")
    print(f"pictures: {run_dir / 'eval' / 'grid.png'} (truth | render | depth | normals | error), "
          f"{run_dir / 'eval' / 'curves.png'}")
    print(f"meshes:   redrive mesh {run_dir}")
    print(f"done in {time.perf_counter() - t0:.0f} s")
    return 0
