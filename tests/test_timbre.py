"""Timbre operations and the ``latentlab timbre`` CLI, end to end on a tiny checkpoint in a temporary folder
(each test that uses a model runs on both: the DDSP autoencoder and the NSynth WaveNet autoencoder)."""

import numpy as np
import pytest
import soundfile as sf
import torch

from engine.cli.main import main
from engine.core.checkpoint import save_checkpoint
from engine.core.errors import LatentLabError
from engine.models.ddsp import DDSPAutoencoder, DDSPConfig
from engine.models.nsynth import NSynthAutoencoder, NSynthConfig
from engine.ops import timbre

TINY = NSynthConfig(encoder_channels=8, encoder_layers=2, decoder_layers=3, decoder_cycle=3, residual_channels=8,
                    gate_channels=8, skip_channels=16, pitch_channels=4)
TINY_DDSP = DDSPConfig(n_mels=16, encoder_channels=8, encoder_layers=2, hidden=16, gru=16, n_harmonics=8,
                       noise_bands=9, reverb_seconds=0.05)
RATE = 16000
MODELS = {  # shipped name: (model, arch, config)
    "timbre": (NSynthAutoencoder, "nsynth_wavenet_ae", TINY),
    "timbre_ddsp": (DDSPAutoencoder, "ddsp_timbre_ae", TINY_DDSP),
}


@pytest.fixture(params=sorted(MODELS))
def model_name(request):
    return request.param


@pytest.fixture
def checkpoints(tmp_path, monkeypatch, model_name):
    torch.manual_seed(0)
    cls, arch, config = MODELS[model_name]
    root = tmp_path / "checkpoints"
    save_checkpoint(root / model_name, kind="timbre", arch=arch, config=config, tensors=cls(config).state_dict(),
                    card="# tiny test model\n")
    monkeypatch.setenv("LATENTLAB_CHECKPOINTS", str(root))
    return root


def _tone(midi: float, seconds: float = 4.0, rate: int = RATE) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    f = 440 * 2 ** ((midi - 69) / 12)
    return (0.4 * np.sin(2 * np.pi * f * t) + 0.2 * np.sin(4 * np.pi * f * t)).astype(np.float32) * np.exp(-t / 3)


@pytest.fixture
def notes(tmp_path):
    paths = {}
    for name, midi in (("a", 57), ("b", 64)):
        paths[name] = tmp_path / f"{name}.wav"
        sf.write(paths[name], _tone(midi), RATE)
    return paths


def test_prepare_resamples_mixes_and_fits_to_four_seconds(tmp_path):
    stereo = np.stack([_tone(60, 2.0, 44100), _tone(60, 2.0, 44100)], axis=1)
    sf.write(tmp_path / "s.wav", stereo, 44100)
    audio = timbre.prepare(tmp_path / "s.wav")
    assert audio.shape == (timbre.NOTE_SAMPLES,) and audio.dtype == np.float32
    assert np.abs(audio[: RATE]).max() > 0.1 and np.all(audio[2 * RATE + 100 :] == 0)
    assert timbre.prepare(_tone(60, 10.0), RATE).shape == (timbre.NOTE_SAMPLES,)


def test_bad_inputs_are_one_line_errors(tmp_path):
    sf.write(tmp_path / "silent.wav", np.zeros(RATE, dtype=np.float32), RATE)
    sf.write(tmp_path / "long.wav", _tone(60, 31.0), RATE)
    (tmp_path / "text.wav").write_text("not audio at all")
    for name, message in (("silent.wav", "silent"), ("long.wav", "limit"), ("text.wav", "cannot read")):
        with pytest.raises(LatentLabError, match=message):
            timbre.prepare(tmp_path / name)
    with pytest.raises(LatentLabError, match="silent"):
        timbre.prepare(np.zeros(RATE, dtype=np.float32), RATE)
    with pytest.raises(LatentLabError, match="steps"):
        timbre.morph_weights(1)


def test_estimate_pitch_of_a_tone():
    assert timbre.estimate_pitch(_tone(57)) == 57
    assert abs(timbre.median_f0(_tone(64), 64) - 329.63) < 2


