"""Tiny translation datasets and checkpoints the translation tests make themselves (no FluidSynth needed)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import soundfile as sf

RATE = 16_000
HARMONICS = {"sine": [1.0], "saw": [1.0, 0.5, 0.33, 0.25, 0.2], "odd": [1.0, 0.0, 0.33, 0.0, 0.2]}


def note_sequence(seed: int, seconds: float) -> list[tuple[float, float, int]]:
    rng = np.random.default_rng(seed)
    notes, t = [], 0.0
    while t < seconds:
        length = float(rng.uniform(0.1, 0.3))
        notes.append((t, min(seconds, t + length), int(rng.integers(55, 75))))
        t += length
    return notes


def play(notes: list[tuple[float, float, int]], harmonics: list[float], seconds: float) -> np.ndarray:
    out = np.zeros(int(seconds * RATE), dtype=np.float64)
    for start, end, pitch in notes:
        a, b = int(start * RATE), int(end * RATE)
        t = np.arange(b - a) / RATE
        f0 = 440.0 * 2 ** ((pitch - 69) / 12)
        wave = sum(h * np.sin(2 * np.pi * (k + 1) * f0 * t) for k, h in enumerate(harmonics))
        out[a:b] += wave * np.minimum(1.0, np.minimum(t, t[::-1]) / 0.005)
    return (0.9 * out / np.abs(out).max()).astype(np.float32)


def make_clips(directory: Path, domains: tuple[str, ...] = ("sine", "saw"), pieces: int = 3, seconds: float = 1.0) -> Path:
    """A clips dataset in the format of ``latentlab data clips``: the same notes played with each timbre."""
    directory = Path(directory)
    entries = []
    for i in range(pieces):
        notes = note_sequence(i, seconds)
        piece = {"id": f"piece{i}", "kind": "mono", "source": "synthetic", "split": "validation" if i == 0 else "train",
                 "qpm": 120.0, "seconds": seconds}
        for name in domains:
            (directory / name).mkdir(parents=True, exist_ok=True)
            sf.write(str(directory / name / f"piece{i}.wav"), play(notes, HARMONICS[name], seconds), RATE, subtype="PCM_16")
        entries.append(piece)
    manifest = {"sample_rate": RATE, "domains": {name: 0 for name in domains}, "pieces": entries}
    (directory / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    return directory
