"""Magenta's melody extraction through note_seq, cross-checked against our own MIDI -> melody path.

Every MIDI file here is written by the test (pretty_midi). ``midi_melodies`` is note_seq's reading,
quantisation, ``Melody`` extraction and ``MelodyOneHotEncoding(21, 109)``; ``melody_from_midi`` is ours
(``engine/core/midi.py``). They must agree wherever both rules agree, and differ exactly where the module
docstring says they do.
"""

from __future__ import annotations

import io
import math

import mido
import numpy as np
import pretty_midi
import pytest

from engine.core.midi import NO_EVENT, NOTE_OFF, STEPS_PER_BAR, melody_from_midi, melody_to_midi, midi_to_bytes, pitch_to_class
from engine.data.melody import midi_folder_tunes
from engine.data.midi_melodies import midi_melodies

QPM = 120.0
STEP = 60.0 / QPM / 4  # seconds per 16th


def make_file(tracks, qpm=QPM, jitter=None, time_signature=(4, 4)) -> bytes:
    """tracks: [(program, is_drum, [(start_step, end_step, pitch), ...])] -> Standard MIDI File bytes."""
    pm = pretty_midi.PrettyMIDI(initial_tempo=qpm)
    pm.time_signature_changes.append(pretty_midi.TimeSignature(*time_signature, 0.0))
    step = 60.0 / qpm / 4
    for i, (program, is_drum, notes) in enumerate(tracks):
        inst = pretty_midi.Instrument(program=program, is_drum=is_drum)
        for j, (s, e, p) in enumerate(notes):
            ds, de = (0.0, 0.0) if jitter is None else jitter[i][j]
            inst.notes.append(pretty_midi.Note(100, p, (s + ds) * step, (e + de) * step))
        pm.instruments.append(inst)
    return midi_to_bytes(pm)


def events(*pairs, length):
    """Expected melody: (step, pitch) onsets, (step, 'off') note-offs, NO_EVENT elsewhere."""
    m = np.full(length, NO_EVENT, dtype=np.int64)
    for step, what in pairs:
        m[step] = NOTE_OFF if what == "off" else pitch_to_class(what)
    return m


# A chord, a higher note overlapping a lower later onset, and a lower onset under a held high note.
POLYPHONIC = [
    (0, 4, 60), (0, 4, 64), (0, 8, 67),  # C major chord, G held: G wins the onset
    (4, 6, 62),  # a later, lower onset cuts the held G short
    (6, 16, 65), (8, 12, 72), (12, 16, 48),  # each later onset wins, whatever its pitch
    (16, 24, 60), (16, 20, 55), (20, 32, 67),
]
POLYPHONIC_TOP_LINE = events((0, 67), (4, 62), (6, 65), (8, 72), (12, 48), (16, 60), (20, 67), length=32)

# Two phrases two bars apart (a gap of more than one bar of silence).
GAPPED = [(0, 4, 60), (4, 8, 62), (8, 16, 64), (40, 44, 65), (44, 48, 67), (48, 64, 69)]


def test_polyphonic_track_gives_the_top_line_in_both_paths():
    data = make_file([(0, False, POLYPHONIC)])
    (magenta,) = midi_melodies(data)
    assert (magenta.instrument, magenta.piece, magenta.start_step) == (0, 0, 0)
    np.testing.assert_array_equal(magenta.melody, POLYPHONIC_TOP_LINE)
    np.testing.assert_array_equal(melody_from_midi(data), POLYPHONIC_TOP_LINE)


def test_a_gap_of_a_bar_splits_the_melody_and_each_part_matches_ours():
    data = make_file([(0, False, GAPPED)])
    ours = melody_from_midi(data)
    assert len(ours) == 64 and ours[16] == NOTE_OFF  # ours keeps the rest inside one melody
    first, second = midi_melodies(data)
    assert (first.start_step, second.start_step) == (0, 32)  # the second starts on its bar line
    np.testing.assert_array_equal(first.melody, ours[:16])
    np.testing.assert_array_equal(second.melody, ours[32:])
    # Without the gap rule note_seq gives one melody, the same as ours, rest included.
    (whole,) = midi_melodies(data, gap_bars=math.inf)
    np.testing.assert_array_equal(whole.melody, ours)


def test_programs_and_drums_pick_the_tracks_and_each_track_matches_ours():
    piano = [(0, 4, 72), (4, 8, 74), (8, 16, 76)]
    electric = POLYPHONIC
    tracks = [
        (0, False, piano),
        (0, True, [(s, s + 1, 36) for s in range(0, 32, 2)]),  # drums
        (40, False, [(0, 32, 55)]),  # violin: not a melodic program 0-31
        (4, False, electric),  # electric piano
    ]
    found = midi_melodies(make_file(tracks))
    assert [m.instrument for m in found] == [0, 3]
    for m in found:
        program, _, notes = tracks[m.instrument]
        np.testing.assert_array_equal(m.melody, melody_from_midi(make_file([(program, False, notes)])))
    assert len(midi_melodies(make_file(tracks), programs=None)) == 3  # the violin too, never the drums


