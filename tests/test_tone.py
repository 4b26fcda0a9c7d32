"""Monophonic tone transfer (the "tone" engine of `latentlab translate`): pitch kept, loudness matched, the
target's embedding from its notes, chunks cross-faded, and the CLI."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
import torch

from engine.cli.main import main
from engine.core.checkpoint import checkpoint_root, clear_cache, save_checkpoint
from engine.core.errors import LatentLabError
from engine.models.ddsp import DDSPAutoencoder, DDSPConfig
from engine.ops import timbre, tone
from engine.ops import translate as ops

RATE = tone.SAMPLE_RATE
TINY = DDSPConfig(encoder_channels=8, encoder_layers=1, hidden=16, gru=16, n_harmonics=8, noise_bands=8,
                  reverb_seconds=0.0)


def tiny_ddsp() -> DDSPAutoencoder:
    """A tiny DDSP model whose decoder ignores its inputs and plays mostly the fundamental (weights zeroed)."""
    torch.manual_seed(0)
    model = DDSPAutoencoder(TINY)
    with torch.no_grad():
        model.decoder.out.weight.zero_()
        bias = model.decoder.out.bias
        bias.fill_(-10.0)  # no noise
        bias[0] = 2.0  # overall amplitude
        bias[1 : 1 + TINY.n_harmonics] = torch.linspace(3.0, -3.0, TINY.n_harmonics)  # falling harmonics
    return model.eval()


@pytest.fixture
def installed(tmp_path, monkeypatch):
    """The tiny DDSP model installed as timbre_ddsp; the bundled notes as the targets' notes."""
    root = tmp_path / "checkpoints"
    model = tiny_ddsp()
    save_checkpoint(root / "timbre_ddsp", kind="timbre", arch=timbre.DDSP_ARCH, config=TINY,
                    tensors=model.state_dict(), card="# tiny test model\n")
    monkeypatch.setenv("LATENTLAB_CHECKPOINTS", str(root))
    monkeypatch.setattr(tone, "NOTE_FOLDERS", (timbre.EXAMPLES_DIR,))
    clear_cache()
    yield root
    clear_cache()


def melody(seconds: float = 2.0, pitches=(57, 64)) -> np.ndarray:
    """A tone the test makes: equal-length notes at ``pitches`` (MIDI), two harmonics, short fades."""
    t = np.arange(int(seconds * RATE)) / RATE
    f = 440.0 * 2 ** ((np.asarray(pitches)[np.minimum(len(pitches) - 1, (t / seconds * len(pitches)).astype(int))] - 69) / 12)
    phase = 2 * np.pi * np.cumsum(f) / RATE
    wave = 0.5 * np.sin(phase) + 0.15 * np.sin(2 * phase)
    return (wave * np.minimum(1.0, np.minimum(t, t[::-1]) / 0.02)).astype(np.float32)


def median_pitch(audio: np.ndarray, start: float, end: float) -> float:
    """pYIN median pitch (fractional MIDI) over [start, end) seconds."""
    import librosa

    part = audio[int(start * RATE) : int(end * RATE)]
    f0, voiced, _ = librosa.pyin(part, fmin=80, fmax=1000, sr=RATE, frame_length=2048)
    return float(librosa.hz_to_midi(np.median(f0[voiced & np.isfinite(f0)])))


def test_the_output_keeps_the_input_pitch_and_is_not_silent(installed):
    x = melody(2.0, (57, 64))
    out = ops.translate(x, ["violin", "flute"], engine="tone")
    assert out.sample_rate == RATE and set(out) == {"violin", "flute"}
    for name, y in out.items():
        assert y.shape == x.shape and np.sqrt(np.mean(y**2)) > 0.05, name
        for (start, end), pitch in zip(((0.15, 0.85), (1.15, 1.85)), (57, 64)):
            assert abs(median_pitch(y, start, end) - pitch) < 0.5, (name, start)  # within 50 cents


@pytest.mark.skipif(not (checkpoint_root() / "timbre_ddsp" / "model.safetensors").exists(),
                    reason="the shipped timbre_ddsp checkpoint is not installed")
def test_the_shipped_model_keeps_the_pitch(monkeypatch):
    monkeypatch.setattr(tone, "NOTE_FOLDERS", (timbre.EXAMPLES_DIR,))
    x = melody(2.0, (60, 67))
    y = ops.translate(x, "trumpet", engine="tone")["trumpet"]
    assert np.sqrt(np.mean(y**2)) > 0.05
    assert abs(median_pitch(y, 0.15, 0.85) - 60) < 0.5 and abs(median_pitch(y, 1.15, 1.85) - 67) < 0.5


