"""MIDI in and out, quantised to 16th notes, and monophonic melodies in Magenta's 90-class encoding.

A *melody* is a 1-D ``np.ndarray`` of int64 event classes, one per 16th-note step:

- ``0`` (``NO_EVENT``): nothing new happens -- the sounding note is held, or the rest goes on;
- ``1`` (``NOTE_OFF``): the sounding note stops here (a rest starts);
- ``2 .. 89``: a note of MIDI pitch ``class + 19`` starts here (pitch 21 = A0 is class 2, pitch 108 = C8 is
  class 89), ending the previous note if one was sounding.

This is exactly Magenta's ``MelodyOneHotEncoding(21, 109)`` (events -2, -1, 21..108 -> 0, 1, 2..89), so
models trained on either side read the same classes. A note lasts until the next NOTE_OFF or onset, or to
the end of the melody. Melodies read from MIDI are padded with NO_EVENT to a whole number of 16-step bars
and round-trip exactly: ``melody_from_midi(melody_to_midi(m))`` equals ``m`` for every valid ``m`` whose
length is a multiple of ``STEPS_PER_BAR``.
"""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
import pretty_midi

from .errors import LatentLabError

STEPS_PER_QUARTER = 4  # 16th-note grid
STEPS_PER_BAR = 16  # 4/4 bars
MIN_PITCH = 21  # A0, lowest piano key
MAX_PITCH = 108  # C8, highest piano key
NO_EVENT = 0
NOTE_OFF = 1
FIRST_PITCH_CLASS = 2  # class of MIN_PITCH
NUM_CLASSES = FIRST_PITCH_CLASS + MAX_PITCH - MIN_PITCH + 1  # 90
MELODIC_PROGRAMS = range(0, 32)  # General MIDI pianos, chromatic percussion, organs, guitars
DEFAULT_QPM = 120.0  # tempo of the MIDI files we write
DEFAULT_VELOCITY = 100
END_MARKER = "latentlab:end"  # text event at the end of the melodies we write (keeps trailing rests)
MAX_FILE_BYTES = 20 * 1024 * 1024
MAX_STEPS = 16 * 1024  # 1,024 bars: longer input is refused rather than hanging the machine
COLLISION_LIMIT = 0.5  # more than this fraction of onsets merging on the grid = not on a 16th grid


def pitch_to_class(pitch: int) -> int:
    """MIDI pitch (21..108) -> event class (2..89)."""
    if not MIN_PITCH <= pitch <= MAX_PITCH:
        raise LatentLabError(f"pitch {pitch} is outside the piano range {MIN_PITCH}..{MAX_PITCH}")
    return int(pitch) - MIN_PITCH + FIRST_PITCH_CLASS


def class_to_pitch(event: int) -> int:
    """Event class (2..89) -> MIDI pitch (21..108)."""
    if not FIRST_PITCH_CLASS <= event < NUM_CLASSES:
        raise LatentLabError(f"event class {event} is not a note (notes are {FIRST_PITCH_CLASS}..{NUM_CLASSES - 1})")
    return int(event) - FIRST_PITCH_CLASS + MIN_PITCH


def check_melody(melody: np.ndarray) -> np.ndarray:
    """Validate a melody array and return it as int64 (raises LatentLabError if it is not one)."""
    m = np.asarray(melody)
    if m.ndim != 1:
        raise LatentLabError(f"a melody is a 1-D array of event classes, got shape {tuple(m.shape)}")
    if m.size and not np.issubdtype(m.dtype, np.integer):
        raise LatentLabError(f"a melody holds integer event classes, got dtype {m.dtype}")
    if m.size and (m.min() < 0 or m.max() >= NUM_CLASSES):
        bad = int(m[(m < 0) | (m >= NUM_CLASSES)][0])
        raise LatentLabError(f"event class {bad} is out of range: melodies use 0..{NUM_CLASSES - 1}")
    return m.astype(np.int64)


# -- reading and writing MIDI ------------------------------------------------------------------------


