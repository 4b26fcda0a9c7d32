"""Vocoder training audio: FluidR3_GM renders of music21 corpus pieces, text-to-speech, and/or a folder of audio.

``latentlab data vocode -o DIR`` runs :func:`build_vocode_data`, which writes (no pickles anywhere):

- ``train.npz`` / ``val.npz`` -- ``audio`` int16[N] (every clip at 22,050 Hz, concatenated),
  ``offsets`` int64[clips + 1] (clip i is ``audio[offsets[i]:offsets[i + 1]]``) and ``names`` (str[clips]);
- ``manifest.json`` -- what was rendered (pieces, programs, minutes per split, the command's settings).

Corpus pieces (the Bach chorales by default) are rendered with FluidSynth, each on one General MIDI
program or on a different program per voice, at a random tempo and transposition, so the vocoder hears
many timbres and registers. Speech (``speech_minutes``) is spoken from generated text by Debian's
text-to-speech voices (:mod:`engine.data.speech`). The train / validation split is by piece, file or
paragraph of text (a stable hash of :func:`engine.data.speech.split_key` of its name), so no validation
clip, and no validation sentence, is ever trained on. :class:`VocoderSegments` serves (audio, mel) segments.
"""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from ..core.audio import load_audio, peak_normalize
from ..core.errors import LatentLabError
from ..core.mel import MelConfig, mel_spectrogram
from .speech import is_speech, split_key

DEFAULT_DIR = Path("data/vocoder")
SAMPLE_RATE = MelConfig().sample_rate
# General MIDI programs rendered by default: keys, mallets, organ, guitars, bass, strings, choir, brass,
# reeds, pipes, synth lead and pad.
DEFAULT_PROGRAMS = (0, 4, 6, 11, 19, 21, 24, 25, 32, 40, 42, 48, 52, 56, 60, 65, 68, 71, 73, 80, 89)
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3", ".aiff", ".aif", ".m4a")
VAL_FRACTION = 0.1  # share of pieces / files held out for validation
MIN_SCORED_PEAK = 0.01  # validation excerpts quieter than this (-40 dBFS peak) are not scored: the spectral
# convergence of near-silence measures only the noise floor and would swamp the average
MAX_FILE_SECONDS = 600.0  # longest audio file taken from a folder (longer ones are cut)


def is_validation(name: str, fraction: float = VAL_FRACTION) -> bool:
    """Stable split by name: the same piece or file always lands in the same split."""
    return zlib.crc32(name.encode("utf-8")) % 1000 < fraction * 1000


@dataclass
class Clip:
    name: str
    audio: np.ndarray  # float32[T] at 22,050 Hz


def _corpus_pieces(composers: tuple[str, ...]) -> list[Path]:
    from music21 import corpus

    paths = []
    for composer in composers:
        found = [Path(p) for p in corpus.getComposer(composer) if str(p).endswith((".mxl", ".xml", ".krn", ".mid"))]
        if not found:
            raise LatentLabError(f"the music21 corpus has no pieces by {composer!r}")
        paths += sorted(found)
    return paths


def _piece_midi(path: Path):
    """Parse a corpus piece and return it as pretty_midi (through a temporary MIDI file)."""
    import tempfile

    import pretty_midi
    from music21 import converter, midi

    score = converter.parse(str(path))
    with tempfile.NamedTemporaryFile(suffix=".mid") as f:
        mf = midi.translate.music21ObjectToMidiFile(score)
        mf.open(f.name, "wb")
        mf.write()
        mf.close()
        return pretty_midi.PrettyMIDI(f.name)


