"""Argument checks shared by the public op wrappers: clear messages naming the argument."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from redrive.errors import RedriveError


class OpArgumentError(RedriveError, ValueError):
    """An op was called with a tensor of the wrong shape, dtype or device."""


def check_tensor(
    name: str,
    t: torch.Tensor,
    *,
    shape: Sequence[int | None] | None = None,
    dtypes: Sequence[torch.dtype] | None = None,
    device: torch.device | None = None,
) -> None:
    """Raise OpArgumentError unless ``t`` matches; ``None`` in ``shape`` accepts any size."""
    if not isinstance(t, torch.Tensor):
        raise OpArgumentError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
    if shape is not None:
        ok = t.dim() == len(shape) and all(s is None or s == d for s, d in zip(shape, t.shape))
        if not ok:
            want = "[" + ", ".join("*" if s is None else str(s) for s in shape) + "]"
            raise OpArgumentError(f"{name} must have shape {want}, got {list(t.shape)}")
    if dtypes is not None and t.dtype not in dtypes:
        names = ", ".join(str(d).replace("torch.", "") for d in dtypes)
        raise OpArgumentError(f"{name} must have dtype {names}, got {str(t.dtype).replace('torch.', '')}")
    if device is not None and t.device != device:
        raise OpArgumentError(f"{name} is on {t.device} but the other inputs are on {device}")


def check_offsets(name: str, offsets: torch.Tensor, n_samples: int, device: torch.device) -> None:
    """Packed layout: offsets [n_rays + 1] int64, non-decreasing, from 0 to n_samples."""
    check_tensor(name, offsets, shape=[None], dtypes=[torch.int64], device=device)
    if offsets.numel() < 1:
        raise OpArgumentError(f"{name} must have n_rays + 1 >= 1 entries")
    first, last = int(offsets[0]), int(offsets[-1])
    if first != 0 or last != n_samples:
        raise OpArgumentError(f"{name} must start at 0 and end at the sample count {n_samples}, got {first}..{last}")
