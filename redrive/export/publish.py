"""Atomic publication of an output directory.

An export is written into a hidden sibling ``.<name>.partial-<pid>`` and renamed into place only
when it is complete, so a directory at the output path is always a finished dataset. An
interrupted export leaves only the hidden partial directory; the next export to the same path
removes it (when the process that wrote it is gone).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from types import TracebackType

from redrive.errors import RedriveError
from redrive.log.writer import replace_directory

MARKER = ".redrive-export"
"""File written inside every published directory, so that ``overwrite`` only ever replaces a
directory that redrive itself exported."""


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean_stale_partials(out: Path) -> list[Path]:
    """Remove ``.<name>.partial-<pid>`` siblings of ``out`` left by processes that are gone."""
    removed = []
    if not out.parent.is_dir():
        return removed
    for path in out.parent.glob(f".{out.name}.partial-*"):
        pid_text = path.name.rsplit("-", 1)[-1]
        if pid_text.isdigit() and int(pid_text) != os.getpid() and not _pid_alive(int(pid_text)):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


class PublishDir:
    """Context manager yielding the temporary directory to fill; publishes it on a clean exit.

    Example::

        with PublishDir(out, overwrite=True) as tmp:
            (tmp / "data.txt").write_text("...")
        # out/ now exists and is complete
    """

    def __init__(self, out: str | Path, overwrite: bool = False):
        self.out = Path(out)
        self.overwrite = overwrite
        if self.out.exists():
            if not overwrite:
                raise RedriveError(f"{self.out} already exists (pass --overwrite to replace it)")
            if not self.out.is_dir() or (any(self.out.iterdir()) and not (self.out / MARKER).is_file()):
                raise RedriveError(f"{self.out} exists and is not a redrive export; refusing to replace it")
        self.tmp = self.out.parent / f".{self.out.name}.partial-{os.getpid()}"

    def __enter__(self) -> Path:
        self.out.parent.mkdir(parents=True, exist_ok=True)
        clean_stale_partials(self.out)
        if self.tmp.exists():
            shutil.rmtree(self.tmp)
        self.tmp.mkdir()
        return self.tmp

    def __exit__(self, exc_type: type | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if exc_type is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)
            return
        (self.tmp / MARKER).write_text("complete\n")
        replace_directory(self.tmp, self.out)
