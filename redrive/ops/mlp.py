"""Inference of the fields' small MLPs (``Linear -> ReLU -> Linear``) in one native pass.

torch evaluates such an MLP as a matmul, a bias add and a ReLU over ``[N, hidden]`` temporaries
in memory; the native kernel keeps each point's hidden layer in registers (docs/kernels.md). It
is forward only: training, which needs gradients, keeps torch's layers (``run_mlp`` chooses).
"""

from __future__ import annotations

import torch
from torch import nn

from redrive.ops import _ext
from redrive.ops._checks import OpArgumentError, check_tensor

__all__ = ["mlp_forward", "run_mlp"]


def mlp_forward(x: torch.Tensor, w1: torch.Tensor, b1: torch.Tensor, w2: torch.Tensor, b2: torch.Tensor) -> torch.Tensor:
    """``relu(x w1^T + b1) w2^T + b2``: ``x [N, I]``, ``w1 [H, I]``, ``b1 [H]``, ``w2 [O, H]``,
    ``b2 [O]`` (torch ``Linear`` layouts), float32 -> ``[N, O]``. No gradient."""
    check_tensor("x", x, shape=[None, None], dtypes=[torch.float32])
    n_in = x.shape[1]
    check_tensor("w1", w1, shape=[None, n_in], dtypes=[torch.float32], device=x.device)
    hidden = w1.shape[0]
    check_tensor("b1", b1, shape=[hidden], dtypes=[torch.float32], device=x.device)
    check_tensor("w2", w2, shape=[None, hidden], dtypes=[torch.float32], device=x.device)
    check_tensor("b2", b2, shape=[w2.shape[0]], dtypes=[torch.float32], device=x.device)
    if hidden == 0:
        raise OpArgumentError("mlp_forward needs a hidden layer of at least one unit")
    args = (t.detach().contiguous() for t in (x, w1, b1, w2, b2))
    return _ext.get(x.device).mlp_forward(*args)


def run_mlp(net: nn.Sequential, x: torch.Tensor) -> torch.Tensor:
    """``net(x)`` for ``net = Sequential(Linear, ReLU, Linear)``: the native kernel when nothing
    needs a gradient and ``x`` is float32 on the CPU, torch's layers otherwise."""
    first, second = net[0], net[-1]
    if x.device.type != "cpu" or x.dtype != torch.float32 or (torch.is_grad_enabled() and (
            x.requires_grad or first.weight.requires_grad or second.weight.requires_grad)):
        return net(x)
    return mlp_forward(x, first.weight, first.bias, second.weight, second.bias)