def read_midi(source: str | Path | bytes) -> pretty_midi.PrettyMIDI:
    """Read a MIDI file (path or bytes). Corrupt or oversized files raise LatentLabError."""
    name = "the MIDI data" if isinstance(source, (bytes, bytearray)) else str(source)
    if not isinstance(source, (bytes, bytearray)):
        path = Path(source)
        if not path.is_file():
            raise LatentLabError(f"{path}: no such MIDI file")
        if path.stat().st_size > MAX_FILE_BYTES:
            raise LatentLabError(f"{path} is larger than {MAX_FILE_BYTES // 2**20} MB: cut it into shorter files")
        data = path.read_bytes()
    else:
        data = bytes(source)
    if len(data) > MAX_FILE_BYTES:
        raise LatentLabError(f"{name} is larger than {MAX_FILE_BYTES // 2**20} MB: cut it into shorter files")
    if data[:4] != b"MThd":
        raise LatentLabError(f"{name} is not a Standard MIDI File (no MThd header): export it as .mid")
    try:
        pm = pretty_midi.PrettyMIDI(io.BytesIO(data))
    except Exception as e:  # mido/pretty_midi raise many types for broken files
        raise LatentLabError(f"{name} is a corrupt MIDI file ({type(e).__name__}: {e}); re-export it") from e
    return pm


def write_midi(pm: pretty_midi.PrettyMIDI, path: str | Path) -> Path:
    """Write ``pm`` to ``path`` (parent directories are created)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    pm.write(str(path))
    return path


def midi_to_bytes(pm: pretty_midi.PrettyMIDI) -> bytes:
    """``pm`` as Standard MIDI File bytes."""
    buf = io.BytesIO()
    pm.write(buf)
    return buf.getvalue()


# -- quantisation and melody extraction --------------------------------------------------------------


def _step_of(pm: pretty_midi.PrettyMIDI, seconds: float) -> int:
    """The 16th-note step nearest to ``seconds``, through the file's own tempo map (ticks)."""
    ticks = pm.time_to_tick(seconds)
    return int(math.floor(ticks * STEPS_PER_QUARTER / pm.resolution + 0.5))


def quantize_notes(
    pm: pretty_midi.PrettyMIDI,
    programs: range | None = MELODIC_PROGRAMS,
    name: str = "the MIDI file",
    instruments: list[pretty_midi.Instrument] | None = None,
) -> list[tuple[int, int, int]]:
    """Notes of the non-drum instruments as ``(start_step, end_step, pitch)``, sorted by start.

    Parameters
    ----------
    pm : the MIDI file
    programs : General MIDI programs to keep (default 0-31, the melodic ones); None keeps every
        non-drum instrument. If nothing is left, every non-drum instrument is used instead.
    name : how to call the file in error messages
    instruments : only these instruments of ``pm`` (default: all)

    Raises LatentLabError for empty, drum-only and off-grid (unquantisable) input.
    """
    candidates = pm.instruments if instruments is None else instruments
    instruments = [inst for inst in candidates if not inst.is_drum and inst.notes]
    if not instruments:
        if any(inst.is_drum and inst.notes for inst in candidates):
            raise LatentLabError(f"{name} holds only drums (MIDI channel 10): give it a melody on another channel")
        raise LatentLabError(f"{name} holds no notes: give it a melody with at least one note")
    if programs is not None:
        chosen = [inst for inst in instruments if inst.program in programs]
        instruments = chosen or instruments
    if pm.resolution <= 0:
        raise LatentLabError(f"{name} has no valid time division (resolution {pm.resolution}); re-export it")
    notes = []
    for inst in instruments:
        for note in inst.notes:
            if not (math.isfinite(note.start) and math.isfinite(note.end)) or note.start < 0:
                raise LatentLabError(f"{name} has a note at an invalid time ({note.start}); re-export it")
            start = _step_of(pm, note.start)
            end = max(start + 1, _step_of(pm, note.end))
            notes.append((start, end, int(note.pitch)))
    notes.sort(key=lambda n: (n[0], -n[2]))
    if notes[-1][0] >= MAX_STEPS:
        raise LatentLabError(
            f"{name} is longer than {MAX_STEPS // STEPS_PER_BAR} bars of 16th notes: cut it into shorter files"
        )
    # Onsets that were distinct in the file (more than a 64th note apart, so strummed or slightly
    # ragged chords count once) but land on the same 16th step.
    raw = 0
    last = -math.inf
    for tick in sorted({pm.time_to_tick(n.start) for inst in instruments for n in inst.notes}):
        if tick - last > pm.resolution / 16:
            raw += 1
        last = tick
    grid = len({n[0] for n in notes})
    if raw >= 8 and 1 - grid / raw > COLLISION_LIMIT:
        raise LatentLabError(
            f"{name} cannot be quantised to 16th notes: {raw - grid} of {raw} onsets fall on the same grid step "
            "(free-tempo recording or very fast notes); re-export it with a tempo map that matches the playing, "
            "or slow it down"
        )
    return notes


