"""The DDSP timbre autoencoder (Engel et al. 2020): a note as f0 + loudness + a 16-channel embedding z.

encoder  log-mel frames -> z ``[B x 16 x frames]`` at ``z_hop`` (512 samples: NSynth's 125 frames per 4 s note)
decoder  (f0, loudness, z) at the control rate (``hop`` = 128 samples, 125 frames/s) -> a GRU + MLPs ->
         the synthesizer's controls: overall amplitude, harmonic distribution, noise magnitudes
synth    harmonic oscillator bank + filtered noise (+ a learnable reverb), from :mod:`engine.nn.synth`

Pitch is an input (f0), so the output keeps the pitch it is given by construction; the embedding carries
what is left: the timbre and its evolution in time. A forward pass returns the audio and the controls.
"""

from __future__ import annotations

from dataclasses import dataclass

import librosa
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..nn.synth import (
    LOUDNESS_RANGE_DB,
    Reverb,
    a_weighted_loudness,
    exp_sigmoid,
    filtered_noise,
    harmonic_synth,
    hz_to_midi,
)


@dataclass
class DDSPConfig:
    """The shape of a DDSP timbre autoencoder (stored as config.json beside the weights)."""

    sample_rate: int = 16_000
    hop: int = 128  # samples per control frame (8 ms)
    z_hop: int = 512  # samples per embedding frame (a multiple of hop)
    n_fft: int = 1024  # encoder's mel frames and the loudness analysis
    n_mels: int = 64
    latent_channels: int = 16  # NSynth's embedding width
    encoder_channels: int = 128
    encoder_layers: int = 4  # non-causal dilated convs, dilations 1, 2, 4, 8, ...
    hidden: int = 256  # MLP width
    gru: int = 256
    n_harmonics: int = 60
    noise_bands: int = 65
    reverb_seconds: float = 1.0  # 0 = no reverb
    decoder_window: int = 64  # control frames the GRU runs from a zero state (the training crop's length)

    @property
    def z_stride(self) -> int:
        """Control frames per embedding frame."""
        return self.z_hop // self.hop


def mlp(inputs: int, width: int, layers: int = 2) -> nn.Sequential:
    """DDSP's MLP: (Linear -> LayerNorm -> LeakyReLU) x layers, over the last dimension."""
    mods: list[nn.Module] = []
    for i in range(layers):
        mods += [nn.Linear(inputs if i == 0 else width, width), nn.LayerNorm(width), nn.LeakyReLU(0.2)]
    return nn.Sequential(*mods)


class Encoder(nn.Module):
    """Log-mel ``[B x n_mels x n]`` -> z ``[B x latent x n // z_stride]`` (average-pooled per z frame)."""

    def __init__(self, cfg: DDSPConfig):
        super().__init__()
        self.input = nn.Conv1d(cfg.n_mels, cfg.encoder_channels, 1)
        self.layers = nn.ModuleList(
            nn.Conv1d(cfg.encoder_channels, cfg.encoder_channels, 3, padding=2**i, dilation=2**i)
            for i in range(cfg.encoder_layers)
        )
        self.norms = nn.ModuleList(nn.GroupNorm(1, cfg.encoder_channels) for _ in range(cfg.encoder_layers))
        self.output = nn.Conv1d(cfg.encoder_channels, cfg.latent_channels, 1)
        self.stride = cfg.z_stride

    def forward(self, mel: Tensor) -> Tensor:
        h = self.input(mel)
        for conv, norm in zip(self.layers, self.norms):
            h = h + conv(F.leaky_relu(norm(h), 0.2))
        return F.avg_pool1d(self.output(h), self.stride, ceil_mode=True)


