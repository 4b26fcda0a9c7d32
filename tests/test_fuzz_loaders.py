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

from engine.core.audio import load_audio
from engine.core.errors import LatentLabError

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


# -- MIDI ---------------------------------------------------------------------------------------------
def _midi_bytes(notes: list[tuple[int, float, float, int]], program: int, is_drum: bool, tempo: float) -> bytes:
    import pretty_midi

    from engine.core.midi import midi_to_bytes

    pm = pretty_midi.PrettyMIDI(initial_tempo=tempo)
    inst = pretty_midi.Instrument(program=program, is_drum=is_drum)
    inst.notes = [pretty_midi.Note(velocity=v, pitch=p, start=s, end=s + d) for p, s, d, v in notes]
    pm.instruments.append(inst)
    return midi_to_bytes(pm)


@SETTINGS
@given(data=st.binary(min_size=0, max_size=2048), keep_header=st.booleans())
def test_random_bytes_never_crash_the_midi_loader(data, keep_header):
    from engine.core.midi import melody_from_midi

    if keep_header:
        data = b"MThd\x00\x00\x00\x06\x00\x01\x00\x01\x01\xe0" + data
    try:
        melody = melody_from_midi(data)
    except LatentLabError as e:
        assert "\n" not in str(e)
        return
    assert melody.ndim == 1 and len(melody) % 16 == 0


@SETTINGS
@given(
    notes=st.lists(
        st.tuples(
            st.integers(min_value=0, max_value=127),
            st.floats(min_value=0, max_value=20, allow_nan=False),
            st.floats(min_value=0.001, max_value=4, allow_nan=False),
            st.integers(min_value=1, max_value=127),
        ),
        max_size=40,
    ),
    program=st.integers(min_value=0, max_value=127),
    is_drum=st.booleans(),
    tempo=st.floats(min_value=30, max_value=300),
    cut=st.integers(min_value=0, max_value=40),
)
def test_any_midi_becomes_a_melody_or_a_clear_error(notes, program, is_drum, tempo, cut):
    from engine.core.midi import check_melody, melody_from_midi

    data = _midi_bytes(notes, program, is_drum, tempo)
    if cut:
        data = data[:-cut]
    try:
        melody = melody_from_midi(data)
    except LatentLabError as e:
        assert "\n" not in str(e)
        return
    check_melody(melody)  # a valid 90-class melody
    assert len(melody) % 16 == 0


# -- mel .npy -----------------------------------------------------------------------------------------
@SETTINGS
@given(
    shape=st.lists(st.integers(min_value=0, max_value=120), min_size=0, max_size=3),
    dtype=st.sampled_from(["float32", "float64", "float16", "int16", "uint8", "bool", "complex64"]),
    fill=st.sampled_from(["log", "positive", "nan", "inf"]),
    corrupt=st.integers(min_value=0, max_value=30),
)
def test_any_npy_becomes_a_mel_or_a_clear_error(shape, dtype, fill, corrupt):
    from engine.ops.vocode import load_mel

    size = int(np.prod(shape)) if shape else 1
    values = {"log": -np.abs(np.linspace(0.1, 11, size)), "positive": np.linspace(0.1, 3, size),
              "nan": np.full(size, np.nan), "inf": np.full(size, -np.inf)}[fill]
    with np.errstate(invalid="ignore"):
        array = values.reshape(shape).astype(dtype)
    buf = io.BytesIO()
    np.save(buf, array)
    data = buf.getvalue()
    if corrupt:
        data = data[:-corrupt]
    try:
        mel = load_mel(data)
    except LatentLabError as e:
        assert "\n" not in str(e)
        return
    assert mel.dtype == np.float32 and mel.ndim == 2 and mel.shape[0] == 80 and np.all(np.isfinite(mel))


@SETTINGS
@given(data=st.binary(min_size=0, max_size=1024))
def test_random_bytes_never_crash_the_mel_loader(data):
    from engine.ops.vocode import load_mel

    for payload in (data, b"\x93NUMPY" + data):
        try:
            load_mel(payload)
        except LatentLabError as e:
            assert "\n" not in str(e)
