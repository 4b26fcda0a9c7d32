"""FloWaveNet (Kim et al. 2019): a multi-scale flow of context blocks, conditioned on the mel.

Each of ``blocks`` context blocks squeezes time into channels by ``squeeze`` (2) and runs
``flows_per_block`` flows, each an :class:`~engine.nn.flows.ActNorm` (data-dependent initialisation)
followed by an affine coupling with a non-causal WaveNet (:class:`~engine.nn.flows.AffineCoupling`),
the halves alternating from flow to flow. Block k runs at 1 / squeeze^(k+1) of the sample rate, so deep
blocks see a wide context cheaply. Trained by maximum likelihood under N(0, 1) in one parallel pass;
synthesis runs the flow backwards from noise at temperature ``infer_sigma``.

Difference from the paper, for size: the mel is upsampled once (transposed convolutions) to the first
block's rate, after a frame-rate projection to ``cond_channels`` (32), and average-pooled for the deeper blocks, instead of being squeezed along
with the audio into ever more channels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch.nn.functional as F
from torch import Tensor, nn

from ...core.errors import LatentLabError
from ...nn.flows import ActNorm, AffineCoupling, squeeze, unsqueeze
from .base import HOP, FlowVocoder
from .conditioning import MelConditioner


@dataclass
class FloWaveNetConfig:
    """The shape of a FloWaveNet; stored next to its weights."""

    blocks: int = 4  # context blocks (the paper: 8)
    flows_per_block: int = 6
    squeeze: int = 2  # time steps folded into channels at the start of every block
    wn_layers: int = 2  # WaveNet layers of each coupling (the paper: 2)
    wn_channels: int = 32  # residual = gate = skip channels (the paper: 256)
    kernel_size: int = 3
    cond_channels: int = 32  # the mel projected to this many channels at the frame rate (0: the 80 mels)
    upsample_factors: tuple[int, ...] = (4, 4, 8)  # mel frames -> the first block's rate: product = hop / squeeze
    sigma: float = 1.0  # the prior's standard deviation in training
    infer_sigma: float = 0.8  # default sampling temperature


class FloWaveNet(FlowVocoder):
    """mel : Tensor[B x 80 x frames] <-> audio : Tensor[B x frames * 256], exactly invertible given the mel."""

    name = "flowavenet"
    Config = FloWaveNetConfig

    def __init__(self, config: FloWaveNetConfig):
        super().__init__(config)
        c = config
        if math.prod(c.upsample_factors) * c.squeeze != HOP:
            raise LatentLabError(f"upsample factors {list(c.upsample_factors)} times squeeze {c.squeeze} must be {HOP}")
        if HOP % c.squeeze**c.blocks:
            raise LatentLabError(f"{c.blocks} blocks squeezing by {c.squeeze} do not divide the hop of {HOP}")
        self.conditioner = MelConditioner(c.upsample_factors, c.cond_channels)
        self.norms = nn.ModuleList()
        self.couplings = nn.ModuleList()
        for k in range(c.blocks):
            channels = c.squeeze ** (k + 1)
            for j in range(c.flows_per_block):
                self.norms.append(ActNorm(channels))
                self.couplings.append(AffineCoupling(
                    channels, self.conditioner.channels, c.wn_layers, c.wn_channels, c.wn_channels, c.wn_channels, c.kernel_size,
                    dilation_cycle=c.wn_layers, swap=j % 2 == 1,
                ))

    @property
    def latent_channels(self) -> int:
        """Channels of the latent: squeeze ** blocks."""
        return self.config.squeeze**self.config.blocks

    def _conds(self, mel: Tensor) -> list[Tensor]:
        """The conditioning at every block's rate: Tensor[B x 80 x T / squeeze^(k+1)] for block k."""
        cond = self.conditioner(mel)
        conds = [cond]
        for _ in range(1, self.config.blocks):
            cond = F.avg_pool1d(cond, self.config.squeeze)
            conds.append(cond)
        return conds

    def _flows(self, k: int) -> range:
        n = self.config.flows_per_block
        return range(k * n, (k + 1) * n)

    def forward(self, audio: Tensor, mel: Tensor) -> tuple[Tensor, Tensor]:
        """Audio to latent.

        audio : Tensor[B x T], mel : Tensor[B x 80 x T / 256]
        -> (z : Tensor[B x squeeze^blocks x T / squeeze^blocks], logdet : Tensor[B])
        """
        assert audio.shape[-1] == mel.shape[-1] * HOP, f"audio {list(audio.shape)} vs mel {list(mel.shape)}"
        x, logdet = audio[:, None], audio.new_zeros(audio.shape[0])
        for k, cond in enumerate(self._conds(mel)):
            x = squeeze(x, self.config.squeeze)
            for i in self._flows(k):
                x, ld_norm = self.norms[i](x)
                x, ld_coupling = self.couplings[i](x, cond)
                logdet = logdet + ld_norm + ld_coupling
        return x, logdet

    def reverse(self, z: Tensor, mel: Tensor) -> Tensor:
        """Latent to audio. z : Tensor[B x squeeze^blocks x frames * 256 / squeeze^blocks] -> Tensor[B x frames * 256]"""
        x = z
        conds = self._conds(mel)
        for k in reversed(range(self.config.blocks)):
            for i in reversed(self._flows(k)):
                x = self.couplings[i].reverse(x, conds[k])
                x = self.norms[i].reverse(x)
            x = unsqueeze(x, self.config.squeeze)
        return x[:, 0]
