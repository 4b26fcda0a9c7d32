"""Fuzz the loaders: every input ends in a result or a clear LatentLabError, never anything else.

CI runs a few hundred cases; set LATENTLAB_FUZZ_EXAMPLES=1000 (or more) for the long run.
"""

from __future__ import annotations

import io
import os

import numpy as np
import soundfile as sf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.audio import load_audio
from engine.errors import LatentLabError

EXAMPLES = int(os.environ.get("LATENTLAB_FUZZ_EXAMPLES", "100"))
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _wav_bytes(samples: np.ndarray, rate: int, subtype: str, fmt: str) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, samples, rate, subtype=subtype, format=fmt)
    return buf.getvalue()


@SETTINGS
@given(data=st.binary(min_size=0, max_size=4096))
def test_random_bytes_never_crash_the_audio_loader(data):
    try:
        audio = load_audio(data, 16000, max_duration=5)
    except LatentLabError:
        return
    assert audio.dtype == np.float32 and audio.ndim == 1 and np.all(np.isfinite(audio))


@SETTINGS
@given(
    n=st.integers(min_value=1, max_value=8000),
    channels=st.integers(min_value=1, max_value=3),
    rate=st.sampled_from([8000, 11025, 16000, 22050, 44100, 48000]),
    amplitude=st.floats(min_value=0.0, max_value=1.0),
    fmt=st.sampled_from([("PCM_16", "WAV"), ("FLOAT", "WAV"), ("PCM_24", "FLAC"), ("VORBIS", "OGG")]),
    truncate=st.integers(min_value=0, max_value=64),
)
def test_real_files_of_any_shape_load_or_fail_clearly(n, channels, rate, amplitude, fmt, truncate):
    rng = np.random.default_rng(n)
    samples = (amplitude * rng.uniform(-1, 1, size=(n, channels))).astype(np.float32)
    data = _wav_bytes(samples, rate, *fmt)
    if truncate:
        data = data[: max(0, len(data) - truncate)]
    try:
        audio = load_audio(data, 22050, max_duration=1.0)
    except LatentLabError as e:
        assert "\n" not in str(e)
        return
    assert audio.ndim == 1 and audio.dtype == np.float32 and np.all(np.isfinite(audio))
    assert len(audio) <= 22050 + 64
