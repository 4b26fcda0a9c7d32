"""PixelRNN (van den Oord et al. 2016a, "Pixel Recurrent Neural Networks") over melody grids: Row LSTM
and Diagonal BiLSTM layers, one row per bar, one column per 16th step, a 90-way softmax per pixel.

Both start with a mask-A k x k convolution (no output sees its own pixel), stack LSTM layers with
residual connections, and end in 1 x 1 convolutions to the logits. A learned bias per column (the step's
place in the bar) is added after the first convolution; it depends on no input.

- **Row LSTM** computes a whole row at once: input-to-state is a mask-B 1 x k convolution of the row's
  features, state-to-state a 1 x k convolution of the row above's hidden state. Its context is a
  triangle above the pixel (it widens by k // 2 columns per row), so some earlier steps are out of reach.
- **Diagonal BiLSTM** skews the map (row r shifted right by r) so that columns of the skewed map are
  diagonals of the grid, and runs an LSTM along them: state-to-state is a 2 x 1 convolution of the
  previous diagonal, so the state at (r, c) reads (r, c - 1) and (r - 1, c). A second LSTM does the same
  on the mirrored grid; its output is shifted down one row before the two are added, which keeps it to
  rows above. Together they see every earlier pixel -- given one change from the paper: in the first
  layer the mirrored LSTM also reads the pixels themselves (safe, as it is shifted a row down). With
  mask-A features alone, the last pixel of a row (the step before the bar line) enters no feature of its
  own row, only features right of the next row's start, so the first step of every bar could not see the
  step just before it.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..nn.masked import ColumnBias, MaskedConv2d, shift_down

LAYER_TYPES = ("row", "diagonal")


@dataclass
class PixelRNNConfig:
    """The shape of a PixelRNN; stored next to its weights."""

    num_classes: int = 90  # melody events (engine.core.midi)
    width: int = 16  # columns: 16th steps per bar
    max_bars: int = 16  # rows it was trained on, and the most it continues or inpaints
    layer: str = "row"  # "row" (Row LSTM) or "diagonal" (Diagonal BiLSTM)
    embed_dim: int = 32
    hidden: int = 64  # LSTM state channels (and the residual stream)
    layers: int = 2
    first_kernel: int = 7  # the mask-A k x k convolution
    kernel: int = 3  # Row LSTM input-to-state and state-to-state width
    head_channels: int = 128


def _lstm(gates: Tensor, c: Tensor, dim: int = 1) -> tuple[Tensor, Tensor]:
    """One LSTM update from pre-activations (4H along ``dim``) and the cell state (H along ``dim``) -> (h, c)."""
    i, f, o, g = gates.chunk(4, dim=dim)
    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(c), c


class RowLSTM(nn.Module):
    """x: [B x D x H x W] -> hidden states [B x D x H x W], computed row by row."""

    def __init__(self, cfg: PixelRNNConfig):
        super().__init__()
        d, k = cfg.hidden, cfg.kernel
        self.input_to_state = MaskedConv2d(d, 4 * d, (1, k), "B")
        self.state_to_state = nn.Conv1d(d, 4 * d, k, padding=k // 2)

    def run(self, x: Tensor) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        """-> (hidden states [B x D x H x W], the last row's (h, c) [B x D x W])."""
        b, d, _, w = x.shape
        h = c = x.new_zeros(b, d, w)
        out = []
        for gates_in in self.input_to_state(x).unbind(2):  # unbind: one gradient buffer, not one per row
            h, c = _lstm(gates_in + self.state_to_state(h), c)
            out.append(h)
        return torch.stack(out, dim=2), (h, c)

    def forward(self, x: Tensor) -> Tensor:
        return self.run(x)[0]

    def step(self, row: Tensor, state: tuple[Tensor, Tensor]) -> tuple[Tensor, Tensor]:
        """One row [B x D x 1 x W] given the row above's (h, c) -> this row's (h, c)."""
        return _lstm(self.input_to_state(row)[:, :, 0] + self.state_to_state(state[0]), state[1])


def skew(x: Tensor) -> Tensor:
    """Shift row r right by r: [B x C x H x W] -> [B x C x H x (W + H - 1)], zeros elsewhere."""
    b, c, rows, w = x.shape
    padded = F.pad(x, (0, rows))  # rows of length W + H
    return padded.reshape(b, c, rows * (w + rows))[:, :, : rows * (w + rows - 1)].reshape(b, c, rows, w + rows - 1)


def unskew(x: Tensor, width: int) -> Tensor:
    """The inverse of :func:`skew`: [B x C x H x (W + H - 1)] -> [B x C x H x W]."""
    b, c, rows, _ = x.shape
    index = (torch.arange(rows, device=x.device)[:, None] + torch.arange(width, device=x.device)[None, :])
    return x.gather(3, index.expand(b, c, rows, width))


class DiagonalLSTM(nn.Module):
    """One direction: x [B x D x H x W] -> hidden states [B x D x H x W], diagonal by diagonal."""

    def __init__(self, cfg: PixelRNNConfig):
        super().__init__()
        d = cfg.hidden
        self.input_to_state = nn.Conv2d(d, 4 * d, 1)  # mask B of a 1 x 1 kernel: the pixel's own features
        # The 2 x 1 state-to-state convolution as one matrix over [h(r - 1), h(r)] (channels last: faster).
        self.state_to_state = nn.Linear(2 * d, 4 * d)

    def forward(self, x: Tensor) -> Tensor:
        b, d, rows, w = x.shape
        h = c = x.new_zeros(b, rows, d)
        out = []
        for gates_in in self.input_to_state(skew(x)).permute(0, 3, 2, 1).unbind(1):  # one diagonal at a time
            above = F.pad(h, (0, 0, 1, 0))[:, :rows]
            h, c = _lstm(gates_in + self.state_to_state(torch.cat([above, h], dim=2)), c, dim=2)
            out.append(h)
        return unskew(torch.stack(out, dim=3).transpose(1, 2), w)


class DiagonalBiLSTM(nn.Module):
    """Both directions; the mirrored one is shifted down a row.  [B x D x H x W] -> [B x D x H x W]."""

    def __init__(self, cfg: PixelRNNConfig):
        super().__init__()
        self.forward_lstm = DiagonalLSTM(cfg)
        self.backward_lstm = DiagonalLSTM(cfg)

    def forward(self, x: Tensor, pixels: Tensor | None = None) -> Tensor:
        """``pixels`` [B x D x H x W] (features of each pixel itself) go to the mirrored LSTM only."""
        mirrored = x if pixels is None else x + pixels
        mirrored = self.backward_lstm(mirrored.flip(3)).flip(3)
        return self.forward_lstm(x) + shift_down(mirrored)


class PixelRNN(nn.Module):
    """Logits for every pixel of a melody grid given the pixels before it in raster order.

    x : LongTensor[B x H x W] events -> logits Tensor[B x K x H x W]
    """

    def __init__(self, cfg: PixelRNNConfig):
        super().__init__()
        if cfg.layer not in LAYER_TYPES:
            raise ValueError(f"layer must be one of {LAYER_TYPES}, got {cfg.layer!r}")
        self.cfg = cfg
        d, k = cfg.hidden, cfg.first_kernel
        self.embedding = nn.Embedding(cfg.num_classes, cfg.embed_dim)
        self.first = MaskedConv2d(cfg.embed_dim, d, (k, k), "A")
        self.position = ColumnBias(d, cfg.width)
        layer = RowLSTM if cfg.layer == "row" else DiagonalBiLSTM
        self.pixels = nn.Conv2d(cfg.embed_dim, d, 1) if cfg.layer == "diagonal" else None
        self.lstms = nn.ModuleList(layer(cfg) for _ in range(cfg.layers))
        self.residuals = nn.ModuleList(nn.Conv2d(d, d, 1) for _ in range(cfg.layers))
        self.head = nn.Sequential(
            nn.ReLU(), nn.Conv2d(d, cfg.head_channels, 1), nn.ReLU(), nn.Conv2d(cfg.head_channels, cfg.num_classes, 1)
        )

    def embed(self, x: Tensor) -> Tensor:
        """LongTensor[B x H x W] -> Tensor[B x E x H x W]."""
        return self.embedding(x).permute(0, 3, 1, 2)

    def from_embedding(self, e: Tensor) -> Tensor:
        """Embedded grid [B x E x H x W] -> logits [B x K x H x W] (the ordering tests differentiate this)."""
        x = self.position(self.first(e))
        for i, (lstm, residual) in enumerate(zip(self.lstms, self.residuals)):
            out = lstm(x, self.pixels(e)) if self.pixels is not None and i == 0 else lstm(x)
            x = x + residual(out)
        return self.head(x)

    def forward(self, x: Tensor) -> Tensor:
        return self.from_embedding(self.embed(x))

    # -- row by row (sampling, Row LSTM only): the rows above once per row, the current row once per step ---
    @property
    def samples_by_row(self) -> bool:
        return self.cfg.layer == "row"

    def row_context(self, above: Tensor) -> dict[str, Tensor | list]:
        """The rows above as the next row needs them.  above: LongTensor[B x r x W] (r may be 0)."""
        b, rows, w = above.shape
        tail = above[:, max(rows - self.cfg.first_kernel // 2, 0):]  # what the mask-A convolution reaches
        if rows == 0:
            zeros = self.embedding.weight.new_zeros(b, self.cfg.hidden, w)
            return {"tail": tail, "states": [(zeros, zeros)] * len(self.lstms)}
        x, states = self.position(self.first(self.embed(above))), []
        for lstm, residual in zip(self.lstms, self.residuals):
            out, state = lstm.run(x)
            states.append(state)
            x = x + residual(out)
        return {"tail": tail, "states": states}

    def row_logits(self, row: Tensor, context: dict[str, Tensor | list]) -> Tensor:
        """Logits of one row given :meth:`row_context`.  row: LongTensor[B x 1 x W] -> [B x K x 1 x W]."""
        x = self.position(self.first(self.embed(torch.cat([context["tail"], row], dim=1)))[:, :, -1:])
        for lstm, residual, state in zip(self.lstms, self.residuals, context["states"]):
            h, _ = lstm.step(x, state)
            x = x + residual(h.unsqueeze(2))
        return self.head(x)
