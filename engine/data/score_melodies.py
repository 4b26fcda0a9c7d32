"""Melodies from music21 scores (the corpus) by Magenta's rules, through note_seq.

A score's top line is read the way :mod:`engine.data.midi_melodies` reads a MIDI track:

1. the top part (``score.parts[0]``: the tune of a folk song, a chorale's soprano, the first violin of a
   quartet, the right hand of a piano piece) with its repeats written out, tied notes joined and grace
   notes dropped; a chord gives all its notes (the extraction keeps the highest);
2. a pickup bar, at the start or before a strain, is moved to end on a bar line (the melody starts with
   rests), so bar lines fall on multiples of the bar length throughout;
3. the notes and time signatures become a ``note_seq.NoteSequence`` at one tempo (music21 offsets are in
   quarter notes, so the tempo only sets the unit), which :func:`~engine.data.midi_melodies.quantized_pieces`
   splits at every time-signature change and quantises to 16ths, keeping the pieces whose bar is one of
   ``bar_steps``;
4. :func:`~engine.data.midi_melodies.extract_melodies` takes every melody of each piece
   (``note_seq.Melody``: the highest note at each onset, a later onset cuts the sounding note short, a bar of
   silence (16 steps, whatever the meter) ends a melody, each starts on a bar line) and encodes it with ``MelodyOneHotEncoding(21, 109)``.

Files are always parsed from their source (``forceSource=True``, ``storePickle=False``): music21's own
pickle cache is neither read nor written.
"""

from __future__ import annotations

import bisect
import copy
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..core.errors import LatentLabError
from ..core.midi import STEPS_PER_BAR, pad_melody
from .midi_melodies import GAP_BARS, extract_melodies, quantized_pieces

QPM = 120.0  # the tempo the NoteSequence is written at: a quarter note lasts 0.5 s
SECONDS_PER_QUARTER = 60.0 / QPM


@dataclass
class ScoreMelody:
    piece: int  # index of the section between time-signature changes
    start_step: int  # first step of the melody within its section (a bar line)
    melody: np.ndarray  # int64[T] events, T a multiple of 16


def parse_file(path: str | Path):
    """A corpus file as a music21 Score or Opus, parsed from its source (no pickle read or written)."""
    from music21 import converter

    try:
        return converter.parse(str(path), forceSource=True, storePickle=False)
    except Exception as e:  # music21 raises many types for files it cannot read
        raise LatentLabError(f"{path}: music21 cannot parse it ({type(e).__name__}: {e})") from e


def _measure_starts(measures: list) -> list[float]:
    """Where each measure starts (quarter notes) once short bars are moved onto the bar grid.

    A full bar starts on the next bar line; a short bar followed by a full one is a pickup and ends on the
    next bar line (the rests before it are the bar's missing beats); a short bar followed by another short
    one (the last bar of a strain, then the next strain's pickup) follows on. Bar lines are counted from
    the last measure whose time signature changed the meter (where note_seq splits the sequence).
    """
    from music21 import meter

    def is_full(m) -> bool:
        return float(m.duration.quarterLength) >= float(m.barDuration.quarterLength) - 1e-6

    starts, t, origin, current = [], 0.0, 0.0, None
    for i, m in enumerate(measures):
        bar, length = float(m.barDuration.quarterLength), float(m.duration.quarterLength)
        signature = next(iter(m.getElementsByClass(meter.TimeSignature)), None)
        if signature is not None and signature.ratioString != current:
            current, origin = signature.ratioString, t
        if is_full(m):
            start = origin + math.ceil((t - origin) / bar - 1e-6) * bar
        elif i + 1 < len(measures) and is_full(measures[i + 1]):
            start = origin + math.ceil((t + length - origin) / bar - 1e-6) * bar - length
        else:
            start = t
        starts.append(start)
        t = start + length
    return starts


def _add_notes(sequence, notes, offset_of) -> None:
    """Append music21 notes and chords (every pitch of a chord) to ``sequence`` at ``offset_of(n)`` quarters."""
    from music21 import chord, harmony, note

    for n in notes:
        length = float(n.duration.quarterLength)
        if length <= 0 or isinstance(n, harmony.ChordSymbol):  # grace notes, chord names of a lead sheet
            continue
        if isinstance(n, chord.Chord):
            pitches = [p.midi for p in n.pitches]
        elif isinstance(n, note.Note):
            pitches = [n.pitch.midi]
        else:  # unpitched percussion
            continue
        start = offset_of(n) * SECONDS_PER_QUARTER
        for pitch in pitches:
            sequence.notes.add(pitch=int(pitch), velocity=100, start_time=start,
                               end_time=start + length * SECONDS_PER_QUARTER, program=0, instrument=0)


