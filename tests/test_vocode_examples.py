"""The Vocode tab's example inputs: a speech clip, a music clip and a mel .npy, all valid as shipped."""

from pathlib import Path

from app.tabs import vocode as tab
from engine.core.audio import load_audio
from engine.ops.vocode import MEL, analyze, load_mel


def test_examples_are_a_speech_clip_a_music_clip_and_a_mel():
    rows = tab._examples()
    assert len(rows) == 3, rows
    audio = [Path(a).name for a, m in rows if a]
    mels = [Path(m).name for a, m in rows if m]
    assert audio[0].startswith("speech") and any(n.startswith("music") for n in audio)
    assert len(mels) == 1 and all(a is None for a, m in rows if m)  # a mel row clears the audio input


def test_example_files_load_as_the_tab_loads_them():
    for audio_path, mel_path in tab._examples():
        if audio_path:
            audio = load_audio(audio_path, MEL.sample_rate)
            assert 3 * MEL.sample_rate < len(audio) <= 6 * MEL.sample_rate
            assert analyze(audio).shape[0] == MEL.n_mels
        else:
            mel = load_mel(mel_path)
            assert mel.shape[0] == MEL.n_mels and mel.shape[1] > 100 and mel.min() < -5
