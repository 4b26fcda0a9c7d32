"""MIDI core: write -> read -> melody round trips, the 90-class encoding, and every bad-input error."""

from __future__ import annotations

import numpy as np
import pretty_midi
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.core.errors import LatentLabError
from engine.core.midi import (
    FIRST_PITCH_CLASS,
    MAX_PITCH,
    MIN_PITCH,
    NO_EVENT,
    NOTE_OFF,
    NUM_CLASSES,
    STEPS_PER_BAR,
    class_to_pitch,
    melodies_to_midi,
    melody_from_midi,
    melody_notes,
    melody_to_midi,
    midi_to_bytes,
    pad_melody,
    pitch_to_class,
    read_midi,
    transpose_melody,
    write_midi,
)


def make_pm(notes, program=0, is_drum=False, qpm=120.0) -> pretty_midi.PrettyMIDI:
    """notes: (start_step, end_step, pitch) on a 16th grid at ``qpm``."""
    pm = pretty_midi.PrettyMIDI(initial_tempo=qpm)
    inst = pretty_midi.Instrument(program=program, is_drum=is_drum)
    step = 60.0 / qpm / 4
    inst.notes = [pretty_midi.Note(100, p, s * step, e * step) for s, e, p in notes]
    pm.instruments.append(inst)
    return pm


def test_encoding_is_magentas_90_classes():
    assert NUM_CLASSES == 90 and NO_EVENT == 0 and NOTE_OFF == 1
    assert pitch_to_class(MIN_PITCH) == FIRST_PITCH_CLASS == 2
    assert pitch_to_class(MAX_PITCH) == 89
    assert pitch_to_class(60) == 41  # middle C: 60 - 21 + 2
    for p in range(MIN_PITCH, MAX_PITCH + 1):
        assert class_to_pitch(pitch_to_class(p)) == p


@pytest.mark.parametrize("bad", [20, 109, -1])
def test_pitch_out_of_encoding_range_is_an_error(bad):
    with pytest.raises(LatentLabError, match="piano range"):
        pitch_to_class(bad)


@pytest.mark.parametrize("bad", [0, 1, 90])
def test_non_note_class_is_an_error(bad):
    with pytest.raises(LatentLabError):
        class_to_pitch(bad)


def test_write_read_melody_round_trip(tmp_path):
    notes = [(0, 4, 60), (4, 6, 62), (8, 16, 64), (16, 17, 67), (18, 32, 72)]
    path = write_midi(make_pm(notes), tmp_path / "m.mid")
    melody = melody_from_midi(path)
    assert len(melody) == 32
    assert melody_notes(melody) == notes
    expected = np.zeros(32, dtype=np.int64)
    for s, e, p in notes:
        expected[s] = p - 19
    expected[6] = NOTE_OFF  # the gap 6..8
    expected[17] = NOTE_OFF
    assert np.array_equal(melody, expected)
    again = melody_from_midi(write_midi(melody_to_midi(melody), tmp_path / "again.mid"))
    assert np.array_equal(again, melody)


def test_tempo_does_not_change_the_grid(tmp_path):
    notes = [(0, 2, 60), (2, 4, 64), (6, 8, 67)]
    for qpm in (63.0, 120.0, 181.0):
        assert melody_notes(melody_from_midi(make_pm(notes, qpm=qpm))) == notes


def test_highest_note_at_each_onset_and_truncation():
    # A chord at step 0 (keep 67), then a lower note at step 2 cuts the held 67 short.
    pm = make_pm([(0, 8, 60), (0, 8, 67), (0, 8, 64), (2, 4, 55)])
    assert melody_notes(melody_from_midi(pm)) == [(0, 2, 67), (2, 4, 55)]


def test_programs_0_to_31_are_preferred_and_drums_skipped():
    pm = make_pm([(0, 4, 60)], program=0)
    strings = pretty_midi.Instrument(program=48)
    strings.notes = [pretty_midi.Note(100, 90, 0.0, 1.0)]
    drums = pretty_midi.Instrument(program=0, is_drum=True)
    drums.notes = [pretty_midi.Note(100, 100, 0.0, 1.0)]
    pm.instruments += [strings, drums]
    assert melody_notes(melody_from_midi(pm)) == [(0, 4, 60)]
    only_strings = make_pm([(0, 4, 70)], program=48)  # no melodic program: use what there is
    assert melody_notes(melody_from_midi(only_strings)) == [(0, 4, 70)]


def test_out_of_range_pitches_move_by_octaves():
    melody = melody_from_midi(make_pm([(0, 2, 10), (2, 4, 14)]))
    assert [p for _, _, p in melody_notes(melody)] == [22, 26]
    melody = melody_from_midi(make_pm([(0, 2, 120), (2, 4, 100)]))
    assert [p for _, _, p in melody_notes(melody)] == [108, 88]


def test_melody_too_wide_for_octave_transposition_is_an_error():
    with pytest.raises(LatentLabError, match="whole-octave"):
        melody_from_midi(make_pm([(0, 2, 15), (2, 4, 110)]))


def test_empty_midi_is_an_error():
    with pytest.raises(LatentLabError, match="no notes"):
        melody_from_midi(pretty_midi.PrettyMIDI())


def test_drum_only_midi_is_an_error():
    with pytest.raises(LatentLabError, match="only drums"):
        melody_from_midi(make_pm([(0, 2, 36), (2, 4, 38)], is_drum=True))


