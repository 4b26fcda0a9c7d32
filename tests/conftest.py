"""Shared fixtures: small audio the tests make themselves, and one torch thread (the suite shares 2 cores)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

torch.set_num_threads(1)


@pytest.fixture
def tone() -> np.ndarray:
    """One second of a 440 Hz tone with two harmonics at 22,050 Hz, float32."""
    t = np.arange(22050) / 22050
    wave = 0.5 * np.sin(2 * np.pi * 440 * t) + 0.2 * np.sin(2 * np.pi * 880 * t) + 0.1 * np.sin(2 * np.pi * 1320 * t)
    return wave.astype(np.float32)
