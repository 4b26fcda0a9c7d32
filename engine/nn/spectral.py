"""Short-time Fourier transforms framed like the project's mel, and the inverse a frame-rate vocoder ends in.

The standard mel (:mod:`engine.core.mel`) pads the audio by ``(n_fft - hop) / 2`` on each side (reflect)
and frames it without centring, so ``T`` samples give ``T // hop`` frames and frame ``t`` covers samples
``[t * hop - (n_fft - hop) / 2, t * hop + (n_fft + hop) / 2)``. :func:`stft` frames audio that way and
:func:`istft` inverts it: N frames become exactly ``N * hop`` samples, each frame laid back where the mel
took it from (Vocos' "same" padding). The inverse is a windowed overlap-add divided by the summed squared
window, so ``istft(stft(x)) == x`` away from nothing: at the edges too, since the envelope is exact there.

Both run in float32 whatever the autocast around them (FFTs and the envelope division lose too much in
bfloat16).
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F
from torch import Tensor


@functools.lru_cache(maxsize=8)
def _window(n_fft: int, device: str) -> Tensor:
    return torch.hann_window(n_fft, device=device)  # periodic, as torch.stft and the mel use


def stft(audio: Tensor, n_fft: int = 1024, hop: int = 256) -> Tensor:
    """Complex STFT framed like the mel. audio : Tensor[B x T] -> Tensor[B x (n_fft // 2 + 1) x T // hop]."""
    pad = (n_fft - hop) // 2
    x = F.pad(audio.float().unsqueeze(1), (pad, pad), mode="reflect").squeeze(1)
    return torch.stft(x, n_fft, hop, n_fft, _window(n_fft, str(x.device)), center=False, return_complex=True)


def istft(spec: Tensor, n_fft: int = 1024, hop: int = 256) -> Tensor:
    """Inverse of :func:`stft`. spec : complex Tensor[B x (n_fft // 2 + 1) x N] -> Tensor[B x N * hop]."""
    assert spec.dim() == 3 and spec.shape[1] == n_fft // 2 + 1, f"expected [B x {n_fft // 2 + 1} x N], got {list(spec.shape)}"
    with torch.autocast(spec.device.type, enabled=False):
        b, _, n = spec.shape
        window = _window(n_fft, str(spec.device))
        frames = torch.fft.irfft(spec, n=n_fft, dim=1) * window[None, :, None]  # [B x n_fft x N]
        length = (n - 1) * hop + n_fft
        audio = F.fold(frames, (1, length), (1, n_fft), stride=(1, hop)).reshape(b, length)
        envelope = _envelope(n_fft, hop, n, str(spec.device))
        pad = (n_fft - hop) // 2
        return (audio / envelope)[:, pad : pad + n * hop]


@functools.lru_cache(maxsize=32)
def _envelope(n_fft: int, hop: int, n: int, device: str) -> Tensor:
    """Sum of squared windows of the overlap-add, clamped away from 0: Tensor[(n - 1) * hop + n_fft]."""
    squared = (_window(n_fft, device) ** 2)[None, :, None].expand(1, n_fft, n)
    length = (n - 1) * hop + n_fft
    return F.fold(squared, (1, length), (1, n_fft), stride=(1, hop)).reshape(length).clamp(min=1e-11)


@torch.no_grad()
def fast_griffin_lim(magnitude: Tensor, phase: Tensor, n_iter: int = 32, momentum: float = 0.99) -> Tensor:
    """Fast Griffin-Lim (Perraudin et al. 2013) framed like the mel, from a given initial ``phase``.

    Each iteration keeps ``magnitude``, takes the phase of the STFT of the current signal, extrapolated by
    ``momentum`` from the previous one. magnitude, phase : Tensor[B x bins x N] -> Tensor[B x N * hop]
    """
    n_fft = 2 * (magnitude.shape[1] - 1)
    magnitude = magnitude.float()
    spec = previous = torch.polar(magnitude, phase.float())
    for _ in range(int(n_iter)):
        rebuilt = stft(istft(spec, n_fft), n_fft)  # N frames -> N * hop samples -> N frames
        accelerated = rebuilt + momentum * (rebuilt - previous)
        previous = rebuilt
        spec = torch.polar(magnitude, torch.angle(accelerated))
    return istft(spec, n_fft)


def anti_wrap(x: Tensor) -> Tensor:
    """|x - 2 pi round(x / 2 pi)|: the distance between two phases, whatever their wrapping (0 to pi)."""
    return torch.abs(x - 2 * torch.pi * torch.round(x / (2 * torch.pi)))


def phase_losses(phase: Tensor, target: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """APNet's anti-wrapping phase losses (Ai & Ling 2023) between a predicted and a reference phase spectrum.

    phase, target : Tensor[B x bins x N] (radians). Returns three scalars: the instantaneous phase error, the
    group-delay error (the error's difference along frequency) and the instantaneous-frequency error (its
    difference along time), each the mean anti-wrapped distance: 0 for equal phases, pi / 2 for unrelated ones.
    """
    error = phase - target
    return (anti_wrap(error).mean(), anti_wrap(torch.diff(error, dim=1)).mean(),
            anti_wrap(torch.diff(error, dim=2)).mean())


PHASE_FLOOR = 0.05  # a bin takes the source's phase when it is within -26 dB of its frame's loudest bin


def keep_phase(audio: Tensor, source: Tensor, floor: float = PHASE_FLOOR, n_fft: int = 1024, hop: int = 256) -> Tensor:
    """``audio``'s STFT magnitude with ``source``'s phase wherever the source is loud, inverted.

    What speech enhancement does with the noisy phase, for a translation whose notes are the source's: the
    vocoder's magnitude (the target instrument) keeps its envelope, while the source's phase puts every partial
    of the source's notes at its own frequency. A bin of a frame takes the source's phase when the source's
    magnitude there is above ``floor`` times the frame's loudest; elsewhere (rests, partials the source lacks)
    it keeps the vocoder's.

    audio, source : Tensor[B x T] (same framing, T a multiple of ``hop``) -> Tensor[B x T]
    """
    if audio.shape != source.shape:
        raise ValueError(f"audio {list(audio.shape)} and source {list(source.shape)} must have the same shape")
    if audio.shape[-1] % hop:
        raise ValueError(f"the length {audio.shape[-1]} must be a multiple of the hop {hop}")
    with torch.autocast(audio.device.type, enabled=False):
        out, src = stft(audio, n_fft, hop), stft(source, n_fft, hop)
        loud = src.abs() > floor * src.abs().amax(dim=1, keepdim=True)
        phase = torch.where(loud, torch.angle(src), torch.angle(out))
        return istft(torch.polar(out.abs(), phase), n_fft, hop)
