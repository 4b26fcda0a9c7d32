"""Continue and inpaint melodies with the grid models (gated PixelCNN, Row LSTM, Diagonal BiLSTM, AR(p)):
what both the CLI (``latentlab melody continue`` / ``inpaint``) and the app's "Continue / Inpaint" tab call.

A melody of N bars is an N x 16 grid (:mod:`engine.data.pianoroll`); the models give every step's
distribution given the steps before it, so both operations sample steps one at a time in time order:

- *continue* appends ``bars`` empty rows and samples them;
- *inpaint* samples the steps of the masked bars given everything before them (the earlier bars and
  the steps already filled). With ``candidates`` > 1 it draws that many fills and picks one with
  probability proportional to the likelihood of the bars *after* the gap given it, p(after | before,
  fill) -- importance resampling towards p(fill | before, after). Scoring is one teacher-forced pass
  over all candidates, which costs the PixelCNN (a single convolution pass) least.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..core.checkpoint import Checkpoint, load_cached, load_checkpoint
from ..core.errors import LatentLabError
from ..core.midi import STEPS_PER_BAR, check_melody
from ..data.pianoroll import grid_to_melody, melody_to_grid

DEFAULT_MODEL = "pixelcnn_16bar"
DEFAULT_TEMPERATURE = 1.0
DEFAULT_CANDIDATES = 8  # inpainting fills scored against the bars after the gap
MAX_CANDIDATES = 64
MAX_TEMPERATURE = 5.0


@dataclass
class GridModel:
    """A loaded grid model and its checkpoint."""

    name: str
    model: nn.Module
    checkpoint: Checkpoint = field(repr=False)

    @property
    def max_bars(self) -> int:
        return self.model.cfg.max_bars

    @property
    def arch(self) -> str:
        return self.checkpoint.arch


def _build(directory: Path, device: torch.device) -> GridModel:
    from ..models.autoregressive import ARCHS

    ckpt = load_checkpoint(directory, device=device)
    if ckpt.kind != "melody" or ckpt.arch not in ARCHS:
        raise LatentLabError(f"{ckpt.path} is a {ckpt.kind}/{ckpt.arch} checkpoint, not a continuation model "
                             f"({', '.join(ARCHS)})")
    cls, config_cls = ARCHS[ckpt.arch]
    model = cls(ckpt.build_config(config_cls))
    ckpt.load_into(model)
    return GridModel(ckpt.name, model.to(device).eval(), ckpt)


def load_model(name: str | Path = DEFAULT_MODEL, device: str | torch.device | None = None) -> GridModel:
    """A grid model by shipped name (``pixelcnn_16bar``, ``row_lstm_16bar``, ...) or checkpoint directory; cached."""
    return load_cached(name, _build, device)


def is_grid_model(arch: str) -> bool:
    """Whether a checkpoint of ``arch`` continues and inpaints (the others are MusicVAEs)."""
    from ..models.autoregressive import ARCHS

    return arch in ARCHS


# -- sampling ------------------------------------------------------------------------------------------


def _check_temperature(temperature: float) -> None:
    if not 0.0 <= temperature <= MAX_TEMPERATURE:
        raise LatentLabError(f"temperature must be between 0 (argmax) and {MAX_TEMPERATURE}, got {temperature}")


@torch.no_grad()
def sample_steps(model: nn.Module, grid: torch.Tensor, todo: np.ndarray, temperature: float,
                 generator: torch.Generator) -> torch.Tensor:
    """Fill the steps where ``todo`` (bool[H x W]) is set, in raster order, each given everything before it.

    grid : LongTensor[B x H x W] (the B rows are sampled independently) -> the filled grid (a copy)
    """
    grid = grid.clone()
    by_row = getattr(model, "samples_by_row", False)  # PixelCNN, Row LSTM: the rows above once per row
    context, context_row = None, -1
    for r, c in zip(*np.nonzero(todo)):
        if by_row:
            if context_row != r:
                context, context_row = model.row_context(grid[:, :r]), r
            logits = model.row_logits(grid[:, r : r + 1], context)[:, :, 0, c].float()
        else:
            logits = model(grid[:, : r + 1])[:, :, r, c].float()  # rows below r cannot matter
        if temperature == 0:
            grid[:, r, c] = logits.argmax(1)
        else:
            probs = torch.softmax(logits / temperature, dim=1)
            grid[:, r, c] = torch.multinomial(probs.cpu(), 1, generator=generator).squeeze(1).to(grid.device)
    return grid


@torch.no_grad()
def log_likelihoods(model: nn.Module, grid: torch.Tensor) -> torch.Tensor:
    """log p of every step given the steps before it.  LongTensor[B x H x W] -> [B x H x W] (nats)."""
    return torch.log_softmax(model(grid).float(), dim=1).gather(1, grid.unsqueeze(1)).squeeze(1)


def _device(model: nn.Module) -> torch.device:
    tensors = list(model.parameters()) or list(model.buffers())
    return tensors[0].device


def continue_grid(model: nn.Module, melody: np.ndarray, bars: int, temperature: float = DEFAULT_TEMPERATURE,
                  seed: int | None = None) -> np.ndarray:
    """``melody`` (whole bars) followed by ``bars`` sampled bars: int64[(N + bars) * 16] events."""
    grid = torch.as_tensor(melody_to_grid(melody), device=_device(model))
    full = torch.cat([grid, grid.new_zeros(bars, STEPS_PER_BAR)])[None]
    todo = np.zeros(tuple(full.shape[1:]), bool)
    todo[len(grid):] = True
    generator = torch.Generator().manual_seed(0 if seed is None else int(seed))
    return grid_to_melody(sample_steps(model, full, todo, temperature, generator)[0])


def continue_melody(gm: GridModel, melody: np.ndarray, bars: int, temperature: float = DEFAULT_TEMPERATURE,
                    seed: int | None = None) -> np.ndarray:
    """Continue a melody by ``bars`` bars.

    Parameters
    ----------
    melody : events of whole bars (as read from MIDI); the whole of it is the context
    bars : bars to add (>= 1); melody and continuation together fit in the model's ``max_bars``
    temperature : 0 = the most likely event at each step, 1 = the model's distribution
    seed : the same seed gives the same continuation

    Returns
    -------
    int64[(N + bars) * 16]: the input followed by the continuation
    """
    m = check_melody(melody)
    _check_temperature(temperature)
    have = len(m) // STEPS_PER_BAR
    if bars < 1:
        raise LatentLabError(f"continue by at least 1 bar (got {bars})")
    if have + bars > gm.max_bars:
        room, keep = gm.max_bars - have, gm.max_bars - bars
        advice = ([f"continue by at most {room} bars"] if room > 0 else []) + ([f"give it its last {keep} bars"] if keep > 0 else [])
        raise LatentLabError(
            f"the melody has {have} bars and {bars} more make {have + bars}, but {gm.name} holds at most {gm.max_bars} "
            f"bars: {' or '.join(advice) or 'give it fewer bars and continue by fewer'}"
        )
    return continue_grid(gm.model, m, bars, temperature, seed)


def parse_bars(text: str) -> list[int]:
    """'2,5-6' (1-based bar numbers) -> [1, 4, 5] (0-based, sorted, unique)."""
    bars: set[int] = set()
    for part in str(text).replace(" ", "").split(","):
        if not part:
            continue
        found = re.fullmatch(r"(\d+)(?:-(\d+))?", part)
        if not found:
            raise LatentLabError(f"cannot read the bars {text!r}: give 1-based bar numbers and ranges, e.g. 3,5-6")
        first, last = int(found.group(1)), int(found.group(2) or found.group(1))
        if first < 1 or last < first:
            raise LatentLabError(f"bar range {part!r} is empty or starts before bar 1: bars are numbered from 1")
        bars.update(range(first - 1, last))
    if not bars:
        raise LatentLabError("name the bars to inpaint, e.g. 3,5-6 (1-based)")
    return sorted(bars)


def inpaint(gm: GridModel, melody: np.ndarray, bars: list[int], temperature: float = DEFAULT_TEMPERATURE,
            seed: int | None = None, candidates: int = 1) -> np.ndarray:
    """Resample the masked ``bars`` (0-based) of a melody.

    Parameters
    ----------
    melody : events of whole bars, at most the model's ``max_bars``
    bars : the bars to fill; at least one bar must stay as context
    temperature, seed : as in :func:`continue_melody`
    candidates : 1 = sample given the bars before alone; K > 1 = draw K fills and pick one in proportion
        to how likely each makes the bars after the gap (see the module docstring)

    Returns
    -------
    int64[N * 16]: the melody with the masked bars filled
    """
    m = check_melody(melody)
    _check_temperature(temperature)
    have = len(m) // STEPS_PER_BAR
    if have > gm.max_bars:
        raise LatentLabError(f"the melody has {have} bars but {gm.name} holds at most {gm.max_bars}: cut it shorter")
    if not 1 <= candidates <= MAX_CANDIDATES:
        raise LatentLabError(f"candidates must be between 1 and {MAX_CANDIDATES}, got {candidates}")
    outside = [b + 1 for b in bars if not 0 <= b < have]
    if outside:
        raise LatentLabError(f"bar {outside[0]} is not in the melody: it has bars 1..{have}")
    if len(set(bars)) >= have:
        raise LatentLabError(f"the mask covers all {have} bars: keep at least one bar as context "
                             "(for new music from nothing, use `latentlab melody sample`)")
    todo = np.zeros((have, STEPS_PER_BAR), bool)
    todo[sorted(set(bars))] = True
    grid = torch.as_tensor(melody_to_grid(m), device=_device(gm.model))[None].repeat(candidates, 1, 1)
    generator = torch.Generator().manual_seed(0 if seed is None else int(seed))
    filled = sample_steps(gm.model, grid, todo, temperature, generator)
    pick = 0
    after = ~todo & (np.arange(todo.size).reshape(todo.shape) > np.flatnonzero(todo)[0])
    if candidates > 1 and after.any():
        scores = (log_likelihoods(gm.model, filled) * torch.as_tensor(after, device=filled.device)).sum((1, 2))
        pick = int(torch.multinomial(torch.softmax(scores.cpu(), 0), 1, generator=generator))
    return grid_to_melody(filled[pick])
