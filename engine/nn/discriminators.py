"""Waveform discriminators shared by the GAN vocoders (MelGAN, HiFi-GAN), written once.

- :class:`ScaleDiscriminator` -- strided, grouped 1-D convolutions over raw audio (MelGAN's NLayer
  discriminator; HiFi-GAN's DiscriminatorS has the same shape).
- :class:`MultiScaleDiscriminator` -- ``scales`` of them on audio average-pooled by 2 between scales
  (MelGAN: 3 scales; HiFi-GAN's MSD: 3 scales).
- :class:`PeriodDiscriminator` / :class:`MultiPeriodDiscriminator` -- HiFi-GAN's MPD: the audio folded
  into a [T / p x p] image and scanned with (k x 1) 2-D convolutions, for periods 2, 3, 5, 7, 11.

Every discriminator maps audio ``Tensor[B x 1 x T]`` to ``(scores, features)``: ``scores`` a list (one per
sub-discriminator) of score maps, ``features`` a list of lists of intermediate activations (for feature
matching). Widths are arguments: the paper sizes are far too slow to train on a CPU.
"""

from __future__ import annotations

from typing import Sequence

import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.parametrizations import spectral_norm, weight_norm

SLOPE = 0.2  # LeakyReLU slope of MelGAN (HiFi-GAN uses 0.1)


def _norm(module: nn.Module, kind: str) -> nn.Module:
    return spectral_norm(module) if kind == "spectral" else weight_norm(module)


class ScaleDiscriminator(nn.Module):
    """MelGAN's NLayer discriminator: conv(15) -> ``layers`` strided grouped convs -> conv(5) -> conv(3) to 1.

    Channels grow by ``stride`` per strided layer from ``channels`` up to ``max_channels``.
    """

    def __init__(self, channels: int = 16, layers: int = 4, stride: int = 4, max_channels: int = 1024,
                 slope: float = SLOPE, norm: str = "weight"):
        super().__init__()
        self.slope = slope
        convs = [_norm(nn.Conv1d(1, channels, 15, padding=7), norm)]
        ch = channels
        for _ in range(layers):
            out = min(ch * stride, max_channels)
            groups = max(1, ch // 4)
            while out % groups:
                groups //= 2
            convs.append(_norm(nn.Conv1d(ch, out, stride * 10 + 1, stride, padding=stride * 5, groups=groups), norm))
            ch = out
        out = min(ch * 2, max_channels)
        convs.append(_norm(nn.Conv1d(ch, out, 5, padding=2), norm))
        self.convs = nn.ModuleList(convs)
        self.post = _norm(nn.Conv1d(out, 1, 3, padding=1), norm)

    def forward(self, x: Tensor) -> tuple[Tensor, list[Tensor]]:
        """x : Tensor[B x 1 x T] -> (score Tensor[B x 1 x T'], features)."""
        features = []
        for conv in self.convs:
            x = F.leaky_relu(conv(x), self.slope)
            features.append(x)
        x = self.post(x)
        features.append(x)
        return x, features


class MultiScaleDiscriminator(nn.Module):
    """``scales`` :class:`ScaleDiscriminator` s on the audio, the audio halved (average pool 4, stride 2)
    before each next scale. ``first_norm="spectral"`` gives HiFi-GAN's MSD (spectral norm on the first)."""

    def __init__(self, scales: int = 3, first_norm: str = "weight", **kwargs):
        super().__init__()
        self.discriminators = nn.ModuleList(
            ScaleDiscriminator(norm=first_norm if i == 0 else "weight", **kwargs) for i in range(scales)
        )
        self.pool = nn.AvgPool1d(4, stride=2, padding=1, count_include_pad=False)

    def forward(self, x: Tensor) -> tuple[list[Tensor], list[list[Tensor]]]:
        scores, features = [], []
        for i, d in enumerate(self.discriminators):
            if i > 0:
                x = self.pool(x)
            score, feats = d(x)
            scores.append(score)
            features.append(feats)
        return scores, features


class PeriodDiscriminator(nn.Module):
    """HiFi-GAN's sub-discriminator of period ``period``: [B x 1 x T] folded to [B x 1 x T/p x p], then
    (5 x 1) convolutions of stride 3 and widths ``channels``, a (5 x 1) conv and a (3 x 1) conv to 1."""

    def __init__(self, period: int, channels: Sequence[int] = (32, 128, 512, 1024), slope: float = 0.1):
        super().__init__()
        self.period, self.slope = period, slope
        widths = [1, *channels]
        convs = [weight_norm(nn.Conv2d(a, b, (5, 1), (3, 1), padding=(2, 0))) for a, b in zip(widths, widths[1:])]
        convs.append(weight_norm(nn.Conv2d(widths[-1], widths[-1], (5, 1), 1, padding=(2, 0))))
        self.convs = nn.ModuleList(convs)
        self.post = weight_norm(nn.Conv2d(widths[-1], 1, (3, 1), 1, padding=(1, 0)))

    def forward(self, x: Tensor) -> tuple[Tensor, list[Tensor]]:
        b, c, t = x.shape
        if t % self.period:
            pad = self.period - t % self.period
            x = F.pad(x, (0, pad), mode="reflect")
            t += pad
        x = x.view(b, c, t // self.period, self.period)
        features = []
        for conv in self.convs:
            x = F.leaky_relu(conv(x), self.slope)
            features.append(x)
        x = self.post(x)
        features.append(x)
        return x.flatten(1, -1), features


class MultiPeriodDiscriminator(nn.Module):
    """One :class:`PeriodDiscriminator` per period (HiFi-GAN: 2, 3, 5, 7, 11)."""

    def __init__(self, periods: Sequence[int] = (2, 3, 5, 7, 11), channels: Sequence[int] = (32, 128, 512, 1024)):
        super().__init__()
        self.discriminators = nn.ModuleList(PeriodDiscriminator(p, channels) for p in periods)

    def forward(self, x: Tensor) -> tuple[list[Tensor], list[list[Tensor]]]:
        scores, features = [], []
        for d in self.discriminators:
            score, feats = d(x)
            scores.append(score)
            features.append(feats)
        return scores, features


class Discriminators(nn.Module):
    """Several discriminators judged together (HiFi-GAN: MPD + MSD); their outputs are concatenated."""

    def __init__(self, *discriminators: nn.Module):
        super().__init__()
        self.parts = nn.ModuleList(discriminators)

    def forward(self, x: Tensor) -> tuple[list[Tensor], list[list[Tensor]]]:
        scores, features = [], []
        for d in self.parts:
            s, f = d(x)
            scores += s
            features += f
        return scores, features
