"""The mel conditioning of the WaveNet-based vocoders (WaveNet, WaveGlow, FloWaveNet, Parallel WaveNet).

The standard log-mel (natural log, floor log(1e-5) = -11.5 in silence, around 0 at its loudest) is
centred and scaled by fixed constants, optionally projected at the frame rate to fewer channels (a
kernel-3 convolution: it sees the neighbouring frames, and it makes every later per-sample projection
cheaper), then brought to the rate the model runs at by the WaveNet core's
:class:`~engine.nn.wavenet.layers.ConditionUpsampler` (learned transposed convolutions initialised to linear
interpolation).
"""

from __future__ import annotations

import math
from typing import Sequence

from torch import Tensor, nn

from ...nn.wavenet.layers import ConditionUpsampler
from .base import N_MELS

MEL_CENTER = -5.0  # roughly the middle of the standard log-mel of music
MEL_SCALE = 3.0  # roughly its spread


class MelConditioner(nn.Module):
    """mel : Tensor[B x 80 x N] -> Tensor[B x channels x N * prod(factors)], normalised and upsampled.

    channels : 0 keeps the 80 mel channels as they are; otherwise a kernel-3 convolution at the frame
    rate maps them to ``channels`` first.
    """

    def __init__(self, factors: Sequence[int], channels: int = 0, mode: str = "transposed", n_mels: int = N_MELS):
        super().__init__()
        self.channels = channels or n_mels
        self.project = nn.Conv1d(n_mels, channels, 3, padding=1) if channels else None
        self.upsample = ConditionUpsampler(self.channels, list(factors), mode)
        self.factor = math.prod(factors)

    def forward(self, mel: Tensor) -> Tensor:
        x = (mel - MEL_CENTER) / MEL_SCALE
        if self.project is not None:
            x = self.project(x)
        return self.upsample(x)
