"""Vocos (Siuzdak 2023, gemelo-ai/vocos): a frame-rate vocoder that ends in an inverse STFT.

The network never runs at the sample rate. A ConvNeXt backbone (:mod:`engine.nn.convnext`) reads the
standard log-mel at 86 frames/s; a linear head predicts, per frame, the log-magnitude and the phase of
the ``n_fft // 2 + 1`` STFT bins; the spectrum ``exp(log_mag) * (cos phase + i sin phase)`` is inverted by
:func:`engine.nn.spectral.istft`, framed exactly like the mel (N frames -> N * 256 samples, no shift).

One addition to the paper (``mag_prior``): the head's log-magnitude is a correction on top of the log of
the mel's pseudo-inverse magnitude (what Griffin-Lim starts from), so from the first step the output
already has roughly the right spectral envelope and training spends itself on phase and detail.

A second (``phase_demod``): the head predicts each bin's phase relative to a carrier at the bin's centre
frequency, and the spectrum is turned by that carrier's advance, ``2 pi k hop / n_fft`` per frame (a
quarter turn times k at hop = n_fft / 4). A steady partial's STFT phase grows by ``omega hop`` each frame;
a convolutional network, which gives the same output for the same input wherever it sits, cannot draw that
growth, so without the carrier the frames of a held vowel overlap-add out of phase. With it, a partial at a
bin's centre needs a constant output, and one between bins only the small remainder.

A third (``phase_integrate``, which implies the carrier): the head also predicts each bin's frequency deviation
from its carrier, a phase advance per frame, and the phase is the carrier plus the running sum of those advances
plus the head's phase: ``carrier_t + sum_{s <= t} omega_s + psi_t``. A partial between two bin centres needs a
phase that drifts from the carrier by the same amount every frame, which a convolutional network cannot draw
either; as a frequency it is a constant.

The backbone may run under bfloat16 autocast (``bf16``, on while training on the CPU); the head's
exponent, the cos / sin and the inverse STFT always run in float32. The training recipe is
:class:`engine.train.vocode_vocos.VocosTask`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from ...core.device import bf16_autocast
from ...core.mel import CLAMP, mel_basis
from ...nn.convnext import ConvNeXtBackbone
from ...nn.spectral import istft
from .base import HOP, MEL, N_MELS, Vocoder

MAX_LOG_MAGNITUDE = 7.0  # exp(7) = 1,097: above a full-scale sine's 256 under a 1024-point Hann window


@dataclass
class VocosConfig:
    """The model's shape. Paper (24 kHz): dim 512, intermediate 1536, 8 layers, n_fft 1024, hop 256."""

    dim: int = 256
    intermediate: int = 768
    layers: int = 8
    kernel: int = 7
    n_fft: int = 1024
    mag_prior: bool = True
    n_mels: int = N_MELS
    phase_demod: bool = False  # the head's phase is relative to each bin's carrier (see the module docstring)
    phase_integrate: bool = False  # the head adds per-frame phase advances that are summed over time (+ the carrier)

    def __post_init__(self) -> None:
        if self.n_fft < HOP or self.n_fft % HOP:
            raise ValueError(f"Vocos n_fft must be a multiple of the hop {HOP}, got {self.n_fft}")


def carrier_phase(bins: int, frames: int, n_fft: int, hop: int, device: torch.device | str = "cpu") -> Tensor:
    """The phase of each bin's centre-frequency carrier at each frame: ``2 pi ((k t hop) mod n_fft) / n_fft``.

    Computed in integers before the modulo, so it stays exact for clips of any length. -> Tensor[bins x frames]
    """
    k = torch.arange(bins, device=device, dtype=torch.int64)[:, None]
    t = torch.arange(frames, device=device, dtype=torch.int64)[None, :]
    return (k * t * hop % n_fft).float() * (2 * math.pi / n_fft)


class Vocos(Vocoder):
    """mel Tensor[B x 80 x N] (natural log) -> audio Tensor[B x N * 256]."""

    name = "vocos"
    Config = VocosConfig

    def __init__(self, config: VocosConfig = VocosConfig()):
        super().__init__(config)
        c = config
        self.backbone = ConvNeXtBackbone(c.n_mels, c.dim, c.intermediate, c.layers, c.kernel)
        self.bins = c.n_fft // 2 + 1
        self.head = nn.Linear(c.dim, (3 if c.phase_integrate else 2) * self.bins)
        nn.init.trunc_normal_(self.head.weight, std=0.02)
        nn.init.zeros_(self.head.bias)
        if c.mag_prior:
            basis = mel_basis(MEL) if c.n_fft == MEL.n_fft else torch.zeros(c.n_mels, self.bins)
            self.register_buffer("inverse_basis", torch.linalg.pinv(basis), persistent=False)
        self.bf16 = False  # bfloat16 autocast of the backbone (the task turns it on for CPU training)
        self.last_phase: Tensor | None = None  # the phase of the last training forward, [B x bins x N]

    def spectrum(self, mel: Tensor) -> Tensor:
        """The predicted complex STFT. mel : Tensor[B x 80 x N] -> complex Tensor[B x (n_fft // 2 + 1) x N]."""
        with bf16_autocast(mel.device, self.bf16):
            h = self.head(self.backbone(mel))  # [B x N x (2 or 3) * bins]
        with torch.autocast(mel.device.type, enabled=False):
            parts = h.float().transpose(1, 2).split(self.bins, dim=1)  # 2 or 3 x [B x bins x N]
            log_mag, phase = parts[0], parts[1]
            if self.config.phase_integrate:
                phase = phase + torch.cumsum(parts[2], dim=-1)
            if self.config.mag_prior:
                prior = torch.matmul(self.inverse_basis, torch.exp(mel.float())).clamp(min=CLAMP)
                log_mag = log_mag + torch.log(prior)
            magnitude = torch.exp(log_mag.clamp(max=MAX_LOG_MAGNITUDE))
            if self.config.phase_demod or self.config.phase_integrate:
                phase = phase + carrier_phase(self.bins, phase.shape[-1], self.config.n_fft, HOP, phase.device)
            if self.training:
                self.last_phase = phase  # for the recipe's phase losses (engine.train.vocode_vocos)
            return torch.polar(magnitude, phase)

    def forward(self, mel: Tensor) -> Tensor:
        """mel : Tensor[B x 80 x N] -> audio Tensor[B x N * 256] (float32)."""
        return istft(self.spectrum(mel), self.config.n_fft, HOP)

    def options(self) -> dict[str, Any]:
        return {"bf16": False}

    @torch.no_grad()
    def infer(self, mel: Tensor, bf16: bool = False, **_: Any) -> Tensor:
        """mel : Tensor[B x 80 x N] -> audio Tensor[B x N * 256] in [-1, 1]; ``bf16``: the backbone in bfloat16
        (faster on CPUs with AVX-512 BF16)."""
        training_bf16, self.bf16 = self.bf16, bool(bf16)
        try:
            return self.forward(mel.float()).clamp(-1.0, 1.0)
        finally:
            self.bf16 = training_bf16
