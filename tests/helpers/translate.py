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


def play(notes: list[tuple[float, float, int]], harmonics: list[float], seconds: float, rate: int = RATE) -> np.ndarray:
    out = np.zeros(int(seconds * rate), dtype=np.float64)
    for start, end, pitch in notes:
        a, b = int(start * rate), int(end * rate)
        t = np.arange(b - a) / rate
        f0 = 440.0 * 2 ** ((pitch - 69) / 12)
        wave = sum(h * np.sin(2 * np.pi * (k + 1) * f0 * t) for k, h in enumerate(harmonics))
        out[a:b] += wave * np.minimum(1.0, np.minimum(t, t[::-1]) / 0.005)
    return (0.9 * out / np.abs(out).max()).astype(np.float32)


def make_clips(directory: Path, domains: tuple[str, ...] = ("sine", "saw"), pieces: int = 3, seconds: float = 1.0,
               rate: int = RATE, poly: bool = False) -> Path:
    """A clips dataset in the format of ``latentlab data translate``: the same notes played with each timbre.

    poly : every other piece is polyphonic (two lines a fifth apart) and marked "poly"; the first two
        pieces are the validation split then (one of each kind)
    """
    directory = Path(directory)
    entries = []
    for i in range(pieces):
        notes = note_sequence(i, seconds)
        kind = "poly" if poly and i % 2 else "mono"
        if kind == "poly":
            notes = notes + [(s, e, p + 7) for s, e, p in notes]
        split = "validation" if (i < 2 if poly else i == 0) else "train"
        piece = {"id": f"piece{i}", "kind": kind, "source": "synthetic", "split": split, "qpm": 120.0, "seconds": seconds}
        for name in domains:
            (directory / name).mkdir(parents=True, exist_ok=True)
            sf.write(str(directory / name / f"piece{i}.wav"), play(notes, HARMONICS[name], seconds, rate), rate,
                     subtype="PCM_16")
        entries.append(piece)
    manifest = {"sample_rate": rate, "domains": {name: 0 for name in domains}, "pieces": entries}
    (directory / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    return directory
