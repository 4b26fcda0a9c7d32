"""Losses shared by the vocoders (and the vocoder metrics), written once.

- :class:`MultiResolutionSTFTLoss` -- spectral convergence + log-magnitude L1 at three STFT resolutions
  (FFT 1024/2048/512, hop 120/240/50, window 600/1200/240; Parallel WaveGAN's setting). Used as a
  training loss by MelGAN, HiFi-GAN and Parallel WaveNet and, without gradients, as the MR-STFT metric.
- :func:`mel_l1` -- L1 between log-mels of the standard :class:`engine.core.mel.MelConfig` (HiFi-GAN's mel loss).
- GAN losses: :func:`hinge_d_loss` / :func:`hinge_g_loss` (MelGAN), :func:`lsgan_d_loss` /
  :func:`lsgan_g_loss` (HiFi-GAN) and :func:`feature_matching` (L1 between discriminator feature maps).
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..core.mel import MelConfig, mel_spectrogram

# (n_fft, hop, window) of the three resolutions
RESOLUTIONS: tuple[tuple[int, int, int], ...] = ((1024, 120, 600), (2048, 240, 1200), (512, 50, 240))
MAG_FLOOR = 1e-7  # power floor before the square root and the log


def stft_magnitude(audio: Tensor, n_fft: int, hop: int, win: int) -> Tensor:
    """|STFT| with a Hann window, centred frames. audio : Tensor[B x T] -> Tensor[B x frames x (n_fft/2 + 1)]."""
    window = torch.hann_window(win, device=audio.device, dtype=audio.dtype)
    spec = torch.stft(audio, n_fft, hop, win, window, center=True, return_complex=True)
    power = spec.real**2 + spec.imag**2
    return torch.sqrt(torch.clamp(power, min=MAG_FLOOR)).transpose(1, 2)


def stft_distance(x: Tensor, y: Tensor, n_fft: int, hop: int, win: int) -> tuple[Tensor, Tensor]:
    """Spectral convergence and log-magnitude L1 of ``x`` (estimate) against ``y`` (reference).

    x, y : Tensor[B x T]. Returns two scalars: ||Y| - |X||_F / ||Y||_F and mean |log|Y| - log|X||.
    """
    mx, my = stft_magnitude(x, n_fft, hop, win), stft_magnitude(y, n_fft, hop, win)
    sc = torch.linalg.norm(my - mx) / torch.linalg.norm(my).clamp(min=1e-8)
    mag = F.l1_loss(torch.log(mx), torch.log(my))
    return sc, mag


class MultiResolutionSTFTLoss(nn.Module):
    """Sum over resolutions of (spectral convergence + log-magnitude L1), averaged over resolutions.

    forward(x, y) with x (estimate), y (reference) : Tensor[B x T] -> (total, sc, mag), three scalars;
    total = sc + mag. Identical inputs give 0.
    """

    def __init__(self, resolutions: Sequence[tuple[int, int, int]] = RESOLUTIONS):
        super().__init__()
        self.resolutions = tuple(tuple(r) for r in resolutions)

    def forward(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        assert x.shape == y.shape and x.dim() == 2, f"x and y must both be [B x T], got {list(x.shape)}, {list(y.shape)}"
        sc_total, mag_total = x.new_zeros(()), x.new_zeros(())
        for n_fft, hop, win in self.resolutions:
            sc, mag = stft_distance(x, y, n_fft, hop, win)
            sc_total, mag_total = sc_total + sc, mag_total + mag
        n = len(self.resolutions)
        sc_total, mag_total = sc_total / n, mag_total / n
        return sc_total + mag_total, sc_total, mag_total


def mel_l1(x: Tensor, y: Tensor | None = None, y_mel: Tensor | None = None, cfg: MelConfig = MelConfig()) -> Tensor:
    """Mean |log-mel(x) - log-mel(y)| (standard mel). Pass ``y_mel`` instead of ``y`` when it is known.

    x, y : Tensor[B x T]; y_mel : Tensor[B x 80 x frames] (frames may exceed x's by nothing: cut to match)
    """
    x_mel = mel_spectrogram(x, cfg)
    if y_mel is None:
        assert y is not None, "give y or y_mel"
        y_mel = mel_spectrogram(y, cfg)
    n = min(x_mel.shape[-1], y_mel.shape[-1])
    return F.l1_loss(x_mel[..., :n], y_mel[..., :n])


# -- GAN losses -----------------------------------------------------------------------------------
# Each discriminator returns a list (one entry per sub-discriminator) of (features, score) pairs:
# features is a list of intermediate Tensors, score the final map.


def hinge_d_loss(real_scores: Sequence[Tensor], fake_scores: Sequence[Tensor]) -> Tensor:
    """MelGAN's discriminator hinge loss: sum over scales of mean relu(1 - D(x)) + mean relu(1 + D(G(s)))."""
    return sum(F.relu(1 - r).mean() + F.relu(1 + f).mean() for r, f in zip(real_scores, fake_scores))


def hinge_g_loss(fake_scores: Sequence[Tensor]) -> Tensor:
    """MelGAN's generator loss: sum over scales of -mean D(G(s))."""
    return sum(-f.mean() for f in fake_scores)


def lsgan_d_loss(real_scores: Sequence[Tensor], fake_scores: Sequence[Tensor]) -> Tensor:
    """HiFi-GAN's least-squares discriminator loss: sum of mean (1 - D(x))^2 + mean D(G(s))^2."""
    return sum(((1 - r) ** 2).mean() + (f**2).mean() for r, f in zip(real_scores, fake_scores))


def lsgan_g_loss(fake_scores: Sequence[Tensor]) -> Tensor:
    """HiFi-GAN's least-squares generator loss: sum of mean (1 - D(G(s)))^2."""
    return sum(((1 - f) ** 2).mean() for f in fake_scores)


def feature_matching(real_features: Sequence[Sequence[Tensor]], fake_features: Sequence[Sequence[Tensor]]) -> Tensor:
    """L1 between the discriminators' feature maps of real and generated audio, averaged per map and
    summed over layers and sub-discriminators (real features are treated as constants)."""
    return sum(
        F.l1_loss(f, r.detach()) for reals, fakes in zip(real_features, fake_features) for r, f in zip(reals, fakes)
    )
