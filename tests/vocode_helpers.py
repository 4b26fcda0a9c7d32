"""Small audio corpora the vocoder tests make themselves (no FluidSynth, no downloads)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

RATE = 22050


def harmonic_note(f0: float, seconds: float, decay: float, rate: int = RATE) -> np.ndarray:
    """Five harmonics with 1/k amplitudes and an exponential decay, peak 0.5, float32."""
    t = np.arange(int(seconds * rate)) / rate
    wave = sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, 6)) * np.exp(-decay * t)
    return (0.5 * wave / np.abs(wave).max()).astype(np.float32)


def write_wavs(folder: Path, n: int = 6, seconds: float = 1.5, seed: int = 0) -> Path:
    """``n`` WAV files of random harmonic notes in ``folder``."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        note = harmonic_note(110 * 2 ** (rng.integers(0, 36) / 12), seconds, rng.uniform(0.5, 3.0))
        sf.write(folder / f"note{i}.wav", note, RATE)
    return folder


def make_corpus(root: Path) -> Path:
    """A tiny ``latentlab data audio`` corpus built from a folder of WAVs; returns its directory."""
    from engine.data.vocoder_audio import build_vocoder_data

    wavs = write_wavs(root / "wavs")
    build_vocoder_data(root / "corpus", minutes=1, wav_dir=wavs, corpus=False, progress=False)
    return root / "corpus"
