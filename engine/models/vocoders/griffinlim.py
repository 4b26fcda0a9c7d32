"""Griffin-Lim: the phase-retrieval baseline every neural vocoder is measured against (no weights).

The mel is mapped back to a linear magnitude spectrogram through the pseudo-inverse of the mel filter
bank, clamped at 0 (:func:`engine.core.mel.mel_to_linear`; as good as librosa's non-negative least squares
``feature.inverse.mel_to_stft`` on our clips and some 250x faster), then librosa's fast Griffin-Lim (momentum 0.99,
32 iterations by default) estimates a phase. Our mel frames are centred half a hop later than librosa's
centred frames, so the output is shifted by 128 samples to line up with the input audio.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ...core.mel import mel_to_linear
from .base import MEL, Vocoder


@dataclass
class GriffinLimConfig:
    """Defaults for the two settings; both can be overridden per call."""

    n_iter: int = 32
    momentum: float = 0.99
    seed: int = 0  # the random initial phase


class GriffinLim(Vocoder):
    name = "griffinlim"
    Config = GriffinLimConfig
    needs_checkpoint = False

    def __init__(self, config: GriffinLimConfig = GriffinLimConfig()):
        super().__init__(config)

    def options(self) -> dict[str, Any]:
        return {"n_iter": self.config.n_iter, "momentum": self.config.momentum}

    @torch.no_grad()
    def infer(self, mel: Tensor, n_iter: int | None = None, momentum: float | None = None, **_: Any) -> Tensor:
        """mel : Tensor[B x 80 x frames] (natural log) -> Tensor[B x frames * 256]."""
        return self.from_magnitude(mel_to_linear(mel.detach().float().cpu(), MEL), n_iter, momentum).to(mel.device)

    @torch.no_grad()
    def from_magnitude(self, magnitude: Tensor, n_iter: int | None = None, momentum: float | None = None) -> Tensor:
        """A phase for a linear magnitude spectrogram framed like the mel.

        magnitude : Tensor[B x 513 x frames] -> Tensor[B x frames * 256] (on the CPU)
        """
        import librosa

        n_iter = self.config.n_iter if n_iter is None else int(n_iter)
        momentum = self.config.momentum if momentum is None else float(momentum)
        frames = magnitude.shape[-1]
        length = frames * MEL.hop_length
        shift = MEL.win_length // 2 - (MEL.n_fft - MEL.hop_length) // 2  # our frame t is centred at t*hop + shift
        outputs = []
        for spectrum in magnitude.detach().float().cpu().numpy():
            audio = librosa.griffinlim(
                spectrum, n_iter=n_iter, hop_length=MEL.hop_length, win_length=MEL.win_length, n_fft=MEL.n_fft,
                center=True, momentum=momentum, random_state=self.config.seed,
            )
            audio = np.concatenate([np.zeros(shift, np.float32), audio.astype(np.float32)])  # (frames - 1) * hop + shift
            audio = np.pad(audio, (0, max(0, length - len(audio))))[:length]
            outputs.append(torch.from_numpy(np.clip(audio, -1.0, 1.0)))
        return torch.stack(outputs)