def test_morph_endpoints_are_the_encodings_and_mixes_are_the_inputs(checkpoints, model_name):
    model = timbre.load_model(model_name)
    a, b = timbre.prepare(_tone(57), RATE), timbre.prepare(_tone(64), RATE)
    seen = []
    result = timbre.morph(model, a, b, steps=3, pitch_a=57, pitch_b=64, progress=seen.append)
    za, zb = timbre.encode(model, a), timbre.encode(model, b)
    assert result.embeddings.shape == (3, 16, 125)
    np.testing.assert_allclose(result.embeddings[0], za, atol=1e-6)
    np.testing.assert_allclose(result.embeddings[-1], zb, atol=1e-6)
    np.testing.assert_allclose(result.embeddings[1], (za + zb) / 2, atol=1e-5)
    np.testing.assert_allclose(result.mixes[0], a, atol=1e-6)
    np.testing.assert_allclose(result.mixes[-1], b, atol=1e-6)
    assert result.audio.shape == (3, timbre.NOTE_SAMPLES) and np.abs(result.audio).max() <= 1
    assert result.pitches == [57, 60, 64]
    assert seen and seen[-1] == pytest.approx(1.0)


def test_grid_corners_and_weights(checkpoints, model_name):
    w = timbre.grid_weights(3)
    assert w.shape == (9, 4) and np.allclose(w.sum(1), 1)
    assert np.allclose(w[[0, 2, 6, 8]], np.eye(4))
    model = timbre.load_model(model_name)
    corners = [timbre.prepare(_tone(m, 1.0), RATE) for m in (55, 60, 65, 70)]
    result = timbre.grid(model, corners, size=2, pitches=[55, 60, 65, 70])
    for i, corner in enumerate(corners):
        np.testing.assert_allclose(result.embeddings[i], timbre.encode(model, corner), atol=1e-6)
    with pytest.raises(LatentLabError, match="4 corner"):
        timbre.grid(model, corners[:3])


def test_cli_end_to_end(checkpoints, model_name, notes, tmp_path, capsys):
    out = tmp_path / "out"
    model = ["--model", model_name]
    assert main(["timbre", "reconstruct", str(notes["a"]), "-o", str(out / "rec.wav"), *model]) == 0
    audio, rate = sf.read(out / "rec.wav")
    assert rate == RATE and audio.shape == (timbre.NOTE_SAMPLES,)
    assert "pitch 57" in capsys.readouterr().out  # estimated from the tone

    assert main(["timbre", "morph", str(notes["a"]), str(notes["b"]), "--steps", "3", "-o", str(out / "m"), *model]) == 0
    for i in range(3):
        assert sf.read(out / "m" / f"step_{i:02d}.wav")[0].shape == (timbre.NOTE_SAMPLES,)
        assert (out / "m" / f"mix_{i:02d}.wav").exists()
    assert not (out / "m" / "step_03.wav").exists()

    assert main(["timbre", "encode", str(notes["b"]), "-o", str(out / "b.npy"), *model]) == 0
    z = np.load(out / "b.npy", allow_pickle=False)
    assert z.shape == (16, 125) and z.dtype == np.float32
    assert main(["timbre", "decode", str(out / "b.npy"), "-o", str(out / "b.wav"), "--pitch", "64", *model]) == 0
    assert sf.read(out / "b.wav")[0].shape == (timbre.NOTE_SAMPLES,)


def test_cli_bad_input_exits_non_zero_with_one_line(checkpoints, model_name, notes, tmp_path, capsys):
    sf.write(tmp_path / "silent.wav", np.zeros(RATE, dtype=np.float32), RATE)
    np.save(tmp_path / "wrong.npy", np.zeros((3, 10), dtype=np.float32))
    (tmp_path / "junk.npy").write_text("junk")
    cases = [
        (["timbre", "reconstruct", str(tmp_path / "silent.wav"), "-o", str(tmp_path / "x.wav")], "silent"),
        (["timbre", "reconstruct", str(tmp_path / "missing.wav"), "-o", str(tmp_path / "x.wav")], "no such"),
        (["timbre", "decode", str(tmp_path / "wrong.npy"), "-o", str(tmp_path / "x.wav")], "embedding must be"),
        (["timbre", "decode", str(tmp_path / "junk.npy"), "-o", str(tmp_path / "x.wav")], "not a .npy"),
        (["timbre", "morph", str(notes["a"]), str(notes["b"]), "--steps", "40", "-o", str(tmp_path / "m")], "steps"),
        (["timbre", "reconstruct", str(notes["a"]), "-o", str(tmp_path / "x.wav"), "--pitch", "130"], "MIDI pitch"),
    ]
    for argv, message in cases:
        capsys.readouterr()
        assert main([*argv, "--model", model_name]) == 1, argv
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("latentlab: error: ") and message in err[0], (argv, err)


