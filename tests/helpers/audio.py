"""The synthetic audio the tests make themselves: every tone generator of the suite, in one place."""

from __future__ import annotations

import numpy as np

RATE = 22050


def tone(seconds: float = 1.0, rate: int = RATE) -> np.ndarray:
    """A 440 Hz tone with two harmonics (0.5, 0.2, 0.1), float32."""
    t = np.arange(int(seconds * rate)) / rate
    wave = 0.5 * np.sin(2 * np.pi * 440 * t) + 0.2 * np.sin(2 * np.pi * 880 * t) + 0.1 * np.sin(2 * np.pi * 1320 * t)
    return wave.astype(np.float32)


def harmonic_note(f0: float, seconds: float, decay: float, rate: int = RATE) -> np.ndarray:
    """Five harmonics with 1/k amplitudes and an exponential decay, peak 0.5, float32."""
    t = np.arange(int(seconds * rate)) / rate
    wave = sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, 6)) * np.exp(-decay * t)
    return (0.5 * wave / np.abs(wave).max()).astype(np.float32)


def harmonic_tones(seconds: float, seed: int, rate: int = RATE) -> np.ndarray:
    """Notes of a few harmonics at random pitches, 0.25 s each, float32 in [-0.6, 0.6]."""
    rng = np.random.default_rng(seed)
    n = int(0.25 * rate)
    t = np.arange(n) / rate
    notes = []
    for _ in range(int(seconds / 0.25)):
        f = 110.0 * 2 ** (rng.integers(0, 36) / 12)
        wave = sum(np.sin(2 * np.pi * f * h * t) / h for h in (1, 2, 3))
        notes.append(0.3 * wave * np.exp(-3 * t))
    return np.concatenate(notes).astype(np.float32)
