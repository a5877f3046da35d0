"""`redrive export LOG_OR_RENDER --format drivelog|kitti|nerfstudio --out DIR`."""

from __future__ import annotations

import argparse
from pathlib import Path

FORMATS = ("drivelog", "kitti", "nerfstudio")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("log", type=Path, help="DriveLog directory or render output to export")
    parser.add_argument("--format", required=True, choices=FORMATS, help="dataset format to write")
    parser.add_argument("--out", required=True, type=Path, help="output directory (written atomically)")
    parser.add_argument("--start", type=float, default=None, help="window start, seconds since the log start")
    parser.add_argument("--end", type=float, default=None, help="window end, seconds since the log start")
    parser.add_argument("--cameras", default=None, help="comma-separated cameras, in order (KITTI: the first is image_02)")
    parser.add_argument("--lidars", default=None, help="comma-separated LiDARs (KITTI takes one)")
    parser.add_argument("--every", type=int, default=1, help="keep every n-th frame of the first camera")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing export at --out")
    kitti = parser.add_argument_group("kitti")
    kitti.add_argument("--kitti-layout", default="tracking", choices=("tracking", "object", "raw"),
                       help="KITTI layout (default: tracking)")
    kitti.add_argument("--sequence", type=int, default=0, help="tracking sequence / raw drive number")
    kitti.add_argument("--no-labels", action="store_true", help="do not write label files")
    ns = parser.add_argument_group("nerfstudio")
    ns.add_argument("--rectify", action="store_true", help="resample all images to pinhole")
    ns.add_argument("--max-points", type=int, default=200_000, help="LiDAR points in points3D.ply (0: none)")


def _names(text: str | None) -> list[str] | None:
    return None if text is None else [n.strip() for n in text.split(",") if n.strip()]


def run(args: argparse.Namespace) -> int:
    from redrive.export.common import ExportOptions

    options = ExportOptions(start_s=args.start, end_s=args.end, cameras=_names(args.cameras),
                            lidars=_names(args.lidars), every=args.every, overwrite=args.overwrite)
    if args.format == "kitti":
        from redrive.export.kitti import KittiExportConfig, export

        out = export(args.log, args.out, options, KittiExportConfig(
            layout=args.kitti_layout, sequence=args.sequence, labels=not args.no_labels))
    elif args.format == "nerfstudio":
        from redrive.export.nerfstudio import NerfstudioExportConfig, export

        out = export(args.log, args.out, options, NerfstudioExportConfig(rectify=args.rectify, max_points=args.max_points))
    else:
        from redrive.export.drivelog import export

        out = export(args.log, args.out, options)
    print(f"exported {args.log} as {args.format} to {out}")
    return 0
