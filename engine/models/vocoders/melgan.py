"""MelGAN (Kumar et al. 2019): a fully convolutional, non-autoregressive GAN vocoder.

Generator: a 7-wide convolution lifts the 80-band mel to ``channels * 2**len(upsample)`` channels; each
stage upsamples by 8, 8, 2, 2 (transposed convolutions, kernel 2r, hop 256 in all) and halves the width,
followed by a residual stack of dilations 1, 3, 9; LeakyReLU 0.2, weight norm everywhere, a 7-wide
convolution to one channel and tanh. Trained against the 3-scale discriminator of
:mod:`engine.nn.discriminators` (hinge loss, feature matching lambda = 10); see
:mod:`engine.train.vocoder_gan` for the recipe.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import weight_norm

from .base import HOP, N_MELS, Vocoder

SLOPE = 0.2  # LeakyReLU slope


@dataclass
class MelGANConfig:
    """The generator's shape. The paper's is channels=32 (4.3 M parameters)."""

    channels: int = 16  # width of the last (sample-rate) stage; earlier stages are 2x wider per stage
    upsample: tuple[int, ...] = (8, 8, 2, 2)  # product must be the hop (256)
    dilations: tuple[int, ...] = (1, 3, 9)  # residual stack after each upsampling
    n_mels: int = N_MELS

    def __post_init__(self) -> None:
        if math.prod(self.upsample) != HOP:
            raise ValueError(f"MelGAN upsampling {self.upsample} must multiply to the hop {HOP}")


class ResidualUnit(nn.Module):
    """x + conv1x1(lrelu(dilated conv3(lrelu(x)))), with a 1x1 shortcut, as in MelGAN."""

    def __init__(self, channels: int, dilation: int):
        super().__init__()
        self.block = nn.Sequential(
            nn.LeakyReLU(SLOPE),
            nn.ReflectionPad1d(dilation),
            weight_norm(nn.Conv1d(channels, channels, 3, dilation=dilation)),
            nn.LeakyReLU(SLOPE),
            weight_norm(nn.Conv1d(channels, channels, 1)),
        )
        self.shortcut = weight_norm(nn.Conv1d(channels, channels, 1))

    def forward(self, x: Tensor) -> Tensor:
        return self.shortcut(x) + self.block(x)


class MelGAN(Vocoder):
    """The MelGAN generator. forward / infer: mel Tensor[B x 80 x frames] -> audio Tensor[B x frames * 256]."""

    name = "melgan"
    Config = MelGANConfig

    def __init__(self, config: MelGANConfig = MelGANConfig()):
        super().__init__(config)
        ch = config.channels * 2 ** len(config.upsample)
        layers: list[nn.Module] = [nn.ReflectionPad1d(3), weight_norm(nn.Conv1d(config.n_mels, ch, 7))]
        for r in config.upsample:
            layers += [
                nn.LeakyReLU(SLOPE),
                weight_norm(nn.ConvTranspose1d(ch, ch // 2, 2 * r, stride=r, padding=r // 2 + r % 2, output_padding=r % 2)),
            ]
            ch //= 2
            layers += [ResidualUnit(ch, d) for d in config.dilations]
        layers += [nn.LeakyReLU(SLOPE), nn.ReflectionPad1d(3), weight_norm(nn.Conv1d(ch, 1, 7)), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, mel: Tensor) -> Tensor:
        """mel : Tensor[B x 80 x frames] -> audio Tensor[B x frames * 256]."""
        return self.net(mel).squeeze(1)

    def infer(self, mel: Tensor, **_: object) -> Tensor:
        return self.forward(mel)

    def prepare_for_inference(self) -> "MelGAN":
        """Fold weight norm into plain weights (faster inference); returns self in eval mode."""
        for module in self.modules():
            if parametrize.is_parametrized(module, "weight"):
                parametrize.remove_parametrizations(module, "weight", leave_parametrized=True)
        return self.eval()
