"""`latentlab translate` end to end on a tiny checkpoint, the operations behind it, and its errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf
import torch

from engine.cli.main import main
from engine.models.translator import Translator, sized_config
from engine.ops import translate as ops
from engine.train.translate import export


@pytest.fixture
def shipped(tmp_path, monkeypatch):
    """A tiny untrained translator installed as the shipped "translate" checkpoint."""
    root = tmp_path / "checkpoints"
    torch.manual_seed(0)
    export(Translator(sized_config("tiny", ("sine", "saw"))), root / "translate", {"step": 0})
    monkeypatch.setenv("LATENTLAB_CHECKPOINTS", str(root))
    return root


def _clip(path, seconds: float, rate: int = 44100, channels: int = 2):
    t = np.arange(int(seconds * rate)) / rate
    wave = 0.5 * np.sin(2 * np.pi * 330 * t)
    sf.write(str(path), np.stack([wave] * channels, 1) if channels > 1 else wave, rate)
    return path


def test_translate_any_format_to_16k(shipped, tmp_path, capsys):
    src = _clip(tmp_path / "in.flac", 0.4)
    out = tmp_path / "out.wav"
    assert main(["translate", str(src), "--to", "saw", "-o", str(out)]) == 0
    audio, rate = sf.read(str(out))
    assert rate == 16000 and audio.ndim == 1 and len(audio) == int(0.4 * 16000)
    assert np.abs(audio).max() > 0.1


def test_several_targets_write_one_file_each(shipped, tmp_path):
    src = _clip(tmp_path / "in.wav", 0.3, rate=16000, channels=1)
    assert main(["translate", str(src), "--to", "sine,saw", "-o", str(tmp_path / "out.wav")]) == 0
    a, _ = sf.read(str(tmp_path / "out-sine.wav"))
    b, _ = sf.read(str(tmp_path / "out-saw.wav"))
    assert len(a) == len(b) == 4800 and not np.allclose(a, b)


def test_list_domains(shipped, capsys):
    assert main(["translate", "--list-domains"]) == 0
    assert capsys.readouterr().out.split() == ["sine", "saw"]


def test_same_seed_same_audio_and_progress(shipped):
    audio = np.sin(np.arange(3000) / 10).astype(np.float32) * 0.5
    seen = []
    a = ops.translate(audio, "saw", seed=3, progress=lambda f, m: seen.append(f))["saw"]
    b = ops.translate(audio, ["saw"], seed=3)["saw"]
    assert np.array_equal(a, b) and seen[-1] == 1.0 and seen == sorted(seen)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--to", "kazoo"], "unknown domain 'kazoo'"),
        ([], "usage: latentlab translate"),
        (["--to", "saw", "--long"], "limit is 10 s"),
        (["--to", "saw", "--missing"], "no such audio file"),
    ],
)
def test_bad_input_is_a_one_line_error(shipped, tmp_path, capsys, args, message):
    src = _clip(tmp_path / "in.wav", 0.3)
    if "--long" in args:
        src = _clip(tmp_path / "long.wav", ops.MAX_SECONDS + 1, rate=8000, channels=1)
    if "--missing" in args:
        src = tmp_path / "nope.wav"
    args = [a for a in args if a not in ("--long", "--missing")]
    assert main(["translate", str(src), *args, "-o", str(tmp_path / "o.wav")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("latentlab: error: ") and message in err[0], err


def test_no_model_installed_says_so(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("LATENTLAB_CHECKPOINTS", str(tmp_path / "empty"))
    assert not ops.model_available()
    assert main(["translate", "--list-domains"]) == 1
    assert "no checkpoint named 'translate'" in capsys.readouterr().err


def test_silent_clip_is_refused(shipped, tmp_path, capsys):
    src = tmp_path / "silent.wav"
    sf.write(str(src), np.zeros(8000), 16000)
    assert main(["translate", str(src), "--to", "saw", "-o", str(tmp_path / "o.wav")]) == 1
    assert "silent" in capsys.readouterr().err


def test_parallel_chunks_cover_the_clip_and_cross_fade_to_unity():
    length = 50_000
    spans = ops._chunks(length, 4)
    assert spans[0][0] == 0 and spans[-1][1] == length
    for (a0, b0), (a1, b1) in zip(spans, spans[1:]):
        assert b0 - a1 == ops.FADE  # neighbours share exactly the cross-fade
    joined = ops._join([np.ones(b - a, dtype=np.float32) for a, b in spans], spans, length)
    assert np.allclose(joined, 1.0)


def test_streams_do_not_change_the_length(shipped):
    audio = (0.5 * np.sin(np.arange(20_000) / 9)).astype(np.float32)
    one = ops.translate(audio, "sine", streams=1)["sine"]
    three = ops.translate(audio, "sine", streams=3)["sine"]
    assert one.shape == three.shape == (20_000,)


@pytest.fixture
def frames_shipped(tmp_path, monkeypatch):
    """A tiny untrained frame translator installed as the shipped "translate" checkpoint."""
    from engine.models.frame_translator import FrameTranslator
    from engine.models.frame_translator import sized_config as frame_config
    from engine.train.translate_frames import export as export_frames

    root = tmp_path / "checkpoints"
    torch.manual_seed(0)
    export_frames(FrameTranslator(frame_config("tiny", ("sine", "saw"))), root / "translate", {"step": 0})
    monkeypatch.setenv("LATENTLAB_CHECKPOINTS", str(root))
    return root


def test_frame_translator_end_to_end_at_22k(frames_shipped, tmp_path):
    src = _clip(tmp_path / "in.ogg", 0.5, rate=44100)
    out = tmp_path / "out.wav"
    assert main(["translate", str(src), "--to", "saw,sine", "--vocoder", "griffinlim", "-o", str(out)]) == 0
    for name in ("saw", "sine"):
        audio, rate = sf.read(str(tmp_path / f"out-{name}.wav"))
        assert rate == 22050 and len(audio) == int(0.5 * 22050) and np.abs(audio).max() > 0.1
    long = _clip(tmp_path / "long.wav", ops.MAX_FAST_SECONDS + 1, rate=8000, channels=1)
    assert main(["translate", str(long), "--to", "saw", "-o", str(out)]) == 1
    assert main(["translate", str(src), "--to", "saw", "--vocoder", "kazoo", "-o", str(out)]) == 1


def test_train_translate_frames_from_the_cli(tmp_path):
    from helpers.translate import make_clips

    data = make_clips(tmp_path / "clips", rate=22050, pieces=3, seconds=1.5)
    out = tmp_path / "model"
    assert main(["train", "translate", "--data", str(data), "--size", "tiny", "--steps", "6", "--run-dir",
                 str(tmp_path / "run"), "--out", str(out), "--quiet"]) == 0
    config = json.loads((out / "config.json").read_text())
    assert config["arch"] == "umt_frames" and config["config"]["domains"] == ["sine", "saw"]
    card = (out / "card.md").read_text()
    assert "paired" in card and "gradient reversal" in card
