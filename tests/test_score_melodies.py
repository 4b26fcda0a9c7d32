"""Melodies of music21 scores by Magenta's rules (engine/data/score_melodies.py) and the corpus reader.

Scores are written here as ABC text or built with music21; two checks read the small corpus files music21
ships (nottingham-dataset/reelsa-c.abc, one O'Neill's book).
"""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest
from music21 import chord, converter, meter, note, stream

from engine.cli.main import main
from engine.core.errors import LatentLabError
from engine.core.midi import NO_EVENT, NOTE_OFF, pitch_to_class
from engine.data.melody import (
    DUPLE_BAR_STEPS,
    _corpus_files,
    build_melody_data,
    corpus_tunes,
    load_tunes,
    split_group,
)
from engine.data.score_melodies import parse_file, score_melodies


def events(*pairs, length):
    """Expected melody: (step, pitch) onsets, (step, 'off') note-offs, NO_EVENT elsewhere."""
    m = np.full(length, NO_EVENT, dtype=np.int64)
    for step, what in pairs:
        m[step] = NOTE_OFF if what == "off" else pitch_to_class(what)
    return m


def abc(body: str, meter_text: str = "2/4") -> stream.Score:
    return converter.parse(f"X:1\nT:t\nM:{meter_text}\nL:1/8\nK:C\n{body}\n", format="abc")


def part_score(bars: list[list], time_signature: str | None = "4/4", parts: int = 1) -> stream.Score:
    """A score whose top part holds ``bars`` (lists of (quarter length, pitch | list of pitches | None))."""
    score = stream.Score()
    for index in range(parts):
        part = stream.Part()
        for number, bar in enumerate(bars, start=1):
            m = stream.Measure(number=number)
            if number == 1 and time_signature:
                m.insert(0, meter.TimeSignature(time_signature))
            for length, pitch in bar if index == 0 else [(4.0, 100)]:
                if pitch is None:
                    m.append(note.Rest(quarterLength=length))
                elif isinstance(pitch, list):
                    m.append(chord.Chord(pitch, quarterLength=length))
                else:
                    m.append(note.Note(pitch, quarterLength=length))
            part.append(m)
        score.insert(0, part)
    return score


def test_pickups_stay_on_the_bar_grid():
    """The opening pickup ends on the first bar line, and so does a strain's pickup after a full bar."""
    (melody,) = score_melodies(abc("G|c2 e2|g4|c2 e2|g4||\nG|c2 d2|e4|c2 d2|e4|]"), DUPLE_BAR_STEPS)
    expected = events(
        (6, 67), (8, 72), (12, 76), (16, 79), (24, 72), (28, 76), (32, 79), (40, "off"),
        (46, 67), (48, 72), (52, 74), (56, 76), (64, 72), (68, 74), (72, 76), length=80,
    )
    np.testing.assert_array_equal(melody.melody, expected)


def test_a_pickup_bar_with_its_own_time_signature_does_not_drop_the_tune():
    """music21 gives some mid-tune pickups their own meter (1/16 here): both strains are kept."""
    from music21 import corpus

    book = parse_file(f"{corpus.__path__[0]}/oneills1850/0001-0050.abc")
    score = book.scores[0]
    assert "1/16" in [ts.ratioString for ts in score.recurse().getElementsByClass(meter.TimeSignature)]
    melodies = score_melodies(score, DUPLE_BAR_STEPS)
    assert [m.piece for m in melodies] == [0, 1] and all(len(m.melody) >= 64 for m in melodies)


def test_the_top_part_gives_the_melody_and_a_bar_of_silence_splits_it():
    bars = [[(1.0, [60, 64, 67]), (1.0, 65), (2.0, 64)], [(4.0, None)], [(4.0, None)], [(2.0, 62), (2.0, 60)]]
    score = part_score(bars, parts=2)  # the second part holds a high note everywhere: it is not read
    first, second = score_melodies(score)
    np.testing.assert_array_equal(first.melody, events((0, 67), (4, 65), (8, 64), length=16))
    assert second.start_step == 48
    np.testing.assert_array_equal(second.melody, events((0, 62), (8, 60), length=16))


def test_meters():
    tune = [[(1.0, 60), (1.0, 62), (1.0, 64), (1.0, 65)]] * 2
    assert score_melodies(part_score(tune, "6/8"), DUPLE_BAR_STEPS) == []
    assert score_melodies(part_score(tune, None), DUPLE_BAR_STEPS) == []  # no meter (note_seq would say 4/4)
    assert len(score_melodies(part_score(tune, "4/2"), DUPLE_BAR_STEPS)[0].melody) == 32
    assert score_melodies(part_score(tune, "2/4")) == []  # by default 16-step bars only, as MusicVAE
    # In 2/4 a bar of silence is still 16 steps: a 2/4 bar of rest does not split the tune.
    (melody,) = score_melodies(abc("c2 d2|e4|z4|c2 d2|e4|]"), DUPLE_BAR_STEPS)
    assert len(melody.melody) == 48


