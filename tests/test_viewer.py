"""`redrive view`: a rerun recording of one log or of two (before/after)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from redrive.cli import main


def _entities(rrd: Path) -> dict[str, int]:
    """Entity path -> rows, read back with the rerun CLI shipped in rerun-sdk."""
    exe = Path(sys.executable).with_name("rerun")
    if not exe.exists():
        pytest.skip("the rerun CLI is not beside the interpreter")
    env = dict(os.environ, RERUN_ANALYTICS="off")
    text = subprocess.run([str(exe), "rrd", "print", str(rrd)], capture_output=True, text=True, env=env, timeout=120).stdout
    rows: dict[str, int] = {}
    for n, path in re.findall(r"with (\d+) rows .*? - (/\S+) - data columns", text):
        rows[path] = rows.get(path, 0) + int(n)
    return rows


def test_view_writes_recording_of_two_logs(small_log: Path, tmp_path: Path) -> None:
    pytest.importorskip("rerun", reason="rerun-sdk is not installed (optional extra: pip install 'redrive[viewer]')")
    before = small_log
    after = tmp_path / "after"  # the same log cut to its last three frames stands in for an edit
    assert main(["export", str(before), "--format", "drivelog", "--out", str(after), "--start", "0.05"]) == 0
    out = tmp_path / "view.rrd"
    assert main(["view", str(before), str(after), "--out", str(out)]) == 0
    assert out.is_file() and out.stat().st_size > 20_000
    assert not list(tmp_path.glob(".view.rrd.partial"))
    rows = _entities(out)
    for side, frames in (("before", 4), ("after", 3)):
        assert rows[f"/{side}/world/ego/front/image"] == frames and rows[f"/{side}/world/ego/left/image"] == frames
        assert rows[f"/{side}/world/lidar/top"] == frames
        assert rows[f"/{side}/world/actors"] == frames
        assert f"/{side}/world/ego_path" in rows and f"/{side}/world/ego" in rows


def test_view_without_rerun_says_how_to_install(small_log: Path, tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setitem(sys.modules, "rerun", None)  # makes `import rerun` fail
    assert main(["view", str(small_log), "--out", str(tmp_path / "v.rrd")]) == 2
    assert "pip install 'redrive[viewer]'" in capsys.readouterr().err
    assert main(["view", str(tmp_path), "--out", str(tmp_path / "v.rrd")]) == 2
