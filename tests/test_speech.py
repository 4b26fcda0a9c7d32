"""Speech for the vocoder corpus: the sentence grammar, the voices, the split by paragraph."""

import shutil

import numpy as np
import pytest

from engine.core.errors import LatentLabError
from engine.data import speech
from engine.data.speech import Voice, available_voices, render_speech, sentences, speak, split_key

needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")


def test_sentences_are_distinct_and_seeded():
    a = sentences(300, seed=1)
    assert len(a) == 300 and len(set(a)) == 300
    assert a == sentences(300, seed=1)
    assert a != sentences(300, seed=2)
    assert all(s[0].isupper() and s[-1] in ".?" for s in a)


def test_split_key_groups_the_renders_of_one_paragraph():
    a = "speech|text=00012|espeak-ng:en-us+f3|rate=1.10|pitch=0.90"
    b = "speech|text=00012|flite:slt|rate=0.85|pitch=1.20"
    assert split_key(a) == split_key(b) == "speech|text=00012"
    assert split_key("BWV_123|programs=0") == "BWV_123|programs=0"  # music names are left as they are


def test_no_engine_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(speech.shutil, "which", lambda name: None)
    assert available_voices() == []
    with pytest.raises(LatentLabError, match="apt-get install"):
        render_speech(0.1, progress=False)


@needs_espeak
def test_espeak_speaks_at_the_mel_rate_with_rate_and_pitch():
    voice = Voice("espeak-ng", "en-us+f3")
    slow = speak(voice, "The old river found the quiet garden.", rate=0.8)
    fast = speak(voice, "The old river found the quiet garden.", rate=1.3)
    assert slow.dtype == np.float32 and np.abs(slow).max() > 0.05
    assert len(fast) < 0.85 * len(slow)  # 22,050 Hz both: a faster rate is shorter


@needs_espeak
def test_render_speech_keeps_each_sentence_in_one_paragraph():
    voices = [v for v in available_voices() if v.engine == "espeak-ng"][:6]
    clips = render_speech(0.3, seed=3, voices=voices, progress=False)
    assert sum(len(a) for _, a in clips) / 22050 >= 0.3 * 60
    names = [n for n, _ in clips]
    assert all(n.startswith("speech|text=") for n in names)
    per_paragraph = {}
    for n in names:
        per_paragraph.setdefault(split_key(n), []).append(n.split("|")[2])
    assert all(len(set(v)) == len(v) == 2 for v in per_paragraph.values())  # two different voices each
    assert all(0.29 <= np.abs(a).max() <= 0.951 for _, a in clips)


def test_validation_clips_pick_speech_or_music(tmp_path):
    from engine.data.vocode import validation_clips

    rng = np.random.default_rng(0)
    clips = {"speech|text=00001|espeak-ng:en-us+m1|rate=1.00|pitch=1.00": 0.3, "bwv1|programs=0": 0.5}
    audio = [np.round(rng.uniform(-a, a, 22050 * 2) * 32767).astype(np.int16) for a in clips.values()]
    np.savez(tmp_path / "val.npz", audio=np.concatenate(audio), offsets=np.array([0, 44100, 88200]),
             names=np.array(list(clips)))
    speech_only = validation_clips(tmp_path, seconds=1.0, count=4, kind="speech")
    music_only = validation_clips(tmp_path, seconds=1.0, count=4, kind="music")
    assert [n.split("@")[0] for n, _ in speech_only] == [list(clips)[0]] * 2
    assert [n.split("@")[0] for n, _ in music_only] == [list(clips)[1]] * 2
    assert len(validation_clips(tmp_path, seconds=1.0, count=4)) == 4
    with pytest.raises(LatentLabError):
        validation_clips(tmp_path, kind="noise")
