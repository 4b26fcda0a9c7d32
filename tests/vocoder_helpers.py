"""A tiny vocoder corpus the tests write themselves (the ``latentlab data audio`` format) and tiny configs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

SR = 22050


def _tones(seconds: float, seed: int) -> np.ndarray:
    """Notes of a few harmonics at random pitches, 0.25 s each, float32 in [-0.6, 0.6]."""
    rng = np.random.default_rng(seed)
    n = int(0.25 * SR)
    t = np.arange(n) / SR
    notes = []
    for _ in range(int(seconds / 0.25)):
        f = 110.0 * 2 ** (rng.integers(0, 36) / 12)
        wave = sum(np.sin(2 * np.pi * f * h * t) / h for h in (1, 2, 3))
        notes.append(0.3 * wave * np.exp(-3 * t))
    return np.concatenate(notes).astype(np.float32)


def write_corpus(directory: Path, train_seconds: float = 3.0, val_seconds: float = 1.0) -> Path:
    """train.npz / val.npz / manifest.json of synthetic tones in ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    for split, seconds, seed in (("train", train_seconds, 0), ("val", val_seconds, 1)):
        audio = _tones(seconds, seed)
        pcm = np.round(audio * 32767).astype(np.int16)
        np.savez(directory / f"{split}.npz", audio=pcm, offsets=np.array([0, len(pcm)], dtype=np.int64),
                 names=np.array([f"tones-{split}"]))
    (directory / "manifest.json").write_text(json.dumps({"sample_rate": SR, "synthetic": True}))
    return directory


def read_losses(run_dir: Path, key: str = "loss") -> list[float]:
    """The logged training losses of a run, in order."""
    records = [json.loads(line) for line in (run_dir / "log.jsonl").read_text().splitlines()]
    return [r[key] for r in records if key in r]
