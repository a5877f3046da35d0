"""Shared fixtures: one build of the CPU extension for the whole session (cached on disk)."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(scope="session", autouse=True)
def cpu_extension():
    from redrive.ops import _ext

    torch.set_num_threads(2)
    return _ext.load_cpu()
