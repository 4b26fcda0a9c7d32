"""Vocos and the speech corpus through the CLI: `data vocode --speech-minutes`, `bench vocode` with PESQ /
STOI, `train vocode vocos` resuming and starting from a checkpoint's weights."""

import dataclasses
import json
import shutil

import numpy as np
import pytest
import torch

from engine.cli.main import main
from engine.data.speech import is_speech, split_key
from engine.data.vocode import load_split
from engine.models.vocoders.vocos import Vocos, VocosConfig
from helpers.vocode import make_corpus

TINY = VocosConfig(dim=16, intermediate=32, layers=2)
needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")


@pytest.fixture(scope="module")
def speech_corpus(tmp_path_factory):
    out = tmp_path_factory.mktemp("speech") / "corpus"
    assert main(["data", "audio", "-o", str(out), "--no-corpus", "--speech-minutes", "0.6", "--seed", "1"]) == 0
    return out


@needs_espeak
def test_data_audio_adds_speech_split_by_paragraph(speech_corpus):
    manifest = json.loads((speech_corpus / "manifest.json").read_text())
    assert manifest["speech_train_minutes"] > 0 and manifest["speech_val_minutes"] > 0
    assert manifest["speech_voices"] > 0 and manifest["speech_engines"]
    _, _, train = load_split(speech_corpus, "train")
    _, _, val = load_split(speech_corpus, "val")
    assert all(is_speech(n) for n in train + val)
    assert not {split_key(n) for n in train} & {split_key(n) for n in val}  # no paragraph in both splits


def test_data_audio_without_any_voice_says_what_to_install(tmp_path, monkeypatch, capsys):
    import engine.data.speech as speech

    monkeypatch.setattr(speech.shutil, "which", lambda name: None)
    assert main(["data", "audio", "-o", str(tmp_path / "c"), "--no-corpus", "--speech-minutes", "1"]) == 1
    err = capsys.readouterr().err
    assert "apt-get install espeak-ng" in err and not (tmp_path / "c").exists()


@needs_espeak
def test_bench_scores_speech_with_pesq_and_stoi(speech_corpus, capsys):
    assert main(["bench", "vocoders", "--data", str(speech_corpus), "--clips", "1", "--speech-clips", "2",
                 "--seconds", "2", "--threads", "1", "--vocoders", "griffinlim", "--json"]) == 0
    row = json.loads(capsys.readouterr().out)[0]
    assert 1.0 < row["pesq"] <= 4.65 and 0.5 < row["stoi"] <= 1.0, row
    assert row["mr_stft"] is None  # a speech-only corpus has no music to score


def test_train_vocos_resumes_and_starts_from_a_checkpoint(tmp_path, monkeypatch):
    import engine.train.vocode_vocos as recipe

    monkeypatch.setenv("LATENTLAB_CHECKPOINTS", str(tmp_path / "ckpts"))
    monkeypatch.setattr(recipe.VocosTask, "segment", 2048)
    corpus = make_corpus(tmp_path)
    torch.manual_seed(0)
    start = Vocos(TINY)
    start.save(tmp_path / "start", card="# start\n")
    args = ["train", "vocoder", "vocos", "--data", str(corpus), "--batch-size", "2", "--init", str(tmp_path / "start")]
    # zero steps: the exported weights are the checkpoint's, and its shape (not the default one) is used
    assert main(args + ["--steps", "0", "--run-dir", str(tmp_path / "run0"), "--out", str(tmp_path / "zero")]) == 0
    zero = Vocos.from_checkpoint(tmp_path / "zero")
    assert zero.config == TINY
    assert all(torch.equal(a, b) for a, b in zip(zero.state_dict().values(), start.state_dict().values()))
    # two steps, then two more: the second command resumes the run at step 2
    run = ["--run-dir", str(tmp_path / "run"), "--out", str(tmp_path / "trained")]
    assert main(args + ["--steps", "2"] + run) == 0
    assert main(args + ["--steps", "4"] + run) == 0
    log = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log if "loss" in r] == [2, 4]
    trained = Vocos.from_checkpoint(tmp_path / "trained")
    assert not all(torch.equal(a, b) for a, b in zip(trained.state_dict().values(), start.state_dict().values()))
    audio = trained.infer(torch.randn(1, 80, 4) - 5)
    assert list(audio.shape) == [1, 1024] and bool(np.isfinite(audio.numpy()).all())


