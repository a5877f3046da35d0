"""Import speed of the readers of public formats, on the real excerpts in ../shared/realdata.

    python benchmarks/import_speed.py [--quick] [--json PATH]

Each section measures one kind of conversion and returns its figures; add a section by writing
a function ``section(repeats) -> list[Row]`` and listing it in ``SECTIONS``.

Import section: frames per second of ``import_log`` per format (a frame is an AV2 sweep, a Waymo
``Frame``, a nuScenes ``sample_data``), and, as the baseline measured in the same run, the time
to merely read and parse the same source files (feather tables, protobuf records, JSON tables and
``.pcd.bin``): ``overhead_x`` = import time / parse time.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import REPO, median_time, standard_parser, write_report  # noqa: E402

REALDATA = REPO / ".." / "shared" / "realdata"
AV2_LOG = REALDATA / "av2_sensor_testlogs" / "sensor" / "val" / "7fab2350-7eaf-3b7e-a39d-6937a4c1bede"
WAYMO_FILE = REALDATA / "waymo_pvps_one_frame" / "pvps_data_one_frame.tfrecord"
NUSCENES_FRAME = REALDATA / "nuscenes_mmdet3d_demo_frame"


@dataclass
class Row:
    """One line of the table and its figures."""

    name: str
    """What was measured, e.g. ``import av2``."""
    figures: dict[str, float]
    """metric_with_unit -> value."""


# ---------------------------------------------------------------------- import section
def _parse_av2() -> None:
    import pyarrow.feather as feather

    for path in [AV2_LOG / "city_SE3_egovehicle.feather", AV2_LOG / "annotations.feather",
                 *sorted((AV2_LOG / "sensors" / "lidar").glob("*.feather"))]:
        feather.read_table(path).to_pydict()


def _parse_waymo() -> None:
    from redrive.log.readers._tfrecord import iter_records
    from redrive.log.readers._waymo_proto import messages

    for _, _, payload in iter_records(WAYMO_FILE):
        messages()["Frame"]().ParseFromString(payload)


def _nuscenes_dataroot(tmp: Path) -> Path:
    """The table layout written around the real keyframe, by the reader tests' fixture code."""
    spec = importlib.util.spec_from_file_location("_nuscenes_fixture", REPO / "tests" / "log" / "readers" / "test_nuscenes.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    root = tmp / "nuscenes"
    module.write_dataroot(NUSCENES_FRAME, root)
    return root


def _parse_nuscenes(root: Path) -> None:
    import numpy as np

    tables = next(p for p in root.iterdir() if p.name.startswith("v1.0"))
    for table in tables.glob("*.json"):
        json.loads(table.read_text())
    for file in (root / "samples").rglob("*"):
        if file.suffix == ".bin":
            np.fromfile(file, dtype="<f4")
        elif file.is_file() or file.is_symlink():
            file.read_bytes()


def import_section(repeats: int) -> list[Row]:
    from redrive.log.readers import ImportOptions, import_log

    rows = []
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        cases = []
        if AV2_LOG.is_dir():
            cases.append(("av2", AV2_LOG, len(list((AV2_LOG / "sensors" / "lidar").glob("*.feather"))), _parse_av2))
        if WAYMO_FILE.is_file():
            cases.append(("waymo", WAYMO_FILE, 1, _parse_waymo))
        if NUSCENES_FRAME.is_dir():
            root = _nuscenes_dataroot(tmp)
            cases.append(("nuscenes", root, 7, lambda: _parse_nuscenes(root)))
        for fmt, src, frames, parse in cases:
            out = tmp / f"out-{fmt}"

            def run() -> None:
                import_log(fmt, src, out, ImportOptions(overwrite=True))

            t_import = median_time(run, repeats)
            t_parse = median_time(parse, repeats)
            rows.append(Row(f"import {fmt}", {
                f"import_{fmt}_frames_s": frames / t_import,
                f"import_{fmt}_wall_s": t_import,
                f"parse_{fmt}_wall_s": t_parse,
                f"import_{fmt}_overhead_x": t_import / t_parse,
            }))
            shutil.rmtree(out, ignore_errors=True)
    if not rows:
        print(f"real data excerpts not found at {REALDATA}; nothing to measure", file=sys.stderr)
    return rows


# ---------------------------------------------------------------------- export section
def export_section(repeats: int) -> list[Row]:
    """Frames per second exporting the default synthetic log (the tiny one with --quick) to each
    format, and ``overhead_x`` against the baseline of copying the log's files (copytree)."""
    from redrive.export import drivelog, kitti, nerfstudio
    from redrive.export.common import ExportOptions
    from redrive.log import DriveLog
    from redrive.log.synth import generate

    rows = []
    preset = "tiny" if repeats <= 2 else "default"
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        log_dir = generate(tmp / "log", preset=preset, seed=0, progress=False)
        log = DriveLog.open(log_dir)
        frames = len(next(iter(log.cameras.values())))
        options = ExportOptions(overwrite=True)
        t_copy = median_time(lambda: (shutil.rmtree(tmp / "copy", ignore_errors=True), shutil.copytree(log_dir, tmp / "copy")), repeats)
        cases = {
            "kitti": lambda: kitti.export(log_dir, tmp / "kitti", ExportOptions(cameras=[next(iter(log.cameras))], overwrite=True)),
            "kitti_raw": lambda: kitti.export(log_dir, tmp / "kitti_raw", ExportOptions(overwrite=True),
                                              kitti.KittiExportConfig(layout="raw", labels=False)),
            "nerfstudio": lambda: nerfstudio.export(log_dir, tmp / "ns", options),
            "drivelog": lambda: drivelog.export(log_dir, tmp / "dl", options),
        }
        for fmt, fn in cases.items():
            t = median_time(fn, repeats)
            rows.append(Row(f"export {fmt} ({preset})", {
                f"export_{fmt}_frames_s": frames / t,
                f"export_{fmt}_wall_s": t,
                f"export_{fmt}_overhead_x": t / t_copy,
            }))
        rows.append(Row(f"copy log ({preset})", {"copy_log_wall_s": t_copy}))
    return rows


SECTIONS: dict[str, Callable[[int], list[Row]]] = {
    "import": import_section,
    "export": export_section,
}
"""Section name -> measuring function; the exporters' section goes here too."""


# ---------------------------------------------------------------------- reporting
def main(argv: list[str] | None = None) -> int:
    parser = standard_parser(__doc__)
    parser.add_argument("--sections", default=",".join(SECTIONS), help=f"comma-separated, of: {', '.join(SECTIONS)}")
    args = parser.parse_args(argv)
    os.environ.setdefault("TQDM_DISABLE", "1")  # progress bars would interleave with the table
    repeats = 2 if args.quick else 5
    figures: dict[str, float] = {}
    print(f"{'measurement':<22} {'metric':<32} {'value':>12}")
    for name in args.sections.split(","):
        for row in SECTIONS[name](repeats):
            for metric, value in row.figures.items():
                print(f"{row.name:<22} {metric:<32} {value:>12.4g}")
            figures.update(row.figures)
    write_report(args.json, "import_speed", figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
