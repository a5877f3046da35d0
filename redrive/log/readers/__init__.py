"""Readers of public driving datasets into the DriveLog format.

Each reader is a function ``read(src, out, options) -> Path`` in its own module, registered in
``READERS`` by format name and imported only when used (they pull in pyarrow or protobuf).
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Callable

from redrive.errors import RedriveError
from redrive.log.readers.options import ImportOptions

READERS: dict[str, str] = {
    "av2": "redrive.log.readers.av2",
    "kitti": "redrive.log.readers.kitti",
    "nuscenes": "redrive.log.readers.nuscenes",
    "waymo": "redrive.log.readers.waymo",
}


def get_reader(fmt: str) -> Callable[[Path, Path, ImportOptions], Path]:
    if fmt not in READERS:
        raise RedriveError(f"unknown log format {fmt!r}; redrive reads: {', '.join(sorted(READERS))}")
    return importlib.import_module(READERS[fmt]).read


def import_log(fmt: str, src: str | Path, out: str | Path, options: ImportOptions | None = None) -> Path:
    """Convert the log at ``src`` (in format ``fmt``) into a DriveLog at ``out``."""
    return get_reader(fmt)(Path(src), Path(out), options or ImportOptions())


__all__ = ["READERS", "ImportOptions", "get_reader", "import_log"]
