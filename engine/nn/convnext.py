"""ConvNeXt blocks over frame sequences (Liu et al. 2022, as 1-D in Vocos), written once.

- :class:`ConvNeXtBlock` -- depthwise convolution (kernel 7), LayerNorm over channels, a pointwise MLP
  (``dim -> intermediate -> dim``, GELU) and a learnt per-channel scale on the residual branch.
- :class:`ConvNeXtBackbone` -- a 7-wide convolution from the input features (e.g. an 80-band mel) to
  ``dim`` channels, LayerNorm, ``layers`` blocks and a final LayerNorm. Everything runs at the input's
  frame rate: no upsampling, which is why a vocoder built on it is cheap.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class ConvNeXtBlock(nn.Module):
    """x : Tensor[B x dim x N] -> Tensor[B x dim x N]; residual, so it starts near the identity."""

    def __init__(self, dim: int, intermediate: int, kernel: int = 7, layer_scale: float = 1e-6):
        super().__init__()
        self.dwconv = nn.Conv1d(dim, dim, kernel, padding=kernel // 2, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.pw1 = nn.Linear(dim, intermediate)
        self.act = nn.GELU()
        self.pw2 = nn.Linear(intermediate, dim)
        self.gamma = nn.Parameter(torch.full((dim,), layer_scale))

    def forward(self, x: Tensor) -> Tensor:
        y = self.dwconv(x).transpose(1, 2)  # [B x N x dim]: LayerNorm and the MLP act per frame
        y = self.pw2(self.act(self.pw1(self.norm(y))))
        return x + (self.gamma * y).transpose(1, 2)


class ConvNeXtBackbone(nn.Module):
    """features Tensor[B x in_channels x N] -> Tensor[B x N x dim] (channels last, ready for a linear head)."""

    def __init__(self, in_channels: int, dim: int, intermediate: int, layers: int, kernel: int = 7):
        super().__init__()
        self.embed = nn.Conv1d(in_channels, dim, kernel, padding=kernel // 2)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.blocks = nn.ModuleList(ConvNeXtBlock(dim, intermediate, kernel, 1.0 / layers) for _ in range(layers))
        self.final_norm = nn.LayerNorm(dim, eps=1e-6)
        self.apply(_init)

    def forward(self, x: Tensor) -> Tensor:
        x = self.norm(self.embed(x).transpose(1, 2)).transpose(1, 2)
        for block in self.blocks:
            x = block(x)
        return self.final_norm(x.transpose(1, 2))


def _init(module: nn.Module) -> None:
    if isinstance(module, (nn.Conv1d, nn.Linear)):
        nn.init.trunc_normal_(module.weight, std=0.02)
        nn.init.zeros_(module.bias)
