"""Every API endpoint of a launched app, end to end through gradio_client.

The shipped melody and vocoder checkpoints serve the Melodies and Vocode tabs; tiny untrained timbre and
translation models made here serve the others (see ``helpers.app``). Each endpoint must return a real
result (a MIDI that reads back with the expected number of steps, audio of the expected rate and length),
and each family of inputs answers bad input with a one-line message while the server keeps answering.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pretty_midi
import pytest
import soundfile as sf
from gradio_client import Client, handle_file

from app.tabs.about import HEADERS
from app.tabs.melody import ATTRIBUTE_LABELS, EXAMPLES_DIR
from app.tabs.melody import SAMPLE_RATE as MELODY_RATE
from app.tabs.translate import MAX_TARGETS
from app.tabs.vocode import LABELS
from engine.core.checkpoint import checkpoint_root, read_config
from engine.core.midi import melody_from_midi
from engine.ops import timbre
from engine.ops.melody import measure_attributes
from engine.ops.translate import SAMPLE_RATE as TRANSLATE_RATE
from engine.ops.vocode import MEL, analyze
from helpers.app import SHIPPED, install_checkpoints, launched_app
from helpers.audio import harmonic_note

EXAMPLES = sorted(EXAMPLES_DIR.glob("*.mid"))
WINDOW = read_config(checkpoint_root() / "mel_2bar")["config"]["steps"]  # steps per mel_2bar window
NOTES = {n.instrument: n for n in timbre.example_notes() if n.pitch == 60}
SILENCE = 1e-3  # a peak below this counts as silent


@pytest.fixture(scope="module")
def url(tmp_path_factory):
    with launched_app(install_checkpoints(tmp_path_factory.mktemp("app") / "checkpoints")) as address:
        yield address


@pytest.fixture(scope="module")
def client(url):
    return Client(url, verbose=False)


def _windowed(melody_steps: int) -> int:
    return -(-melody_steps // WINDOW) * WINDOW


def _wav(path: str) -> tuple[np.ndarray, int]:
    audio, rate = sf.read(path, dtype="float32", always_2d=False)
    assert audio.ndim == 1, audio.shape
    return audio, rate


def _is_plot(value) -> bool:
    return isinstance(value, dict) and value.get("type") == "matplotlib" and len(value.get("plot", "")) > 1000


def _answers_after(client: Client, bad_call, message: str) -> None:
    """``bad_call`` fails with a one-line message matching ``message``, and the server still answers."""
    with pytest.raises(Exception) as caught:
        bad_call()
    text = str(caught.value)
    assert re.search(message, text), text
    assert "Traceback" not in text and "\n" not in text.strip(), text
    assert client.predict(api_name="/list_models")["headers"] == HEADERS


ENDPOINTS = {"/list_models", "/interpolate", "/interpolation_grid", "/apply_attributes", "/sample_melodies",
             "/continue_melody", "/inpaint_melody", "/timbre_morph", "/timbre_morph_step", "/timbre_grid", "/timbre_grid_cell", "/translate", "/vocode"}


def test_every_named_endpoint_is_tested_here(client):
    """A new action must get its end-to-end test here (and be added to ENDPOINTS)."""
    assert set(client.view_api(print_info=False, return_format="dict")["named_endpoints"]) == ENDPOINTS


# -- About ----------------------------------------------------------------------------------------


def test_list_models_names_every_installed_model(client):
    table = client.predict(api_name="/list_models")
    assert table["headers"] == HEADERS
    assert sorted(row[0] for row in table["data"]) == sorted([*SHIPPED, "timbre", "translate"])
    assert all(float(row[3]) > 0.1 for row in table["data"] if row[0] in SHIPPED)  # MB


# -- Melodies -------------------------------------------------------------------------------------


def test_interpolate_two_uploads(client):
    a, b = (melody_from_midi(p) for p in EXAMPLES[:2])
    steps = 3
    plot, audio, midi = client.predict(handle_file(str(EXAMPLES[0])), handle_file(str(EXAMPLES[1])), None, None,
                                       "mel_2bar", steps, 0.0, "slerp", api_name="/interpolate")
    assert _is_plot(plot)
    path = melody_from_midi(midi)
    assert len(path) == steps * _windowed(max(len(a), len(b))), len(path)
    wave, rate = _wav(audio)
    assert rate == MELODY_RATE
    assert len(wave) >= len(path) / 8 * rate * 60 / 120 * 0.5  # at least half the melody's length at 120 qpm
    assert np.abs(wave).max() > SILENCE


def test_interpolation_grid(client):
    names = [p.stem for p in EXAMPLES[:4]]
    size = 3
    plot, midi = client.predict("mel_2bar", *names, size, 0.0, api_name="/interpolation_grid")
    assert _is_plot(plot)
    longest = max(len(melody_from_midi(p)) for p in EXAMPLES[:4])
    assert len(melody_from_midi(midi)) == size * size * _windowed(longest)


def test_apply_attributes_reports_what_the_download_holds(client):
    example = EXAMPLES[0]
    plot, table, audio, midi = client.predict(None, example.stem, "mel_2bar", 0.0, 1.5, 0.0, 0.0, 0.0,
                                              api_name="/apply_attributes")
    assert _is_plot(plot)
    assert [row[0] for row in table["data"]] == list(ATTRIBUTE_LABELS.values())
    after = melody_from_midi(midi)
    assert len(after) == _windowed(len(melody_from_midi(example)))
    measured = measure_attributes(after)
    for (label, _, value), name in zip(table["data"], ATTRIBUTE_LABELS):
        assert value == pytest.approx(measured[name], abs=1e-3), label
    wave, rate = _wav(audio)
    assert rate == MELODY_RATE and np.abs(wave).max() > SILENCE


def test_sample_melodies_is_seeded(client):
    first = client.predict("mel_2bar", 3, 0.8, 7, api_name="/sample_melodies")
    again = client.predict("mel_2bar", 3, 0.8, 7, api_name="/sample_melodies")
    melodies = [melody_from_midi(result[2]) for result in (first, again)]
    assert len(melodies[0]) == 3 * WINDOW
    assert np.array_equal(melodies[0], melodies[1])
    assert not np.array_equal(melodies[0][:WINDOW], melodies[0][WINDOW:2 * WINDOW])  # three different samples
    assert _is_plot(first[0]) and _wav(first[1])[1] == MELODY_RATE


def test_melody_bad_input(client, tmp_path):
    corrupt = tmp_path / "broken.mid"
    corrupt.write_bytes(b"MThd\x00\x00\x00\x06\x00\x01\x00\x02\x01\xe0MTrk\xff\xff\xff\xff garbage")
    _answers_after(client, lambda: client.predict(handle_file(str(corrupt)), None, None, EXAMPLES[1].stem,
                                                  "mel_2bar", 3, 0.0, "slerp", api_name="/interpolate"),
                   "corrupt MIDI file")
    _answers_after(client, lambda: client.predict(None, None, EXAMPLES[0].stem, EXAMPLES[1].stem, "mel_2bar", 99,
                                                  0.0, "slerp", api_name="/interpolate"),
                   "greater than maximum")


# -- Melodies: Continue / Inpaint -------------------------------------------------------------------


def test_continue_melody_keeps_the_prompt(client):
    example = EXAMPLES[0]
    source = melody_from_midi(example)
    plot, audio, midi = client.predict(None, example.stem, "pixelcnn_16bar", 2, 1.0, 3, api_name="/continue_melody")
    assert _is_plot(plot)
    result = melody_from_midi(midi)
    assert len(result) == len(source) + 2 * 16 and np.array_equal(result[: len(source)], source)
    again = melody_from_midi(client.predict(None, example.stem, "pixelcnn_16bar", 2, 1.0, 3, api_name="/continue_melody")[2])
    assert np.array_equal(result, again)  # seeded
    wave, rate = _wav(audio)
    assert rate == MELODY_RATE and np.abs(wave).max() > SILENCE


def test_inpaint_melody_changes_only_the_masked_bar(client):
    example = EXAMPLES[0]
    source = melody_from_midi(example)
    plot, audio, midi = client.predict(handle_file(str(example)), None, "ar_16bar", "2", 4, 1.0, 0,
                                       api_name="/inpaint_melody")
    result = melody_from_midi(midi)
    assert len(result) == len(source)
    assert np.array_equal(result[:16], source[:16]) and np.array_equal(result[32:], source[32:])
    assert _is_plot(plot) and _wav(audio)[1] == MELODY_RATE


def test_continue_inpaint_bad_input(client, tmp_path):
    empty = tmp_path / "empty.mid"
    pretty_midi.PrettyMIDI().write(str(empty))
    _answers_after(client, lambda: client.predict(handle_file(str(empty)), None, "pixelcnn_16bar", 2, 1.0, 0,
                                                  api_name="/continue_melody"),
                   "holds no notes")
    bars = len(melody_from_midi(EXAMPLES[0])) // 16
    _answers_after(client, lambda: client.predict(None, EXAMPLES[0].stem, "pixelcnn_16bar", f"1-{bars}", 4, 1.0, 0,
                                                  api_name="/inpaint_melody"),
                   "the mask covers all")
    long = next(p for p in EXAMPLES if len(melody_from_midi(p)) == 16 * 16)
    _answers_after(client, lambda: client.predict(None, long.stem, "pixelcnn_16bar", 1, 1.0, 0, api_name="/continue_melody"),
                   "holds at most 16 bars")


# -- Timbre ---------------------------------------------------------------------------------------


def _pcm_close(path: str, expected: np.ndarray) -> None:
    wave, rate = _wav(path)
    assert rate == timbre.SAMPLE_RATE and wave.shape == expected.shape, (rate, wave.shape)
    np.testing.assert_allclose(wave, np.clip(expected, -1, 1), atol=2e-3)


@pytest.mark.parametrize("model", ["timbre_ddsp", "timbre"])  # the shipped DDSP model, a tiny NSynth one
def test_timbre_morph_and_its_steps(client, model):
    a, b = NOTES["brass_synthetic_056"], NOTES["flute_synthetic_073"]
    na, nb = timbre.prepare(a.path), timbre.prepare(b.path)
    result = client.predict(a.instrument, None, b.instrument, None, 60, 3, model, api_name="/timbre_morph")
    plot_a, plot_b, plot_z, position, morph, morph_plot, mix, mix_plot = result
    assert all(_is_plot(p) for p in (plot_a, plot_b, plot_z, morph_plot, mix_plot))
    assert position["value"] == 1 and position["maximum"] == 2  # the slider moves to the middle of 3 steps
    wave, rate = _wav(morph)
    assert rate == timbre.SAMPLE_RATE and len(wave) == timbre.NOTE_SAMPLES
    assert np.abs(wave).max() > SILENCE
    _pcm_close(mix, (na + nb) / 2)

    morph_2, _, mix_2, _ = client.predict(2, api_name="/timbre_morph_step")  # the last step is B
    _pcm_close(mix_2, nb)
    assert not np.array_equal(_wav(morph_2)[0], wave)


def test_timbre_grid_and_its_cells(client):
    corners = [NOTES[name] for name in ("brass_synthetic_056", "flute_synthetic_073", "guitar_synthetic_024",
                                        "keyboard_synthetic_000")]
    plot, cell, cell_audio, cell_mix = client.predict(*[c.instrument for c in corners], 60, 2, api_name="/timbre_grid")
    assert _is_plot(plot) and cell["value"] == "0"
    assert [value for _, value in cell["choices"]] == ["0", "1", "2", "3"]
    _pcm_close(cell_mix, timbre.prepare(corners[0].path))
    wave, _ = _wav(cell_audio)
    assert len(wave) == timbre.NOTE_SAMPLES and np.abs(wave).max() > SILENCE
    cell_audio, cell_mix = client.predict("3", api_name="/timbre_grid_cell")
    _pcm_close(cell_mix, timbre.prepare(corners[3].path))


def test_timbre_bad_input(client, tmp_path):
    text = tmp_path / "note.wav"
    text.write_text("this is not audio\n" * 50)
    _answers_after(client, lambda: client.predict(None, handle_file(str(text)), "flute_synthetic_073", None, 60, 3,
                                                  api_name="/timbre_morph"),
                   "cannot read .* as audio")
    _answers_after(client, lambda: client.predict("brass_synthetic_056", "flute_synthetic_073", "guitar_synthetic_024",
                                                  "keyboard_synthetic_000", 60, 9, api_name="/timbre_grid"),
                   "greater than maximum")
    _answers_after(client, lambda: client.predict("brass_synthetic_056", None, "flute_synthetic_073", None, 60, 3,
                                                  "no_such_model", api_name="/timbre_morph"),
                   "no_such_model")


# -- Translate ------------------------------------------------------------------------------------


def _clip(path: Path, seconds: float = 0.5) -> Path:
    t = np.arange(int(seconds * TRANSLATE_RATE)) / TRANSLATE_RATE
    sf.write(path, (0.5 * np.sin(2 * np.pi * 330 * t) + 0.2 * np.sin(2 * np.pi * 660 * t)).astype(np.float32),
             TRANSLATE_RATE)
    return path


def test_translate_plays_the_chosen_instrument(client, tmp_path):
    clip = _clip(tmp_path / "clip.wav")
    samples = len(sf.read(clip)[0])
    result = client.predict(handle_file(str(clip)), "umt", ["saw"], [], 0, api_name="/translate")
    assert len(result) == 1 + 3 * MAX_TARGETS + 1  # input plot, (name, audio, plot) per output slot, files
    assert _is_plot(result[0]) and result[1] == "**saw**" and _is_plot(result[3])
    assert all(result[2 + 3 * i] is None for i in range(1, MAX_TARGETS))
    wave, rate = _wav(result[2])
    assert rate == TRANSLATE_RATE and len(wave) == samples and np.abs(wave).max() > SILENCE
    downloads = [f if isinstance(f, str) else f["path"] for f in result[-1]]
    assert [Path(f).name for f in downloads] == ["clip-saw.wav"]
    assert len(_wav(downloads[0])[0]) == samples


def test_translate_tone_engine(client, tmp_path):
    clip = tmp_path / "tone.wav"
    sf.write(clip, harmonic_note(262.0, 0.8, 1.0, 22050), 22050)
    result = client.predict(handle_file(str(clip)), "tone", [], ["flute"], 0, api_name="/translate")
    assert result[1] == "**flute**"
    wave, rate = _wav(result[2])
    assert rate == timbre.SAMPLE_RATE and len(wave) == int(0.8 * rate) and np.abs(wave).max() > SILENCE


def test_translate_bad_input(client, tmp_path):
    silent = tmp_path / "silent.wav"
    sf.write(silent, np.zeros(TRANSLATE_RATE, dtype=np.float32), TRANSLATE_RATE)
    _answers_after(client, lambda: client.predict(handle_file(str(silent)), "umt", ["saw"], [], 0,
                                                  api_name="/translate"), "is silent")
    _answers_after(client, lambda: client.predict(handle_file(str(_clip(tmp_path / "c.wav"))), "umt", ["cello"], [],
                                                  0, api_name="/translate"), "not in the list of choices")
    noise = tmp_path / "noise.wav"
    sf.write(noise, np.random.default_rng(0).uniform(-0.5, 0.5, 16000).astype(np.float32), 16000)
    _answers_after(client, lambda: client.predict(handle_file(str(noise)), "tone", [], ["flute"], 0,
                                                  api_name="/translate"), "no steady pitch")


# -- Vocode ---------------------------------------------------------------------------------------


def test_vocode_every_shipped_vocoder(client, tmp_path):
    note = harmonic_note(262.0, 0.5, 1.0, MEL.sample_rate)
    path = tmp_path / "note.wav"
    sf.write(path, note, MEL.sample_rate)
    frames = analyze(note).shape[1]
    names = ["griffinlim", "melgan", "hifigan"]
    result = client.predict(handle_file(str(path)), None, names, 8, 0.6, api_name="/vocode")
    table, panels = result[0], result[1:]
    assert [row[0] for row in table["data"]] == [LABELS[n] for n in names]
    for row in table["data"]:
        assert all(isinstance(v, (int, float)) and v > 0 for v in row[1:]), row
    audio = dict(zip(LABELS, panels[0::2]))
    plots = dict(zip(LABELS, panels[1::2]))
    for name in LABELS:
        if name not in names:
            assert audio[name] is None, name
            continue
        wave, rate = _wav(audio[name])
        assert rate == MEL.sample_rate and len(wave) == frames * MEL.hop_length, (name, len(wave))
        assert np.abs(wave).max() > SILENCE, name
        assert _is_plot(plots[name]), name


def test_vocode_bad_input(client, tmp_path):
    wrong = tmp_path / "mel.npy"
    np.save(wrong, np.full((40, 3, 2), -4.0, dtype=np.float32))
    _answers_after(client, lambda: client.predict(None, handle_file(str(wrong)), ["griffinlim"], 8, 0.6,
                                                  api_name="/vocode"),
                   r"expected \[80, frames\]")
    note = tmp_path / "n.wav"
    sf.write(note, harmonic_note(262.0, 0.3, 1.0), MEL.sample_rate)
    _answers_after(client, lambda: client.predict(handle_file(str(note)), None, ["griffinlim"], 500, 0.6,
                                                  api_name="/vocode"),
                   "greater than maximum")