def melody_from_notes(notes: list[tuple[int, int, int]], name: str = "the MIDI file", min_steps: int = 0) -> np.ndarray:
    """Highest note at each onset -> melody events, padded with NO_EVENT to whole bars (and ``min_steps``).

    A note lasts until its own end or the next kept onset, whichever comes first. Pitches outside
    21..108 move by whole octaves (the whole melody together) into range; a melody wider than the
    88 keys raises LatentLabError.
    """
    if not notes:
        raise LatentLabError(f"{name} holds no notes: give it a melody with at least one note")
    kept: list[tuple[int, int, int]] = []
    for start, end, pitch in sorted(notes, key=lambda n: (n[0], -n[2])):
        if kept and kept[-1][0] == start:
            continue  # a lower note at the same onset
        if kept and kept[-1][1] > start:
            kept[-1] = (kept[-1][0], start, kept[-1][2])  # truncate the sounding note
        kept.append((start, end, pitch))
    pitches = [p for _, _, p in kept]
    low, high = min(pitches), max(pitches)
    shift = 0
    if low < MIN_PITCH:
        shift = 12 * math.ceil((MIN_PITCH - low) / 12)
    elif high > MAX_PITCH:
        shift = -12 * math.ceil((high - MAX_PITCH) / 12)
    if high + shift > MAX_PITCH or low + shift < MIN_PITCH:
        raise LatentLabError(
            f"{name}: its melody spans pitches {low}..{high}, which no whole-octave transposition fits into the "
            f"piano range {MIN_PITCH}..{MAX_PITCH}; transpose or remove the outlying notes"
        )
    end_step = max([end for _, end, _ in kept] + [min_steps])
    length = max(STEPS_PER_BAR, STEPS_PER_BAR * math.ceil(end_step / STEPS_PER_BAR))
    melody = np.full(length, NO_EVENT, dtype=np.int64)
    for i, (start, end, pitch) in enumerate(kept):
        melody[start] = pitch_to_class(pitch + shift)
        next_start = kept[i + 1][0] if i + 1 < len(kept) else None
        if end < length and (next_start is None or end < next_start):
            melody[end] = NOTE_OFF
    return melody


def melody_from_midi(
    source: pretty_midi.PrettyMIDI | str | Path | bytes, programs: range | None = MELODIC_PROGRAMS
) -> np.ndarray:
    """The monophonic top line of a MIDI file (or PrettyMIDI) as melody events.

    Parameters
    ----------
    source : PrettyMIDI, a path, or the file's bytes
    programs : melodic candidate programs (default 0-31; falls back to every non-drum instrument)

    Returns
    -------
    np.ndarray[int64, T] with T a multiple of 16 (whole 4/4 bars of 16th steps)
    """
    name = str(source) if isinstance(source, (str, Path)) else "the MIDI file"
    pm = source if isinstance(source, pretty_midi.PrettyMIDI) else read_midi(source)
    notes = quantize_notes(pm, programs, name)
    # Files we write mark their length, so trailing rests survive the round trip.
    ends = [_step_of(pm, t.time) for t in pm.text_events if t.text == END_MARKER]
    return melody_from_notes(notes, name, min_steps=max(ends, default=0))


