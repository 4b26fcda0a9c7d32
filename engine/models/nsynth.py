"""The NSynth-style WaveNet autoencoder (Engel et al. 2017), built from the WaveNet core.

A non-causal dilated encoder turns a note into a temporal embedding (16 channels, one frame per ``hop``
samples); a causal WaveNet decoder, conditioned on the embedding repeated up to the sample rate (and,
optionally, on the note's MIDI pitch as a global vector), predicts each 8-bit mu-law sample as a 256-way
softmax. Both halves are the shared layers of :mod:`engine.nn.wavenet.layers`; generation is the core's
:func:`engine.nn.wavenet.generate.generate` (its numba fast path on the CPU).

Sizes (the paper's in brackets): encoder 10 layers x 32 channels, kernel 3 [30 x 128]; embedding 16 channels
pooled over 512 samples [the same]; decoder 20 layers, 32 residual / 32 gate / 64 skip channels, kernel 2
[30 layers, 512 / 256]. The paper's sizes took 10 days on 32 GPUs; these are sized for training on a
shared CPU and for decoding at about real time on one CPU core with the core's numba path (the measured
speed is in the model card), and the pitch input spares the small decoder from having to recover the pitch
from the embedding alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..core.errors import LatentLabError
from ..nn.wavenet.layers import ConditionUpsampler, DilatedEncoder, WaveNet, WaveNetConfig

PITCHES = 128  # MIDI pitches the pitch embedding covers


@dataclass
class NSynthConfig:
    """The autoencoder's shape; stored next to its weights."""

    sample_rate: int = 16_000
    hop: int = 512  # samples per embedding frame (a 4 s note -> 125 frames)
    latent_channels: int = 16
    encoder_channels: int = 32
    encoder_layers: int = 10
    encoder_cycle: int = 10
    encoder_kernel: int = 3
    decoder_layers: int = 20
    decoder_cycle: int = 10
    decoder_kernel: int = 2
    residual_channels: int = 32
    gate_channels: int = 32
    skip_channels: int = 64
    pitch_channels: int = 16  # size of the pitch embedding fed as global conditioning (0: no pitch input)
    classes: int = 256  # 8-bit mu-law

    def __post_init__(self) -> None:
        if self.hop < 1 or self.latent_channels < 1:
            raise LatentLabError("NSynthConfig hop and latent_channels must be at least 1")

    def decoder_config(self) -> WaveNetConfig:
        return WaveNetConfig(
            layers=self.decoder_layers, dilation_cycle=self.decoder_cycle, kernel_size=self.decoder_kernel,
            residual_channels=self.residual_channels, gate_channels=self.gate_channels,
            skip_channels=self.skip_channels, classes=self.classes, cond_channels=self.latent_channels,
            global_channels=self.pitch_channels,
        )


class NSynthAutoencoder(nn.Module):
    """Encoder + pitch embedding + conditioned WaveNet decoder.

    ``forward(x, pitch)`` gives teacher-forced logits, so training is ``cross_entropy(model(x, pitch), x)``.
    """

    def __init__(self, config: NSynthConfig):
        super().__init__()
        self.config = c = config
        self.encoder = DilatedEncoder(1, c.encoder_channels, c.encoder_layers, c.encoder_cycle, c.encoder_kernel,
                                      c.latent_channels, c.hop)
        self.upsample = ConditionUpsampler(c.latent_channels, [c.hop], "repeat")
        self.pitch_embed = nn.Embedding(PITCHES, c.pitch_channels) if c.pitch_channels else None
        self.decoder = WaveNet(c.decoder_config())

    def encoder_input(self, x: Tensor) -> Tensor:
        """Mu-law classes as companded amplitudes in [-1, 1]. x : LongTensor[B x T] -> Tensor[B x 1 x T]"""
        return (2.0 * x.float() / (self.config.classes - 1) - 1.0)[:, None]

    def encode(self, x: Tensor) -> Tensor:
        """x : LongTensor[B x T] mu-law classes -> embedding : Tensor[B x latent x T // hop]"""
        return self.encoder(self.encoder_input(x))

    def condition(self, z: Tensor, length: int) -> Tensor:
        """The embedding repeated up to the sample rate. z : Tensor[B x latent x N] -> Tensor[B x latent x length]

        Samples past the last whole frame repeat the last frame.
        """
        c = self.upsample(z)
        if c.shape[-1] < length:
            c = F.pad(c, (0, length - c.shape[-1]), mode="replicate")
        return c[..., :length]

    def global_condition(self, pitch: Tensor | None, batch: int) -> Tensor | None:
        """pitch : LongTensor[B] MIDI pitches -> Tensor[B x pitch_channels], or None without a pitch input."""
        if self.pitch_embed is None:
            return None
        if pitch is None:
            raise LatentLabError("this timbre model needs the note's MIDI pitch")
        pitch = torch.as_tensor(pitch, device=self.pitch_embed.weight.device).long().reshape(-1)
        if pitch.numel() == 1 and batch > 1:
            pitch = pitch.expand(batch)
        if pitch.min() < 0 or pitch.max() >= PITCHES:
            raise LatentLabError(f"pitch must be a MIDI pitch 0..{PITCHES - 1}, got {pitch.tolist()}")
        return self.pitch_embed(pitch)

    def forward(self, x: Tensor, pitch: Tensor | None = None) -> Tensor:
        """Teacher-forced reconstruction logits.

        Parameters
        ----------
        x : LongTensor[B x T] mu-law classes (T a multiple of ``hop`` for exact frames)
        pitch : LongTensor[B] MIDI pitches (when the config has a pitch input)

        Returns
        -------
        logits : Tensor[B x classes x T]; entry t predicts x[:, t] from x[:, :t] and the embedding
        """
        z = self.encode(x)
        return self.decoder(x, self.condition(z, x.shape[-1]), self.global_condition(pitch, x.shape[0]))

    @torch.no_grad()
    def decode(
        self,
        z: Tensor,
        pitch: Tensor | int | None = None,
        n_samples: int | None = None,
        temperature: float = 1.0,
        seed: int | None = 0,
        progress: Callable[[float], None] | None = None,
        backend: str = "auto",
    ) -> Tensor:
        """Generate audio from embeddings, sample by sample (the core's cached / fast generation).

        Parameters
        ----------
        z : Tensor[B x latent x N] embeddings
        pitch : LongTensor[B] (or one int for all) MIDI pitches, when the model has a pitch input
        n_samples : samples per stream (default N * hop)
        temperature, seed, progress, backend : see :func:`engine.nn.wavenet.generate.generate`

        Returns
        -------
        LongTensor[B x n_samples] mu-law classes
        """
        from ..nn.wavenet.generate import generate

        assert z.dim() == 3 and z.shape[1] == self.config.latent_channels, f"z must be [B x latent x N], got {list(z.shape)}"
        n = n_samples or z.shape[-1] * self.config.hop
        cond = self.condition(z, n)
        g = self.global_condition(pitch, z.shape[0])
        return generate(self.decoder, n, cond=cond, global_cond=g, temperature=temperature, backend=backend,
                        seed=seed, progress=progress)
