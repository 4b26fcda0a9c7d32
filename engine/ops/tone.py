"""Monophonic tone transfer through the DDSP timbre model: the "tone" engine of ``latentlab translate``.

DDSP's timbre transfer, with the timbre autoencoder (:mod:`engine.ops.timbre`, ``checkpoints/timbre_ddsp``):

1. the clip's f0 (pYIN, in a range around its estimated pitch) and A-weighted loudness per control frame;
2. the clip's loudness matched to the target instrument's range by quantile normalisation (the clip's
   sounding frames' quantiles are mapped onto those of the target's notes);
3. the target's embedding: the mean z over the sustained frames of the target instrument's notes at the
   pitches nearest the clip's (from ``data/notes`` when present, else the bundled ``assets/notes``);
4. the decoder plays f0 + matched loudness + that embedding, in 4 s chunks with cross-fades.

Monophonic only: a chord has no single f0 (use the translation network for those).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from ..core.errors import LatentLabError
from . import timbre

SAMPLE_RATE = timbre.SAMPLE_RATE  # 16 kHz: the timbre model's rate
REPO = Path(__file__).resolve().parents[2]
# Where the target instruments' notes come from, first found first: the NSynth-format notes of
# `latentlab data timbre -o data/notes` (validation split, then train), else the bundled examples.
NOTE_FOLDERS = (REPO / "data" / "notes" / "nsynth-valid", REPO / "data" / "notes" / "nsynth-train",
                REPO / "data" / "notes", timbre.EXAMPLES_DIR)
NOTES_PER_TARGET = 3  # the target's embedding averages its notes at the pitches nearest the clip's
SUSTAIN_DB = 20.0  # a note's sustained frames: within this of its loudest frame ...
ATTACK_SECONDS = 0.1  # ... and after its attack
SOUNDING_DB = 40.0  # frames within this of a clip's loudest are "sounding" (the quantiles are taken over them)
F0_SEMITONES = 15  # pYIN looks this far either side of the clip's estimated pitch (a tune's range)
PYIN_HOP = 256  # samples between pYIN's frames (16 ms), interpolated onto the 8 ms control frames
CHUNK_FRAMES = 500  # control frames decoded per chunk (4 s: the length of the notes the model trained on)
OVERLAP_FRAMES = 32  # control frames two chunks share, cross-faded (256 ms; a multiple of z_stride)
QUANTILES = np.linspace(0.0, 1.0, 51)

Progress = Callable[[float, str], None]


@dataclass
class TargetTimbre:
    """What the tone engine knows of one target instrument."""

    name: str  # domain name, e.g. "violin"
    program: int  # General MIDI program of its notes
    notes: list  # [timbre.ExampleNote]


def _domain_name(program: int) -> str:
    from ..data.timbre import PROGRAMS as GM
    from ..data.translate import PROGRAMS

    for name, p in PROGRAMS.items():
        if p == program:
            return name
    label = GM.get(program, (None, f"program {program}"))[1]
    return "".join(ch if ch.isalnum() else "-" for ch in label.lower()).strip("-").replace("--", "-")


def notes_folder() -> Path:
    """The first of :data:`NOTE_FOLDERS` that holds notes."""
    for folder in NOTE_FOLDERS:
        if (folder / "examples.json").exists():
            return folder
    raise LatentLabError("no notes for tone transfer: make them with `latentlab data timbre -o data/notes`")


@lru_cache(maxsize=4)
def _targets(folder: Path) -> dict[str, TargetTimbre]:
    from ..data.timbre import read_examples

    records = read_examples(folder)
    notes = {n.name: n for n in timbre.example_notes(folder)}
    found: dict[str, TargetTimbre] = {}
    for key, record in sorted(records.items()):
        program = record.get("instrument")
        if not isinstance(program, int) or key not in notes or not notes[key].path.exists():
            continue
        name = _domain_name(program)
        found.setdefault(name, TargetTimbre(name, program, [])).notes.append(notes[key])
    return found


def targets(folder: str | Path | None = None) -> dict[str, TargetTimbre]:
    """The instruments the tone engine can play: one per General MIDI program among the notes."""
    return _targets(Path(folder) if folder else notes_folder())


def domains(folder: str | Path | None = None) -> list[str]:
    """Their names, sorted."""
    return sorted(targets(folder))


def is_available() -> bool:
    """Whether the DDSP timbre model and some notes are installed."""
    try:
        return timbre.is_available("timbre_ddsp") and bool(targets())
    except LatentLabError:
        return False


def load_model(model: str | Path = "timbre_ddsp", device: str | torch.device | None = None):
    """The DDSP timbre autoencoder; another kind of timbre model is a clear error."""
    net = timbre.load_model(model, device)
    if not timbre.is_ddsp(net):
        raise LatentLabError(f"tone transfer needs the DDSP timbre model (timbre_ddsp); {model} is not one")
    return net


# -- the clip's controls ----------------------------------------------------------------------------


def f0_track(audio: np.ndarray, hop: int) -> tuple[np.ndarray, np.ndarray]:
    """pYIN f0 (Hz) per control frame of a 16 kHz clip and its voiced mask: (ndarray[T // hop], bool[T // hop]).

    The search range is :data:`F0_SEMITONES` around the clip's estimated pitch; pYIN runs every
    :data:`PYIN_HOP` samples (its cost is per frame) and is interpolated onto the control frames (in
    semitones); unvoiced frames take the nearest voiced value. A clip with (almost) no voiced frame is a
    clear error.
    """
    import librosa

    frames = len(audio) // hop
    centre = timbre.pitch_for(audio)
    low = max(24, centre - F0_SEMITONES)  # C1: two periods fit pYIN's 1024-sample frame
    high = min(timbre.PITCH_RANGE[1], centre + F0_SEMITONES)
    step = max(hop, PYIN_HOP // hop * hop)
    f0, voiced, _ = librosa.pyin(np.asarray(audio, dtype=np.float32), fmin=librosa.midi_to_hz(low),
                                 fmax=librosa.midi_to_hz(high), sr=SAMPLE_RATE, frame_length=1024, hop_length=step)
    good = voiced & np.isfinite(f0)
    if good.sum() < max(3, timbre.MIN_VOICED * len(f0) * 0.5):
        raise LatentLabError("found no steady pitch in the clip (noise, percussion or chords?); tone transfer "
                             "needs one melody line: use the polyphonic engine for chords")
    coarse = np.arange(len(f0)) * step  # sample positions of pYIN's frames (centred)
    fine = np.arange(frames) * hop
    semitones = np.interp(fine, coarse[good], librosa.hz_to_midi(f0[good]))
    voiced_fine = good[np.clip(np.round(fine / step).astype(int), 0, len(good) - 1)]
    return librosa.midi_to_hz(semitones).astype(np.float32), voiced_fine


def match_loudness(source: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Quantile normalisation: map the clip's loudness (dB per frame) onto the reference's range.

    The quantiles of the clip's sounding frames (within :data:`SOUNDING_DB` of its loudest) are mapped onto
    the same quantiles of ``reference`` (the target's sounding frames); quieter frames keep their distance
    below the lowest quantile. source : ndarray[n] -> ndarray[n]
    """
    source = np.asarray(source, dtype=np.float64)
    sounding = source[source >= source.max() - SOUNDING_DB]
    src_q = np.maximum.accumulate(np.quantile(sounding, QUANTILES))
    ref_q = np.maximum.accumulate(np.quantile(np.asarray(reference, dtype=np.float64), QUANTILES))
    out = np.interp(source, src_q, ref_q)
    below = source < src_q[0]
    out[below] = ref_q[0] + (source[below] - src_q[0])
    return out.astype(np.float32)


# -- the target's timbre ----------------------------------------------------------------------------


def target_timbre(model, name: str, pitch: float, folder: str | Path | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The target's embedding and loudness range, from its notes at the pitches nearest ``pitch`` (MIDI).

    Returns (z ndarray[latent], the loudness in dB of its notes' sustained frames ndarray[k]).
    """
    known = targets(folder)
    if name not in known:
        raise LatentLabError(f"unknown instrument {name!r} for tone transfer: notes are there for {', '.join(sorted(known))}")
    notes = sorted(known[name].notes, key=lambda n: (abs(n.pitch - pitch), n.pitch))[:NOTES_PER_TARGET]
    return _note_timbre(model, tuple(str(n.path) for n in notes))


@lru_cache(maxsize=64)
def _note_timbre(model, paths: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    audio = np.stack([timbre.prepare(p) for p in paths])
    z = timbre.encode(model, audio)  # [K x latent x m]
    loud = timbre.loudness(model, audio)  # [K x n]
    stride = model.config.z_stride
    m = z.shape[-1]
    frames = np.pad(loud, ((0, 0), (0, max(0, m * stride - loud.shape[1]))), mode="edge")[:, : m * stride]
    loud_z = frames.reshape(len(paths), m, stride).mean(-1)  # loudness per embedding frame
    attack = int(np.ceil(ATTACK_SECONDS * SAMPLE_RATE / model.config.z_hop))
    zs, levels = [], []
    for k in range(len(paths)):
        held = loud_z[k] >= loud_z[k].max() - SUSTAIN_DB
        held[:attack] = False
        if not held.any():
            held[:] = True
        zs.append(z[k][:, held].mean(-1))
        levels.append(loud[k][loud[k] >= loud[k].max() - SUSTAIN_DB])
    return np.mean(zs, axis=0).astype(np.float32), np.concatenate(levels).astype(np.float32)


# -- transfer ---------------------------------------------------------------------------------------


def _spans(frames: int) -> list[tuple[int, int]]:
    """Control-frame spans of :data:`CHUNK_FRAMES` sharing :data:`OVERLAP_FRAMES` with the next."""
    starts = [0]
    while starts[-1] + CHUNK_FRAMES < frames:
        starts.append(starts[-1] + CHUNK_FRAMES - OVERLAP_FRAMES)
    return [(s, min(frames, s + CHUNK_FRAMES)) for s in starts]


@torch.no_grad()
def transfer(
    audio: np.ndarray,
    targets_: str | list[str],
    model=None,
    device: str | torch.device | None = None,
    seed: int = 0,
    progress: Progress | None = None,
    folder: str | Path | None = None,
) -> dict[str, np.ndarray]:
    """Play a monophonic 16 kHz clip on each target instrument with the DDSP decoder.

    Parameters
    ----------
    audio : ndarray[T] mono float at 16 kHz
    targets_ : an instrument name or a list of them (see :func:`domains`)
    model : a loaded DDSP timbre model (default: ``timbre_ddsp``)
    folder : the notes the targets' embeddings come from (default: :func:`notes_folder`)

    Returns
    -------
    {target: ndarray[T] float32 at 16 kHz, peak-normalised to 0.9}
    """
    from ..core.audio import crossfade_join, peak_normalize

    names = [targets_] if isinstance(targets_, str) else list(targets_)
    if not names:
        raise LatentLabError("choose at least one target instrument")
    known = targets(folder)
    for name in names:
        if name not in known:
            raise LatentLabError(f"unknown instrument {name!r} for tone transfer: notes are there for {', '.join(sorted(known))}")
    net = model if model is not None else load_model(device=device)
    cfg = net.config
    audio = np.clip(np.asarray(audio, dtype=np.float32).reshape(-1), -1.0, 1.0)
    length = audio.size
    padded = np.pad(audio, (0, -length % cfg.z_hop))
    if progress is not None:
        progress(0.0, "tracking the pitch")
    f0, voiced = f0_track(padded, cfg.hop)
    loud = timbre.loudness(net, padded)[: len(f0)]
    pitch = float(np.median(timbre.pitch_of(f0[voiced])))
    spans = _spans(len(f0))
    results = {}
    for i, name in enumerate(names):
        if progress is not None:
            progress((0.2 + 0.8 * i / len(names)), f"playing it on {name}")
        z, reference = target_timbre(net, name, pitch, folder)
        matched = match_loudness(loud, reference)
        rows_f0, rows_loud = [], []
        for a, b in spans:
            pad = CHUNK_FRAMES - (b - a)
            rows_f0.append(np.pad(f0[a:b], (0, pad), mode="edge"))
            rows_loud.append(np.pad(matched[a:b], (0, pad), mode="edge"))
        zs = np.repeat(z[None, :, None], len(spans), axis=0).repeat(CHUNK_FRAMES // cfg.z_stride, axis=2)
        out = timbre.decode(net, zs, f0=np.stack(rows_f0), loudness=np.stack(rows_loud), seed=seed)
        sample_spans = [(a * cfg.hop, b * cfg.hop) for a, b in spans]
        joined = crossfade_join(list(out), sample_spans, len(f0) * cfg.hop, OVERLAP_FRAMES * cfg.hop)
        results[name] = peak_normalize(joined[:length], 0.9)
    if progress is not None:
        progress(1.0, "done")
    return results
