"""Melodies as images for the 2-D autoregressive models: one row per bar, one column per 16th step.

A melody of N bars becomes a ``[N x 16]`` grid whose "pixels" are the 90-class melody events of
:mod:`engine.core.midi` (0 hold, 1 note-off, 2..89 note onsets of MIDI pitches 21..108). Raster order
(row by row, left to right) is then exactly time order, so "continue by N bars" is "generate N more rows"
and "inpaint bars" is "fill these rows", and the vertical direction of a PixelCNN or PixelRNN looks at
the same beat in the bars before -- where melodies repeat.

Why events and not an 88-key (+ rest) piano roll: the melodies are monophonic, so a roll has exactly
one active row per step and is a 89-way categorical anyway; but a roll of what *sounds* cannot tell a
held note from the same note struck again (:func:`sounding_roll` maps both to the same columns), while
the events round-trip MIDI exactly. The events are also MusicVAE's classes, so bits per step of every
model in the likelihood table are counted over the same 90 classes on the same windows.

The windows come from ``latentlab data melody`` (``data/melodies/mel_16bar.npz``: 16-bar windows of
256 steps, transposed copies in the training split, the original keys in validation).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from ..core.errors import LatentLabError
from ..core.midi import FIRST_PITCH_CLASS, MAX_PITCH, MIN_PITCH, NO_EVENT, NOTE_OFF, STEPS_PER_BAR, check_melody
from .melody import load_windows

DEFAULT_DATA = Path("data/melodies/mel_16bar.npz")
REST_ROW = MAX_PITCH - MIN_PITCH + 1  # row 88 of a sounding roll: nothing sounds


def melody_to_grid(melody: np.ndarray) -> np.ndarray:
    """Melody events (whole bars) -> int64[bars x 16]."""
    m = check_melody(melody)
    if len(m) == 0 or len(m) % STEPS_PER_BAR:
        raise LatentLabError(f"a melody grid needs whole bars of {STEPS_PER_BAR} steps, got {len(m)} steps")
    return m.reshape(-1, STEPS_PER_BAR)


def grid_to_melody(grid: np.ndarray | torch.Tensor) -> np.ndarray:
    """int[bars x 16] -> melody events int64[bars * 16]."""
    g = grid.detach().cpu().numpy() if isinstance(grid, torch.Tensor) else np.asarray(grid)
    return check_melody(g.reshape(-1).astype(np.int64))


def sounding_roll(melody: np.ndarray) -> np.ndarray:
    """What sounds at each step: bool[89 x T], rows 0..87 the keys 21..108, row 88 a rest.

    Lossy on purpose (see the module docstring): a note struck twice and a note held both fill the row.
    """
    m = check_melody(melody)
    roll = np.zeros((REST_ROW + 1, len(m)), dtype=bool)
    row = REST_ROW
    for t, event in enumerate(m.tolist()):
        if event == NOTE_OFF:
            row = REST_ROW
        elif event >= FIRST_PITCH_CLASS:
            row = event - FIRST_PITCH_CLASS
        elif event != NO_EVENT:
            raise AssertionError(event)
        roll[row, t] = True
    return roll


class GridWindows(Dataset):
    """One split of a window file as grids.  item: LongTensor[bars x 16]."""

    def __init__(self, windows: np.ndarray):
        if windows.ndim != 2 or windows.shape[1] % STEPS_PER_BAR:
            raise LatentLabError(f"window arrays are [N x whole bars of {STEPS_PER_BAR} steps], got {windows.shape}")
        self.windows = windows

    @property
    def bars(self) -> int:
        return self.windows.shape[1] // STEPS_PER_BAR

    def __len__(self) -> int:
        return len(self.windows)

    def __getitem__(self, i: int) -> torch.Tensor:
        return torch.from_numpy(self.windows[i].astype(np.int64)).view(self.bars, STEPS_PER_BAR)


def load_grids(path: str | Path = DEFAULT_DATA) -> tuple[GridWindows, GridWindows]:
    """The train and validation splits of a window file written by ``latentlab data melody``."""
    arrays = load_windows(path)
    if len(arrays["val"]) == 0:
        raise LatentLabError(f"{path} has no validation windows: rebuild it with a larger --val-fraction")
    return GridWindows(arrays["train"]), GridWindows(arrays["val"])