def test_parsing_reads_and_writes_no_pickle(tmp_path, monkeypatch):
    import music21.converter
    import music21.freezeThaw

    def refuse(*args, **kwargs):
        raise AssertionError("a music21 pickle was read or written")

    monkeypatch.setattr(music21.freezeThaw.StreamFreezer, "write", refuse)
    monkeypatch.setattr(music21.converter, "thaw", refuse)
    path = tmp_path / "tune.abc"
    path.write_text("X:1\nT:t\nM:4/4\nL:1/4\nK:C\nCDEF|GABc|]\n", encoding="utf-8")
    for _ in range(2):
        assert len(score_melodies(parse_file(path))) == 1
    bad = tmp_path / "bad.xml"
    bad.write_text("<score-partwise><part", encoding="utf-8")
    with pytest.raises(LatentLabError, match="cannot parse"):
        parse_file(bad)


def test_corpus_files_take_one_format_per_piece():
    names = [p.name for p in _corpus_files("bach")]
    assert "bwv277.mxl" in names and "bwv277.krn" not in names


def test_corpus_tunes_are_named_by_score_and_split_with_it(tmp_path, capsys):
    skipped = Counter()
    tunes = list(corpus_tunes("nottingham-dataset", skipped=skipped))
    assert skipped == {"kept": 2} and len(tunes) == 2
    assert [split_group(t.name) for t in tunes] == ["nottingham-dataset/reelsa-c.abc#0", "nottingham-dataset/reelsa-c.abc#1"]
    counts = build_melody_data(tmp_path / "d", corpus=["nottingham"], progress=False)
    summary = json.loads((tmp_path / "d" / "summary.json").read_text())
    assert summary["extraction"]["nottingham"]["tunes"] == 2 and counts["mel_2bar"]["train"] > 0
    build_melody_data(tmp_path / "d", reuse_tunes=True, progress=False)
    assert json.loads((tmp_path / "d" / "summary.json").read_text())["extraction"] == summary["extraction"]
    assert len(load_tunes(tmp_path / "d" / "tunes.npz")[0]) == 2
    assert main(["data", "melody", "--corpus", "nosuch", "--out", str(tmp_path / "e")]) == 1
    err = capsys.readouterr().err.strip()
    assert "unknown corpus nosuch" in err and len(err.splitlines()) == 1


def test_parallel_parsing_gives_the_same_tunes_in_the_same_order():
    one, two = Counter(), Counter()
    serial = list(corpus_tunes("miscFolk", limit=40, skipped=one))
    parallel = list(corpus_tunes("miscFolk", limit=40, skipped=two, jobs=2))
    assert len(serial) == 40 and [t.name for t in parallel] == [t.name for t in serial]
    assert all(np.array_equal(a.melody, b.melody) for a, b in zip(serial, parallel))
    assert two == one and one["kept"] > 0


def test_recut_keeps_only_the_chosen_collections(tmp_path, capsys):
    build_melody_data(tmp_path / "d", corpus=["nottingham", "miscfolk"], limit=3, progress=False)
    tunes, _ = load_tunes(tmp_path / "d" / "tunes.npz")
    assert {t.source for t in tunes} == {"nottingham-dataset", "miscFolk"}
    assert main(["data", "melody", "--out", str(tmp_path / "e"), "--reuse-tunes", str(tmp_path / "d" / "tunes.npz"),
                 "--corpus", "all,-miscfolk"]) == 0
    kept, command = load_tunes(tmp_path / "e" / "tunes.npz")
    assert {t.source for t in kept} == {"nottingham-dataset"} and "re-cut from --corpus" in command
    windows = np.load(tmp_path / "e" / "mel_2bar.npz")
    assert windows["train_tune"].max() < len(kept)  # the windows' tune indices refer to the re-cut file
    summary = json.loads((tmp_path / "e" / "summary.json").read_text())
    assert summary["extraction"]["miscfolk"]["tunes"] > 0  # the parse's figures come along
    assert main(["data", "melody", "--out", str(tmp_path / "f"), "--reuse-tunes", str(tmp_path / "d" / "tunes.npz"),
                 "--corpus", "all,-nosuch"]) == 1
    assert "unknown corpus nosuch" in capsys.readouterr().err
