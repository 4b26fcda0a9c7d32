"""Differentiable synthesis layers (DDSP, Engel et al. 2020): tensors in, tensors out.

- :func:`harmonic_synth` -- a bank of sinusoids at integer multiples of f0 (harmonics at or above
  Nyquist silenced), amplitudes from frame-rate controls;
- :func:`filtered_noise` -- white noise through a time-varying filter given as a frame-wise magnitude
  response (applied in the STFT domain: one filter per frame, overlap-added);
- :class:`Reverb` -- a learnable impulse response added to the dry signal (FFT convolution);
- :func:`multiscale_spectral_loss` -- L1 of linear and log STFT magnitudes at FFT sizes 2048 .. 64;
- :func:`a_weighted_loudness` -- frame-wise A-weighted loudness in dB (the decoder's loudness input).

Controls live at frame rate: frame ``i`` describes the signal around sample ``i * hop`` (the convention
of a centred STFT), and :func:`upsample` interpolates them linearly to the sample rate.
"""

from __future__ import annotations

import functools
import math

import librosa
import numpy as np
import scipy.fft
import torch
import torch.nn.functional as F
from torch import Tensor, nn

FFT_SIZES = (2048, 1024, 512, 256, 128, 64)  # DDSP's multi-scale spectral loss
LOUDNESS_REF_DB = 20.7  # DDSP's reference: white noise of amplitude 1 reads about 0 dB
LOUDNESS_RANGE_DB = 120.0  # loudness is clamped at -120 dB
LOG_EPS = 1e-7  # floor inside the log magnitudes of the spectral loss


def exp_sigmoid(x: Tensor, exponent: float = 10.0, max_value: float = 2.0, threshold: float = 1e-7) -> Tensor:
    """DDSP's positive output nonlinearity: ``max_value * sigmoid(x) ** log(exponent) + threshold``."""
    return max_value * torch.sigmoid(x) ** math.log(exponent) + threshold


def upsample(frames: Tensor, hop: int) -> Tensor:
    """Linear interpolation of frame-rate controls to the sample rate.

    frames : Tensor[B x C x n] (frame i at sample i * hop)
    returns Tensor[B x C x n * hop] (the last frame held for its hop)
    """
    padded = torch.cat([frames, frames[..., -1:]], dim=-1)
    n = frames.shape[-1]
    return F.interpolate(padded, size=n * hop + 1, mode="linear", align_corners=True)[..., : n * hop]


def harmonic_phases(f0: Tensor, sample_rate: int) -> Tensor:
    """Wrapped phase (in cycles, [0, 1)) of a sinusoid following ``f0``: ``Tensor[B x T]`` float32.

    f0 : Tensor[B x T] in Hz at the sample rate. The running sum is taken in float64 and wrapped, so the
    phase of harmonic k, ``frac(k * phase)``, is exact in float32 for notes of any length.
    """
    cycles = torch.cumsum(f0.double() / sample_rate, dim=-1)
    return torch.frac(cycles - f0.double()[..., :1] / sample_rate).float()  # phase 0 at sample 0


