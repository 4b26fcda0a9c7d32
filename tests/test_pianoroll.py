"""Melody grids (one row per bar, one column per 16th step) and why they hold events, not a sounding roll."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.core.errors import LatentLabError
from engine.core.midi import NOTE_OFF, melody_from_midi, melody_to_midi
from engine.data.pianoroll import REST_ROW, GridWindows, grid_to_melody, melody_to_grid, sounding_roll


def _melody(bars: int = 2) -> np.ndarray:
    m = np.zeros(16 * bars, np.int64)
    m[0], m[4], m[8], m[12], m[14] = 41, 43, 43, NOTE_OFF, 45  # C4, D4, D4 struck again, rest, E4
    return m


def test_grid_round_trip_through_midi():
    m = _melody(3)
    grid = melody_to_grid(m)
    assert grid.shape == (3, 16), grid.shape
    assert grid[0, 4] == 43 and grid[1].sum() == 0
    assert np.array_equal(grid_to_melody(torch.from_numpy(grid)), m)
    assert np.array_equal(melody_from_midi(melody_to_midi(grid_to_melody(grid))), m)


def test_partial_bars_are_refused():
    with pytest.raises(LatentLabError, match="whole bars"):
        melody_to_grid(np.zeros(20, np.int64))
    with pytest.raises(LatentLabError, match="whole bars"):
        melody_to_grid(np.zeros(0, np.int64))


def test_a_sounding_roll_cannot_tell_a_repeated_note_from_a_held_one():
    struck_twice = _melody()
    held = struck_twice.copy()
    held[8] = 0  # D4 held from step 4 instead of struck again at 8
    assert not np.array_equal(struck_twice, held)
    assert np.array_equal(sounding_roll(struck_twice), sounding_roll(held))
    roll = sounding_roll(struck_twice)
    assert roll.shape == (89, 32) and roll.sum(0).tolist() == [1] * 32  # one row per step: monophonic
    assert roll[REST_ROW, 12] and roll[60 - 21, 0]  # class 41 is C4 (MIDI 60)


def test_grid_windows_dataset():
    windows = np.arange(2 * 64).reshape(2, 64).astype(np.uint8) % 90
    data = GridWindows(windows)
    assert len(data) == 2 and data.bars == 4
    item = data[1]
    assert item.dtype == torch.int64 and item.shape == (4, 16)
    assert item.reshape(-1).tolist() == windows[1].tolist()
    with pytest.raises(LatentLabError):
        GridWindows(np.zeros((2, 20), np.uint8))
