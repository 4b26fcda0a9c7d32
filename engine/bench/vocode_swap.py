"""``latentlab bench vocode --swap``: is an inverse-STFT vocoder's speech held back by its magnitudes or its phases?

For a vocoder that predicts a spectrum (``spectrum(mel) -> complex [B x bins x frames]``, e.g. Vocos), each
validation speech clip is rebuilt from magnitudes and phases taken from different sources, framed like the mel
(:mod:`engine.nn.spectral`), and scored with PESQ (wide band) and STOI against the original:

- ``model``: the vocoder as it is;
- ``model magnitude + true phase`` / ``true magnitude + model phase``: which half falls short;
- ``mel pseudo-inverse + true phase``: what the mel itself allows when the phase is right (the ceiling);
- ``griffin-lim on the true magnitude``: the project's Griffin-Lim (:class:`GriffinLim`) given a perfect magnitude;
- ``griffin-lim on the model magnitude``: the same on the model's own magnitude (is a phase retrieval enough?);
- ``griffin-lim from the model phase``: 32 fast Griffin-Lim iterations on the mel's pseudo-inverse (Griffin-Lim's
  own magnitude) started from the model's phase instead of a random one (does the model's phase help a retrieval?).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..core.errors import LatentLabError
from ..core.mel import CLAMP, MelConfig, mel_to_linear
from ..data.vocode import validation_clips
from ..nn.spectral import fast_griffin_lim, istft, stft
from ..models.vocoders.griffinlim import GriffinLim
from ..ops.vocode import analyze, load_vocoder
from .vocode import mean_speech_quality

MEL = MelConfig()  # the project's one mel
SOURCES = ("model", "model magnitude + true phase", "true magnitude + model phase", "mel pseudo-inverse + true phase",
           "griffin-lim on the true magnitude", "griffin-lim on the model magnitude", "griffin-lim from the model phase")


@torch.no_grad()
def mel_with_true_phase(audio: np.ndarray) -> np.ndarray:
    """What the mel itself keeps: its pseudo-inverse magnitude given the audio's own STFT phase, inverted.

    audio : ndarray[T] at the mel's rate -> ndarray[T // 256 * 256]
    """
    audio = np.asarray(audio, dtype=np.float32)[: len(audio) // MEL.hop_length * MEL.hop_length]
    mel = torch.from_numpy(analyze(audio))[None].float()
    true = stft(torch.from_numpy(audio)[None])
    frames = min(mel.shape[-1], true.shape[-1])
    prior = mel_to_linear(mel, MEL).clamp(min=CLAMP)[..., :frames]
    return istft(torch.polar(prior, torch.angle(true[..., :frames])))[0].numpy()


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
    rebuilt: dict[str, list[np.ndarray]] = {s: [] for s in SOURCES}
    speech = [clip[: len(clip) // MEL.hop_length * MEL.hop_length] for clip in speech]
    for clip in speech:
        mel = torch.from_numpy(analyze(clip))[None]
        predicted = vocoder.spectrum(mel.float())
        true = stft(torch.from_numpy(clip).float()[None])
        frames = min(predicted.shape[-1], true.shape[-1])
        predicted, true = predicted[..., :frames], true[..., :frames]
        outputs = {
            "model": istft(predicted),
            "model magnitude + true phase": istft(torch.polar(predicted.abs(), torch.angle(true))),
            "true magnitude + model phase": istft(torch.polar(true.abs(), torch.angle(predicted))),
            "mel pseudo-inverse + true phase": torch.from_numpy(mel_with_true_phase(clip)),
            "griffin-lim on the true magnitude": GriffinLim().from_magnitude(true.abs()),
            "griffin-lim on the model magnitude": GriffinLim().from_magnitude(predicted.abs()),
            "griffin-lim from the model phase": fast_griffin_lim(
                mel_to_linear(mel.float(), MEL).clamp(min=CLAMP)[..., :frames], torch.angle(predicted)),
        }
        for source, audio in outputs.items():
            rebuilt[source].append(audio.reshape(-1).numpy())
    rows = {}
    for source, audio in rebuilt.items():
        pesq, stoi = mean_speech_quality(audio, speech)
        if pesq is not None:
            rows[source] = {"pesq": pesq, "stoi": stoi}
    return rows


def format_swap(rows: dict[str, Any], name: str) -> str:
    lines = [f"| {name}: speech rebuilt from | PESQ ↑ | STOI ↑ |", "|---|---:|---:|"]
    lines += [f"| {source} | {r['pesq']:.3f} | {r['stoi']:.3f} |" for source, r in rows.items()]
    return "\n".join(lines)
