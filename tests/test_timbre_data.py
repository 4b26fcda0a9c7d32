"""NSynth-format data: the FluidSynth renderer and the loader (on our layout and on the real NSynth one)."""

import json

import numpy as np
import pytest
import soundfile as sf
import torch

from engine.cli.main import main
from engine.cli.timbre import parse_pitches
from engine.core.audio import mulaw_encode
from engine.core.errors import LatentLabError
from engine.core.render import fluidsynth_available
from engine.data.timbre import FIELDS, NOTE_SAMPLES, NoteWindows, read_examples, split_dir


@pytest.mark.skipif(not fluidsynth_available(), reason="FluidSynth or the FluidR3_GM soundfont is not installed")
def test_data_notes_renders_the_nsynth_layout(tmp_path):
    out = tmp_path / "notes"
    assert main(["data", "timbre", "-o", str(out), "--programs", "0", "40", "--pitches", "60", "62",
                 "--velocities", "50", "127"]) == 0
    train, valid = read_examples(out / "nsynth-train"), read_examples(out / "nsynth-valid")
    assert len(train) + len(valid) == 2 * 2 * 2
    for split, examples in (("train", train), ("valid", valid)):
        for name, record in examples.items():
            assert list(record) == list(FIELDS)
            assert record["note_str"] == name and record["sample_rate"] == 16000
            assert record["instrument_source_str"] == "synthetic"
            audio, rate = sf.read(out / f"nsynth-{split}" / "audio" / f"{name}.wav")
            assert rate == 16000 and audio.shape == (NOTE_SAMPLES,)
            # held 3 s then released: the last half second is much quieter than the held part
            assert np.sqrt(np.mean(audio[-8000:] ** 2)) < 0.5 * np.sqrt(np.mean(audio[8000:24000] ** 2))
    families = {r["instrument_family_str"] for r in train.values()}
    assert families == {"keyboard", "string"}
    # validation pitches are ones the same instrument never played in training
    seen = {(r["instrument_str"], r["pitch"]) for r in train.values()}
    assert valid and all((r["instrument_str"], r["pitch"]) not in seen for r in valid.values())
    # one fixed gain per instrument: velocity keeps its loudness, the loudest note peaks at 0.9
    for inst in ("keyboard_synthetic_000", "string_synthetic_040"):
        peaks = {}
        for split, examples in (("train", train), ("valid", valid)):
            for name, r in examples.items():
                if r["instrument_str"] == inst:
                    audio, _ = sf.read(out / f"nsynth-{split}" / "audio" / f"{name}.wav")
                    peaks[(r["pitch"], r["velocity"])] = np.abs(audio).max()
        assert max(peaks.values()) == pytest.approx(0.9, abs=1e-3)
        assert all(peaks[(p, 50)] < 0.5 * peaks[(p, 127)] for p in (60, 62))


def test_data_notes_refuses_bad_values(capsys):
    assert main(["data", "notes", "-o", "/tmp/unused-notes", "--programs", "0", "--pitches", "200"]) == 1
    assert "not a MIDI pitch" in capsys.readouterr().err
    with pytest.raises(LatentLabError):
        parse_pitches(["sixty"])
    assert parse_pitches(["48", "70-80:5"]) == [48, 70, 75, 80]


def _write_real_nsynth(folder, rate=16000):
    """A tiny folder in the layout of the NSynth download (nsynth-valid/examples.json + audio/)."""
    split = folder / "nsynth-valid"
    (split / "audio").mkdir(parents=True)
    examples = {}
    for i, (name, pitch) in enumerate([("bass_electronic_018-022-100", 22), ("guitar_acoustic_010-060-075", 60),
                                        ("vocal_synthetic_003-071-127", 71)]):
        t = np.arange(int(4 * rate)) / rate
        audio = 0.5 * np.sin(2 * np.pi * 440 * 2 ** ((pitch - 69) / 12) * t) * np.exp(-t)
        sf.write(split / "audio" / f"{name}.wav", audio, rate, subtype="PCM_16")
        family = name.split("_")[0]
        examples[name] = {
            "note": 1000 + i, "note_str": name, "instrument": i, "instrument_str": name.split("-")[0],
            "pitch": pitch, "velocity": int(name[-3:]), "sample_rate": rate, "qualities": [0] * 10,
            "qualities_str": [], "instrument_family": 0, "instrument_family_str": family,
            "instrument_source": 1, "instrument_source_str": name.split("_")[1],
        }
    (split / "examples.json").write_text(json.dumps(examples))
    return split, examples


def test_loader_reads_the_real_nsynth_layout(tmp_path):
    split, examples = _write_real_nsynth(tmp_path)
    windows = NoteWindows(tmp_path, "valid", window=1024, stride=4096)
    names = sorted(examples)
    assert len(windows) == 3 * ((NOTE_SAMPLES - 1024) // 4096 + 1)
    i = 2 * 3 + 1  # note 1, third window
    item = windows[i]
    assert item["audio"].shape == (1024,) and item["audio"].dtype == torch.int64
    assert int(item["pitch"]) == examples[names[1]]["pitch"]
    audio, _ = sf.read(split / "audio" / f"{names[1]}.wav", dtype="float32")
    assert torch.equal(item["audio"], mulaw_encode(torch.from_numpy(audio[2 * 4096 : 2 * 4096 + 1024])))
    # the split folder itself works too
    assert split_dir(split, "train") == split and len(NoteWindows(split, "train", window=1024)) > 0


def test_loader_resamples_other_rates_and_reports_missing_files(tmp_path):
    split, examples = _write_real_nsynth(tmp_path, rate=22050)
    item = NoteWindows(split, window=2048)[0]
    assert item["audio"].shape == (2048,) and 0 <= int(item["audio"].min()) <= int(item["audio"].max()) <= 255
    (split / "audio" / f"{sorted(examples)[0]}.wav").unlink()
    with pytest.raises(LatentLabError, match="missing audio|cannot read"):
        NoteWindows(split, window=2048)[0]
    with pytest.raises(LatentLabError, match="no examples.json"):
        NoteWindows(tmp_path / "nsynth-valid" / "audio")
