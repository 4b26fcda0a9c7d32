"""NSynth-format notes: rendering them with FluidSynth, and reading any NSynth-layout folder.

``latentlab data timbre -o DIR`` runs :func:`build_timbre_data`, which renders single notes on General MIDI
programs (FluidSynth + FluidR3_GM) the way NSynth recorded its instruments -- 4 s at 16 kHz, the key held
3 s and released for 1 s, velocities 25/50/75/100/127 -- and writes the real NSynth layout::

    DIR/nsynth-train/examples.json      {note_str: {note, note_str, instrument, instrument_str, pitch, velocity,
    DIR/nsynth-train/audio/<note_str>.wav    sample_rate, qualities, qualities_str, instrument_family(_str),
    DIR/nsynth-valid/...                     instrument_source(_str)}}
    DIR/dataset.json                    how it was made (programs, pitches, velocities, gains)

Every instrument is ``<family>_synthetic_<GM program>`` (e.g. ``brass_synthetic_056``): these are FluidR3
renders, so the source is "synthetic", and the qualities are left unannotated (all zero). Each instrument
has one fixed gain (its loudest note peaks at 0.9), so velocity changes loudness as it does in NSynth.

The split is by pitch within each instrument: every 5th of an instrument's pitches (the 2nd, 7th, ...) goes
to ``nsynth-valid``, with all its velocities, so validation notes are pitches that instrument never played
in training. :class:`NoteWindows` reads this layout or the real NSynth download (``nsynth-train/``,
``nsynth-valid/``, ``nsynth-test/``, or one such folder given directly).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import soundfile as sf
import torch
from torch.utils.data import Dataset

from ..core.audio import fit_length, mulaw_encode, resample, save_wav
from ..core.errors import LatentLabError

SAMPLE_RATE = 16_000  # NSynth's rate
NOTE_SECONDS = 4.0  # every note lasts 4 s ...
HELD_SECONDS = 3.0  # ... the key held for 3 s, then released
NOTE_SAMPLES = int(NOTE_SECONDS * SAMPLE_RATE)  # 64,000
VELOCITIES = (25, 50, 75, 100, 127)  # NSynth's velocities
PEAK = 0.9  # each instrument's loudest note peaks here (one fixed gain per instrument)
VALID_EVERY = 5  # every 5th pitch of an instrument is a validation pitch ...
VALID_INDEX = 1  # ... starting with its 2nd lowest
EXAMPLES = "examples.json"
AUDIO_DIR = "audio"
DATASET_INFO = "dataset.json"
SPLITS = ("train", "valid", "test")

# NSynth's label vocabularies (their index is the integer label).
FAMILIES = ("bass", "brass", "flute", "guitar", "keyboard", "mallet", "organ", "reed", "string", "synth_lead", "vocal")
SOURCES = ("acoustic", "electronic", "synthetic")
QUALITIES = ("bright", "dark", "distortion", "fast_decay", "long_release", "multiphonic", "nonlinear_env",
             "percussive", "reverb", "tempo-synced")
FIELDS = ("note", "note_str", "instrument", "instrument_str", "pitch", "velocity", "sample_rate", "qualities",
          "qualities_str", "instrument_family", "instrument_family_str", "instrument_source", "instrument_source_str")

# The default instruments: three General MIDI programs per NSynth family, each with the pitch range it plays.
PROGRAMS: dict[int, tuple[str, str, int, int]] = {  # program: (family, GM name, lowest, highest pitch)
    0: ("keyboard", "Acoustic Grand Piano", 21, 108),  # all 88 keys: every pitch NSynth has is trained
    4: ("keyboard", "Electric Piano 1", 28, 96),
    6: ("keyboard", "Harpsichord", 29, 89),
    8: ("mallet", "Celesta", 60, 96),
    11: ("mallet", "Vibraphone", 53, 89),
    12: ("mallet", "Marimba", 45, 96),
    16: ("organ", "Drawbar Organ", 24, 96),
    19: ("organ", "Church Organ", 24, 96),
    21: ("organ", "Accordion", 41, 89),
    24: ("guitar", "Acoustic Guitar (nylon)", 40, 83),
    25: ("guitar", "Acoustic Guitar (steel)", 40, 83),
    27: ("guitar", "Electric Guitar (clean)", 40, 86),
    32: ("bass", "Acoustic Bass", 28, 60),
    33: ("bass", "Electric Bass (finger)", 28, 67),
    38: ("bass", "Synth Bass 1", 24, 67),
    40: ("string", "Violin", 55, 96),
    42: ("string", "Cello", 36, 76),
    48: ("string", "String Ensemble 1", 28, 96),
    56: ("brass", "Trumpet", 54, 86),
    57: ("brass", "Trombone", 40, 72),
    60: ("brass", "French Horn", 34, 77),
    65: ("reed", "Alto Sax", 49, 81),
    68: ("reed", "Oboe", 58, 91),
    71: ("reed", "Clarinet", 50, 91),
    72: ("flute", "Piccolo", 72, 96),
    73: ("flute", "Flute", 60, 96),
    75: ("flute", "Pan Flute", 60, 96),
    80: ("synth_lead", "Lead 1 (square)", 36, 96),
    81: ("synth_lead", "Lead 2 (sawtooth)", 36, 96),
    84: ("synth_lead", "Lead 5 (charang)", 36, 96),
    52: ("vocal", "Choir Aahs", 48, 79),
    53: ("vocal", "Voice Oohs", 48, 79),
    54: ("vocal", "Synth Voice", 48, 84),
}
DEFAULT_PITCHES = tuple(range(21, 109))  # NSynth's 21..108, intersected with each instrument's range


@dataclass(frozen=True)
class Instrument:
    """One rendered instrument: a General MIDI program under an NSynth-style name."""

    program: int
    family: str
    pitch_range: tuple[int, int]

    @property
    def name(self) -> str:
        return f"{self.family}_synthetic_{self.program:03d}"


def family_of_program(program: int) -> str:
    """The NSynth family of a General MIDI program (by the GM instrument groups)."""
    if program in PROGRAMS:
        return PROGRAMS[program][0]
    if not 0 <= program <= 119:
        raise LatentLabError(f"General MIDI program {program} is not a pitched instrument: use 0..119")
    groups = ["keyboard", "mallet", "organ", "guitar", "bass", "string", "string", "brass", "reed", "flute",
              "synth_lead", "synth_lead", "synth_lead", "guitar", "mallet"]
    if 52 <= program <= 54:
        return "vocal"
    if program in (109, 111):  # bagpipe, shanai
        return "reed"
    if program == 110:  # fiddle
        return "string"
    return groups[program // 8]


def instrument_for(program: int) -> Instrument:
    family = family_of_program(program)
    low, high = PROGRAMS[program][2:] if program in PROGRAMS else (21, 108)
    return Instrument(program, family, (low, high))


def note_str(instrument: str, pitch: int, velocity: int) -> str:
    """NSynth's note id, e.g. ``keyboard_synthetic_000-060-100``."""
    return f"{instrument}-{pitch:03d}-{velocity:03d}"


