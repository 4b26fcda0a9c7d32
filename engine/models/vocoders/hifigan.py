"""HiFi-GAN (Kong et al. 2020): a GAN vocoder with a multi-receptive-field-fusion (MRF) generator.

Generator: a 7-wide convolution lifts the mel to ``channels``; each stage is LeakyReLU 0.1, a transposed
convolution (kernel ``kernels[i]``, stride ``upsample[i]``; hop 256 in all) halving the width, then the MRF:
the mean of residual blocks of kernel sizes ``resblock_kernels`` and dilations ``resblock_dilations``
(block "1": two convolutions per dilation, as V1/V2; block "2": one, as V3). LeakyReLU, a 7-wide
convolution to one channel, tanh. Weight norm everywhere. The discriminators (multi-period + multi-scale)
and losses (least squares, feature matching, mel L1 x 45) are in :mod:`engine.nn`; the recipe in
:mod:`engine.train.vocode_gan`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import weight_norm

from .base import HOP, N_MELS, Vocoder

SLOPE = 0.1  # LeakyReLU slope inside the generator


@dataclass
class HiFiGANConfig:
    """The generator's shape. Paper V1: channels 512, upsample (8, 8, 2, 2), kernels (16, 16, 4, 4),
    block "1" with kernels (3, 7, 11) and dilations (1, 3, 5) each; V3: channels 256, upsample (8, 8, 4),
    kernels (16, 16, 8), block "2" with kernels (3, 5, 7), dilations (1, 2), (2, 6), (3, 12)."""

    channels: int = 128
    upsample: tuple[int, ...] = (8, 8, 4)
    kernels: tuple[int, ...] = (16, 16, 8)
    resblock: str = "2"
    resblock_kernels: tuple[int, ...] = (3, 5, 7)
    resblock_dilations: tuple[tuple[int, ...], ...] = ((1, 2), (2, 6), (3, 12))
    n_mels: int = N_MELS

    def __post_init__(self) -> None:
        self.resblock_dilations = tuple(tuple(d) for d in self.resblock_dilations)
        if math.prod(self.upsample) != HOP:
            raise ValueError(f"HiFi-GAN upsampling {self.upsample} must multiply to the hop {HOP}")
        if len(self.kernels) != len(self.upsample) or len(self.resblock_kernels) != len(self.resblock_dilations):
            raise ValueError("HiFi-GAN needs one kernel per upsampling and one dilation list per resblock kernel")
        if self.resblock not in ("1", "2"):
            raise ValueError(f"HiFi-GAN resblock must be '1' or '2', got {self.resblock!r}")


def _conv(channels: int, kernel: int, dilation: int) -> nn.Module:
    return weight_norm(nn.Conv1d(channels, channels, kernel, dilation=dilation, padding=dilation * (kernel - 1) // 2))


class ResBlock(nn.Module):
    """Residual block of one kernel size: for each dilation d, x += conv(lrelu(x)) (block "2") or
    x += conv_1(lrelu(conv_d(lrelu(x)))) (block "1")."""

    def __init__(self, channels: int, kernel: int, dilations: tuple[int, ...], two_convs: bool):
        super().__init__()
        self.convs1 = nn.ModuleList(_conv(channels, kernel, d) for d in dilations)
        self.convs2 = nn.ModuleList(_conv(channels, kernel, 1) for _ in dilations) if two_convs else None

    def forward(self, x: Tensor) -> Tensor:
        for i, conv in enumerate(self.convs1):
            y = conv(F.leaky_relu(x, SLOPE))
            if self.convs2 is not None:
                y = self.convs2[i](F.leaky_relu(y, SLOPE))
            x = x + y
        return x


class HiFiGAN(Vocoder):
    """The HiFi-GAN generator. forward / infer: mel Tensor[B x 80 x frames] -> audio Tensor[B x frames * 256]."""

    name = "hifigan"
    Config = HiFiGANConfig

    def __init__(self, config: HiFiGANConfig = HiFiGANConfig()):
        super().__init__(config)
        c = config
        self.pre = weight_norm(nn.Conv1d(c.n_mels, c.channels, 7, padding=3))
        self.ups = nn.ModuleList()
        self.mrfs = nn.ModuleList()
        ch = c.channels
        for u, k in zip(c.upsample, c.kernels):
            self.ups.append(weight_norm(nn.ConvTranspose1d(ch, ch // 2, k, u, padding=(k - u) // 2)))
            ch //= 2
            self.mrfs.append(nn.ModuleList(
                ResBlock(ch, rk, rd, c.resblock == "1") for rk, rd in zip(c.resblock_kernels, c.resblock_dilations)
            ))
        self.post = weight_norm(nn.Conv1d(ch, 1, 7, padding=3))

    def forward(self, mel: Tensor) -> Tensor:
        """mel : Tensor[B x 80 x frames] -> audio Tensor[B x frames * 256]."""
        x = self.pre(mel)
        for up, mrf in zip(self.ups, self.mrfs):
            x = up(F.leaky_relu(x, SLOPE))
            x = sum(block(x) for block in mrf) / len(mrf)
        x = self.post(F.leaky_relu(x))  # default slope 0.01 before the output, as in the paper's code
        return x.tanh().squeeze(1)

    def infer(self, mel: Tensor, **_: object) -> Tensor:
        return self.forward(mel)

    def prepare_for_inference(self) -> "HiFiGAN":
        """Fold weight norm into plain weights (faster inference); returns self in eval mode."""
        for module in self.modules():
            if parametrize.is_parametrized(module, "weight"):
                parametrize.remove_parametrizations(module, "weight", leave_parametrized=True)
        return self.eval()