def melody_notes(melody: np.ndarray) -> list[tuple[int, int, int]]:
    """Melody events -> ``(start_step, end_step, pitch)`` notes."""
    m = check_melody(melody)
    notes: list[tuple[int, int, int]] = []
    current: tuple[int, int] | None = None  # (start, pitch)
    for step, event in enumerate(m.tolist()):
        if event == NO_EVENT:
            continue
        if current is not None:
            notes.append((current[0], step, current[1]))
            current = None
        if event >= FIRST_PITCH_CLASS:
            current = (step, class_to_pitch(event))
    if current is not None:
        notes.append((current[0], len(m), current[1]))
    return notes


def melody_to_midi(
    melody: np.ndarray,
    qpm: float = DEFAULT_QPM,
    program: int = 0,
    velocity: int = DEFAULT_VELOCITY,
    offset_steps: int = 0,
    pm: pretty_midi.PrettyMIDI | None = None,
) -> pretty_midi.PrettyMIDI:
    """Melody events -> a one-instrument PrettyMIDI at ``qpm`` quarter notes per minute.

    With ``pm`` given, the notes are added (shifted by ``offset_steps``) to its first instrument, so
    several melodies can be laid one after another in one file.
    """
    if pm is None:
        pm = pretty_midi.PrettyMIDI(initial_tempo=qpm)
        pm.instruments.append(pretty_midi.Instrument(program=program, name="melody"))
    seconds_per_step = 60.0 / qpm / STEPS_PER_QUARTER
    inst = pm.instruments[0]
    pm.text_events = [t for t in pm.text_events if t.text != END_MARKER]
    pm.text_events.append(pretty_midi.Text(END_MARKER, (len(melody) + offset_steps) * seconds_per_step))
    for start, end, pitch in melody_notes(melody):
        inst.notes.append(
            pretty_midi.Note(
                velocity=velocity,
                pitch=pitch,
                start=(start + offset_steps) * seconds_per_step,
                end=(end + offset_steps) * seconds_per_step,
            )
        )
    return pm


def melodies_to_midi(melodies: list[np.ndarray], qpm: float = DEFAULT_QPM, gap_bars: int = 0) -> pretty_midi.PrettyMIDI:
    """Several melodies one after another in one file (``gap_bars`` bars of rest between them)."""
    pm = pretty_midi.PrettyMIDI(initial_tempo=qpm)
    pm.instruments.append(pretty_midi.Instrument(program=0, name="melody"))
    offset = 0
    for m in melodies:
        melody_to_midi(m, qpm=qpm, offset_steps=offset, pm=pm)
        offset += len(m) + gap_bars * STEPS_PER_BAR
    return pm


def pad_melody(melody: np.ndarray, length: int) -> np.ndarray:
    """Pad with rests (NO_EVENT after a NOTE_OFF ending the last note) or cut to ``length`` steps."""
    m = check_melody(melody)
    if len(m) >= length:
        return m[:length].copy()
    out = np.full(length, NO_EVENT, dtype=np.int64)
    out[: len(m)] = m
    if len(m) and any(e >= FIRST_PITCH_CLASS for e in m.tolist()):
        # End a note that was sounding up to the end, so padding adds rests, not a held note.
        last = max(i for i, e in enumerate(m.tolist()) if e != NO_EVENT)
        if m[last] >= FIRST_PITCH_CLASS:
            out[len(m)] = NOTE_OFF
    return out


def transpose_melody(melody: np.ndarray, semitones: int) -> np.ndarray | None:
    """Shift every note by ``semitones``; None if a note would leave 21..108."""
    m = check_melody(melody).copy()
    notes = m >= FIRST_PITCH_CLASS
    m[notes] += semitones
    if notes.any() and (m[notes].min() < FIRST_PITCH_CLASS or m[notes].max() >= NUM_CLASSES):
        return None
    return m
