"""Melodies from MIDI files by Magenta's rules, through note_seq: NoteSequence, quantisation, extraction.

This is how MusicVAE's ``OneHotMelodyConverter`` reads a MIDI file (Roberts et al. 2018, trained on Lakh):

1. the file becomes a ``NoteSequence`` (``note_seq.midi_to_note_sequence``); notes of drum tracks, of
   programs outside ``programs`` and of pitches outside 21..108 are dropped;
2. it is split wherever the tempo or the time signature changes, and each piece is quantised to 16th notes
   relative to its tempo (``note_seq.quantize_note_sequence``); pieces whose bar is not 16 steps (4/4) are
   skipped;
3. every instrument (track) of a piece gives melodies (``note_seq.Melody.from_quantized_sequence``): at each
   onset the highest note wins, a later onset cuts the sounding note short, and ``gap_bars`` bars of silence
   end a melody -- the search goes on from the next bar line, so one track can give several melodies; each
   starts on the bar line before its first note and is padded to whole bars;
4. the events are encoded with ``note_seq.MelodyOneHotEncoding(21, 109)``, which is our 90-class encoding
   (``engine.core.midi``).

Where our own :func:`engine.core.midi.melody_from_midi` (what the app uses for a file it is given) differs:
it merges the melodic tracks into one top line, keeps silent bars (leading ones, gaps, and trailing ones a
file we wrote marks), follows tempo changes through the tick map instead of splitting, and moves an
out-of-range melody by octaves where Magenta drops the notes. Elsewhere the two give the same events;
``tests/test_midi_melodies.py`` checks both paths against each other on MIDI files it writes. ``note_seq``
is imported when first used (its package import takes about 1.5 s).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pretty_midi

from ..core.errors import LatentLabError
from ..core.midi import MAX_PITCH, MELODIC_PROGRAMS, MIN_PITCH, STEPS_PER_BAR, STEPS_PER_QUARTER, read_midi

GAP_BARS = 1.0  # MusicVAE's melody converters end a melody after a bar of silence
MIN_BARS = 1  # ... and keep melodies of one bar or more
MIN_UNIQUE_PITCHES = 1


@dataclass
class MidiMelody:
    instrument: int  # index of the track in the file
    piece: int  # index of the piece between tempo / time-signature changes
    start_step: int  # first step of the melody within its piece (a bar line)
    melody: np.ndarray  # int64[T] events, T a multiple of 16


def note_sequence(source: str | Path | bytes | pretty_midi.PrettyMIDI):
    """A MIDI file (path, bytes or PrettyMIDI) as a ``note_seq.NoteSequence`` (unquantised, in seconds).

    Corrupt or oversized files raise LatentLabError (they are read by :func:`engine.core.midi.read_midi`).
    """
    import note_seq

    pm = source if isinstance(source, pretty_midi.PrettyMIDI) else read_midi(source)
    try:
        return note_seq.midi_to_note_sequence(pm)
    except note_seq.MIDIConversionError as e:
        raise LatentLabError(f"{source if isinstance(source, (str, Path)) else 'the MIDI data'}: {e}") from e


def encode_melody(melody) -> np.ndarray:
    """A ``note_seq.Melody`` -> int64[T] event classes through ``MelodyOneHotEncoding(21, 109)``."""
    import note_seq

    encoding = note_seq.MelodyOneHotEncoding(MIN_PITCH, MAX_PITCH + 1)
    return np.array([encoding.encode_event(e) for e in melody], dtype=np.int64)


def quantized_pieces(
    sequence, programs: range | None = MELODIC_PROGRAMS, bar_steps: tuple[int, ...] = (STEPS_PER_BAR,)
) -> list:
    """The kept notes of ``sequence``, split at tempo / time-signature changes and quantised to 16ths.

    Parameters
    ----------
    sequence : an unquantised ``note_seq.NoteSequence``
    programs : General MIDI programs whose notes are kept (default 0-31, MusicVAE's ``MEL_PROGRAMS``); None
        keeps every program. Drum notes and pitches outside 21..108 are always dropped.
    bar_steps : pieces whose bar holds this many 16th steps are kept (default: 4/4 only, as MusicVAE)

    Returns
    -------
    the quantised ``NoteSequence`` of every kept piece, in time order
    """
    import note_seq
    from note_seq import sequences_lib

    filtered = note_seq.NoteSequence()
    filtered.CopyFrom(sequence)
    del filtered.notes[:]
    filtered.notes.extend(
        n for n in sequence.notes
        if not n.is_drum and MIN_PITCH <= n.pitch <= MAX_PITCH and (programs is None or n.program in programs)
    )
    pieces = []
    for piece in sequences_lib.split_note_sequence_on_time_changes(filtered):
        try:
            quantized = sequences_lib.quantize_note_sequence(piece, STEPS_PER_QUARTER)
        except (sequences_lib.BadTimeSignatureError, sequences_lib.NegativeTimeError):
            continue
        if sequences_lib.steps_per_bar_in_quantized_sequence(quantized) in bar_steps:
            pieces.append(quantized)
    return pieces


def extract_melodies(
    quantized,
    gap_bars: float = GAP_BARS,
    min_bars: int = MIN_BARS,
    min_unique_pitches: int = MIN_UNIQUE_PITCHES,
) -> list[tuple[int, int, np.ndarray]]:
    """Every melody of every track of a quantised 4/4 ``NoteSequence``, by Magenta's rules.

    Parameters
    ----------
    quantized : a ``NoteSequence`` quantised relative to its tempo at 4 steps per quarter, 16 steps a bar
    gap_bars : this many bars of silence end a melody (``math.inf``: one melody per track)
    min_bars : shorter melodies are dropped
    min_unique_pitches : melodies with fewer distinct pitch classes are dropped

    Returns
    -------
    ``(instrument, start_step, events)`` per melody, tracks in order, each track's melodies in time order;
    ``events`` int64[T] with T a multiple of 16
    """
    import note_seq

    out = []
    for instrument in sorted({n.instrument for n in quantized.notes}):
        search = 0
        while True:
            melody = note_seq.Melody()
            melody.from_quantized_sequence(
                quantized, search_start_step=search, instrument=instrument, gap_bars=gap_bars,
                ignore_polyphonic_notes=True, pad_end=True, filter_drums=True,
            )
            if not len(melody):
                break
            search = melody.end_step + (-melody.end_step) % STEPS_PER_BAR  # the next bar line
            pitch_classes = np.count_nonzero(melody.get_note_histogram())
            if len(melody) < min_bars * STEPS_PER_BAR or pitch_classes < min_unique_pitches:
                continue
            out.append((instrument, melody.start_step, encode_melody(melody)))
    return out


def midi_melodies(
    source: str | Path | bytes | pretty_midi.PrettyMIDI,
    programs: range | None = MELODIC_PROGRAMS,
    gap_bars: float = GAP_BARS,
) -> list[MidiMelody]:
    """Every melody of a MIDI file as MusicVAE extracts them (see the module docstring).

    Parameters
    ----------
    source : a path, the file's bytes, or a PrettyMIDI
    programs : programs whose notes are kept (default 0-31); None keeps every non-drum program
    gap_bars : bars of silence that end a melody (``math.inf``: one melody per track and piece)

    Returns
    -------
    the melodies, piece by piece, track by track; empty when nothing is left (drums only, no 4/4 piece, ...)
    """
    sequence = note_sequence(source)
    try:
        return [
            MidiMelody(instrument, piece, start, events)
            for piece, quantized in enumerate(quantized_pieces(sequence, programs))
            for instrument, start, events in extract_melodies(quantized, gap_bars)
        ]
    except Exception as e:  # note_seq raises many types for odd files; one must not stop a folder
        name = source if isinstance(source, (str, Path)) else "the MIDI data"
        raise LatentLabError(f"{name}: no melodies could be extracted ({type(e).__name__}: {e})") from e