def is_validation_pitch(index: int) -> bool:
    """Whether the ``index``-th lowest pitch of an instrument is held out for validation."""
    return index % VALID_EVERY == VALID_INDEX


def example_record(instrument: Instrument, pitch: int, velocity: int) -> dict:
    """The examples.json entry of one note, with NSynth's fields."""
    name = instrument.name
    return {
        "note": (instrument.program * 128 + pitch) * 128 + velocity,
        "note_str": note_str(name, pitch, velocity),
        "instrument": instrument.program,
        "instrument_str": name,
        "pitch": pitch,
        "velocity": velocity,
        "sample_rate": SAMPLE_RATE,
        "qualities": [0] * len(QUALITIES),  # not annotated
        "qualities_str": [],
        "instrument_family": FAMILIES.index(instrument.family),
        "instrument_family_str": instrument.family,
        "instrument_source": SOURCES.index("synthetic"),
        "instrument_source_str": "synthetic",
    }


def render_note(program: int, pitch: int, velocity: int) -> np.ndarray:
    """One NSynth-style note, before its instrument's gain: ``ndarray[64000]`` float32 at 16 kHz."""
    from ..core.render import note_midi, render_midi

    midi = note_midi(pitch, program, velocity, held=HELD_SECONDS)
    audio = render_midi(midi, SAMPLE_RATE, backend="fluidsynth", normalize=False)
    return fit_length(audio, NOTE_SAMPLES)


