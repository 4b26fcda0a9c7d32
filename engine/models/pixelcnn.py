"""Gated PixelCNN (van den Oord et al. 2016, "Conditional Image Generation with PixelCNN Decoders")
over melody grids: one row per bar, one column per 16th step, a 90-way softmax per pixel.

Two stacks per layer, so that there is no blind spot:

- the *vertical* stack convolves a (k//2 + 1) x k window of the rows above and the current row; it
  reaches the horizontal stack only shifted down by one row, so what it adds at (r, c) comes from rows
  above r alone (every column, as far as the kernel reaches);
- the *horizontal* stack convolves the current row left of c, with a masked 1 x k kernel: mask A in the
  first layer (not the pixel itself), mask B after.

Each stack goes through gated units ``tanh(W_f * x) * sigmoid(W_g * x)`` (the same gate as WaveNet, which
is PixelCNN in one dimension); the horizontal stack has residual connections (from the second layer on:
the first layer's input holds the pixel itself) and a skip connection from every layer to the output
head. A learned bias per column (the step's place in the bar) enters every gate; it depends on no input.

After ``layers`` layers the output at (r, c) sees (k//2) * layers columns to either side in the rows above
and as many to the left in row r: with k = 5 and 8 layers, every earlier step of a 16-step bar grid.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch.nn.functional as F
from torch import Tensor, nn

from ..nn.masked import ColumnBias, MaskedConv2d, shift_down
from ..nn.wavenet.layers import gate


@dataclass
class PixelCNNConfig:
    """The shape of a gated PixelCNN; stored next to its weights."""

    num_classes: int = 90  # melody events (engine.core.midi)
    width: int = 16  # columns: 16th steps per bar
    max_bars: int = 16  # rows it was trained on, and the most it continues or inpaints
    embed_dim: int = 32
    channels: int = 64  # per stack
    layers: int = 8
    kernel: int = 5  # odd
    skip_channels: int = 128


class GatedLayer(nn.Module):
    """One gated layer of both stacks.  v, h: [B x C x H x W] -> v', h', skip [B x S x H x W]."""

    def __init__(self, cfg: PixelCNNConfig, in_channels: int, first: bool):
        super().__init__()
        c, k = cfg.channels, cfg.kernel
        self.first = first
        self.k = k
        self.vertical = nn.Conv2d(in_channels, 2 * c, (k // 2 + 1, k))
        self.horizontal = MaskedConv2d(in_channels, 2 * c, (1, k), "A" if first else "B")
        self.v_to_h = nn.Conv2d(2 * c, 2 * c, 1)
        self.v_bias = ColumnBias(2 * c, cfg.width)
        self.h_bias = ColumnBias(2 * c, cfg.width)
        self.residual = nn.Conv2d(c, c, 1)
        self.skip = nn.Conv2d(c, cfg.skip_channels, 1)

    def vertical_part(self, v: Tensor) -> tuple[Tensor, Tensor]:
        """v [B x C x H x W] -> (the next layer's v, the pre-activation that row r + 1 of the horizontal stack reads)."""
        k = self.k
        v_pre = self.vertical(F.pad(v, (k // 2, k // 2, k // 2, 0)))  # rows r - k//2 .. r
        return gate(self.v_bias(v_pre)), v_pre

    def horizontal_part(self, h: Tensor, above: Tensor) -> tuple[Tensor, Tensor]:
        """h [B x C x H x W] and the vertical pre-activation of the row above -> (the next layer's h, skip)."""
        h_out = gate(self.h_bias(self.horizontal(h) + self.v_to_h(above)))
        h_next = self.residual(h_out) if self.first else h + self.residual(h_out)
        return h_next, self.skip(h_out)

    def forward(self, v: Tensor, h: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        v_next, v_pre = self.vertical_part(v)
        h_next, skip = self.horizontal_part(h, shift_down(v_pre))  # the vertical part: rows above r only
        return v_next, h_next, skip


class GatedPixelCNN(nn.Module):
    """Logits for every pixel of a melody grid given the pixels before it in raster order.

    x : LongTensor[B x H x W] events -> logits Tensor[B x K x H x W]
    """

    def __init__(self, cfg: PixelCNNConfig):
        super().__init__()
        if cfg.kernel % 2 == 0:
            raise ValueError(f"kernel must be odd, got {cfg.kernel}")
        self.cfg = cfg
        self.embedding = nn.Embedding(cfg.num_classes, cfg.embed_dim)
        self.layers = nn.ModuleList(
            GatedLayer(cfg, cfg.embed_dim if i == 0 else cfg.channels, first=i == 0) for i in range(cfg.layers)
        )
        self.head = nn.Sequential(
            nn.ReLU(), nn.Conv2d(cfg.skip_channels, cfg.skip_channels, 1), nn.ReLU(),
            nn.Conv2d(cfg.skip_channels, cfg.num_classes, 1),
        )

    def embed(self, x: Tensor) -> Tensor:
        """LongTensor[B x H x W] -> Tensor[B x E x H x W]."""
        return self.embedding(x).permute(0, 3, 1, 2)

    def from_embedding(self, e: Tensor) -> Tensor:
        """Embedded grid [B x E x H x W] -> logits [B x K x H x W] (the ordering tests differentiate this)."""
        v = h = e
        skip = 0
        for layer in self.layers:
            v, h, s = layer(v, h)
            skip = skip + s
        return self.head(skip)

    def forward(self, x: Tensor) -> Tensor:
        return self.from_embedding(self.embed(x))

    # -- row by row (sampling): the vertical stack once per row, the horizontal stack once per step --------
    samples_by_row = True

    def row_context(self, above: Tensor) -> list[Tensor]:
        """What the vertical stack gives the next row, per layer.  above: LongTensor[B x r x W] (r may be 0)."""
        b, rows, w = above.shape
        if rows == 0:  # shift_down lets only zeros into row 0
            return [self.embedding.weight.new_zeros(b, 2 * self.cfg.channels, 1, w)] * len(self.layers)
        v, out = self.embed(above), []
        for layer in self.layers:
            v, v_pre = layer.vertical_part(v)
            out.append(v_pre[:, :, -1:])
        return out

    def row_logits(self, row: Tensor, context: list[Tensor]) -> Tensor:
        """Logits of one row given :meth:`row_context` of the rows above.  row: LongTensor[B x 1 x W] -> [B x K x 1 x W]."""
        h, skip = self.embed(row), 0
        for layer, above in zip(self.layers, context):
            h, s = layer.horizontal_part(h, above)
            skip = skip + s
        return self.head(skip)
