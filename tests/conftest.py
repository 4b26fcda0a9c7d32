"""Shared fixtures: small audio the tests make themselves, and one torch thread (the suite shares 2 cores)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from helpers import audio

torch.set_num_threads(1)


@pytest.fixture
def tone() -> np.ndarray:
    """One second of a 440 Hz tone with two harmonics at 22,050 Hz, float32."""
    return audio.tone()
