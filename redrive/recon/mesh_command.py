"""`redrive mesh RUN [--out DIR] [--cell M]`: background and per-actor meshes as PLY."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run", type=Path, help="reconstruction run directory")
    parser.add_argument("--out", type=Path, default=None, help="output directory (default: RUN/meshes)")
    parser.add_argument("--cell", type=float, default=None, help="background marching-cubes cell, metres (default: the run's eval.mesh_resolution_m)")
    parser.add_argument("--actor-cell", type=float, default=0.05, help="actor marching-cubes cell, metres")


def run(args: argparse.Namespace) -> int:
    import torch

    from redrive.errors import RedriveError
    from redrive.recon.mesh import export_meshes
    from redrive.recon.trainer import load_run

    model, cfg, _ = load_run(args.run)
    torch.set_num_threads(cfg.train.threads)
    cell = args.cell or cfg.eval.mesh_resolution_m
    if not cell > 0 or not args.actor_cell > 0:
        raise RedriveError(f"--cell and --actor-cell must be positive, got {cell} and {args.actor_cell}")
    written = export_meshes(model, args.out or args.run / "meshes", cell, args.actor_cell)
    print(f"wrote {len(written)} meshes (background in the scene frame, actors in their box frames) to "
          f"{(args.out or args.run / 'meshes')}")
    return 0
