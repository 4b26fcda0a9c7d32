"""The vocode framework: metrics, mel validation, Griffin-Lim, the corpus loader, the registry and the CLI."""

import json

import numpy as np
import pytest
import torch

from engine.core.errors import LatentLabError
from engine.core.metrics import mel_distance, mr_stft_distance, real_time_factor
from engine.ops.vocode import MAX_FRAMES, VOCODERS, analyze, load_mel, synthesize, vocode
from helpers.audio import harmonic_note
from helpers.vocode import make_corpus

NAMES = {"griffinlim", "wavenet", "waveglow", "flowavenet", "melgan", "parallel_wavenet", "hifigan", "vocos"}


@pytest.fixture
def note() -> np.ndarray:
    return harmonic_note(220.0, 1.0, 1.5)


# -- metrics -------------------------------------------------------------------------------------
def test_identical_audio_scores_zero(note):
    assert mr_stft_distance(note, note) == pytest.approx(0.0, abs=1e-6)
    assert mel_distance(note, note) == pytest.approx(0.0, abs=1e-6)


def test_scaled_audio_has_the_known_distance():
    # |STFT(a x)| = a |STFT(x)|: spectral convergence |a - 1| and log-magnitude L1 |log a| (white noise keeps
    # every bin far above the magnitude floor).
    noise = 0.1 * np.random.default_rng(0).standard_normal(22050).astype(np.float32)
    for a in (0.5, 2.0):
        d = mr_stft_distance(a * noise, noise)
        assert d == pytest.approx(abs(a - 1) + abs(np.log(a)), rel=0.01), (a, d)
    assert mel_distance(2 * noise, noise) == pytest.approx(np.log(2), rel=0.01)


def test_distance_grows_with_the_error(note):
    rng = np.random.default_rng(0)
    small = mr_stft_distance(note + 0.001 * rng.standard_normal(note.shape).astype(np.float32), note)
    large = mr_stft_distance(note + 0.1 * rng.standard_normal(note.shape).astype(np.float32), note)
    assert 0 < small < large


def test_real_time_factor():
    assert real_time_factor(10.0, 0.5) == pytest.approx(20.0)


# -- mels in -------------------------------------------------------------------------------------
def test_analyze_gives_the_standard_mel(note):
    mel = analyze(note)
    assert mel.shape == (80, len(note) // 256) and mel.dtype == np.float32
    assert mel.min() >= np.log(1e-5) - 1e-4


@pytest.mark.parametrize(
    "array, message",
    [
        (np.zeros((80, 10), dtype=np.complex64) - 1, "dtype"),
        (np.zeros((2, 80, 10), dtype=np.float32) - 1, "shape"),
        (np.zeros((10, 80), dtype=np.float32) - 1, "transposed"),
        (np.zeros((64, 10), dtype=np.float32) - 1, "expected [80, frames]"),
        (np.full((80, 10), np.nan, dtype=np.float32), "NaN"),
        (np.zeros((80, MAX_FRAMES + 1), dtype=np.float32) - 1, "the limit"),
        (np.zeros((80, 1), dtype=np.float32) - 1, "at least"),
        (np.ones((80, 10), dtype=np.float32), "natural-log"),
    ],
)
def test_bad_mels_are_clear_errors(tmp_path, array, message):
    path = tmp_path / "mel.npy"
    np.save(path, array)
    with pytest.raises(LatentLabError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_mel(path)


def test_mel_files_are_never_unpickled(tmp_path):
    path = tmp_path / "objects.npy"
    np.save(path, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(LatentLabError, match="Python objects"):
        load_mel(path)
    junk = tmp_path / "junk.npy"
    junk.write_bytes(b"not an array")
    with pytest.raises(LatentLabError, match="not a NumPy"):
        load_mel(junk)


def test_a_good_mel_file_loads(tmp_path, note):
    path = tmp_path / "mel.npy"
    np.save(path, analyze(note).astype(np.float64)[None])
    mel = load_mel(path)
    assert mel.shape == (80, len(note) // 256) and mel.dtype == np.float32


# -- Griffin-Lim and the registry ------------------------------------------------------------------
def test_registry_names():
    assert set(VOCODERS) == NAMES


def test_griffinlim_beats_noise(note):
    mel = analyze(note)
    audio = vocode(mel, "griffinlim", n_iter=16)
    assert audio.shape == (mel.shape[1] * 256,)
    noise = np.random.default_rng(0).normal(0, 0.05, note.shape).astype(np.float32)
    assert mr_stft_distance(audio, note) < 0.5 * mr_stft_distance(noise, note)
    assert mel_distance(audio, note) < mel_distance(noise, note)


def test_more_griffinlim_iterations_help(note):
    mel = analyze(note)
    few, many = vocode(mel, "griffinlim", n_iter=2), vocode(mel, "griffinlim", n_iter=32)
    assert mr_stft_distance(many, note) < mr_stft_distance(few, note)


def test_unknown_options_and_names_are_clear_errors(note):
    mel = analyze(note)
    with pytest.raises(LatentLabError, match="no option"):
        synthesize(mel, "griffinlim", sigma=0.5)
    with pytest.raises(LatentLabError, match="unknown vocoder"):
        synthesize(mel, "nope")


def test_missing_checkpoint_says_how_to_train(tmp_path, monkeypatch, note):
    monkeypatch.setenv("LATENTLAB_CHECKPOINTS", str(tmp_path))
    with pytest.raises(LatentLabError, match="latentlab train vocode melgan"):
        synthesize(analyze(note), "melgan")


# -- the corpus ------------------------------------------------------------------------------------
def test_corpus_from_a_folder_and_its_segments(tmp_path):
    from engine.data.vocode import VocoderSegments, load_split

    corpus = make_corpus(tmp_path)
    manifest = json.loads((corpus / "manifest.json").read_text())
    assert manifest["train_clips"] >= 1 and manifest["val_clips"] >= 1
    _, _, train_names = load_split(corpus, "train")
    _, _, val_names = load_split(corpus, "val")
    assert not set(train_names) & set(val_names)
    segments = VocoderSegments(corpus, "train", segment=4096)
    item = segments[len(segments) - 1]
    assert item["audio"].shape == (4096,) and item["mel"].shape == (80, 16)
    again = VocoderSegments(corpus, "train", segment=4096)[len(segments) - 1]
    assert torch.equal(item["audio"], again["audio"])  # deterministic: a resumed run sees the same data
    with pytest.raises(LatentLabError, match="multiple of 256"):
        VocoderSegments(corpus, "train", segment=1000)


def test_missing_corpus_says_how_to_build_it(tmp_path):
    from engine.data.vocode import VocoderSegments

    with pytest.raises(LatentLabError, match="latentlab data vocode"):
        VocoderSegments(tmp_path / "nothing", "train")


def test_corpus_renders_music21_pieces_on_general_midi_programs(tmp_path):
    from engine.data.vocode import render_corpus
    from engine.core.render import fluidsynth_available

    if not fluidsynth_available():
        pytest.skip("FluidSynth / FluidR3_GM not installed")
    clips = render_corpus(0.2, programs=(0, 40), progress=False)
    assert len(clips) == 1  # one chorale is longer than 12 s
    name, audio = clips[0].name, clips[0].audio
    assert "programs=" in name and set(name.split("programs=")[1].split("+")) <= {"0", "40"}
    assert audio.dtype == np.float32 and len(audio) > 22050 * 10 and 0.3 < np.abs(audio).max() <= 0.96