def test_missing_model_says_how_to_train_one(tmp_path, monkeypatch, notes, capsys):
    monkeypatch.setenv("LATENTLAB_CHECKPOINTS", str(tmp_path / "empty"))
    assert not timbre.is_available()
    assert main(["timbre", "encode", str(notes["a"]), "-o", str(tmp_path / "z.npy")]) == 1
    assert "latentlab train timbre --arch ddsp" in capsys.readouterr().err


def test_bench_reports_every_figure(checkpoints, model_name, tmp_path):
    from engine.bench.timbre import bench_timbre, format_figures

    folder = tmp_path / "data" / "nsynth-valid"
    (folder / "audio").mkdir(parents=True)
    sf.write(folder / "audio" / "x-064-100.wav", _tone(64), RATE)
    (folder / "examples.json").write_text('{"x-064-100": {"pitch": 64, "instrument_str": "x"}}')
    figures = bench_timbre(tmp_path / "data", model_name, notes=1, card=True)
    assert figures["pitch_kept_originals"] == 1.0 and 0.0 <= figures["pitch_kept"] <= 1.0
    assert figures["mr_stft"] > 0 and figures["mr_stft_mulaw_floor"] > 0
    if model_name == "timbre":  # a mu-law model cannot beat its own round trip
        assert figures["mr_stft"] > figures["mr_stft_mulaw_floor"]
    assert figures["decode_samples_per_s"] > 0
    assert "pitch kept" in format_figures(figures)
    assert "latentlab bench timbre" in (checkpoints / model_name / "card.md").read_text()
    assert ("morph_5_steps_s" in figures) == (model_name == "timbre_ddsp")


def test_ddsp_encode_npz_carries_the_tracks_and_decode_plays_them(tmp_path, monkeypatch, notes, capsys):
    torch.manual_seed(0)
    root = tmp_path / "checkpoints"
    save_checkpoint(root / "timbre_ddsp", kind="timbre", arch="ddsp_timbre_ae", config=TINY_DDSP,
                    tensors=DDSPAutoencoder(TINY_DDSP).state_dict(), card="# tiny\n")
    monkeypatch.setenv("LATENTLAB_CHECKPOINTS", str(root))
    assert main(["timbre", "encode", str(notes["b"]), "-o", str(tmp_path / "b.npz")]) == 0
    with np.load(tmp_path / "b.npz", allow_pickle=False) as saved:
        assert saved["z"].shape == (16, 125) and saved["f0"].shape == saved["loudness"].shape == (500,)
        assert abs(float(np.median(saved["f0"])) - 329.63) < 3  # pYIN followed the tone (MIDI 64)
    assert main(["timbre", "decode", str(tmp_path / "b.npz"), "-o", str(tmp_path / "b.wav")]) == 0
    audio, rate = sf.read(tmp_path / "b.wav")
    assert rate == RATE and audio.shape == (timbre.NOTE_SAMPLES,) and np.abs(audio).max() > 0
    np.savez(tmp_path / "bad.npz", f0=np.zeros(3))
    capsys.readouterr()
    assert main(["timbre", "decode", str(tmp_path / "bad.npz"), "-o", str(tmp_path / "x.wav")]) == 1
    assert "holds no array 'z'" in capsys.readouterr().err


def test_a_clip_without_pitch_is_a_clear_error_unless_a_pitch_is_set():
    noise = np.random.default_rng(0).uniform(-0.5, 0.5, timbre.NOTE_SAMPLES).astype(np.float32)
    with pytest.raises(LatentLabError, match="no steady pitch"):
        timbre.f0_track(noise)
    assert np.allclose(timbre.f0_track(noise, 69), 440.0)
    tracked = timbre.f0_track(timbre.prepare(_tone(57), RATE))
    assert tracked.shape == (500,) and abs(float(np.median(tracked)) - 220.0) < 2
