"""WaveGlow (Prenger et al. 2019): a Glow-style flow from audio to Gaussian noise, conditioned on the mel.

Audio is squeezed into groups of ``group`` (8) samples, ``[B x 1 x T] -> [B x 8 x T / 8]``; each of
``flows`` steps is an invertible 1x1 convolution followed by an affine coupling whose transform is a
non-causal WaveNet (WN) conditioned on the mel; every ``early_every`` (4) flows, ``early_size`` (2)
channels leave early (they go straight to the latent). Training maximises the exact likelihood under
N(0, sigma^2) with sigma = 1; synthesis draws z at a lower temperature (``infer_sigma``, 0.6 in the
paper) and runs the flow backwards, in parallel over time.

Difference from the paper, for size: the mel is upsampled by transposed convolutions straight to the
squeezed rate (32 steps per frame), after a frame-rate projection to ``cond_channels`` (32), instead of
to the sample rate and then folded into 640 channels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ...core.errors import LatentLabError
from ...nn.flows import AffineCoupling, InvertibleConv1x1, squeeze, unsqueeze
from .base import HOP, FlowVocoder
from .conditioning import MelConditioner


@dataclass
class WaveGlowConfig:
    """The shape of a WaveGlow; stored next to its weights."""

    flows: int = 12
    group: int = 8  # samples squeezed into channels
    early_every: int = 4  # flows between early outputs
    early_size: int = 2  # channels output early each time
    wn_layers: int = 4  # the paper: 8
    wn_channels: int = 32  # residual = gate = skip channels of each WN (the paper: 256)
    kernel_size: int = 3
    cond_channels: int = 32  # the mel projected to this many channels at the frame rate (0: the 80 mels)
    upsample_factors: tuple[int, ...] = (4, 8)  # mel frames -> the squeezed rate: product = hop / group
    sigma: float = 1.0  # the prior's standard deviation in training
    infer_sigma: float = 0.6  # default sampling temperature


class WaveGlow(FlowVocoder):
    """mel : Tensor[B x 80 x frames] <-> audio : Tensor[B x frames * 256], exactly invertible given the mel."""

    name = "waveglow"
    Config = WaveGlowConfig

    @property
    def latent_channels(self) -> int:
        """Channels of the latent: the group size."""
        return self.config.group

    def __init__(self, config: WaveGlowConfig):
        super().__init__(config)
        c = config
        if math.prod(c.upsample_factors) * c.group != HOP:
            raise LatentLabError(f"upsample factors {list(c.upsample_factors)} times group {c.group} must be {HOP}")
        if c.group - c.early_size * ((c.flows - 1) // c.early_every) < 2:
            raise LatentLabError("WaveGlow's early outputs leave fewer than 2 channels for the last flows")
        self.conditioner = MelConditioner(c.upsample_factors, c.cond_channels)
        self.convs = nn.ModuleList()
        self.couplings = nn.ModuleList()
        channels = c.group
        for k in range(c.flows):
            if self._early(k):
                channels -= c.early_size
            self.convs.append(InvertibleConv1x1(channels))
            self.couplings.append(AffineCoupling(
                channels, self.conditioner.channels, c.wn_layers, c.wn_channels, c.wn_channels, c.wn_channels, c.kernel_size,
                dilation_cycle=c.wn_layers,
            ))

    def _early(self, k: int) -> bool:
        return k > 0 and k % self.config.early_every == 0

    def forward(self, audio: Tensor, mel: Tensor) -> tuple[Tensor, Tensor]:
        """Audio to latent.

        audio : Tensor[B x T], mel : Tensor[B x 80 x T / 256]
        -> (z : Tensor[B x group x T / group] (early outputs first), logdet : Tensor[B])
        """
        assert audio.shape[-1] == mel.shape[-1] * HOP, f"audio {list(audio.shape)} vs mel {list(mel.shape)}"
        cond = self.conditioner(mel)
        x = squeeze(audio[:, None], self.config.group)
        early, logdet = [], x.new_zeros(x.shape[0])
        for k, (conv, coupling) in enumerate(zip(self.convs, self.couplings)):
            if self._early(k):
                early.append(x[:, : self.config.early_size])
                x = x[:, self.config.early_size :]
            x, ld_conv = conv(x)
            x, ld_coupling = coupling(x, cond)
            logdet = logdet + ld_conv + ld_coupling
        return torch.cat(early + [x], dim=1), logdet

    def reverse(self, z: Tensor, mel: Tensor) -> Tensor:
        """Latent to audio. z : Tensor[B x group x frames * 256 / group] -> Tensor[B x frames * 256]"""
        c = self.config
        cond = self.conditioner(mel)
        n_early = (c.flows - 1) // c.early_every
        early = list(z[:, : n_early * c.early_size].split(c.early_size, dim=1))
        x = z[:, n_early * c.early_size :]
        for k in reversed(range(c.flows)):
            x = self.couplings[k].reverse(x, cond)
            x = self.convs[k].reverse(x)
            if self._early(k):
                x = torch.cat([early.pop(), x], dim=1)
        return unsqueeze(x, c.group)[:, 0]
