import numpy as np
import pytest
import soundfile as sf
import torch

from engine.core.audio import fit_length, load_audio, mulaw_decode, mulaw_encode, peak_normalize, save_wav
from engine.core.errors import LatentLabError


def test_mulaw_round_trip_is_close_and_classes_are_in_range():
    x = torch.linspace(-1, 1, 10001)
    q = mulaw_encode(x)
    assert q.dtype == torch.long and int(q.min()) == 0 and int(q.max()) == 255
    y = mulaw_decode(q)
    # 8-bit mu-law: the step is finest near zero, coarsest near +-1 (about 0.03 there).
    assert float((x - y).abs().max()) < 0.035
    assert float((x - y).abs()[4900:5100].max()) < 1e-3
    assert torch.equal(mulaw_encode(mulaw_decode(torch.arange(256))), torch.arange(256))


def test_load_resamples_and_mixes_to_mono(tmp_path, tone):
    stereo = np.stack([tone, 0.5 * tone], axis=1)
    path = tmp_path / "stereo.flac"
    sf.write(path, stereo, 22050)
    audio = load_audio(path, 16000)
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert abs(len(audio) - 16000) <= 1
    assert np.isclose(np.abs(audio).max(), 0.75 * np.abs(tone).max(), rtol=0.02)


def test_load_from_bytes_and_ogg(tmp_path, tone):
    path = tmp_path / "a.ogg"
    sf.write(path, tone, 22050)
    audio = load_audio(path.read_bytes(), 22050)
    assert abs(len(audio) - 22050) < 100


def test_save_wav_round_trip(tmp_path, tone):
    out = save_wav(tmp_path / "x" / "o.wav", tone, 22050)
    back, rate = sf.read(out)
    assert rate == 22050 and np.allclose(back, tone, atol=1e-4)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda p: p.write_bytes(b""), "empty"),
        (lambda p: p.write_bytes(b"RIFF....WAVEfmt garbage" * 10), "cannot read"),
        (lambda p: sf.write(p, np.zeros(22050, np.float32), 22050), "silent"),
        (lambda p: sf.write(p, 0.1 * np.ones(22050 * 3, np.float32), 22050), "limit is 2 s"),
    ],
)
def test_bad_audio_gets_a_clear_error(tmp_path, make, message):
    path = tmp_path / "bad.wav"
    make(path)
    with pytest.raises(LatentLabError, match=message):
        load_audio(path, 16000, max_duration=2)


def test_missing_and_oversized_files(tmp_path, tone):
    with pytest.raises(LatentLabError, match="no such audio file"):
        load_audio(tmp_path / "nope.wav", 16000)
    path = tmp_path / "big.wav"
    sf.write(path, tone, 22050)
    with pytest.raises(LatentLabError, match="MB"):
        load_audio(path, 16000, max_bytes=1000)


def test_peak_normalize_and_fit_length(tone):
    assert np.isclose(np.abs(peak_normalize(tone, 0.5)).max(), 0.5)
    assert np.all(peak_normalize(np.zeros(10, np.float32)) == 0)
    assert fit_length(tone, 100).shape == (100,)
    padded = fit_length(tone[:10], 20)
    assert padded.shape == (20,) and np.all(padded[10:] == 0)


@pytest.mark.skipif(__import__("shutil").which("ffmpeg") is None, reason="ffmpeg not installed")
def test_mp3_through_ffmpeg(tmp_path, tone):
    import subprocess

    wav = save_wav(tmp_path / "t.wav", tone, 22050)
    mp3 = tmp_path / "t.mp3"
    subprocess.run(["ffmpeg", "-loglevel", "error", "-i", str(wav), str(mp3)], check=True)
    audio = load_audio(mp3, 16000)
    assert abs(len(audio) / 16000 - 1.0) < 0.1  # mp3 adds encoder padding