class Decoder(nn.Module):
    """(f0, loudness, z) per control frame -> synthesizer controls, through a GRU and MLPs."""

    def __init__(self, cfg: DDSPConfig):
        super().__init__()
        self.f0_mlp, self.loudness_mlp = mlp(1, cfg.hidden), mlp(1, cfg.hidden)
        self.z_mlp = mlp(cfg.latent_channels, cfg.hidden)
        self.gru = nn.GRU(3 * cfg.hidden, cfg.gru, batch_first=True)
        self.out_mlp = mlp(cfg.gru + 3 * cfg.hidden, cfg.hidden)
        self.out = nn.Linear(cfg.hidden, 1 + cfg.n_harmonics + cfg.noise_bands)
        self.splits = (1, cfg.n_harmonics, cfg.noise_bands)

    def forward(self, f0_scaled: Tensor, loudness_scaled: Tensor, z: Tensor) -> Tensor:
        """f0_scaled, loudness_scaled : Tensor[B x n x 1]; z : Tensor[B x n x latent].

        Returns the controls Tensor[B x n x (1 + K + bands)], all positive: overall amplitude, harmonic
        distribution, noise magnitudes.
        """
        h = torch.cat([self.f0_mlp(f0_scaled), self.loudness_mlp(loudness_scaled), self.z_mlp(z)], dim=-1)
        g, _ = self.gru(h)
        raw = self.out(self.out_mlp(torch.cat([g, h], dim=-1))).float()
        amplitude, distribution, noise = raw.split(self.splits, dim=-1)
        return torch.cat([exp_sigmoid(amplitude), exp_sigmoid(distribution), exp_sigmoid(noise - 5.0)], dim=-1)


