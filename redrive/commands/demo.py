"""`redrive demo`: the main job on the bundled default.

Generates the default synthetic log (deterministic for the seed) and prints its summary.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, default=Path("out/demo"), help="output directory (default: out/demo)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the synthetic scene")
    parser.add_argument("--preset", default="default", help="synthetic log preset")


def run(args: argparse.Namespace) -> int:
    from redrive.log import DriveLog
    from redrive.log.info import summarize
    from redrive.log.synth import generate

    log_dir = args.out / "log"
    print(f"[1/1] generating the {args.preset!r} synthetic log (seed {args.seed}) in {log_dir}")
    generate(log_dir, preset=args.preset, seed=args.seed, overwrite=True)
    print(summarize(DriveLog.open(log_dir)))
    return 0