def test_corrupt_midi_is_an_error(tmp_path):
    bad = tmp_path / "bad.mid"
    bad.write_bytes(b"MThd\x00\x00\x00\x06\x00\x01\x00\x02\x01\xe0MTrk\xff\xff")
    with pytest.raises(LatentLabError, match="corrupt"):
        read_midi(bad)
    text = tmp_path / "notes.mid"
    text.write_text("not a midi file")
    with pytest.raises(LatentLabError, match="not a Standard MIDI File"):
        melody_from_midi(text)
    with pytest.raises(LatentLabError, match="no such MIDI file"):
        read_midi(tmp_path / "missing.mid")


def test_unquantisable_midi_is_an_error():
    # 40 notes 40 ms apart: free-running notes three times faster than the 16th grid (125 ms).
    pm = pretty_midi.PrettyMIDI(initial_tempo=120)
    inst = pretty_midi.Instrument(program=0)
    inst.notes = [pretty_midi.Note(100, 60 + i % 12, i * 0.04, i * 0.04 + 0.2) for i in range(40)]
    pm.instruments.append(inst)
    with pytest.raises(LatentLabError, match="cannot be quantised"):
        melody_from_midi(pm)


def test_strummed_chords_are_not_off_grid():
    # Chords whose notes are 5-15 ms apart (a human strum) on a clean 16th grid quantise fine.
    pm = pretty_midi.PrettyMIDI(initial_tempo=120)
    inst = pretty_midi.Instrument(program=24)
    for i in range(16):
        inst.notes += [pretty_midi.Note(90, 55 + k * 4 + i % 3, i * 0.25 + k * 0.007, i * 0.25 + 0.24) for k in range(3)]
    pm.instruments.append(inst)
    melody = melody_from_midi(pm)
    assert [s for s, _, _ in melody_notes(melody)] == [2 * i for i in range(16)]


def test_error_messages_are_one_line():
    try:
        melody_from_midi(pretty_midi.PrettyMIDI())
    except LatentLabError as e:
        assert "\n" not in str(e)


def test_invalid_melody_arrays_are_errors():
    with pytest.raises(LatentLabError, match="out of range"):
        melody_to_midi(np.array([0, 95]))
    with pytest.raises(LatentLabError, match="1-D"):
        melody_to_midi(np.zeros((2, 2), dtype=np.int64))


def test_pad_ends_the_sounding_note_with_a_rest():
    m = np.array([41, 0, 0, 0])
    padded = pad_melody(m, 8)
    assert padded.tolist() == [41, 0, 0, 0, 1, 0, 0, 0]
    assert pad_melody(np.array([41, 1, 0, 0]), 6).tolist() == [41, 1, 0, 0, 0, 0]


def test_transpose_refuses_to_leave_the_range():
    assert transpose_melody(np.array([2, 1, 89]), 0).tolist() == [2, 1, 89]
    assert transpose_melody(np.array([41, 1, 0]), 5).tolist() == [46, 1, 0]
    assert transpose_melody(np.array([2, 0]), -1) is None


def test_several_melodies_in_one_file():
    a, b = np.zeros(16, dtype=np.int64), np.zeros(16, dtype=np.int64)
    a[0], b[4] = 41, 50
    both = melody_from_midi(midi_to_bytes(melodies_to_midi([a, b])))
    expected = a.tolist() + b.tolist()
    expected[16] = NOTE_OFF  # a's note lasts to the end of a, where b's opening rest begins
    assert both.tolist() == expected


@st.composite
def melodies(draw):
    """Valid canonical melodies: NOTE_OFF only while a note sounds, at least one note, whole bars."""
    bars = draw(st.integers(1, 4))
    events = draw(st.lists(st.sampled_from(["hold", "off", "note"]), min_size=bars * 16, max_size=bars * 16))
    pitches = draw(st.lists(st.integers(FIRST_PITCH_CLASS, NUM_CLASSES - 1), min_size=bars * 16, max_size=bars * 16))
    out, sounding = [], False
    for kind, p in zip(events, pitches):
        if kind == "note":
            out.append(p)
            sounding = True
        elif kind == "off" and sounding:
            out.append(NOTE_OFF)
            sounding = False
        else:
            out.append(NO_EVENT)
    if not any(e >= FIRST_PITCH_CLASS for e in out):  # then every event is NO_EVENT
        out[0] = pitches[0]
    return np.array(out, dtype=np.int64)


@settings(max_examples=60, deadline=None)
@given(melodies())
def test_every_melody_round_trips_through_midi_bytes(melody):
    assert len(melody) % STEPS_PER_BAR == 0
    back = melody_from_midi(midi_to_bytes(melody_to_midi(melody)))
    assert back.tolist() == melody.tolist()


@settings(max_examples=40, deadline=None)
@given(st.binary(min_size=0, max_size=200), st.integers(0, 60))
def test_damaged_files_raise_only_latentlab_errors(tail, cut):
    """A real file cut short or with garbage appended, or random bytes after a header: a clear error or a melody."""
    good = midi_to_bytes(make_pm([(0, 4, 60), (4, 8, 62), (8, 16, 64)]))
    for data in (good[: len(good) - cut] + tail, b"MThd" + tail):
        try:
            melody = melody_from_midi(data)
        except LatentLabError as e:
            assert "\n" not in str(e)
        else:
            assert melody.ndim == 1 and len(melody) % STEPS_PER_BAR == 0
