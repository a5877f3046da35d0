"""The `redrive` command line: the long command names reach the same commands."""

from __future__ import annotations

import pytest

from redrive.cli import ALIASES, COMMANDS, main


def test_aliases_name_existing_commands():
    assert set(ALIASES.values()) <= set(COMMANDS)
    assert not set(ALIASES) & set(COMMANDS)


@pytest.mark.parametrize("name", ["reconstruct", "recon"])
def test_reconstruct_runs_recon(name, tmp_path, capsys):
    missing = tmp_path / "no_log"
    assert main([name, str(missing), "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert f"redrive {name}: error: {missing}: is not a directory" in err
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("name", ["evaluate", "eval"])
def test_evaluate_runs_eval(name, tmp_path, capsys):
    assert main([name, str(tmp_path)]) == 2
    assert f"{tmp_path / 'config.json'}: missing" in capsys.readouterr().err
