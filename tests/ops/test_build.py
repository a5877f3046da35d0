from __future__ import annotations

import subprocess
import sys

import pytest

from redrive.ops import _ext


def test_importing_redrive_does_not_build_or_load_the_extension():
    code = (
        "import sys, redrive, redrive.ops, redrive.ops.hashgrid, redrive.ops.packed;"
        "assert not [m for m in sys.modules if m.startswith('redrive_ext')], 'extension loaded';"
        "assert 'torch.utils.cpp_extension' not in sys.modules, 'cpp_extension imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_missing_compiler_gives_a_clear_error(monkeypatch):
    monkeypatch.setenv("CXX", "definitely-not-a-compiler-xyz")
    monkeypatch.setattr(_ext, "_loaded", {})
    with pytest.raises(_ext.ExtensionBuildError, match="no C\\+\\+ compiler found"):
        _ext.load_cpu()


def test_cached_build_is_reused():
    first = _ext.load_cpu()
    assert _ext.load_cpu() is first
    assert str(_ext.cache_root()) in first.__file__


def test_cli_build_ext(capsys):
    from redrive.cli import main

    assert main(["build-ext"]) == 0
    assert "CPU extension ready" in capsys.readouterr().out


def test_a_build_leaves_the_flag_lists_as_they_were(monkeypatch, tmp_path):
    """torch's cpp_extension.load appends its libraries to the lists it is given; the module's own
    lists (also the cache key and what benchmarks/march_native.py builds with) must not grow."""
    from torch.utils import cpp_extension

    def fake_load(**kwargs):
        kwargs["extra_cflags"].append("-DFROM_TORCH")
        kwargs["extra_ldflags"].append("-lc10")
        return object()

    monkeypatch.setattr(cpp_extension, "load", fake_load)
    before = (list(_ext._CXX_FLAGS), list(_ext._LD_FLAGS))
    _ext._build("probe", [], tmp_path, cuda=False, verbose=False)
    assert (_ext._CXX_FLAGS, _ext._LD_FLAGS) == before
