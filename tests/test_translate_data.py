"""The translation data: `latentlab data translate`, the split by piece, the segment loader, pitch augmentation."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf
import torch

from engine.cli.main import main
from engine.core.errors import LatentLabError
from engine.core.render import fluidsynth_available
from engine.data import translate as translate_data
from engine.data.translate import ClipSegments, augment_margin, collate_groups, parse_domains, shift_part, split_of

from helpers.translate import make_clips

TUNE = "X:1\nT:scale\nM:4/4\nL:1/8\nK:C\nCDEF GABc|cBAG FEDC|E2G2 c2G2|C8|\n"


def _tiny_sources(monkeypatch):
    from music21 import converter

    score = converter.parse(TUNE, format="abc")
    parts = translate_data._score_notes(score)
    low = [[(s, e, p - 12) for s, e, p in parts[0]]]
    monkeypatch.setattr(translate_data, "folk_tunes", lambda limit: iter([(f"folk-t{i}", "abc", parts) for i in range(limit)]))
    monkeypatch.setattr(translate_data, "chorales", lambda limit: iter([(f"chorale-c{i}", "bach", parts + low) for i in range(limit)]))


@pytest.mark.skipif(not fluidsynth_available(), reason="FluidSynth and FluidR3_GM are not installed")
def test_data_clips_renders_every_piece_on_every_domain(tmp_path, monkeypatch):
    _tiny_sources(monkeypatch)
    out = tmp_path / "clips"
    rc = main(["data", "translate", "-o", str(out), "--domains", "piano,flute", "--tunes", "2", "--chorales", "1",
               "--max-seconds", "2", "--val-fraction", "0.75"])
    assert rc == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["sample_rate"] == 22050 and manifest["domains"] == {"piano": 0, "flute": 73}
    assert [p["kind"] for p in manifest["pieces"]] == ["mono", "mono", "poly"]
    assert {p["split"] for p in manifest["pieces"]} == {"train", "validation"}
    for piece in manifest["pieces"]:
        assert piece["split"] == split_of(piece["id"], 0.75)
        waves = {}
        for domain in ("piano", "flute"):
            audio, rate = sf.read(str(out / domain / f"{piece['id']}.wav"))
            assert rate == 22050 and np.abs(audio).max() > 0.1
            waves[domain] = audio
        assert len(waves["piano"]) == len(waves["flute"]) == pytest.approx(piece["seconds"] * 22050, abs=1)
        assert not np.allclose(waves["piano"], waves["flute"], atol=0.05)  # same music, different sound
    # the WaveNet translator's rate, and a second rate into the same folder is refused
    rc = main(["data", "clips", "-o", str(tmp_path / "clips16"), "--domains", "piano", "--tunes", "1", "--chorales", "0",
               "--max-seconds", "1", "--sample-rate", "16000"])
    assert rc == 0 and json.loads((tmp_path / "clips16" / "manifest.json").read_text())["sample_rate"] == 16000
    assert sf.info(str(next((tmp_path / "clips16" / "piano").glob("*.wav")))).samplerate == 16000
    with pytest.raises(LatentLabError, match="holds renders at 22050 Hz"):
        translate_data.build_translate_data(out, {"oboe": 68}, tunes=1, n_chorales=0, sample_rate=16000, progress=False)


def test_split_is_by_piece_and_stable():
    ids = [f"piece{i}" for i in range(200)]
    splits = [split_of(i, 0.1) for i in ids]
    assert splits == [split_of(i, 0.1) for i in ids]
    assert 5 <= splits.count("validation") <= 40


def test_parse_domains():
    assert parse_domains("Piano, oboe=68") == {"piano": 0, "oboe": 68}
    assert list(parse_domains(None)) == ["piano", "violin", "cello", "flute", "trumpet", "guitar", "clarinet", "organ"]
    for bad in ("kazoo", "x=200", "a b"):
        with pytest.raises(LatentLabError):
            parse_domains(bad)


def _frequency(x: np.ndarray, rate: int = 16000) -> float:
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x)), 16 * len(x)))
    return float(np.argmax(spectrum)) * rate / (16 * len(x))


def test_pitch_augmentation_shifts_only_the_chosen_part():
    length, start, part, semitones = 8000, 3000, 3000, 0.5
    t = np.arange(length + augment_margin(length)) / 16000
    source = np.sin(2 * np.pi * 440.0 * t).astype(np.float32)
    out = shift_part(source, length, start, part, semitones)
    assert out.shape == (length,) and out.dtype == np.float32
    taken = int(round(part * 2 ** (semitones / 12)))
    assert np.array_equal(out[:start], source[:start])  # before the part: untouched
    assert np.array_equal(out[start + part :], source[start + taken : start + taken + length - start - part])  # after: the music goes on
    inside = _frequency(out[start + 200 : start + part - 200])
    assert inside == pytest.approx(440.0 * 2 ** (semitones / 12), rel=0.003)
    assert _frequency(out[: start - 100]) == pytest.approx(440.0, rel=0.003)
    down = shift_part(source, length, start, part, -semitones)
    assert _frequency(down[start + 200 : start + part - 200]) == pytest.approx(440.0 * 2 ** (-semitones / 12), rel=0.003)


def test_segments_are_one_per_domain_augmented_and_reproducible(tmp_path):
    data = make_clips(tmp_path / "clips")
    train = ClipSegments(data, "train", 1600, seed=3)
    item = train[7]
    assert list(item["audio"].shape) == [2, 1600] and item["domain"].tolist() == [0, 1]
    assert torch.equal(train[7]["audio"], item["audio"])  # a pure function of the index
    assert not torch.equal(train[8]["audio"], item["audio"])
    plain = ClipSegments(data, "train", 1600, augment=False, seed=3)
    assert not torch.equal(plain[7]["audio"], item["audio"])  # augmentation changed something
    batch = collate_groups([train[0], train[1], train[2]])
    assert list(batch["audio"].shape) == [6, 1600] and batch["domain"].tolist() == [0, 1, 0, 1, 0, 1]


def test_loader_errors_are_clear(tmp_path):
    with pytest.raises(LatentLabError, match="latentlab data translate"):
        ClipSegments(tmp_path, "train", 800)
    data = make_clips(tmp_path / "clips")
    with pytest.raises(LatentLabError, match="no domain 'flute'"):
        ClipSegments(data, "train", 800, domains=["flute"])
