"""Objective vocoder metrics: multi-resolution STFT distance, mel L1, PESQ and STOI, real-time factor.

PESQ (ITU-T P.862.2 wide band, at 16 kHz: the ``pesq`` package; -0.5 to 4.5, higher is better) and STOI
(the ``pystoi`` package; 0 to 1, higher is better) score speech; :func:`speech_quality` resamples to their
rates. Every metric compares an estimate with a reference clip after cutting them to the same length (a
vocoder returns frames * 256 samples, a little shorter than the audio its mel came from). 0 means identical.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

import numpy as np
import torch
from torch import Tensor

from ..nn.losses import MultiResolutionSTFTLoss, mel_l1
from .mel import MelConfig

_MR_STFT = MultiResolutionSTFTLoss()


def _pair(estimate: np.ndarray | Tensor, reference: np.ndarray | Tensor) -> tuple[Tensor, Tensor]:
    """Both as float32 Tensor[B x T], cut to the shorter length."""
    x = torch.as_tensor(np.asarray(estimate) if not isinstance(estimate, Tensor) else estimate).float().cpu()
    y = torch.as_tensor(np.asarray(reference) if not isinstance(reference, Tensor) else reference).float().cpu()
    x, y = (x.unsqueeze(0) if x.dim() == 1 else x), (y.unsqueeze(0) if y.dim() == 1 else y)
    n = min(x.shape[-1], y.shape[-1])
    return x[..., :n], y[..., :n]


@torch.no_grad()
def mr_stft_distance(estimate: np.ndarray | Tensor, reference: np.ndarray | Tensor) -> float:
    """Multi-resolution STFT distance (spectral convergence + log-magnitude L1, averaged over FFT sizes
    1024/2048/512). estimate, reference : [T] or [B x T] audio at the same rate."""
    x, y = _pair(estimate, reference)
    return float(_MR_STFT(x, y)[0])


@torch.no_grad()
def mel_distance(estimate: np.ndarray | Tensor, reference: np.ndarray | Tensor, cfg: MelConfig = MelConfig()) -> float:
    """Mean absolute difference of the natural-log mels (the standard MelConfig). [T] or [B x T] audio."""
    x, y = _pair(estimate, reference)
    return float(mel_l1(x, y, cfg=cfg))


def speech_quality(estimate: np.ndarray, reference: np.ndarray, sample_rate: int = MelConfig().sample_rate
                   ) -> tuple[float, float]:
    """(PESQ wide band, STOI) of ``estimate`` against ``reference`` speech. [T] audio at ``sample_rate``;
    cut to the shorter length. A clip PESQ cannot score (no voiced speech found) raises ValueError."""
    from pesq import PesqError, pesq
    from pystoi import stoi

    from .audio import resample

    x, y = (np.asarray(a, dtype=np.float32).reshape(-1) for a in (estimate, reference))
    n = min(len(x), len(y))
    x, y = x[:n], y[:n]
    try:
        p = pesq(16000, resample(y, sample_rate, 16000), resample(x, sample_rate, 16000), "wb")
    except PesqError as e:
        raise ValueError(f"PESQ cannot score this clip ({e})") from e
    return float(p), float(stoi(y, x, sample_rate, extended=False))


def real_time_factor(audio_seconds: float, wall_seconds: float) -> float:
    """How many times faster than real time: seconds of audio made per second of wall time."""
    return audio_seconds / max(wall_seconds, 1e-9)


@dataclass
class Stopwatch:
    """Wall time of a ``with`` block: ``with Stopwatch() as sw: ...; sw.seconds``."""

    seconds: float = 0.0

    def __enter__(self) -> "Stopwatch":
        self._start = time.perf_counter()
        return self

    def __exit__(self, *exc) -> None:
        self.seconds = time.perf_counter() - self._start


@contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Run a block with ``n`` intra-op torch threads (None: unchanged), restoring the old number after."""
    old = torch.get_num_threads()
    if n is not None:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)