def test_train_vocos_config_sets_a_new_runs_shape_and_the_run_keeps_it(tmp_path, monkeypatch):
    import engine.train.vocode_vocos as recipe

    monkeypatch.setattr(recipe.VocosTask, "segment", 2048)
    corpus = make_corpus(tmp_path)
    shape = json.dumps({**dataclasses.asdict(TINY), "phase_demod": True})
    run = ["--run-dir", str(tmp_path / "run"), "--out", str(tmp_path / "out"), "--batch-size", "2"]
    assert main(["train", "vocode", "vocos", "--data", str(corpus), "--steps", "1", "--config", shape] + run) == 0
    assert Vocos.from_checkpoint(tmp_path / "out").config == dataclasses.replace(TINY, phase_demod=True)
    # resumed without --config: the stored shape, not the default one
    assert main(["train", "vocode", "vocos", "--data", str(corpus), "--steps", "2"] + run) == 0
    assert Vocos.from_checkpoint(tmp_path / "out").config.phase_demod
    # a different shape for the same run, or bad JSON: one line, nothing trained
    assert main(["train", "vocode", "vocos", "--data", str(corpus), "--steps", "3", "--config", "{}"] + run) != 0
    fresh = ["--run-dir", str(tmp_path / "fresh"), "--out", str(tmp_path / "fresh_out")]
    assert main(["train", "vocode", "vocos", "--data", str(corpus), "--steps", "1", "--config", "[1]"] + fresh) != 0
    assert not (tmp_path / "fresh_out").exists()


def test_vocode_defaults_to_vocos_once_its_checkpoint_is_installed(tmp_path, monkeypatch, capsys):
    import soundfile as sf

    from engine.ops.vocode import default_vocoder
    from helpers.vocode import harmonic_note

    monkeypatch.setenv("LATENTLAB_CHECKPOINTS", str(tmp_path / "ckpts"))
    assert default_vocoder() == "griffinlim"  # nothing installed: the one that needs no weights
    wav = tmp_path / "in.wav"
    sf.write(wav, harmonic_note(330.0, 0.5, 1.0), 22050)
    Vocos(TINY).save(tmp_path / "ckpts" / "vocos", card="# vocos\n")
    assert default_vocoder() == "vocos"
    assert main(["vocode", str(wav), "-o", str(tmp_path / "out.wav")]) == 0
    assert "by vocos" in capsys.readouterr().out


@needs_espeak
def test_bench_swap_tells_phase_from_magnitude(speech_corpus, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("LATENTLAB_CHECKPOINTS", str(tmp_path / "ckpts"))
    torch.manual_seed(0)
    Vocos(TINY).save(tmp_path / "ckpts" / "vocos", card="# untrained\n")
    assert main(["bench", "vocode", "--data", str(speech_corpus), "--speech-clips", "2", "--seconds", "2",
                 "--threads", "1", "--swap", "vocos", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    # the mel's own magnitude with the true phase is near-transparent; an untrained model's phase is not
    assert rows["mel pseudo-inverse + true phase"]["pesq"] > 3.5
    assert rows["true magnitude + model phase"]["pesq"] < rows["mel pseudo-inverse + true phase"]["pesq"] - 1.0
    assert set(rows) == {"model", "model magnitude + true phase", "true magnitude + model phase",
                         "mel pseudo-inverse + true phase", "griffin-lim on the true magnitude",
                         "griffin-lim on the model magnitude", "griffin-lim from the model phase"}
    assert main(["bench", "vocode", "--data", str(speech_corpus), "--swap", "griffinlim"]) == 1
    assert "predicts a spectrum" in capsys.readouterr().err
