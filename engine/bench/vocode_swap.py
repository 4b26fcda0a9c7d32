"""``latentlab bench vocode --swap``: is an inverse-STFT vocoder's speech held back by its magnitudes or its phases?

For a vocoder that predicts a spectrum (``spectrum(mel) -> complex [B x bins x frames]``, e.g. Vocos), each
validation speech clip is rebuilt from magnitudes and phases taken from different sources, framed like the mel
(:mod:`engine.nn.spectral`), and scored with PESQ (wide band) and STOI against the original:

- ``model``: the vocoder as it is;
- ``model magnitude + true phase`` / ``true magnitude + model phase``: which half falls short;
- ``mel pseudo-inverse + true phase``: what the mel itself allows when the phase is right (the ceiling);
- ``griffin-lim on the true magnitude``: the classic phase estimate given a perfect magnitude.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..core.errors import LatentLabError
from ..core.mel import CLAMP, MelConfig, mel_to_linear
from ..core.metrics import speech_quality
from ..data.vocode import validation_clips
from ..nn.spectral import istft, stft
from ..ops.vocode import analyze, load_vocoder

GRIFFIN_LIM_ITERATIONS = 32
MEL = MelConfig()  # the project's one mel
SOURCES = ("model", "model magnitude + true phase", "true magnitude + model phase", "mel pseudo-inverse + true phase",
           "griffin-lim on the true magnitude")


def griffin_lim(magnitude: torch.Tensor, iterations: int = GRIFFIN_LIM_ITERATIONS, seed: int = 0) -> torch.Tensor:
    """Griffin-Lim from a magnitude [B x 513 x N] framed like the mel -> audio [B x N * 256] (random start)."""
    g = torch.Generator().manual_seed(seed)
    phase = torch.rand(magnitude.shape, generator=g) * 2 * np.pi
    spec = torch.polar(magnitude, phase)
    for _ in range(iterations):
        spec = torch.polar(magnitude, torch.angle(stft(istft(spec))))
    return istft(spec)


@torch.no_grad()
def phase_swap(data_dir: str | Path, name: str = "vocos", speech_clips: int = 8, seconds: float = 4.0,
               checkpoint: str | Path | None = None) -> dict[str, dict[str, float]]:
    """{source: {"pesq", "stoi"}} means over the validation speech clips, for each of :data:`SOURCES`."""
    vocoder = load_vocoder(name, "cpu", checkpoint)
    if not hasattr(vocoder, "spectrum"):
        raise LatentLabError(f"--swap needs a vocoder that predicts a spectrum (vocos), not {name}")
    speech = [audio for _, audio in validation_clips(data_dir, seconds=seconds, count=speech_clips, kind="speech")]
    if not speech:
        raise LatentLabError(f"{data_dir} has no validation speech to score (rebuild it with `latentlab data vocode`)")
    scores: dict[str, list[tuple[float, float]]] = {s: [] for s in SOURCES}
    for clip in speech:
        clip = clip[: len(clip) // MEL.hop_length * MEL.hop_length]
        mel = torch.from_numpy(analyze(clip))[None]
        predicted = vocoder.spectrum(mel.float())
        true = stft(torch.from_numpy(clip).float()[None])
        frames = min(predicted.shape[-1], true.shape[-1])
        predicted, true = predicted[..., :frames], true[..., :frames]
        prior = mel_to_linear(mel.float(), MEL).clamp(min=CLAMP)[..., :frames]
        outputs = {
            "model": istft(predicted),
            "model magnitude + true phase": istft(torch.polar(predicted.abs(), torch.angle(true))),
            "true magnitude + model phase": istft(torch.polar(true.abs(), torch.angle(predicted))),
            "mel pseudo-inverse + true phase": istft(torch.polar(prior, torch.angle(true))),
            "griffin-lim on the true magnitude": griffin_lim(true.abs()),
        }
        for source, audio in outputs.items():
            try:
                scores[source].append(speech_quality(audio.reshape(-1).numpy(), clip))
            except ValueError:  # no voiced speech PESQ can find: left out (the same clip for every source)
                continue
    return {s: {"pesq": float(np.mean([p for p, _ in v])), "stoi": float(np.mean([q for _, q in v]))}
            for s, v in scores.items() if v}


def format_swap(rows: dict[str, Any], name: str) -> str:
    lines = [f"| {name}: speech rebuilt from | PESQ ↑ | STOI ↑ |", "|---|---:|---:|"]
    lines += [f"| {source} | {r['pesq']:.3f} | {r['stoi']:.3f} |" for source, r in rows.items()]
    return "\n".join(lines)