def windowed(decoder: Decoder, inputs: Tensor, window: int) -> Tensor:
    """Run ``decoder`` over windows of ``window`` frames overlapping by a quarter, each from a zero GRU state,
    and cross-fade their outputs (Hann weights, normalised by their sum): a long note is decoded in the regime
    the decoder was trained in, for 4/3 of the work of one pass.

    inputs : Tensor[B x n x (2 + latent)]: scaled f0, scaled loudness, then z, per frame
    returns Tensor[B x n x D] the decoder's controls
    """
    batch, n, _ = inputs.shape
    hop = window - window // 4
    count = -(-(n - window) // hop) + 1
    padded = F.pad(inputs.transpose(1, 2), (0, (count - 1) * hop + window - n), mode="replicate")
    frames = padded.unfold(-1, window, hop)  # [B x C x count x window]
    frames = frames.permute(0, 2, 3, 1).reshape(batch * count, window, -1)
    out = decoder(frames[..., :1], frames[..., 1:2], frames[..., 2:])  # [(B count) x window x D]
    weight = torch.hann_window(window, periodic=False, device=inputs.device) + 1e-3
    out = (out * weight[:, None]).view(batch, count, window, -1).permute(0, 3, 2, 1)  # [B x D x window x count]
    total = (count - 1) * hop + window
    summed = F.fold(out.reshape(batch, -1, count), (1, total), (1, window), stride=(1, hop))
    norm = F.fold(weight[None, :, None].expand(1, window, count), (1, total), (1, window), stride=(1, hop))
    return (summed / norm).view(batch, -1, total)[..., :n].transpose(1, 2)


class DDSPAutoencoder(nn.Module):
    """Encoder + decoder + harmonic-plus-noise synthesizer (+ reverb)."""

    def __init__(self, config: DDSPConfig):
        super().__init__()
        if config.z_hop % config.hop:
            raise ValueError(f"z_hop ({config.z_hop}) must be a multiple of hop ({config.hop})")
        self.config = config
        self.encoder = Encoder(config)
        self.decoder = Decoder(config)
        self.reverb = (Reverb(config.sample_rate, config.reverb_seconds, max_taps=config.decoder_window * config.hop)
                       if config.reverb_seconds > 0 else None)
        basis = librosa.filters.mel(sr=config.sample_rate, n_fft=config.n_fft, n_mels=config.n_mels)
        self.register_buffer("mel_basis", torch.from_numpy(basis), persistent=False)  # [n_mels x n_fft // 2 + 1]

    # -- features -----------------------------------------------------------------------------------
    def frames(self, samples: int) -> int:
        """Control frames of a signal of ``samples`` samples (its length is cut to whole frames)."""
        return samples // self.config.hop

    def log_mel(self, audio: Tensor) -> Tensor:
        """audio : Tensor[B x T] -> log-mel Tensor[B x n_mels x T // hop]"""
        cfg = self.config
        window = torch.hann_window(cfg.n_fft, device=audio.device)
        spec = torch.stft(audio.float(), cfg.n_fft, cfg.hop, window=window, return_complex=True).abs() ** 2
        mel = torch.matmul(self.mel_basis, spec[..., : self.frames(audio.shape[-1])])
        return torch.log(mel + 1e-5)

    def loudness(self, audio: Tensor) -> Tensor:
        """audio : Tensor[B x T] -> A-weighted loudness in dB, Tensor[B x T // hop]"""
        return a_weighted_loudness(audio, self.config.sample_rate, self.config.hop, self.config.n_fft)

    # -- the three parts ----------------------------------------------------------------------------
    def encode(self, audio: Tensor) -> Tensor:
        """audio : Tensor[B x T] -> z Tensor[B x latent x ceil(T // hop / z_stride)]"""
        return self.encoder(self.log_mel(audio))

    def upsample_z(self, z: Tensor, frames: int) -> Tensor:
        """z : Tensor[B x latent x m] -> Tensor[B x frames x latent], linear between embedding frames."""
        z = F.interpolate(z, scale_factor=self.config.z_stride, mode="linear", align_corners=False)
        if z.shape[-1] < frames:
            z = F.pad(z, (0, frames - z.shape[-1]), mode="replicate")
        return z[..., :frames].transpose(1, 2)

    def controls(self, f0: Tensor, loudness: Tensor, z: Tensor) -> dict[str, Tensor]:
        """f0 (Hz), loudness (dB) : Tensor[B x n]; z : Tensor[B x latent x m] -> the synthesizer's controls."""
        n = f0.shape[-1]
        f0_scaled = (hz_to_midi(f0) / 127.0).unsqueeze(-1)
        loudness_scaled = (loudness / LOUDNESS_RANGE_DB + 1.0).unsqueeze(-1)
        z_up = self.upsample_z(z, n)
        window = self.config.decoder_window
        if n <= window:
            out = self.decoder(f0_scaled, loudness_scaled, z_up)
        else:
            out = windowed(self.decoder, torch.cat([f0_scaled, loudness_scaled, z_up], dim=-1), window)
        amplitude, distribution, noise = out.transpose(1, 2).split(self.decoder.splits, dim=1)
        return {"f0": f0, "amplitude": amplitude, "distribution": distribution, "noise": noise}

    def synthesize(self, controls: dict[str, Tensor], generator: torch.Generator | None = None) -> Tensor:
        """Controls -> audio Tensor[B x n * hop]."""
        with torch.autocast(controls["f0"].device.type, enabled=False):  # audio-rate work stays float32
            return self._synthesize(controls, generator)

    def _synthesize(self, controls: dict[str, Tensor], generator: torch.Generator | None) -> Tensor:
        cfg = self.config
        harmonic = harmonic_synth(controls["f0"], controls["amplitude"], controls["distribution"], cfg.sample_rate,
                                  cfg.hop)
        audio = harmonic + filtered_noise(controls["noise"], cfg.hop, generator)
        return self.reverb(audio) if self.reverb is not None else audio

    def decode(self, z: Tensor, f0: Tensor, loudness: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """z : Tensor[B x latent x m]; f0 (Hz), loudness (dB) : Tensor[B x n] -> audio Tensor[B x n * hop]."""
        return self.synthesize(self.controls(f0, loudness, z), generator)

    def forward(self, audio: Tensor, f0: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        """Reconstruct ``audio`` (Tensor[B x T]) given its f0 (Hz, Tensor[B x T // hop]).

        Returns the reconstruction Tensor[B x T // hop * hop] and the controls.
        """
        controls = self.controls(f0, self.loudness(audio), self.encode(audio))
        return self.synthesize(controls), controls
