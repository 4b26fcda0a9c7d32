"""Function-preserving widening of a trained LSTM stack (Net2Net-style, new units' fan-out zeroed).

A run that widens a trained network would otherwise restart the widened part from random weights and lose
what it had learned. Here the trained units keep their weights in their places of the wider tensors; the new
units get the fresh model's random weights into them but zeros out of them (into the old units' gates, the next
layer and the output), and zeros in the dense layer that sets the initial state, so the wider model computes
exactly what the narrow one did until training gives the new units a say.

Tensors follow ``torch.nn.LSTM``: ``weight_ih_l{k}`` [4H x in], ``weight_hh_l{k}`` [4H x H], biases [4H], gate
blocks in the order i, f, g, o.
"""

from __future__ import annotations

import torch
from torch import Tensor


def unit_rows(old: int, new: int, blocks: int) -> Tensor:
    """Rows of a [blocks * new] axis that hold the ``old`` trained units of each block.  -> LongTensor[blocks * old]."""
    return (torch.arange(blocks)[:, None] * new + torch.arange(old)[None, :]).reshape(-1)


def widen_lstm(fresh: dict[str, Tensor], trained: dict[str, Tensor], old: int, new: int, layers: int,
               input_grows: bool = False) -> dict[str, Tensor]:
    """``trained`` LSTM tensors of hidden size ``old`` placed into copies of ``fresh`` ones of size ``new``.

    ``fresh``/``trained``: the LSTM's state-dict entries (``weight_ih_l0`` ...). ``input_grows``: the first
    layer's input is itself a widened layer's output (its new columns are zeroed too). Returns new tensors.
    """
    rows = unit_rows(old, new, 4)
    out = {}
    for k in range(layers):
        for kind in ("ih", "hh"):
            name = f"weight_{kind}_l{k}"
            w = fresh[name].clone()
            t = trained[name]
            widened_input = kind == "hh" or k > 0 or input_grows
            if widened_input:
                w[rows, t.shape[1]:] = 0  # old units read nothing from the new ones
            w[rows, : t.shape[1]] = t
            out[name] = w
        for kind in ("ih", "hh"):
            name = f"bias_{kind}_l{k}"
            b = fresh[name].clone()
            b[rows] = trained[name]
            out[name] = b
    return out


def widen_state_init(fresh_w: Tensor, fresh_b: Tensor, trained_w: Tensor, trained_b: Tensor, old: int, new: int,
                     layers: int) -> tuple[Tensor, Tensor]:
    """A dense layer to (h0, c0) of ``layers`` LSTM layers, [2 * layers * H x D] laid out (state, layer, unit),
    widened from ``old`` to ``new`` units: the new units start from zero state.  -> (weight, bias)."""
    rows = unit_rows(old, new, 2 * layers)
    w, b = torch.zeros_like(fresh_w), torch.zeros_like(fresh_b)
    w[rows], b[rows] = trained_w, trained_b
    return w, b


def widen_readout(fresh_w: Tensor, trained_w: Tensor) -> Tensor:
    """A dense layer reading a widened layer, [K x H]: the trained columns kept, the new ones zero."""
    w = torch.zeros_like(fresh_w)
    w[:, : trained_w.shape[1]] = trained_w
    return w
