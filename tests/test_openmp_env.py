"""The OpenMP wait settings that ``import redrive`` puts in the environment."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

import redrive


@pytest.mark.parametrize("load,expected", [(0.2, "20000"), (0.9, "20000"), (1.0, "0"), (3.5, "0")])
def test_spin_only_while_the_machine_is_mostly_idle(monkeypatch, load, expected):
    monkeypatch.setattr(redrive._os, "getloadavg", lambda: (load, load, load))
    monkeypatch.setattr(redrive._os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    assert redrive._omp_spin_count() == expected


def test_no_spin_when_the_load_is_unknown(monkeypatch):
    def fail():
        raise OSError("no load average")

    monkeypatch.setattr(redrive._os, "getloadavg", fail)
    assert redrive._omp_spin_count() == "0"


def _settings_after_import(env: dict) -> list[str]:
    code = "import os, redrive; print(os.environ['GOMP_SPINCOUNT'], os.environ['OMP_WAIT_POLICY'])"
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout.split()


def test_explicit_environment_wins():
    env = {k: v for k, v in os.environ.items() if k not in ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY")}
    assert _settings_after_import({**env, "GOMP_SPINCOUNT": "123", "OMP_WAIT_POLICY": "ACTIVE"}) == ["123", "ACTIVE"]
    spin, policy = _settings_after_import(env)
    assert spin in ("0", "20000") and policy == "PASSIVE"
