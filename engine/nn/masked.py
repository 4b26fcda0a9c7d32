"""Masked convolutions and position biases shared by the 2-D autoregressive models (PixelCNN, PixelRNN).

Pixels are generated in raster order: row by row, left to right within a row. A convolution with mask
``"A"`` lets the output at (r, c) see the input rows above r and the input pixels left of c in row r;
mask ``"B"`` also lets it see the input at (r, c) itself. The first layer of a model uses mask A (so no
output sees its own pixel), every later layer mask B (features at (r, c) already depend only on pixels
before (r, c)).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def raster_mask(kernel: tuple[int, int], mask_type: str) -> Tensor:
    """The 0/1 mask of a (kh x kw) kernel centred on the output pixel.  -> float32[kh x kw]."""
    if mask_type not in ("A", "B"):
        raise ValueError(f"mask_type must be 'A' or 'B', got {mask_type!r}")
    kh, kw = kernel
    mask = torch.ones(kh, kw)
    mask[kh // 2, kw // 2 + (mask_type == "B"):] = 0  # the centre row: the centre pixel (A) and what is right of it
    mask[kh // 2 + 1:] = 0  # rows below the centre
    return mask


class MaskedConv2d(nn.Conv2d):
    """A same-size 2-D convolution whose kernel is masked to raster order (mask ``"A"`` or ``"B"``).

    x : Tensor[B x C_in x H x W] -> Tensor[B x C_out x H x W]
    """

    def __init__(self, in_channels: int, out_channels: int, kernel: tuple[int, int], mask_type: str):
        kh, kw = kernel
        if kh % 2 == 0 or kw % 2 == 0:
            raise ValueError(f"masked kernels have odd sizes, got {kernel}")
        super().__init__(in_channels, out_channels, kernel, padding=(kh // 2, kw // 2))
        self.mask_type = mask_type
        self.register_buffer("mask", raster_mask(kernel, mask_type), persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        return F.conv2d(x, self.weight * self.mask, self.bias, padding=self.padding)


def shift_down(x: Tensor, rows: int = 1) -> Tensor:
    """Move a feature map down by ``rows`` (zeros enter at the top): row r then holds what row r - rows held."""
    return F.pad(x, (0, 0, rows, 0))[:, :, : x.shape[2], :]


class ColumnBias(nn.Module):
    """A learned bias per channel and column: where in the bar a step is (columns are 16th steps of a bar).

    It depends on no input, so it can enter any layer without breaking the ordering.
    x : Tensor[B x C x H x W] -> the same, plus bias[C x 1 x W]
    """

    def __init__(self, channels: int, width: int):
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(channels, 1, width))

    def forward(self, x: Tensor) -> Tensor:
        return x + self.bias[:, :, : x.shape[-1]]
