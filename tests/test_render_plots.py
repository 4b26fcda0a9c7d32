import numpy as np
import pretty_midi
import pytest

from engine.core.plots import mel_figure, piano_roll, rainbowgram, rainbowgram_image
from engine.core.render import fluidsynth_available, note_midi, render_additive, render_midi


def _dominant_hz(audio: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(audio[: rate // 2] * np.hanning(rate // 2)))
    return float(np.fft.rfftfreq(rate // 2, 1 / rate)[np.argmax(spectrum)])


def test_additive_fallback_plays_the_right_pitch():
    audio = render_midi(note_midi(69, 0, held=1.0), 16000, backend="additive")
    assert audio.dtype == np.float32 and len(audio) == 32000
    assert abs(_dominant_hz(audio, 16000) - 440) < 5
    assert np.isclose(np.abs(audio).max(), 0.9)


@pytest.mark.skipif(not fluidsynth_available(), reason="FluidSynth / FluidR3_GM not installed")
def test_fluidsynth_renders_general_midi_programs():
    piano = render_midi(note_midi(57, 0, held=1.0), 16000, normalize=False)
    flute = render_midi(note_midi(57, 73, held=1.0), 16000, normalize=False)
    assert abs(_dominant_hz(piano, 16000) - 220) < 5
    assert np.abs(piano).max() > 0.01 and not np.allclose(piano[:16000], flute[:16000])


def test_drums_are_skipped_by_the_additive_synth():
    pm = note_midi(38, 0, is_drum=True)
    assert np.abs(render_additive(pm)).max() == 0


def test_plots_draw():
    pm = pretty_midi.PrettyMIDI()
    inst = pretty_midi.Instrument(0)
    inst.notes = [pretty_midi.Note(100, 60 + k, k * 0.25, k * 0.25 + 0.25) for k in range(8)]
    pm.instruments.append(inst)
    fig = piano_roll([pm, pm], titles=["a", "b"])
    assert len(fig.axes) == 2 and fig.axes[0].get_title(loc="left") == "a"
    audio = render_midi(pm, 16000, backend="additive")
    image = rainbowgram_image(audio, 16000)
    assert image.ndim == 3 and image.shape[2] == 3 and 0 <= image.min() and image.max() <= 1
    assert image.max() > 0.5  # the notes are bright
    assert rainbowgram(audio, 16000).axes and mel_figure(audio[:22050]).axes
