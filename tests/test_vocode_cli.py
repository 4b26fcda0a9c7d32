"""``latentlab vocode`` / ``train vocode`` / ``bench vocode`` end to end, on a tiny corpus and checkpoint."""

import numpy as np
import pytest
import soundfile as sf

from engine.cli.main import main
from engine.ops.vocode import analyze
from helpers.audio import harmonic_note
from helpers.vocode import make_corpus


@pytest.fixture
def wav(tmp_path):
    path = tmp_path / "in.wav"
    sf.write(path, harmonic_note(330.0, 1.0, 1.0), 22050)
    return path


def test_list_names_every_vocoder(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("LATENTLAB_CHECKPOINTS", str(tmp_path))
    assert main(["vocode", "--list"]) == 0
    out = capsys.readouterr().out
    for name in ("griffinlim", "wavenet", "waveglow", "flowavenet", "melgan", "parallel_wavenet", "hifigan", "vocos"):
        assert name in out
    assert "ready" in out.splitlines()[0] and "not trained (latentlab train vocode melgan)" in out
    assert "learning curve" not in out
    # a vocoder that is not shipped but has a card (its learning curve) points to it
    (tmp_path / "waveglow").mkdir()
    (tmp_path / "waveglow" / "card.md").write_text("# waveglow vocoder\n")
    assert main(["vocode", "--list"]) == 0
    line = next(l for l in capsys.readouterr().out.splitlines() if l.startswith("waveglow"))
    assert "not trained" in line and f"its learning curve: {tmp_path / 'waveglow' / 'card.md'}" in line


def test_vocode_a_wav_with_griffinlim(tmp_path, wav, capsys):
    out = tmp_path / "out.wav"
    assert main(["vocode", str(wav), "--vocoder", "griffinlim", "--iterations", "8", "-o", str(out)]) == 0
    audio, rate = sf.read(out)
    assert rate == 22050 and len(audio) == (22050 // 256) * 256
    assert "MR-STFT distance" in capsys.readouterr().out


def test_vocode_a_mel_file(tmp_path, capsys):
    mel = tmp_path / "mel.npy"
    np.save(mel, analyze(harmonic_note(220.0, 0.5, 1.0)))
    out = tmp_path / "out.wav"
    assert main(["vocode", "--mel", str(mel), "--vocoder", "griffinlim", "--iterations", "4", "-o", str(out)]) == 0
    assert len(sf.read(out)[0]) == np.load(mel).shape[1] * 256


def test_bad_input_is_one_line_and_non_zero(tmp_path, wav, capsys):
    bad = tmp_path / "bad.npy"
    np.save(bad, np.zeros((10, 80), dtype=np.float32))
    assert main(["vocode", "--mel", str(bad), "--vocoder", "griffinlim", "-o", str(tmp_path / "o.wav")]) == 1
    assert main(["vocode", "--vocoder", "griffinlim", "-o", str(tmp_path / "o.wav")]) == 1
    assert main(["vocode", str(wav), "--vocoder", "griffinlim"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 3 and all(line.startswith("latentlab: error: ") for line in err)
    assert "transposed" in err[0]


def test_train_then_vocode_then_bench(tmp_path, wav, monkeypatch, capsys):
    """A tiny MelGAN trained through the CLI into $LATENTLAB_CHECKPOINTS, then used and benchmarked."""
    import engine.train.vocode_gan as gan
    from engine.models.vocoders.melgan import MelGANConfig

    monkeypatch.setenv("LATENTLAB_CHECKPOINTS", str(tmp_path / "ckpts"))
    monkeypatch.setattr(gan.MelGANTask, "segment", 2048)
    tiny = gan.MelGANTask.create.__func__

    monkeypatch.setattr(gan.MelGANTask, "create", classmethod(lambda cls, config=None: tiny(cls, MelGANConfig(channels=2))))
    corpus = make_corpus(tmp_path)
    assert main(["train", "vocode", "melgan", "--data", str(corpus), "--steps", "2", "--batch-size", "2",
                 "--run-dir", str(tmp_path / "run")]) == 0
    assert (tmp_path / "ckpts" / "melgan" / "model.safetensors").exists()
    assert main(["train", "vocoder", "melgan", "--data", str(corpus), "--run-dir", str(tmp_path / "run"),
                 "--export", "--out", str(tmp_path / "exported")]) == 0
    assert "--steps 2 " in (tmp_path / "exported" / "card.md").read_text()
    assert main(["train", "vocoder", "melgan", "--data", str(corpus), "--run-dir", str(tmp_path / "none"),
                 "--export", "--out", str(tmp_path / "exported")]) == 1
    out = tmp_path / "out.wav"
    assert main(["vocode", str(wav), "--vocoder", "melgan", "-o", str(out)]) == 0
    assert len(sf.read(out)[0]) == (22050 // 256) * 256
    capsys.readouterr()
    assert main(["bench", "vocode", "--data", str(corpus), "--clips", "1", "--seconds", "0.5", "--threads", "1",
                 "--vocoders", "griffinlim", "melgan", "hifigan"]) == 0
    table = capsys.readouterr().out
    assert "| melgan |" in table and "| hifigan | not trained |" in table and "Fastest neural vocoder" in table and "Better than Griffin-Lim on every one of" in table
    for _ in range(2):  # the card's bench section is replaced, not appended twice
        assert main(["bench", "vocoders", "--data", str(corpus), "--clips", "1", "--seconds", "0.5",
                     "--threads", "1", "--vocoders", "griffinlim", "melgan", "--card"]) == 0
    card = (tmp_path / "ckpts" / "melgan" / "card.md").read_text()
    assert card.count("<!-- bench vocode -->") == 1 and "| griffinlim | 0 |" in card and "| melgan |" in card
    assert "`latentlab bench vocode --data " in card