def test_loudness_is_matched_by_quantiles():
    rng = np.random.default_rng(0)
    source = rng.uniform(-40, -10, 500)  # sounding frames from -40 to -10 dB
    reference = rng.uniform(-25, -5, 300)
    out = tone.match_loudness(source, reference)
    assert np.quantile(out, 0.05) == pytest.approx(np.quantile(reference, 0.05), abs=1.5)
    assert np.quantile(out, 0.95) == pytest.approx(np.quantile(reference, 0.95), abs=1.5)
    assert np.all(np.diff(out[np.argsort(source)]) >= -1e-4)  # order kept
    quiet = tone.match_loudness(np.r_[source, -100.0], reference)[-1]  # far below the sounding frames
    assert quiet < out.min() - 40


def test_the_targets_embedding_comes_from_its_nearest_notes(installed, monkeypatch):
    monkeypatch.setattr(tone, "NOTES_PER_TARGET", 1)
    model = tone.load_model()
    assert {"violin", "flute", "trumpet", "piano", "guitar"} <= set(tone.domains())
    notes = {n.pitch: n for n in tone.targets()["violin"].notes}  # the bundled notes: 60 and 67
    for pitch, nearest in ((58.0, 60), (70.0, 67)):
        z, levels = tone.target_timbre(model, "violin", pitch)
        assert z.shape == (TINY.latent_channels,) and levels.size > 10 and np.all(np.isfinite(levels))
        frames = timbre.encode(model, timbre.prepare(notes[nearest].path))  # [latent x 125]
        assert np.all(z >= frames.min(1) - 1e-5) and np.all(z <= frames.max(1) + 1e-5)  # a mean of its frames
        sustained = frames[:, 10:90].mean(1)  # well inside the 3 s the note is held
        assert np.abs(z - sustained).mean() < np.abs(z - frames[:, -20:].mean(1)).mean()  # not the release
    assert not np.allclose(tone.target_timbre(model, "violin", 58.0)[0], tone.target_timbre(model, "violin", 70.0)[0])
    with pytest.raises(LatentLabError, match="unknown instrument 'kazoo'"):
        tone.target_timbre(model, "kazoo", 60.0)


def test_long_clips_are_decoded_in_cross_faded_chunks(installed):
    spans = tone._spans(1500)
    assert spans[0][0] == 0 and spans[-1][1] == 1500
    for (a0, b0), (a1, b1) in zip(spans, spans[1:]):
        assert b0 - a1 == tone.OVERLAP_FRAMES
    assert tone._spans(10) == [(0, 10)]
    x = melody(9.0, (55, 59, 62, 67))
    y = ops.translate(x, "flute", engine="tone")["flute"]
    assert y.shape == x.shape
    envelope = np.sqrt(np.convolve(y**2, np.ones(400) / 400, mode="valid"))
    inner = envelope[int(0.3 * RATE) : -int(0.3 * RATE)]
    assert inner.min() > 0.2 * inner.max()  # no hole at a chunk boundary


def test_chords_noise_and_unknown_targets_are_clear_errors(installed):
    noise = np.random.default_rng(0).uniform(-0.5, 0.5, RATE).astype(np.float32)
    with pytest.raises(LatentLabError, match="no steady pitch"):
        ops.translate(noise, "flute", engine="tone")
    with pytest.raises(LatentLabError, match="unknown instrument 'kazoo'"):
        ops.translate(melody(), "kazoo", engine="tone")
    with pytest.raises(LatentLabError, match="unknown engine"):
        ops.translate(melody(), "flute", engine="kazoo")


def test_cli_engine_tone(installed, tmp_path, capsys):
    src = tmp_path / "in.flac"
    sf.write(str(src), np.stack([melody(1.0)] * 2, 1), RATE)  # stereo
    assert main(["translate", "--engine", "tone", "--list-domains"]) == 0
    assert "violin" in capsys.readouterr().out.split()
    out = tmp_path / "out.wav"
    # no translation model is installed, so auto picks tone transfer
    assert main(["translate", str(src), "--to", "violin", "-o", str(out)]) == 0
    audio, rate = sf.read(str(out))
    assert rate == RATE and len(audio) == RATE and np.abs(audio).max() > 0.1
