"""The one mel frontend every vocoder uses.

The default :class:`MelConfig` is the HiFi-GAN / Tacotron 2 / WaveGlow standard: 22,050 Hz,
n_fft 1024, hop 256, window 1024, 80 mels, fmin 0, fmax 8000, Slaney mel filters, magnitude (not
power) spectrogram, reflect padding of (n_fft - hop) / 2 on each side and no centring, natural log
clamped at 1e-5. A mel from another tool is moved onto it with :func:`convert_mel` (the log10 mels of
MelGAN, the fmin 125 / fmax 7600 mels of r9y9's WaveNet vocoder and FloWaveNet).
"""

from __future__ import annotations

import dataclasses
import functools
import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

CLAMP = 1e-5  # magnitude floor before the log


@dataclass(frozen=True)
class MelConfig:
    """Mel spectrogram settings. Defaults: the HiFi-GAN / Tacotron 2 standard."""

    sample_rate: int = 22050
    n_fft: int = 1024
    hop_length: int = 256
    win_length: int = 1024
    n_mels: int = 80
    fmin: float = 0.0
    fmax: float | None = 8000.0
    log_base: str = "e"  # "e" (HiFi-GAN, WaveGlow) or "10" (MelGAN)

    @classmethod
    def melgan(cls) -> "MelConfig":
        """MelGAN's variant: log10 of the same magnitude mel."""
        return cls(log_base="10")

    @classmethod
    def r9y9(cls) -> "MelConfig":
        """r9y9 WaveNet vocoder / FloWaveNet variant: fmin 125, fmax 7600."""
        return cls(fmin=125.0, fmax=7600.0)

    def frames(self, n_samples: int) -> int:
        """Number of mel frames for ``n_samples`` samples."""
        return n_samples // self.hop_length


@functools.lru_cache(maxsize=16)
def _mel_basis(cfg: MelConfig) -> np.ndarray:
    import librosa

    return librosa.filters.mel(
        sr=cfg.sample_rate, n_fft=cfg.n_fft, n_mels=cfg.n_mels, fmin=cfg.fmin, fmax=cfg.fmax
    ).astype(np.float32)


def mel_basis(cfg: MelConfig, device: torch.device | str = "cpu") -> torch.Tensor:
    """The mel filter bank, ``Tensor[n_mels x (n_fft // 2 + 1)]``."""
    return torch.from_numpy(_mel_basis(cfg)).to(device)


def _log(x: torch.Tensor, base: str) -> torch.Tensor:
    return torch.log(x) if base == "e" else torch.log10(x)


def _exp(x: torch.Tensor, base: str) -> torch.Tensor:
    return torch.exp(x) if base == "e" else torch.pow(10.0, x)


def magnitude(audio: torch.Tensor, cfg: MelConfig = MelConfig()) -> torch.Tensor:
    """Linear-frequency magnitude spectrogram.

    audio : Tensor[B x T] or Tensor[T]  ->  Tensor[B x (n_fft // 2 + 1) x frames] (frames = T // hop)
    """
    squeeze = audio.dim() == 1
    audio = audio.unsqueeze(0) if squeeze else audio
    pad = (cfg.n_fft - cfg.hop_length) // 2
    audio = F.pad(audio.unsqueeze(1), (pad, pad), mode="reflect").squeeze(1)
    window = torch.hann_window(cfg.win_length, device=audio.device, dtype=audio.dtype)
    spec = torch.stft(
        audio, cfg.n_fft, cfg.hop_length, cfg.win_length, window, center=False, return_complex=True
    )
    mag = torch.sqrt(spec.real**2 + spec.imag**2 + 1e-9)
    return mag[0] if squeeze else mag


def mel_spectrogram(audio: torch.Tensor, cfg: MelConfig = MelConfig()) -> torch.Tensor:
    """Log-mel spectrogram.

    audio : Tensor[B x T] or Tensor[T], float in [-1, 1] at ``cfg.sample_rate``
    returns : Tensor[B x n_mels x frames] (or [n_mels x frames]), log of the magnitude mel clamped at 1e-5
    """
    mag = magnitude(audio, cfg)
    mel = torch.matmul(mel_basis(cfg, mag.device), mag)
    return _log(torch.clamp(mel, min=CLAMP), cfg.log_base)


def mel_to_linear(log_mel: torch.Tensor, cfg: MelConfig = MelConfig()) -> torch.Tensor:
    """Approximate magnitude spectrogram from a log-mel (pseudo-inverse of the filter bank, clamped >= 0)."""
    mel = _exp(log_mel, cfg.log_base)
    inverse = torch.linalg.pinv(mel_basis(cfg, mel.device))
    return torch.clamp(torch.matmul(inverse, mel), min=0.0)


def convert_mel(log_mel: torch.Tensor, src: MelConfig, dst: MelConfig = MelConfig()) -> torch.Tensor:
    """Move a log-mel computed with ``src`` settings onto ``dst`` settings.

    A change of log base alone is exact. A change of filter bank (fmin / fmax / n_mels) goes through
    the pseudo-inverse to linear frequency and back, which is approximate. Rate, FFT and hop must match.
    log_mel : Tensor[... x src.n_mels x frames]  ->  Tensor[... x dst.n_mels x frames]
    """
    for name in ("sample_rate", "n_fft", "hop_length", "win_length"):
        if getattr(src, name) != getattr(dst, name):
            raise ValueError(f"cannot convert mels with a different {name}: {getattr(src, name)} vs {getattr(dst, name)}")
    same_bank = dataclasses.replace(src, log_base=dst.log_base) == dst
    if same_bank:
        if src.log_base == dst.log_base:
            return log_mel
        factor = math.log(10.0) if src.log_base == "10" else 1.0 / math.log(10.0)
        return log_mel * factor
    linear = mel_to_linear(log_mel, src)
    mel = torch.matmul(mel_basis(dst, linear.device), linear)
    return _log(torch.clamp(mel, min=CLAMP), dst.log_base)