@pytest.mark.parametrize("seed", range(12))
def test_random_melodies_agree_note_for_note_through_midi(seed):
    """Our melody_to_midi -> note_seq reads back the same events (the last note sounds to the end)."""
    rng = np.random.default_rng(seed)
    length = STEPS_PER_BAR * int(rng.integers(1, 5))
    m = np.zeros(length, dtype=np.int64)
    m[0] = pitch_to_class(int(rng.integers(40, 90)))
    sounding = True
    for step in range(1, length):  # a NOTE_OFF only ends a sounding note
        r = rng.random()
        if r < 0.3:
            m[step], sounding = pitch_to_class(int(rng.integers(40, 90))), True
        elif r < 0.4 and sounding:
            m[step], sounding = NOTE_OFF, False
    last = max(i for i in range(length) if m[i] != NO_EVENT)
    if m[last] == NOTE_OFF:
        m[last] = pitch_to_class(60)
    data = midi_to_bytes(melody_to_midi(m))
    np.testing.assert_array_equal(melody_from_midi(data), m)
    (magenta,) = midi_melodies(data, gap_bars=math.inf)
    np.testing.assert_array_equal(magenta.melody, m)


@pytest.mark.parametrize("seed", range(6))
def test_quantisation_of_ragged_timing_agrees(seed):
    """Onsets and ends up to 0.4 of a 16th off the grid land on the same steps in both paths."""
    rng = np.random.default_rng(100 + seed)
    starts = np.sort(rng.choice(np.arange(1, 63), size=14, replace=False))
    starts = np.concatenate([[0], starts])
    notes = [(int(s), int(e), int(rng.integers(50, 80))) for s, e in zip(starts, list(starts[1:]) + [64])]
    jitter = [rng.uniform(-0.4, 0.4, size=(len(notes), 2)).tolist()]
    jitter[0][0][0] = abs(jitter[0][0][0])  # nothing before time 0
    data = make_file([(0, False, notes)], qpm=97.0, jitter=jitter)
    (magenta,) = midi_melodies(data, gap_bars=math.inf)
    np.testing.assert_array_equal(magenta.melody, melody_from_midi(data))


def tempo_change_file(notes, bpms, change_step) -> bytes:
    """One track of ``(start_step, end_step, pitch)`` notes, tempo ``bpms[0]`` then ``bpms[1]`` from ``change_step``."""
    ticks_per_step = 120  # 480 ticks a quarter
    mid = mido.MidiFile(ticks_per_beat=4 * ticks_per_step)
    meta, track = mido.MidiTrack(), mido.MidiTrack()
    meta += [
        mido.MetaMessage("time_signature", numerator=4, denominator=4, time=0),
        mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(bpms[0]), time=0),
        mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(bpms[1]), time=change_step * ticks_per_step),
    ]
    timeline = sorted(
        [(e * ticks_per_step, 0, p) for s, e, p in notes] + [(s * ticks_per_step, 1, p) for s, e, p in notes]
    )  # note-offs before note-ons at the same tick
    now = 0
    for tick, on, pitch in timeline:
        track.append(mido.Message("note_on", note=pitch, velocity=100 if on else 0, time=tick - now))
        now = tick
    mid.tracks += [meta, track]
    buf = io.BytesIO()
    mid.save(file=buf)
    return buf.getvalue()


def test_a_tempo_change_splits_into_pieces_that_match_ours():
    notes = [(0, 4, 60), (4, 8, 62), (8, 16, 64), (16, 24, 65), (24, 32, 67)]
    data = tempo_change_file(notes, (120, 60), change_step=16)
    expected = events((0, 60), (4, 62), (8, 64), (16, 65), (24, 67), length=32)
    np.testing.assert_array_equal(melody_from_midi(data), expected)  # ours follows the tempo map in ticks
    pieces = midi_melodies(data)
    assert [m.piece for m in pieces] == [0, 1]  # note_seq splits at the change and quantises each piece
    np.testing.assert_array_equal(np.concatenate([m.melody for m in pieces]), expected)


def test_where_the_two_rules_agree_and_differ():
    # The last note ends inside its bar: both rest after it (note_seq ends a note sounding into the padding).
    data = make_file([(0, False, [(0, 4, 60), (4, 10, 62)])])
    expected = events((0, 60), (4, 62), (10, "off"), length=16)
    np.testing.assert_array_equal(melody_from_midi(data), expected)
    np.testing.assert_array_equal(midi_melodies(data)[0].melody, expected)
    # Silent first bar: ours keeps it, note_seq starts on the bar line before the first note.
    data = make_file([(0, False, [(20, 24, 60), (24, 32, 62)])])
    ours, (magenta,) = melody_from_midi(data), midi_melodies(data)
    assert len(ours) == 32 and magenta.start_step == 16
    np.testing.assert_array_equal(magenta.melody, ours[16:])
    # A note above C8: ours moves the whole melody down an octave, note_seq drops the note.
    data = make_file([(0, False, [(0, 8, 100), (8, 16, 110)])])
    np.testing.assert_array_equal(melody_from_midi(data), events((0, 88), (8, 98), length=16))
    np.testing.assert_array_equal(midi_melodies(data)[0].melody, events((0, 100), (8, "off"), length=16))


def test_midi_folder_tunes_use_magentas_extraction(tmp_path):
    (tmp_path / "a.mid").write_bytes(make_file([(0, False, GAPPED), (0, True, [(0, 1, 36)])]))
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.mid").write_bytes(make_file([(0, False, POLYPHONIC)]))
    (tmp_path / "waltz.mid").write_bytes(make_file([(0, False, POLYPHONIC)], time_signature=(3, 4)))
    (tmp_path / "broken.mid").write_bytes(b"MThd garbage")
    tunes = list(midi_folder_tunes(tmp_path))
    assert [t.name for t in tunes] == ["a.mid|0@0.0", "a.mid|0@0.2", "sub/b.mid|0@0.0"]
    np.testing.assert_array_equal(tunes[2].melody, POLYPHONIC_TOP_LINE)
    assert len(list(midi_folder_tunes(tmp_path, limit=2))) == 2
