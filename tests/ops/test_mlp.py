from __future__ import annotations

import pytest
import torch
from torch import nn

from redrive.ops import OpArgumentError, mlp_forward, run_mlp
from redrive.ops.reference import mlp_forward_ref


def _weights(n_in: int, hidden: int, n_out: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(hidden, n_in, generator=g) / n_in**0.5, torch.randn(hidden, generator=g) * 0.1,
            torch.randn(n_out, hidden, generator=g) / hidden**0.5, torch.randn(n_out, generator=g) * 0.1)


# the fields' shapes (geometry 24 -> 64 -> 16, colour 48 -> 64 -> 3, sky 27 -> 64 -> 3), a hidden
# layer that is not a multiple of 8 (scalar path), point counts with a remainder of the 8-point groups
@pytest.mark.parametrize("shape", [(24, 64, 16), (48, 64, 3), (27, 64, 3), (5, 12, 9), (1, 8, 1)])
@pytest.mark.parametrize("n", [0, 1, 7, 8, 1003])
def test_mlp_matches_reference(shape, n):
    w = _weights(*shape)
    x = torch.randn(n, shape[0], generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(mlp_forward(x, *w), mlp_forward_ref(x, *w), rtol=1e-5, atol=1e-5)


def test_mlp_scalar_and_simd_paths_agree():
    # 1001 points: groups of 8 (AVX2) or 16 (AVX-512) lanes on the SIMD path, the rest on the
    # scalar one; a lone point always takes the scalar path, 16 points always the SIMD one
    w = _weights(20, 64, 16)
    x = torch.randn(1001, 20, generator=torch.Generator().manual_seed(2))
    out = mlp_forward(x, *w)
    torch.testing.assert_close(out[-1:], mlp_forward(x[-1:], *w), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(out[:16], mlp_forward(x[:16], *w), rtol=0, atol=0)


def test_run_mlp_uses_torch_when_gradients_are_needed():
    net = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 2))
    x = torch.randn(50, 6)
    out = run_mlp(net, x)
    assert out.requires_grad  # the weights train: torch's layers, with a graph
    out.sum().backward()
    assert net[0].weight.grad is not None
    with torch.no_grad():
        fast = run_mlp(net, x)
        torch.testing.assert_close(fast, net(x), rtol=1e-5, atol=1e-5)


def test_mlp_rejects_shapes_that_do_not_chain():
    w1, b1, w2, b2 = _weights(4, 8, 2)
    with pytest.raises(OpArgumentError, match="w1"):
        mlp_forward(torch.randn(3, 5), w1, b1, w2, b2)
    with pytest.raises(OpArgumentError, match="w2"):
        mlp_forward(torch.randn(3, 4), w1, b1, torch.randn(2, 7), b2)
    with pytest.raises(OpArgumentError, match="dtype"):
        mlp_forward(torch.randn(3, 4, dtype=torch.float64), w1, b1, w2, b2)
