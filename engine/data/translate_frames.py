"""The frame translator's data: paired log-mel excerpts of ``latentlab data translate`` renders, pitch-augmented.

Every piece of a clips dataset is rendered on every domain at the same tempo and length, so an excerpt at
one offset is the same music on every instrument. :class:`PairedMels` holds every render's log-mel (the
project's standard, :class:`engine.core.mel.MelConfig`, cached as ``DIR/mels/<domain>/<piece>.npy``) and
gives, per item, the excerpt on all D domains: the clean mels (the decoders' targets) and the encoder's
inputs, where a random 1/4-1/2 of each row is pitch-shifted by up to half a semitone (Mor et al.'s
augmentation, done on the mel: :func:`shift_mel`).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
from torch.utils.data import Dataset

from ..core.errors import LatentLabError
from ..core.mel import MelConfig, mel_spectrogram
from .translate import SHIFT_FRACTION, SHIFT_SEMITONES, read_manifest

MEL = MelConfig()  # 22,050 Hz, hop 256, 80 mels: what every vocoder takes
CACHE = "mels"


@lru_cache(maxsize=4)
def _centres(cfg: MelConfig) -> np.ndarray:
    import librosa

    return librosa.mel_frequencies(cfg.n_mels + 2, fmin=cfg.fmin, fmax=cfg.fmax or cfg.sample_rate / 2)[1:-1]


def shift_mel(mel: np.ndarray, semitones: float, cfg: MelConfig = MEL) -> np.ndarray:
    """Pitch-shift log-mel frames by ``semitones``: each band takes the value found at its centre frequency
    divided by ``2 ** (semitones / 12)`` (linear between bands). mel : ndarray[n_mels x N] -> same shape."""
    f = _centres(cfg)
    position = np.interp(f / 2 ** (semitones / 12), f, np.arange(len(f)))
    low = np.floor(position).astype(int)
    high = np.minimum(low + 1, len(f) - 1)
    w = (position - low)[:, None].astype(np.float32)
    return ((1 - w) * mel[low] + w * mel[high]).astype(np.float32)


def piece_mel(directory: Path, domain: str, piece: str) -> np.ndarray:
    """The cached log-mel ``ndarray[80 x frames]`` (float16 on disk) of one render; computed on first use."""
    cache = directory / CACHE / domain / f"{piece}.npy"
    if cache.exists():
        return np.load(cache, allow_pickle=False).astype(np.float32)
    audio, rate = sf.read(str(directory / domain / f"{piece}.wav"), dtype="float32", always_2d=False)
    if rate != MEL.sample_rate:
        raise LatentLabError(f"{directory} is at {rate} Hz; the frame translator needs {MEL.sample_rate} Hz renders "
                             f"(`latentlab data translate -o DIR`, the default rate)")
    with torch.no_grad():
        mel = mel_spectrogram(torch.from_numpy(audio), MEL).numpy()
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.save(cache, mel.astype(np.float16))
    return mel.astype(np.float16).astype(np.float32)  # what the cache gives back next time


class PairedMels(Dataset):
    """Paired excerpts of ``frames`` mel frames on every domain.

    Items (a pure function of the index and ``seed``): ``{"mel": Tensor[D x 80 x frames], "input":
    Tensor[D x 80 x frames] (pitch-augmented when ``augment``), "kind": 0 mono / 1 poly}``.
    """

    def __init__(self, directory: str | Path, split: str, frames: int, domains: list[str] | None = None,
                 augment: bool = True, size: int = 100_000, seed: int = 0):
        directory = Path(directory)
        manifest = read_manifest(directory)
        if manifest["sample_rate"] != MEL.sample_rate:
            raise LatentLabError(f"{directory} is at {manifest['sample_rate']} Hz; the frame translator needs "
                                 f"{MEL.sample_rate} Hz renders (`latentlab data translate -o DIR`, the default rate)")
        self.domains = list(domains or manifest["domains"])
        for name in self.domains:
            if name not in manifest["domains"]:
                raise LatentLabError(f"{directory} has no domain {name!r} (it has {', '.join(manifest['domains'])})")
        pieces = [p for p in manifest["pieces"] if p["split"] == split
                  and all((directory / d / f"{p['id']}.wav").exists() for d in self.domains)]
        if not pieces:
            raise LatentLabError(f"{directory} has no {split} pieces on {', '.join(self.domains)}: "
                                 f"rebuild it with `latentlab data translate`")
        self.mels = [np.stack([piece_mel(directory, d, p["id"]) for d in self.domains]) for p in pieces]
        self.kinds = [int(p["kind"] == "poly") for p in pieces]
        weights = np.array([m.shape[-1] for m in self.mels], dtype=np.float64)
        self.weights = weights / weights.sum()
        self.frames, self.augment, self.size, self.seed = frames, augment, size, seed

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        rng = np.random.default_rng([self.seed, int(i)])
        k = int(rng.choice(len(self.mels), p=self.weights))
        mel = self.mels[k]
        offset = int(rng.integers(0, max(1, mel.shape[-1] - self.frames)))
        clean = mel[..., offset : offset + self.frames]
        clean = np.pad(clean, ((0, 0), (0, 0), (0, self.frames - clean.shape[-1])), constant_values=float(mel.min()))
        inputs = clean.copy()
        if self.augment:
            for row in inputs:
                part = int(self.frames * rng.uniform(*SHIFT_FRACTION))
                start = int(rng.integers(0, self.frames - part + 1))
                row[:, start : start + part] = shift_mel(row[:, start : start + part],
                                                         float(rng.uniform(-SHIFT_SEMITONES, SHIFT_SEMITONES)))
        return {"mel": torch.from_numpy(np.ascontiguousarray(clean)), "input": torch.from_numpy(inputs),
                "kind": torch.tensor(self.kinds[k])}
