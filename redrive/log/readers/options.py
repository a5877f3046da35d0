"""What every reader accepts: a time window and a selection of sensors."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class ImportOptions:
    """Selection applied while importing a source log."""

    start_s: float | None = None
    """Start of the time window, seconds from the source log's first timestamp (None: from the start)."""
    end_s: float | None = None
    """End of the time window, seconds from the source log's first timestamp (None: to the end)."""
    cameras: list[str] | None = None
    """Source camera names to import (None: all); an unknown name is an error that lists the known ones."""
    lidars: list[str] | None = None
    """Source LiDAR names to import (None: all)."""
    scene: str | None = None
    """Which log of a multi-log source to import (nuScenes: scene name or token); None: the
    source must hold exactly one."""
    overwrite: bool = False
    """Replace an existing DriveLog at the output path."""
