"""The worked example of docs/editing.md runs (Python block and scenario block)."""

from __future__ import annotations

import re
from pathlib import Path

from redrive.cli import main
from redrive.log import DriveLog

DOC = Path(__file__).resolve().parents[2] / "docs" / "editing.md"


def _blocks(kind: str) -> list[str]:
    return re.findall(rf"```{kind}\n(.*?)```", DOC.read_text(), flags=re.S)


def _localise(text: str, tiny_run: Path, red_box: Path, tmp: Path) -> str:
    return text.replace("runs/drive", str(tiny_run)).replace("assets/red_box.ply", str(red_box)).replace("out/", f"{tmp}/")


def test_python_example_runs(tiny_run, red_box, tmp_path, capsys):
    code = _localise(_blocks("python")[0], tiny_run, red_box, tmp_path)
    exec(compile(code, str(DOC), "exec"), {"__name__": "docs_example"})
    assert (tmp_path / "edits.json").is_file()
    assert "(2, 64, 96, 3)" in capsys.readouterr().out


def test_scenario_example_runs(tiny_run, red_box, tmp_path):
    scenario = tmp_path / "scenario.yaml"
    scenario.write_text(_localise(_blocks("yaml")[0], tiny_run, red_box, tmp_path))
    out = tmp_path / "edited"
    assert main(["edit", str(tiny_run), str(scenario), "--out", str(out), "--quiet", "--previews", "none"]) == 0
    log = DriveLog.open(out)
    assert {"box_car", "lead_twin"} <= set(log.actors) and "lead_000" not in log.actors
    assert len(log.cameras["front"]) == 4