def harmonic_synth(f0: Tensor, amplitude: Tensor, distribution: Tensor, sample_rate: int, hop: int) -> Tensor:
    """A harmonic oscillator bank.

    f0 : Tensor[B x n] fundamental frequency in Hz per frame (no gradient flows into it)
    amplitude : Tensor[B x 1 x n] overall amplitude per frame (>= 0)
    distribution : Tensor[B x K x n] relative harmonic amplitudes (>= 0); normalised here to sum to 1 over
        the harmonics below Nyquist, so ``amplitude`` alone sets the level
    returns Tensor[B x n * hop] audio

    Amplitudes are interpolated linearly between frames. Within frame i the output is
    ``(1 - a_j) * sum_k A[k, i] s[k, i, j] + a_j * sum_k A[k, i + 1] s[k, i, j]`` (``a_j = j / hop``), so the
    sum over harmonics is one batched matrix product per frame instead of K sample-rate amplitude tracks.
    """
    audible_max = int(sample_rate / 2 / max(float(f0.min()), 1.0)) + 1  # no harmonic above this can sound
    distribution = distribution[:, :audible_max]  # skip the work for harmonics silenced everywhere
    batch, harmonics, n = distribution.shape
    k = torch.arange(1, harmonics + 1, device=f0.device, dtype=torch.float32)
    audible = (f0.unsqueeze(1) * k[None, :, None] < sample_rate / 2).to(distribution.dtype)  # [B x K x n]
    distribution = distribution * audible
    distribution = distribution / distribution.sum(dim=1, keepdim=True).clamp_min(1e-7)
    amplitudes = amplitude * distribution  # [B x K x n]
    with torch.no_grad():
        phase = harmonic_phases(upsample(f0.unsqueeze(1).float(), hop).squeeze(1), sample_rate)  # [B x T]
        phase = phase.view(batch, 1, n, hop)
        # phase is wrapped to [0, 1), so k * phase stays below K cycles: float32 sin is exact to ~1e-5 there
        sines = torch.sin((2 * math.pi) * phase * k[None, :, None, None])  # [B x K x n x hop]
        sines = sines.permute(0, 2, 1, 3).reshape(batch * n, harmonics, hop).to(amplitudes.dtype)
        ramp = torch.arange(hop, device=f0.device, dtype=amplitudes.dtype) / hop  # [hop]
    ends = torch.stack([amplitudes, torch.cat([amplitudes[..., 1:], amplitudes[..., -1:]], dim=-1)], dim=-1)
    ends = ends.permute(0, 2, 3, 1).reshape(batch * n, 2, harmonics)  # [(B n) x 2 x K]: frame i and i + 1
    both = torch.bmm(ends, sines)  # [(B n) x 2 x hop]
    out = both[:, 0] * (1 - ramp) + both[:, 1] * ramp
    return out.view(batch, n * hop)


def noise_window(hop: int, device: torch.device | None = None) -> Tensor:
    """The analysis/synthesis window of :func:`filtered_noise`: Hann of ``2 * hop`` (sums to 1 at 50%)."""
    return torch.hann_window(2 * hop, periodic=True, device=device)


def filtered_noise(magnitudes: Tensor, hop: int, generator: torch.Generator | None = None) -> Tensor:
    """White noise through a time-varying filter.

    magnitudes : Tensor[B x bands x n] the filter's magnitude response per frame, bands spaced linearly
        from 0 Hz to Nyquist (interpolated to the ``hop + 1`` bins of a ``2 * hop``-point STFT)
    returns Tensor[B x n * hop] audio: noise uniform in [-1, 1] filtered frame by frame
    """
    batch, _, n = magnitudes.shape
    samples = n * hop
    noise = torch.rand(batch, samples, generator=generator, device=magnitudes.device) * 2 - 1
    window = noise_window(hop, magnitudes.device)
    spec = torch.stft(noise, 2 * hop, hop, window=window, center=True, return_complex=True)  # [B x hop+1 x n+1]
    bins = F.interpolate(magnitudes.float().transpose(1, 2), size=hop + 1, mode="linear", align_corners=True)
    response = bins.transpose(1, 2)  # [B x hop+1 x n]
    response = torch.cat([response, response[..., -1:]], dim=-1)  # hold the last frame for the extra one
    return torch.istft(spec * response, 2 * hop, hop, window=window, center=True, length=samples)