def _vary(pm, rng: np.random.Generator, programs: tuple[int, ...]):
    """Assign programs (one for all voices, or one per voice), and change tempo and transposition."""
    stretch = float(rng.uniform(0.7, 1.4))  # > 1 is slower
    shift = int(rng.integers(-12, 13))
    same = rng.random() < 0.5
    program = int(rng.choice(programs))
    for instrument in pm.instruments:
        instrument.is_drum = False
        instrument.program = program if same else int(rng.choice(programs))
        for note in instrument.notes:
            note.start, note.end = note.start * stretch, note.end * stretch
            note.pitch = int(np.clip(note.pitch + shift, 24, 100))
            note.velocity = int(np.clip(note.velocity * rng.uniform(0.6, 1.1), 20, 127))
        instrument.control_changes, instrument.pitch_bends = [], []
    return pm


def render_corpus(minutes: float, programs: tuple[int, ...], composers: tuple[str, ...] = ("bach",), seed: int = 0,
                  progress: bool = True) -> list[Clip]:
    """Render corpus pieces until ``minutes`` of audio are made (each piece once, in a seeded order)."""
    from ..core.render import render_midi, require_fluidsynth

    require_fluidsynth()
    rng = np.random.default_rng(seed)
    paths = _corpus_pieces(composers)
    order = rng.permutation(len(paths))
    clips, total = [], 0.0
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=round(minutes, 1), unit="min", desc="rendering")
    for i in order:
        if total >= minutes * 60:
            break
        path = paths[i]
        try:
            pm = _piece_midi(path)
        except Exception:  # a corpus file music21 cannot translate: skip it
            continue
        if not any(inst.notes for inst in pm.instruments):
            continue
        pm = _vary(pm, rng, programs)
        audio = render_midi(pm, SAMPLE_RATE, backend="fluidsynth", normalize=False)
        if float(np.max(np.abs(audio), initial=0.0)) < 1e-4:
            continue
        audio = peak_normalize(audio, float(rng.uniform(0.4, 0.95)))
        programs_used = sorted({inst.program for inst in pm.instruments})
        clips.append(Clip(f"{path.stem}|programs={'+'.join(map(str, programs_used))}", audio))
        total += len(audio) / SAMPLE_RATE
        if bar is not None:
            bar.update(round(len(audio) / SAMPLE_RATE / 60, 1))
    if bar is not None:
        bar.close()
    return clips


def folder_clips(folder: str | Path, minutes: float | None = None) -> list[Clip]:
    """Every audio file under ``folder`` (recursively) at 22,050 Hz mono, up to ``minutes`` in all."""
    folder = Path(folder)
    if not folder.is_dir():
        raise LatentLabError(f"no such folder: {folder}")
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES)
    if not files:
        raise LatentLabError(f"{folder} holds no audio files ({', '.join(AUDIO_SUFFIXES)})")
    clips, total = [], 0.0
    for path in files:
        if minutes is not None and total >= minutes * 60:
            break
        try:
            audio = load_audio(path, SAMPLE_RATE, max_duration=None, max_bytes=None)
        except LatentLabError:
            continue  # unreadable or silent: skip it
        audio = audio[: int(MAX_FILE_SECONDS * SAMPLE_RATE)]
        clips.append(Clip(str(path.relative_to(folder)), peak_normalize(audio, 0.95)))
        total += len(audio) / SAMPLE_RATE
    if not clips:
        raise LatentLabError(f"none of the audio files in {folder} could be read")
    return clips


def _write_split(path: Path, clips: list[Clip]) -> float:
    audio = np.concatenate([c.audio for c in clips]) if clips else np.zeros(0, np.float32)
    pcm = np.round(np.clip(audio, -1, 1) * 32767).astype(np.int16)
    offsets = np.cumsum([0] + [len(c.audio) for c in clips]).astype(np.int64)
    names = np.array([c.name for c in clips], dtype=str)
    np.savez(path, audio=pcm, offsets=offsets, names=names)
    return len(audio) / SAMPLE_RATE / 60


