"""The WaveNet vocoder (Shen et al. 2018; r9y9's wavenet_vocoder): a causal WaveNet conditioned on the mel.

The mel is normalised and upsampled to the sample rate by transposed convolutions
(:class:`~engine.models.vocoders.conditioning.MelConditioner`) and enters every residual layer through
its own 1x1 projection (local conditioning). The output is a mixture of logistics over float samples
(the default; also what Parallel WaveNet's distillation needs from its teacher) or a 256-way mu-law
softmax. Training is teacher forced (one parallel pass); synthesis runs sample by sample through the
WaveNet core's cached generation (:func:`engine.nn.wavenet.generate.generate`, numba on the CPU).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from ...core.audio import mulaw_decode, mulaw_encode
from ...core.errors import LatentLabError
from ...nn.distributions import discretized_mixture_log_prob
from ...nn.wavenet.generate import generate
from ...nn.wavenet.layers import WaveNet, WaveNetConfig
from .base import HOP, N_MELS, Vocoder
from .conditioning import MelConditioner


@dataclass
class WaveNetVocoderConfig:
    """The shape of a WaveNet vocoder; stored next to its weights."""

    layers: int = 16
    dilation_cycle: int = 8  # receptive field 1 + (kernel - 1) * sum of dilations = 511 samples (23 ms)
    kernel_size: int = 2
    residual_channels: int = 32
    gate_channels: int = 32
    skip_channels: int = 64
    output: str = "logistic_mixture"  # or "softmax" (8-bit mu-law)
    n_mixtures: int = 10
    cond_channels: int = 32  # the mel projected to this many channels at the frame rate (0: the 80 mels)
    upsample_factors: tuple[int, ...] = (4, 4, 4, 4)  # product = hop (256)
    temperature: float = 1.0  # default sampling temperature of infer()

    def wavenet(self) -> WaveNetConfig:
        mixture = self.output == "logistic_mixture"
        return WaveNetConfig(
            layers=self.layers, dilation_cycle=self.dilation_cycle, kernel_size=self.kernel_size,
            residual_channels=self.residual_channels, gate_channels=self.gate_channels,
            skip_channels=self.skip_channels, output=self.output, n_mixtures=self.n_mixtures,
            input="float" if mixture else "mulaw", causal=True, cond_channels=self.cond_channels or N_MELS,
        )


class WaveNetVocoder(Vocoder):
    """mel : Tensor[B x 80 x frames] -> audio : Tensor[B x frames * 256], one sample at a time."""

    name = "wavenet"
    Config = WaveNetVocoderConfig

    def __init__(self, config: WaveNetVocoderConfig):
        super().__init__(config)
        hop = 1
        for f in config.upsample_factors:
            hop *= f
        if hop != HOP:
            raise LatentLabError(f"upsample factors {list(config.upsample_factors)} multiply to {hop}, not {HOP}")
        self.conditioner = MelConditioner(config.upsample_factors, config.cond_channels)
        self.wavenet = WaveNet(config.wavenet())

    @property
    def mixture(self) -> bool:
        return self.config.output == "logistic_mixture"

    def targets(self, audio: Tensor) -> Tensor:
        """What the WaveNet models: the float samples (mixture) or their mu-law classes (softmax)."""
        return audio if self.mixture else mulaw_encode(audio)

    def forward(self, audio: Tensor, mel: Tensor) -> Tensor:
        """Teacher-forced output distribution of every sample.

        audio : Tensor[B x T] in [-1, 1], mel : Tensor[B x 80 x T / 256]
        -> Tensor[B x 3M x T] mixture parameters or Tensor[B x 256 x T] logits
        """
        assert audio.shape[-1] == mel.shape[-1] * HOP, f"audio {list(audio.shape)} vs mel {list(mel.shape)}"
        return self.wavenet(self.targets(audio), self.conditioner(mel))

    def nll(self, outputs: Tensor, audio: Tensor) -> Tensor:
        """Mean negative log-likelihood in nats per sample. outputs : forward()'s, audio : Tensor[B x T]"""
        if self.mixture:
            return -discretized_mixture_log_prob(outputs, audio.clamp(-1, 1)).mean()
        return F.cross_entropy(outputs, mulaw_encode(audio))

    def options(self) -> dict[str, Any]:
        return {"temperature": self.config.temperature, "seed": 0, "backend": "auto"}

    @torch.no_grad()
    def infer(self, mel: Tensor, temperature: float | None = None, seed: int = 0, backend: str = "auto",
              progress=None) -> Tensor:
        """Generate audio sample by sample.

        Parameters
        ----------
        mel : Tensor[B x 80 x frames], the standard natural-log mel
        temperature : sampling temperature (0: the most likely component / class every step)
        seed : seeds the sampling (the same seed gives the same audio)
        backend : the core's generation backend ("auto": numba on the CPU, CUDA graphs on a GPU)
        progress : called with the fraction done

        Returns
        -------
        audio : Tensor[B x frames * 256]
        """
        temperature = self.config.temperature if temperature is None else float(temperature)
        cond = self.conditioner(mel)
        samples = generate(self.wavenet, cond.shape[-1], cond, temperature=temperature, backend=backend,
                           seed=seed, progress=progress)
        return samples if self.mixture else mulaw_decode(samples)
