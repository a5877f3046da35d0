"""Checkpoints of a training run: atomic, verified, never unpickled.

A checkpoint is a ``torch.save`` archive of tensors, numbers, strings, lists and dicts only,
loaded with ``weights_only=True``. Each is written to a temporary file, fsynced and renamed;
its SHA-256 and size go into ``checkpoints.json`` (itself written atomically) only after the
rename, so a checkpoint listed there is complete. Older checkpoints are pruned only once a newer
one is safely in place, and loading refuses a file whose hash or size does not match.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from redrive.errors import RedriveError

INDEX_NAME = "checkpoints.json"


class CheckpointError(RedriveError):
    """A checkpoint cannot be used (missing, truncated, corrupted, not a redrive checkpoint)."""


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _read_index(run_dir: Path) -> list[dict[str, Any]]:
    path = run_dir / INDEX_NAME
    if not path.exists():
        return []
    try:
        entries = json.loads(path.read_text())
        assert isinstance(entries, list)
        return entries
    except (ValueError, AssertionError) as exc:
        raise CheckpointError(f"{path}: checkpoint index is not valid JSON ({exc}); "
                              "remove it to start over or restore it") from None


def _write_index(run_dir: Path, entries: list[dict[str, Any]]) -> None:
    from redrive.log.writer import atomic_write_json

    atomic_write_json(run_dir / INDEX_NAME, entries)


def save_checkpoint(run_dir: str | Path, step: int, state: dict[str, Any], keep: int = 2) -> Path:
    """Write ``state`` as the checkpoint of ``step``; keep the newest ``keep`` checkpoints."""
    import torch

    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / f"ckpt-{step:08d}.pt"
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "wb") as f:
        torch.save({"redrive_checkpoint": 1, "step": int(step), "state": state}, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    entries = [e for e in _read_index(run_dir) if e["file"] != path.name]
    entries.append({"file": path.name, "step": int(step), "sha256": _sha256(path), "bytes": path.stat().st_size})
    entries.sort(key=lambda e: e["step"])
    stale, entries = entries[:-keep], entries[-keep:]
    _write_index(run_dir, entries)
    for e in stale:  # only after the index no longer lists them
        (run_dir / e["file"]).unlink(missing_ok=True)
    return path


def load_checkpoint(path: str | Path, expected: dict[str, Any] | None = None) -> dict[str, Any]:
    """Load one checkpoint, verified against its index entry when ``expected`` is given.

    Returns ``{"step": int, "state": dict}``.
    """
    import torch

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint does not exist")
    if expected is not None:
        size = path.stat().st_size
        if size != expected["bytes"]:
            raise CheckpointError(f"{path}: checkpoint is truncated or altered ({size} bytes, "
                                  f"{expected['bytes']} were written)")
        if _sha256(path) != expected["sha256"]:
            raise CheckpointError(f"{path}: checkpoint is corrupted (SHA-256 differs from the one recorded when it was written)")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # zip/pickle errors of many kinds
        raise CheckpointError(f"{path}: checkpoint cannot be read ({type(exc).__name__}: {exc})") from None
    if not isinstance(data, dict) or data.get("redrive_checkpoint") != 1:
        raise CheckpointError(f"{path}: not a redrive checkpoint")
    return {"step": int(data["step"]), "state": data["state"]}


def latest_checkpoint(run_dir: str | Path) -> tuple[dict[str, Any] | None, list[str]]:
    """The newest usable checkpoint of a run, and the reasons newer ones were refused.

    Returns ``(None, reasons)`` when there is none; a refused checkpoint is left on disk for
    inspection, and the older one that is used instead is kept.
    """
    run_dir = Path(run_dir)
    refused = []
    for entry in reversed(_read_index(run_dir)):
        try:
            return load_checkpoint(run_dir / entry["file"], entry), refused
        except CheckpointError as exc:
            refused.append(str(exc))
    return None, refused