def build_timbre_data(
    out: str | Path,
    programs: Sequence[int] | None = None,
    pitches: Sequence[int] | None = None,
    velocities: Sequence[int] | None = None,
    split: bool = True,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, int]:
    """Render an NSynth-format dataset (see the module docstring).

    Parameters
    ----------
    out : the dataset folder
    programs : General MIDI programs (default: the 33 of :data:`PROGRAMS`, three per NSynth family)
    pitches : MIDI pitches, each kept only within an instrument's range (default: 24, 26, ..., 96)
    velocities : default NSynth's 25, 50, 75, 100, 127
    split : write ``nsynth-train/`` and ``nsynth-valid/`` (split by pitch within each instrument); False
        writes one folder ``out/examples.json`` + ``out/audio/`` holding every note
    progress : called with (notes done, notes in all) after each note

    Returns
    -------
    the number of notes written per split, e.g. ``{"train": 1800, "valid": 450}``
    """
    from ..core.render import require_fluidsynth

    require_fluidsynth()
    programs = list(PROGRAMS) if programs is None else list(dict.fromkeys(programs))
    pitches = sorted(set(DEFAULT_PITCHES if pitches is None else pitches))
    velocities = sorted(set(VELOCITIES if velocities is None else velocities))
    if not programs or not pitches or not velocities:
        raise LatentLabError("give at least one program, one pitch and one velocity")
    for p in pitches:
        if not 0 <= p <= 127:
            raise LatentLabError(f"pitch {p} is not a MIDI pitch (0..127)")
    for v in velocities:
        if not 1 <= v <= 127:
            raise LatentLabError(f"velocity {v} is not a MIDI velocity (1..127)")
    instruments = [instrument_for(p) for p in programs]
    plan = []  # (instrument, its pitches)
    for inst in instruments:
        low, high = inst.pitch_range
        own = [p for p in pitches if low <= p <= high]
        if own:
            plan.append((inst, own))
    if not plan:
        raise LatentLabError(f"none of the pitches {pitches} is in range of the programs {programs}")

    out = Path(out)
    folders = {name: out / (f"nsynth-{name}" if split else "") for name in (("train", "valid") if split else ("all",))}
    examples: dict[str, dict[str, dict]] = {name: {} for name in folders}
    total, done = sum(len(own) * len(velocities) for _, own in plan), 0
    gains = {}
    for inst, own in plan:
        notes = {(p, v): render_note(inst.program, p, v) for p in own for v in velocities}
        peak = max(float(np.max(np.abs(a))) for a in notes.values())
        if peak < 1e-5:
            raise LatentLabError(f"FluidSynth rendered silence for program {inst.program}: check the soundfont")
        gains[inst.name] = gain = PEAK / peak
        for i, p in enumerate(own):
            name = ("valid" if is_validation_pitch(i) else "train") if split else "all"
            for v in velocities:
                record = example_record(inst, p, v)
                save_wav(folders[name] / AUDIO_DIR / f"{record['note_str']}.wav", notes[(p, v)] * gain, SAMPLE_RATE)
                examples[name][record["note_str"]] = record
                done += 1
                if progress is not None:
                    progress(done, total)
    for name, folder in folders.items():
        folder.mkdir(parents=True, exist_ok=True)
        (folder / EXAMPLES).write_text(json.dumps(examples[name], indent=1) + "\n", encoding="utf-8")
    info = {
        "made_by": "latentlab data timbre (FluidSynth + FluidR3_GM)",
        "sample_rate": SAMPLE_RATE, "note_seconds": NOTE_SECONDS, "held_seconds": HELD_SECONDS,
        "programs": {inst.name: inst.program for inst, _ in plan}, "pitches": pitches, "velocities": velocities,
        "gains": gains, "split": f"every {VALID_EVERY}th pitch of each instrument -> valid" if split else "none",
        "notes": {name: len(e) for name, e in examples.items()},
    }
    (out / DATASET_INFO).write_text(json.dumps(info, indent=1) + "\n", encoding="utf-8")
    return info["notes"]


