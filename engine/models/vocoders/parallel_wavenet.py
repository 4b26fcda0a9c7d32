"""Parallel WaveNet (van den Oord et al. 2018): an inverse-autoregressive-flow student of the WaveNet vocoder.

Logistic noise ``z`` passes through a few IAF layers (:class:`engine.nn.flows.AutoregressiveAffine`, each
a causal WaveNetStack over its input, conditioned on the upsampled mel): ``x = z * s(z_<t) + mu(z_<t)``
per layer. Every output sample is then logistic given the noise before it, with a total scale and shift
that compose across layers: ``p_S(x_t | z_<t) = Logistic(mu_tot_t, s_tot_t)``. All samples come out of
one parallel pass.

Training (:func:`distillation_losses`) is probability density distillation: the frozen WaveNet teacher
(a logistic-mixture WaveNet vocoder) scores the student's own sample in one teacher-forced pass, and
``KL(P_S || P_T) = H(P_S, P_T) - H(P_S)`` is minimised per sample. The student's entropy is exact
(``log s_tot + 2``); the cross-entropy is a Monte Carlo average over ``teacher_samples`` fresh draws from
each step's student logistic, scored by the teacher's continuous mixture density. A multi-resolution STFT
loss against the real audio plays the part of the paper's power loss (without it students whisper).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from ...core.errors import LatentLabError
from ...nn.distributions import logistic_entropy, mixture_log_density, sample_logistic
from ...nn.flows import AutoregressiveAffine
from ...nn.losses import MultiResolutionSTFTLoss
from .base import HOP, Vocoder
from .conditioning import MelConditioner


@dataclass
class ParallelWaveNetConfig:
    """The shape of a Parallel WaveNet student and its distillation settings; stored next to its weights."""

    flow_layers: tuple[int, ...] = (8, 8, 8)  # WaveNet layers of each IAF layer (the paper: 10, 10, 10, 30)
    dilation_cycle: int = 8
    kernel_size: int = 2
    residual_channels: int = 32  # the paper: 64
    gate_channels: int = 32
    skip_channels: int = 32
    cond_channels: int = 32  # the mel projected to this many channels at the frame rate (0: the 80 mels)
    upsample_factors: tuple[int, ...] = (4, 4, 4, 4)  # product = hop (256)
    init_log_scale: float = -3.0  # the first layer starts by scaling the unit logistic noise by exp(this)
    teacher: str = "wavenet"  # the teacher's checkpoint (name or directory); used in training only
    teacher_samples: int = 4  # Monte Carlo draws per sample for the cross-entropy
    stft_weight: float = 1.0  # weight of the multi-resolution STFT (power) loss


class ParallelWaveNet(Vocoder):
    """mel : Tensor[B x 80 x frames] -> audio : Tensor[B x frames * 256] in one parallel pass."""

    name = "parallel_wavenet"
    Config = ParallelWaveNetConfig

    def __init__(self, config: ParallelWaveNetConfig):
        super().__init__(config)
        if math.prod(config.upsample_factors) != HOP:
            raise LatentLabError(f"upsample factors {list(config.upsample_factors)} must multiply to {HOP}")
        if not config.flow_layers:
            raise LatentLabError("Parallel WaveNet needs at least one IAF layer")
        c = config
        self.conditioner = MelConditioner(c.upsample_factors, c.cond_channels)
        self.flows = nn.ModuleList(
            AutoregressiveAffine(
                self.conditioner.channels, layers, c.residual_channels, c.gate_channels, c.skip_channels, c.kernel_size,
                c.dilation_cycle, init_log_scale=c.init_log_scale if i == 0 else 0.0,
            )
            for i, layers in enumerate(c.flow_layers)
        )

    def transform(self, z: Tensor, cond: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Noise through every IAF layer.

        z : Tensor[B x T] logistic noise, cond : Tensor[B x 80 x T] (the conditioner's output)
        -> (x, mu_tot, log_s_tot), each Tensor[B x T]: x = z * exp(log_s_tot) + mu_tot
        """
        x = z[:, None]
        mu_tot = torch.zeros_like(x)
        log_s_tot = torch.zeros_like(x)
        for flow in self.flows:
            mu, log_s = flow.transform(x, cond)
            x = x * torch.exp(log_s) + mu
            mu_tot = mu_tot * torch.exp(log_s) + mu
            log_s_tot = log_s_tot + log_s
        return x[:, 0], mu_tot[:, 0], log_s_tot[:, 0]

    def forward(self, z: Tensor, mel: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """z : Tensor[B x T] logistic noise, mel : Tensor[B x 80 x T / 256] -> (x, mu_tot, log_s_tot), Tensor[B x T] each"""
        assert z.shape[-1] == mel.shape[-1] * HOP, f"noise {list(z.shape)} vs mel {list(mel.shape)}"
        return self.transform(z, self.conditioner(mel))

    def options(self) -> dict[str, Any]:
        return {"seed": 0, "temperature": 1.0}

    @torch.no_grad()
    def infer(self, mel: Tensor, seed: int = 0, temperature: float = 1.0) -> Tensor:
        """All samples at once.

        mel : Tensor[B x 80 x frames]; seed : seeds the noise; temperature : scales the noise
        -> audio : Tensor[B x frames * 256]
        """
        if temperature < 0:
            raise LatentLabError(f"temperature must be >= 0, got {temperature}")
        b, _, frames = mel.shape
        z = sample_logistic((b, frames * HOP), torch.Generator().manual_seed(int(seed)), mel.device)
        return self(z * temperature, mel)[0].clamp(-1.0, 1.0)


_MR_STFT = MultiResolutionSTFTLoss()


def distillation_losses(student: ParallelWaveNet, teacher: nn.Module, audio: Tensor, mel: Tensor,
                        generator: torch.Generator | None = None) -> dict[str, Tensor]:
    """Probability density distillation plus the STFT loss for one batch.

    Parameters
    ----------
    student : the IAF student
    teacher : a logistic-mixture :class:`~engine.models.vocoders.wavenet_vocoder.WaveNetVocoder` (frozen)
    audio : Tensor[B x T], the real audio (for the STFT loss only)
    mel : Tensor[B x 80 x T / 256]

    Returns
    -------
    {"loss", "kl", "cross_entropy", "entropy", "stft"}: scalars, the densities in nats per sample
    """
    c = student.config
    z = sample_logistic(audio.shape, generator, audio.device)
    x, mu, log_s = student(z, mel)
    params = teacher(x, mel).float()  # teacher-forced on the student's sample: p_T(x_t | x_<t)
    eps = sample_logistic((c.teacher_samples, *audio.shape), generator, audio.device)
    draws = mu + torch.exp(log_s) * eps  # [K x B x T] fresh draws from each step's student logistic
    cross = -torch.stack([mixture_log_density(params, d) for d in draws]).mean()
    entropy = logistic_entropy(log_s).mean()
    kl = cross - entropy
    stft = _MR_STFT(x, audio)[0]
    return {"loss": kl + c.stft_weight * stft, "kl": kl, "cross_entropy": cross, "entropy": entropy, "stft": stft}
