"""The OpenMP wait settings that ``import redrive`` puts in the environment."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

import redrive


@pytest.mark.parametrize("running,expected", [("1/80", "20000"), ("2/80", "0"), ("3/81", "0")])
def test_spin_only_while_nothing_else_runs(tmp_path, monkeypatch, running, expected):
    """On 2 cores: this process alone spins; with another running task it does not."""
    (tmp_path / "loadavg").write_text(f"0.50 0.40 0.30 {running} 12345\n")
    monkeypatch.setattr(redrive._os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    assert redrive._omp_spin_count(str(tmp_path / "loadavg")) == expected


def test_no_spin_where_the_running_tasks_are_unknown(tmp_path):
    assert redrive._omp_spin_count(str(tmp_path / "missing")) == "0"
    (tmp_path / "garbled").write_text("nonsense\n")
    assert redrive._omp_spin_count(str(tmp_path / "garbled")) == "0"


def _settings_after_import(env: dict) -> list[str]:
    code = "import os, redrive; print(os.environ['GOMP_SPINCOUNT'], os.environ['OMP_WAIT_POLICY'])"
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout.split()


def test_explicit_environment_wins():
    env = {k: v for k, v in os.environ.items() if k not in ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY")}
    assert _settings_after_import({**env, "GOMP_SPINCOUNT": "123", "OMP_WAIT_POLICY": "ACTIVE"}) == ["123", "ACTIVE"]
    spin, policy = _settings_after_import(env)
    assert spin in ("0", "20000") and policy == "PASSIVE"