# -- reading ------------------------------------------------------------------------------------------


def split_dir(root: str | Path, split: str = "train") -> Path:
    """The folder holding ``examples.json`` for ``split``: ``root/nsynth-<split>`` or ``root`` itself."""
    root = Path(root)
    if not root.is_dir():
        raise LatentLabError(f"no dataset folder {root}: make one with `latentlab data timbre -o {root}`")
    for candidate in (root / f"nsynth-{split}", root):
        if (candidate / EXAMPLES).is_file():
            return candidate
    raise LatentLabError(f"{root} holds no {EXAMPLES} for split {split!r} (expected {root}/nsynth-{split}/{EXAMPLES})")


def read_examples(folder: str | Path) -> dict[str, dict]:
    """``examples.json`` of an NSynth-layout folder, checked for the fields we use."""
    path = Path(folder) / EXAMPLES
    try:
        examples = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as e:
        raise LatentLabError(f"cannot read {path}: {e}") from e
    if not isinstance(examples, dict) or not examples:
        raise LatentLabError(f"{path} holds no notes")
    for key, record in examples.items():
        missing = [f for f in ("pitch", "instrument_str") if not isinstance(record, dict) or f not in record]
        if missing:
            raise LatentLabError(f"{path}: note {key!r} lacks {', '.join(missing)}")
    return examples


def read_note(folder: str | Path, note: str) -> np.ndarray:
    """The audio of one note of an NSynth-layout folder at 16 kHz: ``ndarray[T]`` float32."""
    path = Path(folder) / AUDIO_DIR / f"{note}.wav"
    if not path.is_file():
        raise LatentLabError(f"missing audio for note {note!r}: {path}")
    audio, rate = sf.read(str(path), dtype="float32", always_2d=False)
    if audio.ndim == 2:
        audio = audio.mean(axis=1)
    return resample(audio, int(rate), SAMPLE_RATE)


class NoteWindows(Dataset):
    """Random windows of NSynth-layout notes for training the timbre autoencoder.

    Window ``i`` is note ``i % n_notes`` from offset ``stride * (i // n_notes)``, so the set covers every
    window start on a ``stride`` grid and a resumed run sees the same windows.

    Items: ``{"audio": LongTensor[window] mu-law classes, "pitch": LongTensor[] MIDI pitch}``.
    """

    def __init__(self, root: str | Path, split: str = "train", window: int = 6144, stride: int = 512,
                 note_samples: int = NOTE_SAMPLES):
        if window > note_samples:
            raise LatentLabError(f"window of {window} samples is longer than a note ({note_samples})")
        self.folder = split_dir(root, split)
        examples = read_examples(self.folder)
        self.notes = sorted(examples)
        self.pitches = torch.tensor([int(examples[n]["pitch"]) for n in self.notes])
        self.window, self.stride = window, stride
        self.offsets = (note_samples - window) // stride + 1

    def __len__(self) -> int:
        return len(self.notes) * self.offsets

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        note, k = i % len(self.notes), i // len(self.notes)
        start = k * self.stride
        path = self.folder / AUDIO_DIR / f"{self.notes[note]}.wav"
        try:
            info = sf.info(str(path))
            if info.samplerate == SAMPLE_RATE:
                audio, _ = sf.read(str(path), start=start, stop=start + self.window, dtype="float32", always_2d=True)
                audio = audio.mean(axis=1)
            else:
                audio = read_note(self.folder, self.notes[note])[start : start + self.window]
        except sf.LibsndfileError as e:
            raise LatentLabError(f"cannot read {path}: {e}") from e
        audio = fit_length(audio, self.window)
        return {"audio": mulaw_encode(torch.from_numpy(audio)), "pitch": self.pitches[note]}
