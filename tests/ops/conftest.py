"""Shared fixtures: one build of the CPU extension for the whole session (cached on disk)."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(scope="session", autouse=True)
def cpu_extension():
    from redrive.ops import _ext

    torch.set_num_threads(2)
    return _ext.load_cpu()


def make_offsets(counts: list[int]) -> torch.Tensor:
    offsets = torch.zeros(len(counts) + 1, dtype=torch.int64)
    if counts:
        offsets[1:] = torch.cumsum(torch.tensor(counts, dtype=torch.int64), 0)
    return offsets