def score_note_sequence(score, in_place: bool = False):
    """The top part of a music21 score as an unquantised ``NoteSequence`` (see the module docstring).

    Parameters
    ----------
    score : a music21 Score (or a single Part)
    in_place : expand repeats and join ties in the score itself, which is left changed (faster: for a score
        parsed only to be read here); by default the top part is copied first

    Returns
    -------
    the NoteSequence: notes of instrument 0, program 0, and the time signatures where their measures start
    (the first at time 0); none when the score has none
    """
    import note_seq
    from music21 import meter, repeat

    part = score.parts[0] if getattr(score, "parts", None) else score
    if not in_place:
        part = copy.deepcopy(part)
    if part.hasMeasures():
        try:  # Stream.expandRepeats without its copy of the whole part (the part is ours to change)
            part = repeat.Expander(part).process(deepcopy=False)
        except Exception:  # malformed repeat marks: keep the music as written
            pass
    sequence = note_seq.NoteSequence()
    sequence.tempos.add(time=0.0, qpm=QPM)
    sequence.ticks_per_quarter = note_seq.STANDARD_PPQ
    measures = list(part.getElementsByClass("Measure"))
    starts = _measure_starts(measures)  # before ties are joined: that lengthens the measures they start in
    flat = part.flatten()
    flat.stripTies(inPlace=True)
    if measures:
        # Measure by measure: music21's ABC reader puts one TimeSignature object into several measures (a
        # mid-tune pickup bar may get its own, e.g. 1/16, and the tune's meter comes back after it), which
        # flatten() would keep only once, at its last place.
        signatures = [(start, ts) for m, start in zip(measures, starts) for ts in m.getElementsByClass(meter.TimeSignature)]
        written = [float(m.offset) for m in measures]

        def offset_of(n) -> float:  # its place in the written-out part -> its place on the bar grid
            offset = float(n.getOffsetBySite(flat))  # not n.offset: reading a measure resets n.activeSite
            k = max(bisect.bisect_right(written, offset) - 1, 0)
            return starts[k] + offset - written[k]
    else:
        signatures = [(float(ts.offset), ts) for ts in flat.getElementsByClass(meter.TimeSignature)]

        def offset_of(n) -> float:
            return float(n.getOffsetBySite(flat))
    _add_notes(sequence, flat.notes, offset_of)
    for offset, ts in signatures:
        time = offset * SECONDS_PER_QUARTER if sequence.time_signatures else 0.0
        sequence.time_signatures.add(time=time, numerator=ts.numerator, denominator=ts.denominator)
    sequence.total_time = max((n.end_time for n in sequence.notes), default=0.0)
    return sequence


def score_melodies(
    score,
    bar_steps: tuple[int, ...] = (STEPS_PER_BAR,),
    gap_bars: float = GAP_BARS,
    in_place: bool = False,
) -> list[ScoreMelody]:
    """Every melody of a score's top line, by Magenta's rules (see the module docstring).

    Parameters
    ----------
    score : a music21 Score (or a single Part)
    bar_steps : sections whose bar holds this many 16th steps are kept (default: 4/4 only, as MusicVAE)
    gap_bars : 4/4 bars (16 steps) of silence that end a melody (``math.inf``: one melody per section)
    in_place : change the score itself rather than a copy (see :func:`score_note_sequence`)

    Returns
    -------
    the melodies, section by section, each padded with rests to a multiple of 16 steps; empty when the
    score has no time signature (note_seq would assume 4/4), no section has a kept meter or no note is left
    """
    sequence = score_note_sequence(score, in_place)
    if not sequence.time_signatures:
        return []
    from note_seq import sequences_lib

    out = []
    for piece, quantized in enumerate(quantized_pieces(sequence, programs=None, bar_steps=bar_steps)):
        # A gap is counted in 4/4 bars (16 steps) whatever the meter, as MusicVAE's melodies are 4/4.
        bar = sequences_lib.steps_per_bar_in_quantized_sequence(quantized)
        for _, start, events in extract_melodies(quantized, gap_bars * STEPS_PER_BAR / bar):
            out.append(ScoreMelody(piece, start, pad_melody(events, -(-len(events) // STEPS_PER_BAR) * STEPS_PER_BAR)))
    return out

