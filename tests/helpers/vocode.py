"""The two small ``latentlab data vocode`` corpora the vocoder tests make themselves (no FluidSynth, no downloads):
:func:`make_corpus` goes through the data command's builder, :func:`write_corpus` writes the format directly."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import soundfile as sf

from .audio import harmonic_note, harmonic_tones

RATE = 22050  # the vocoders' rate


def write_wavs(folder: Path, n: int = 6, seconds: float = 1.5, seed: int = 0) -> Path:
    """``n`` WAV files of random harmonic notes in ``folder``."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        note = harmonic_note(110 * 2 ** (rng.integers(0, 36) / 12), seconds, rng.uniform(0.5, 3.0))
        sf.write(folder / f"note{i}.wav", note, RATE)
    return folder


def make_corpus(root: Path) -> Path:
    """A tiny ``latentlab data vocode`` corpus built from a folder of WAVs; returns its directory."""
    from engine.data.vocode import build_vocode_data

    wavs = write_wavs(root / "wavs")
    build_vocode_data(root / "corpus", minutes=1, wav_dir=wavs, corpus=False, progress=False)
    return root / "corpus"


def write_corpus(directory: Path, train_seconds: float = 3.0, val_seconds: float = 1.0) -> Path:
    """train.npz / val.npz / manifest.json of synthetic tones in ``directory`` (the ``latentlab data vocode`` format)."""
    directory.mkdir(parents=True, exist_ok=True)
    for split, seconds, seed in (("train", train_seconds, 0), ("val", val_seconds, 1)):
        audio = harmonic_tones(seconds, seed, RATE)
        pcm = np.round(audio * 32767).astype(np.int16)
        np.savez(directory / f"{split}.npz", audio=pcm, offsets=np.array([0, len(pcm)], dtype=np.int64),
                 names=np.array([f"tones-{split}"]))
    (directory / "manifest.json").write_text(json.dumps({"sample_rate": RATE, "synthetic": True}))
    return directory
