"""`redrive eval RUN [--out DIR]`: held-out metrics (JSON) and PNG grids of a reconstruction."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run", type=Path, help="reconstruction run directory")
    parser.add_argument("--out", type=Path, default=None, help="output directory (default: RUN/eval)")
    parser.add_argument("--no-mesh", action="store_true", help="skip the mesh Chamfer")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def run(args: argparse.Namespace) -> int:
    from redrive.eval.evaluate import evaluate_run

    out = args.out or args.run / "eval"
    result = evaluate_run(args.run, out, progress=not args.quiet, meshes=not args.no_mesh)
    print(json.dumps(result, indent=1))
    print(f"metrics: {out / 'metrics.json'}; pictures: {out}/grid.png (truth | render | depth | normals | error), "
          f"{out}/curves.png")
    return 0