def build_vocode_data(
    out: str | Path = DEFAULT_DIR,
    minutes: float = 40.0,
    programs: tuple[int, ...] = DEFAULT_PROGRAMS,
    wav_dir: str | Path | None = None,
    corpus: bool = True,
    seed: int = 0,
    progress: bool = True,
    speech_minutes: float = 0.0,
) -> dict:
    """Build a vocoder corpus in ``out``; returns the manifest.

    Parameters
    ----------
    minutes : how much corpus audio to render (and, with ``wav_dir``, the cap on the folder's audio)
    programs : General MIDI programs (0-127) to render on
    wav_dir : a folder of audio files (speech or music) to include
    corpus : whether to render music21 corpus pieces (off: the folder alone)
    speech_minutes : how much text-to-speech to add (0: none; needs espeak-ng, flite or festival)
    """
    if not corpus and wav_dir is None and speech_minutes <= 0:
        raise LatentLabError("nothing to build: give --wav-dir or --speech-minutes, or leave the corpus rendering on")
    if speech_minutes < 0:
        raise LatentLabError(f"--speech-minutes must be >= 0, got {speech_minutes}")
    if minutes <= 0:
        raise LatentLabError(f"--minutes must be positive, got {minutes}")
    bad = [p for p in programs if not 0 <= p <= 127]
    if bad or not programs:
        raise LatentLabError(f"General MIDI programs are 0-127, got {list(programs)}")
    clips = []
    voices = []
    if speech_minutes > 0:
        from .speech import require_tts

        voices = require_tts()  # before the music renders: a missing engine fails at once
    if corpus:
        clips += render_corpus(minutes, tuple(programs), seed=seed, progress=progress)
    if wav_dir is not None:
        clips += folder_clips(wav_dir, minutes)
    if speech_minutes > 0:
        from .speech import render_speech

        clips += [Clip(name, audio) for name, audio in render_speech(speech_minutes, seed, voices, progress=progress)]
    val = [c for c in clips if is_validation(split_key(c.name))]
    train = [c for c in clips if not is_validation(split_key(c.name))]
    if not val and len({split_key(c.name) for c in train}) > 1:  # tiny corpora: still hold one piece out
        last = split_key(train[-1].name)  # (every rendering of it: a paragraph is spoken twice)
        val, train = [c for c in train if split_key(c.name) == last], [c for c in train if split_key(c.name) != last]
    if not train:
        raise LatentLabError("too little audio to split into training and validation clips: add more")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    manifest = {
        "sample_rate": SAMPLE_RATE,
        "train_minutes": round(_write_split(out / "train.npz", train), 2),
        "val_minutes": round(_write_split(out / "val.npz", val), 2),
        "train_clips": len(train),
        "val_clips": len(val),
        "programs": list(programs),
        "wav_dir": str(wav_dir) if wav_dir else None,
        "corpus": corpus,
        "speech_minutes": speech_minutes,
        "speech_train_minutes": round(sum(len(c.audio) for c in train if is_speech(c.name)) / SAMPLE_RATE / 60, 2),
        "speech_val_minutes": round(sum(len(c.audio) for c in val if is_speech(c.name)) / SAMPLE_RATE / 60, 2),
        "speech_engines": sorted({v.engine for v in voices}),
        "speech_voices": len(voices),
        "seed": seed,
        "val_names": [c.name for c in val],
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    return manifest


def load_split(data_dir: str | Path, split: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(audio int16[N], offsets int64[clips + 1], names) of ``split`` ("train" or "val")."""
    path = Path(data_dir) / f"{split}.npz"
    if not path.exists():
        raise LatentLabError(f"no vocoder data at {path}: build it with `latentlab data vocode -o {data_dir}`")
    with np.load(path, allow_pickle=False) as f:
        return f["audio"], f["offsets"], [str(n) for n in f["names"]]


def validation_clips(data_dir: str | Path, seconds: float = 4.0, count: int = 8, kind: str = "all"
                     ) -> list[tuple[str, np.ndarray]]:
    """``count`` validation excerpts of ``seconds`` each, float32, spread evenly over the validation clips
    (a clip gives several excerpts when there are fewer clips than ``count``); near-silent excerpts are skipped.

    kind : "all", "speech" (the text-to-speech clips only) or "music" (every other clip)
    """
    if kind not in ("all", "speech", "music"):
        raise LatentLabError(f"kind must be all, speech or music, got {kind!r}")
    audio, offsets, names = load_split(data_dir, "val")
    n = int(seconds * SAMPLE_RATE)
    lengths = np.diff(offsets)
    wanted = [i for i in range(len(names)) if kind == "all" or is_speech(names[i]) == (kind == "speech")]
    slots = [(i, j) for i in wanted for j in range(max(1, int(lengths[i] // n)))]
    limit = MIN_SCORED_PEAK * 32767
    slots = [(i, j) for i, j in slots
             if np.abs(audio[offsets[i] + j * n : min(offsets[i] + (j + 1) * n, offsets[i + 1])]).max(initial=0) >= limit]
    if not slots:
        return []
    picks = np.linspace(0, len(slots) - 1, min(count, len(slots))).round().astype(int)
    out = []
    for k in picks:
        i, j = slots[k]
        start = int(offsets[i]) + j * n
        clip = audio[start : min(start + n, int(offsets[i + 1]))].astype(np.float32) / 32767
        out.append((f"{names[i]}@{j * seconds:g}s", clip))
    return out


class VocoderSegments(Dataset):
    """Fixed-length (audio, mel) segments of one split.

    Item i is ``{"audio": Tensor[segment], "mel": Tensor[80 x segment // 256]}``. Training items start at
    i * segment plus a jitter seeded by (i, ``seed``) -- deterministic, so a resumed run sees the same
    data; validation items (``jitter=False``) are fixed. A segment never crosses two clips; clips
    shorter than a segment are zero-padded. ``min_peak`` drops segments quieter than that (for validation:
    see ``MIN_SCORED_PEAK``); training keeps them, so the vocoder learns silence too.
    """

    def __init__(self, data_dir: str | Path, split: str, segment: int = 8192, jitter: bool = True,
                 max_items: int | None = None, seed: int = 0, cfg: MelConfig = MelConfig(),
                 min_peak: float | None = None):
        if segment % cfg.hop_length:
            raise LatentLabError(f"segment must be a multiple of {cfg.hop_length}, got {segment}")
        self.audio, self.offsets, self.names = load_split(data_dir, split)
        if len(self.audio) == 0:
            raise LatentLabError(f"the {split} split of {data_dir} is empty: rebuild it with more audio")
        self.segment, self.jitter, self.seed, self.cfg = segment, jitter, seed, cfg
        self.n = max(1, len(self.audio) // segment)
        self.items = list(range(self.n))
        if min_peak is not None:
            limit = min_peak * 32767
            self.items = [i for i in self.items if self._peak(i) >= limit] or self.items
        if max_items is not None:
            self.items = self.items[:max_items]

    def _peak(self, i: int) -> int:
        _, hi, start = self.start(i)
        return int(np.abs(self.audio[start : min(start + self.segment, hi)]).max(initial=0))

    def __len__(self) -> int:
        return len(self.items)

    def start(self, i: int) -> tuple[int, int, int]:
        """(clip start, clip end, segment start) of segment i (of ``n``) in the concatenated audio."""
        pos = i * len(self.audio) // self.n
        if self.jitter:
            pos += int(np.random.default_rng((self.seed, i)).integers(0, self.segment))
        pos = min(pos, len(self.audio) - 1)
        clip = int(np.searchsorted(self.offsets, pos, side="right")) - 1
        lo, hi = int(self.offsets[clip]), int(self.offsets[clip + 1])
        start = max(lo, min(pos, hi - self.segment))
        return lo, hi, start

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        _, hi, start = self.start(self.items[i])
        piece = self.audio[start : min(start + self.segment, hi)].astype(np.float32) / 32767
        audio = torch.zeros(self.segment)
        audio[: len(piece)] = torch.from_numpy(piece)
        mel = mel_spectrogram(audio, self.cfg)
        return {"audio": audio, "mel": mel}
