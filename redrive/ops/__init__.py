"""Python side of the native kernels (see docs/kernels.md).

Importing this package is cheap: the public names are resolved on first access, and the C++
extension is built/loaded only when an op first runs (or by ``redrive build-ext``).
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "HashGridConfig": "redrive.ops.hashgrid",
    "HashGrid": "redrive.ops.hashgrid",
    "hash_grid_encode": "redrive.ops.hashgrid",
    "OccupancyGridConfig": "redrive.ops.occupancy",
    "OccupancyGrid": "redrive.ops.occupancy",
    "MarchConfig": "redrive.ops.occupancy",
    "ray_march": "redrive.ops.occupancy",
    "BoxHits": "redrive.ops.raybox",
    "ray_box_intersect": "redrive.ops.raybox",
    "PackedSamples": "redrive.ops.packed",
    "offsets_from_counts": "redrive.ops.packed",
    "render_weights": "redrive.ops.packed",
    "composite": "redrive.ops.packed",
    "merge_packed": "redrive.ops.packed",
    "neus_alpha": "redrive.ops.packed",
    "mlp_forward": "redrive.ops.mlp",
    "run_mlp": "redrive.ops.mlp",
    "SphereTraceConfig": "redrive.ops.tracing",
    "SphereTraceResult": "redrive.ops.tracing",
    "sphere_trace": "redrive.ops.tracing",
    "ExtensionBuildError": "redrive.ops._ext",
    "OpArgumentError": "redrive.ops._checks",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'redrive.ops' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
