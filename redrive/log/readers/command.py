"""`redrive import FORMAT SRC --out LOG`: convert a public dataset's log into a DriveLog."""

from __future__ import annotations

import argparse
from pathlib import Path

from redrive.log.readers import READERS


def _names(text: str) -> list[str]:
    """Comma-separated sensor names; an empty string selects none."""
    return [n.strip() for n in text.split(",") if n.strip()]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("format", choices=sorted(READERS), help="source format")
    parser.add_argument("src", type=Path,
                        help="source log: AV2 log directory, nuScenes dataroot (or its v1.0-* folder), "
                             "Waymo segment .tfrecord, KITTI directory")
    parser.add_argument("--out", type=Path, required=True, help="DriveLog directory to write")
    parser.add_argument("--start", type=float, default=None, help="window start, seconds from the source's first timestamp")
    parser.add_argument("--end", type=float, default=None, help="window end, seconds from the source's first timestamp")
    parser.add_argument("--cameras", type=_names, default=None,
                        help="comma-separated camera names to import (default all; '' for none)")
    parser.add_argument("--lidars", type=_names, default=None,
                        help="comma-separated LiDAR names to import (default all; '' for none)")
    parser.add_argument("--scene", default=None, help="scene name or token within a multi-scene source (nuScenes)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing DriveLog at --out")


def run(args: argparse.Namespace) -> int:
    from redrive.log.drivelog import DriveLog
    from redrive.log.info import summarize
    from redrive.log.readers import ImportOptions, import_log

    options = ImportOptions(start_s=args.start, end_s=args.end, cameras=args.cameras, lidars=args.lidars,
                            scene=args.scene, overwrite=args.overwrite)
    out = import_log(args.format, args.src, args.out, options)
    print(summarize(DriveLog.open(out)))
    return 0
