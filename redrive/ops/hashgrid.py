"""Multi-resolution hash-grid encoding (Instant-NGP style).

``hash_grid_encode(x, table, config)`` maps points ``x [N, 3]`` in the unit cube to features
``[N, n_levels * n_features_per_level]`` (level-major per point). It is differentiable with
respect to the table and to ``x`` (SDF normals, the eikonal loss), and the input-gradient path is
itself differentiable (second order), so ``autograd.grad(..., create_graph=True)`` followed by a
loss on the gradient trains the table and the MLP exactly as a pure-torch encoding would.

On CUDA with tiny-cuda-nn installed, :class:`HashGrid` can delegate to ``tcnn.Encoding`` (same
config, its own parameter layout).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import torch
from torch.autograd.graph import get_gradient_edge

from redrive.ops import _ext
from redrive.ops._checks import OpArgumentError, check_tensor

__all__ = ["HashGridConfig", "HashGrid", "hash_grid_encode"]

_FEATURE_COUNTS = (1, 2, 4, 8)


@dataclass(frozen=True)
class HashGridConfig:
    """Shape of a multi-resolution hash grid."""

    n_levels: int = 16
    """Number of resolution levels (1..32)."""
    n_features_per_level: int = 2
    """Features stored per table row (1, 2, 4 or 8)."""
    log2_hashmap_size: int = 17
    """log2 of the rows of one hashed level. 2^17 rows x 2 fp32 features = 1 MiB per level: the
    whole table (16 MiB) stays in L3 on the reference machine; 2^19 would not."""
    base_resolution: int = 16
    """Cells per axis of the coarsest level."""
    finest_resolution: int = 2048
    """Cells per axis of the finest level; levels grow geometrically in between."""
    init_scale: float = 1e-4
    """Table entries are initialised uniformly in [-init_scale, init_scale]."""

    def __post_init__(self) -> None:
        if not 1 <= self.n_levels <= 32:
            raise OpArgumentError(f"HashGridConfig.n_levels must be in 1..32, got {self.n_levels}")
        if self.n_features_per_level not in _FEATURE_COUNTS:
            raise OpArgumentError(
                f"HashGridConfig.n_features_per_level must be one of {_FEATURE_COUNTS}, got {self.n_features_per_level}"
            )
        if not 4 <= self.log2_hashmap_size <= 28:
            raise OpArgumentError(f"HashGridConfig.log2_hashmap_size must be in 4..28, got {self.log2_hashmap_size}")
        if not 1 <= self.base_resolution <= self.finest_resolution:
            raise OpArgumentError(
                "HashGridConfig needs 1 <= base_resolution <= finest_resolution, got "
                f"{self.base_resolution}, {self.finest_resolution}"
            )
        if self.finest_resolution >= 2**20:
            raise OpArgumentError("HashGridConfig.finest_resolution must be below 2^20")

    @property
    def per_level_scale(self) -> float:
        if self.n_levels == 1:
            return 1.0
        return math.exp(math.log(self.finest_resolution / self.base_resolution) / (self.n_levels - 1))

    @cached_property
    def resolutions(self) -> tuple[int, ...]:
        """Cells per axis of each level."""
        b = self.per_level_scale
        # The small epsilon keeps exact powers (e.g. 16 * 2^k) from flooring one cell short.
        return tuple(max(1, int(math.floor(self.base_resolution * b**level + 1e-6))) for level in range(self.n_levels))

    @cached_property
    def dense_levels(self) -> tuple[bool, ...]:
        """Levels whose (res+1)^3 vertices fit in one hashed level: indexed densely, no collisions."""
        return tuple((r + 1) ** 3 <= 2**self.log2_hashmap_size for r in self.resolutions)

    @cached_property
    def level_offsets(self) -> tuple[int, ...]:
        """Row offset of each level in the table, plus the total row count at the end."""
        offsets = [0]
        for r, dense in zip(self.resolutions, self.dense_levels):
            rows = (r + 1) ** 3 if dense else 2**self.log2_hashmap_size
            offsets.append(offsets[-1] + (rows + 7) // 8 * 8)  # rows aligned to 8 for vector loads
        if offsets[-1] >= 2**32:
            raise OpArgumentError("hash grid table too large (more than 2^32 rows)")
        return tuple(offsets)

    @property
    def n_rows(self) -> int:
        return self.level_offsets[-1]

    @property
    def out_dim(self) -> int:
        return self.n_levels * self.n_features_per_level

    @property
    def hash_mask(self) -> int:
        return 2**self.log2_hashmap_size - 1

    def init_table(self, dtype: torch.dtype = torch.float32, device: torch.device | str = "cpu",
                   generator: torch.Generator | None = None) -> torch.Tensor:
        """A freshly initialised table ``[n_rows, n_features_per_level]``."""
        t = torch.empty(self.n_rows, self.n_features_per_level, dtype=torch.float32, device=device)
        t.uniform_(-self.init_scale, self.init_scale, generator=generator)
        return t.to(dtype)

    def _kernel_args(self) -> tuple:
        return (
            self.n_features_per_level,
            self.hash_mask,
            list(self.level_offsets),
            list(self.resolutions),
            [int(d) for d in self.dense_levels],
        )


class _HashGridFn(torch.autograd.Function):
    """Forward of the encoding. ``read_table`` is what the kernel reads (the table itself, or a
    half-precision copy of it); gradients go to ``table``."""

    @staticmethod
    def forward(ctx, x, table, read_table, cfg):
        ext = _ext.get(x.device)
        out = ext.hashgrid_forward(x, read_table, *cfg._kernel_args())
        ctx.save_for_backward(x, table, read_table)
        ctx.cfg = cfg
        return out

    @staticmethod
    def backward(ctx, grad_out):
        x, table, read_table = ctx.saved_tensors
        want_x, want_table = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        if not (want_x or want_table):
            return None, None, None, None
        # decided here, where grad mode says whether this pass builds a graph (create_graph)
        sink = _TableGradSink(table, x, want_table)
        gx, gt = _HashGridBackwardFn.apply(grad_out.contiguous(), x, table, read_table, ctx.cfg, want_x, want_table, sink)
        return gx, gt, None, None


class _TableGradSink:
    """``table.grad`` for a kernel to add the table gradient to directly, when the table gradient is
    ``wanted`` and the running backward pass would accumulate it there anyway (``into`` is then
    that tensor, else None).

    A dense table gradient per call is what autograd expects, and the engine then adds it to
    ``table.grad``: a training step queries a grid several times, and allocating, zeroing and
    adding a tens-of-MB gradient per query cost ~15 % of the step. Only a plain ``backward()``
    (no ``create_graph``, whose gradients must stay differentiable) that will run the table's
    gradient accumulator qualifies; ``autograd.grad`` and ``backward(inputs=...)`` without the
    table do not, and get the dense gradient as before. (Post-accumulate-grad hooks on the table
    do not see these additions.) A missing ``table.grad`` is created uninitialised (``fresh``):
    the kernel zeroes it as it adds, and ``call`` drops it again if the kernel fails.
    """

    def __init__(self, table: torch.Tensor, x: torch.Tensor, wanted: bool):
        self.table, self.into, self.fresh = table, None, False
        will_execute = getattr(torch._C, "_will_engine_execute_node", None)  # private: may go away
        if not wanted or will_execute is None or torch.is_grad_enabled() or not table.is_leaf or table.dtype != x.dtype:
            return
        try:
            if not will_execute(get_gradient_edge(table).node):
                return
        except RuntimeError:  # autograd.grad() refuses the question for its own inputs
            return
        if table.grad is None:
            table.grad = torch.empty_like(table, memory_format=torch.contiguous_format)
            self.fresh = True
        g = table.grad
        # a gradient with its own graph (left by a create_graph pass) must not change behind autograd
        if g.is_contiguous() and not g.requires_grad:
            self.into = g

    def call(self, kernel, *args):
        """``kernel(*args, into, into_uninit)``; an uninitialised ``table.grad`` never outlives a
        failed call."""
        try:
            return kernel(*args, self.into, self.fresh)
        except BaseException:
            if self.fresh:
                self.table.grad = None
            raise


class _HashGridBackwardFn(torch.autograd.Function):
    """(grad_out, x, table) -> (grad_x, grad_table); differentiable again for the eikonal loss.
    The table gradient is None when it went straight to ``table.grad`` (``_TableGradSink``)."""

    @staticmethod
    def forward(ctx, grad_out, x, table, read_table, cfg, want_x, want_table, sink):
        ext = _ext.get(x.device)
        args = (x, read_table, grad_out, bool(want_table), bool(want_x), *cfg._kernel_args())
        gt, gx = sink.call(ext.hashgrid_backward, *args)
        if gt is not None and gt.dtype != table.dtype:
            gt = gt.to(table.dtype)
        ctx.save_for_backward(grad_out, x, table, read_table)
        ctx.cfg = cfg
        ctx.want = (want_x, want_table)
        return gx, gt

    @staticmethod
    def backward(ctx, gg_x, gg_table):
        grad_out, x, table, read_table = ctx.saved_tensors
        cfg = ctx.cfg
        need_g, need_x, need_t = ctx.needs_input_grad[0], ctx.needs_input_grad[1], ctx.needs_input_grad[2]
        ext = _ext.get(x.device)
        d_g = d_x = d_t = None
        if gg_x is not None and ctx.want[0]:
            args = (x, read_table, grad_out, gg_x.contiguous(), bool(need_t), bool(need_g), bool(need_x), *cfg._kernel_args())
            d_t, d_g, d_x = _TableGradSink(table, x, need_t).call(ext.hashgrid_backward_backward, *args)
        if gg_table is not None and ctx.want[1]:
            # grad_table = scatter of w_c(x) * grad_out: linear in grad_out (its transpose is the
            # forward encoding of gg_table) and smooth in x (the input-gradient kernel with
            # gg_table in place of the table).
            ggt = gg_table.to(x.dtype).contiguous()
            if need_g:
                e = ext.hashgrid_forward(x, ggt, *cfg._kernel_args())
                d_g = e if d_g is None else d_g + e
            if need_x:
                _, e = ext.hashgrid_backward(x, ggt, grad_out, False, True, *cfg._kernel_args(), None, False)
                d_x = e if d_x is None else d_x + e
        if d_t is not None and d_t.dtype != table.dtype:
            d_t = d_t.to(table.dtype)
        return d_g, d_x, d_t, None, None, None, None, None


def hash_grid_encode(
    x: torch.Tensor,
    table: torch.Tensor,
    config: HashGridConfig,
    read_table: torch.Tensor | None = None,
) -> torch.Tensor:
    """Encode points with a multi-resolution hash grid.

    Args:
        x: ``[N, 3]`` positions in the unit cube (float32, or float64 for gradcheck). Values
            outside are clamped to the cube and get zero gradient along the clamped axis.
        table: ``[config.n_rows, F]`` learnable table (float32/float64, or float16 storage).
        config: the grid's shape.
        read_table: optional copy of ``table`` for the kernel to read, typically a float16 copy
            of a float32 master table (halves the cache footprint; gradients still go to
            ``table`` in its own precision).

    Returns:
        ``[N, n_levels * F]`` features, level-major per point, in ``x.dtype``.
    """
    check_tensor("x", x, shape=[None, 3], dtypes=[torch.float32, torch.float64])
    device = x.device
    allowed = [torch.float64] if x.dtype == torch.float64 else [torch.float32, torch.float16]
    check_tensor("table", table, shape=[config.n_rows, config.n_features_per_level], dtypes=allowed, device=device)
    if read_table is None:
        read_table = table.detach()
    else:
        check_tensor(
            "read_table", read_table, shape=[config.n_rows, config.n_features_per_level], dtypes=allowed, device=device
        )
        read_table = read_table.detach()
    return _HashGridFn.apply(x.contiguous(), table, read_table.contiguous(), config)


class HashGrid(torch.nn.Module):
    """A hash-grid encoding with its own table.

    Args:
        config: grid shape.
        storage: ``"float32"`` (default) or ``"float16"``: the kernel reads a float16 copy of the
            float32 master table, refreshed at each forward in training (half the cache
            footprint; the optimiser still sees float32 parameters and gradients).
        backend: ``"auto"`` (tiny-cuda-nn on CUDA when importable, else the redrive kernels),
            ``"redrive"`` or ``"tcnn"``.
    """

    def __init__(self, config: HashGridConfig | None = None, storage: str = "float32", backend: str = "auto"):
        super().__init__()
        self.config = config or HashGridConfig()
        if storage not in ("float32", "float16"):
            raise OpArgumentError(f"HashGrid storage must be 'float32' or 'float16', got {storage!r}")
        if backend not in ("auto", "redrive", "tcnn"):
            raise OpArgumentError(f"HashGrid backend must be 'auto', 'redrive' or 'tcnn', got {backend!r}")
        self.storage = storage
        self.backend = backend
        self.table = torch.nn.Parameter(self.config.init_table())
        self._half: torch.Tensor | None = None
        self._half_version = -1
        self._tcnn: torch.nn.Module | None = None

    @property
    def out_dim(self) -> int:
        return self.config.out_dim

    def _read_table(self) -> torch.Tensor | None:
        if self.storage == "float32":
            return None
        version = self.table._version
        if self._half is None or self._half_version != version or self._half.device != self.table.device:
            with torch.no_grad():
                self._half = self.table.detach().to(torch.float16)
            self._half_version = version
        return self._half

    def _tcnn_encoding(self):
        if self._tcnn is None:
            import tinycudann as tcnn  # noqa: PLC0415

            c = self.config
            self._tcnn = tcnn.Encoding(
                3,
                {
                    "otype": "HashGrid",
                    "n_levels": c.n_levels,
                    "n_features_per_level": c.n_features_per_level,
                    "log2_hashmap_size": c.log2_hashmap_size,
                    "base_resolution": c.base_resolution,
                    "per_level_scale": c.per_level_scale,
                },
            ).to(self.table.device)
        return self._tcnn

    def _use_tcnn(self, x: torch.Tensor) -> bool:
        if self.backend == "redrive" or not x.is_cuda:
            if self.backend == "tcnn" and not x.is_cuda:
                raise OpArgumentError("HashGrid backend 'tcnn' needs CUDA tensors")
            return False
        try:
            import tinycudann  # noqa: F401, PLC0415
        except ImportError:
            if self.backend == "tcnn":
                raise OpArgumentError("HashGrid backend 'tcnn' requested but tinycudann is not installed") from None
            return False
        return True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x [N, 3]`` in the unit cube -> ``[N, out_dim]``."""
        if self._use_tcnn(x):
            # tiny-cuda-nn keeps its own parameters and outputs half precision by default.
            return self._tcnn_encoding()(x).to(x.dtype)
        return hash_grid_encode(x, self.table, self.config, self._read_table())
