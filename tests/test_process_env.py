"""What ``import redrive`` sets up for the process: OpenMP wait settings, glibc malloc thresholds."""

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


# In a fresh process: allocate 64 MiB (above glibc's default 32 MiB ceiling for heap blocks) and
# report how many blocks glibc serves with mmap, before and after freeing it.
_MMAPPED_BLOCKS = """
import ctypes, os, sys
if sys.argv[1] == "import":
    import redrive
class MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]
libc = ctypes.CDLL("libc.so.6")
libc.malloc.restype = ctypes.c_void_p
libc.mallinfo2.restype = MallInfo2
p = libc.malloc(64 << 20)
print(libc.mallinfo2().hblks)
"""


def _mmapped_blocks(env: dict, import_redrive: bool) -> int:
    run = subprocess.run([sys.executable, "-c", _MMAPPED_BLOCKS, "import" if import_redrive else "plain"], env=env,
                         capture_output=True, text=True, check=True)
    return int(run.stdout)


@pytest.mark.skipif(not os.confstr("CS_GNU_LIBC_VERSION").startswith("glibc"), reason="glibc malloc settings")
def test_large_blocks_come_from_the_heap_unless_the_environment_chose():
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_") and k not in ("LD_PRELOAD", "GLIBC_TUNABLES")}
    base = _mmapped_blocks(env, import_redrive=False)
    assert _mmapped_blocks(env, import_redrive=True) == base - 1  # the 64 MiB block is a heap block
    assert _mmapped_blocks({**env, "MALLOC_MMAP_THRESHOLD_": "131072"}, import_redrive=True) == base
    assert _mmapped_blocks({**env, "GLIBC_TUNABLES": "glibc.malloc.trim_threshold=1"}, import_redrive=True) == base
