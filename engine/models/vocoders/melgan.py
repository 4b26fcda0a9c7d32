"""MelGAN (Kumar et al. 2019): a fully convolutional, non-autoregressive GAN vocoder.

Generator: a 7-wide convolution lifts the 80-band mel to ``channels * 2**len(upsample)`` channels; each
stage upsamples by 8, 8, 2, 2 (transposed convolutions, kernel 2r, hop 256 in all) and halves the width,
followed by a residual stack of dilations 1, 3, 9; LeakyReLU 0.2, weight norm everywhere, a 7-wide
convolution to one channel and tanh.

With ``bands = 4`` it is Multi-band MelGAN (Yang et al. 2020): the ladder stops at 1/4 of the sample rate
(upsampling 8, 8 instead of 8, 8, 2, 2), the last convolution makes 4 sub-bands and a PQMF synthesis filter
bank (:mod:`engine.nn.pqmf`) joins them -- the same network, with its widest layers at a quarter of the
rate, some 3x faster on a CPU. Trained against the 3-scale discriminator of
:mod:`engine.nn.discriminators` (hinge loss, feature matching lambda = 10); see
:mod:`engine.train.vocode_gan` for the recipe.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from torch import Tensor, nn
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import weight_norm

from ...nn.pqmf import PQMF
from .base import HOP, N_MELS, Vocoder

SLOPE = 0.2  # LeakyReLU slope


@dataclass
class MelGANConfig:
    """The generator's shape. The paper's full-band MelGAN is channels=32, upsample (8, 8, 2, 2), bands=1
    (4.3 M parameters); our default is the 4-band variant with channels 48 (0.65 M), fast on a CPU."""

    channels: int = 48  # width of the last stage; earlier stages are 2x wider per stage
    upsample: tuple[int, ...] = (8, 8)  # product times bands must be the hop (256); full band: (8, 8, 2, 2)
    dilations: tuple[int, ...] = (1, 3, 9)  # residual stack after each upsampling
    bands: int = 4  # 1: full-band MelGAN; 4: Multi-band MelGAN (PQMF synthesis)
    n_mels: int = N_MELS

    def __post_init__(self) -> None:
        if math.prod(self.upsample) * self.bands != HOP:
            raise ValueError(f"MelGAN upsampling {self.upsample} times {self.bands} band(s) must be the hop {HOP}")


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
        layers += [nn.LeakyReLU(SLOPE), nn.ReflectionPad1d(3), weight_norm(nn.Conv1d(ch, config.bands, 7)), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        self.pqmf = PQMF(config.bands) if config.bands > 1 else None

    def forward(self, mel: Tensor) -> Tensor:
        """mel : Tensor[B x 80 x frames] -> audio Tensor[B x frames * 256]."""
        x = self.net(mel)  # [B x bands x frames * 256 / bands]
        if self.pqmf is not None:
            x = self.pqmf.synthesis(x).clamp(-1.0, 1.0)
        return x.squeeze(1)

    def infer(self, mel: Tensor, **_: object) -> Tensor:
        return self.forward(mel)

    def prepare_for_inference(self) -> "MelGAN":
        """Fold weight norm into plain weights (faster inference); returns self in eval mode."""
        for module in self.modules():
            if parametrize.is_parametrized(module, "weight"):
                parametrize.remove_parametrizations(module, "weight", leave_parametrized=True)
        return self.eval()
