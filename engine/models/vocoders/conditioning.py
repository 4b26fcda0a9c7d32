"""The mel conditioning of the WaveNet-based vocoders (WaveNet, WaveGlow, FloWaveNet, Parallel WaveNet).

The standard log-mel (natural log, floor log(1e-5) = -11.5 in silence, around 0 at its loudest) is
centred and scaled by fixed constants, then brought to the rate the model runs at by the WaveNet core's
:class:`~engine.nn.wavenet.ConditionUpsampler` (learned transposed convolutions initialised to linear
interpolation).
"""

from __future__ import annotations

import math
from typing import Sequence

from torch import Tensor, nn

from ...nn.wavenet import ConditionUpsampler
from .base import N_MELS

MEL_CENTER = -5.0  # roughly the middle of the standard log-mel of music
MEL_SCALE = 3.0  # roughly its spread


class MelConditioner(nn.Module):
    """mel : Tensor[B x 80 x N] -> Tensor[B x 80 x N * prod(factors)], normalised and upsampled."""

    def __init__(self, factors: Sequence[int], mode: str = "transposed", n_mels: int = N_MELS):
        super().__init__()
        self.upsample = ConditionUpsampler(n_mels, list(factors), mode)
        self.factor = math.prod(factors)

    def forward(self, mel: Tensor) -> Tensor:
        return self.upsample((mel - MEL_CENTER) / MEL_SCALE)