class Reverb(nn.Module):
    """A learnable impulse response (``seconds`` long) added to the dry signal: ``y = x + x * ir``.

    max_taps : use only the first ``max_taps`` taps (the training crop's length). Longer lags never meet a
        training signal, so they would learn nothing but the FFT's round-off, which Adam's normalisation
        turns into a random walk; they are kept out of every forward pass, in training and at inference.
    """

    def __init__(self, sample_rate: int, seconds: float = 1.0, max_taps: int | None = None):
        super().__init__()
        n = int(sample_rate * seconds)
        self.taps = n if max_taps is None else min(n, max_taps)
        t = torch.arange(n) / sample_rate
        init = torch.randn(n, generator=torch.Generator().manual_seed(0)) * 1e-2 * torch.exp(-t / 0.1)
        init[0] = 0.0
        self.ir = nn.Parameter(init)

    def forward(self, audio: Tensor) -> Tensor:
        """audio : Tensor[B x T] -> Tensor[B x T]"""
        ir = self.ir.float()[: self.taps]
        ir = torch.cat([ir.new_zeros(1), ir[1:]])  # the direct path is the dry signal itself
        size = audio.shape[-1] + ir.shape[-1] - 1
        n_fft = scipy.fft.next_fast_len(size, real=True)  # no circular wrap; 2^a 3^b 5^c... is fast
        wet = torch.fft.irfft(torch.fft.rfft(audio.float(), n_fft) * torch.fft.rfft(ir, n_fft), n_fft)
        return audio + wet[..., : audio.shape[-1]]


def multiscale_spectral_loss(x: Tensor, y: Tensor, fft_sizes: tuple[int, ...] = FFT_SIZES) -> Tensor:
    """DDSP's spectral loss: sum over FFT sizes of mean |S_x - S_y| + mean |log S_x - log S_y|.

    x, y : Tensor[B x T]; STFTs with 75% overlap (hop = size / 4), Hann windows, float32.
    """
    x, y = x.float(), y.float()
    loss = x.new_zeros(())
    for n_fft in fft_sizes:
        window = torch.hann_window(n_fft, device=x.device)
        sx = torch.stft(x, n_fft, n_fft // 4, window=window, return_complex=True).abs()
        sy = torch.stft(y, n_fft, n_fft // 4, window=window, return_complex=True).abs()
        loss = loss + (sx - sy).abs().mean() + (torch.log(sx + LOG_EPS) - torch.log(sy + LOG_EPS)).abs().mean()
    return loss


def a_weighted_loudness(audio: Tensor, sample_rate: int, hop: int, n_fft: int = 1024) -> Tensor:
    """Frame-wise A-weighted loudness in dB, ``Tensor[B x T // hop]`` (frame i centred on sample i * hop).

    Power spectrum weighted by the A curve, averaged over frequency, in dB relative to
    :data:`LOUDNESS_REF_DB` and clamped at ``-LOUDNESS_RANGE_DB``.
    """
    frames = audio.shape[-1] // hop
    window = torch.hann_window(n_fft, device=audio.device)
    spec = torch.stft(audio.float(), n_fft, hop, window=window, return_complex=True)[..., :frames]
    weights = _a_weights(sample_rate, n_fft).to(audio.device)
    power = (spec.abs() ** 2 * weights[:, None]).mean(dim=-2)
    db = 10 * torch.log10(power + 1e-10) - LOUDNESS_REF_DB
    return db.clamp_min(-LOUDNESS_RANGE_DB)


@functools.lru_cache(maxsize=8)
def _a_weights(sample_rate: int, n_fft: int) -> Tensor:
    """The A-weighting curve as power gains per FFT bin (0 Hz gets the 1 Hz gain, about -150 dB)."""
    freqs = np.maximum(librosa.fft_frequencies(sr=sample_rate, n_fft=n_fft), 1.0)
    return torch.from_numpy(10 ** (librosa.A_weighting(freqs) / 10)).float()


def midi_to_hz(pitch: Tensor | np.ndarray | float) -> Tensor | np.ndarray | float:
    """MIDI pitch -> Hz (A4 = 69 = 440 Hz)."""
    return 440.0 * 2.0 ** ((pitch - 69.0) / 12.0)


def hz_to_midi(f0: Tensor) -> Tensor:
    """Hz -> MIDI pitch (fractional); 0 Hz maps to pitch 0."""
    return torch.where(f0 > 0, 69.0 + 12.0 * torch.log2(f0.clamp_min(1e-3) / 440.0), torch.zeros_like(f0))
