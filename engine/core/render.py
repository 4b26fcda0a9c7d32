"""MIDI -> audio: FluidSynth with Debian's FluidR3_GM soundfont, or a small additive synth.

Rendering for listening falls back to the built-in additive synth when FluidSynth or the soundfont
is missing (:func:`render_midi`); making training data needs the real thing (:func:`require_fluidsynth`).
"""

from __future__ import annotations

import functools
import os
import threading
from pathlib import Path

import numpy as np
import pretty_midi

from .errors import LatentLabError

SOUNDFONT_CANDIDATES = (
    "/usr/share/sounds/sf2/FluidR3_GM.sf2",
    "/usr/share/soundfonts/FluidR3_GM.sf2",
    "/usr/share/sounds/sf2/default-GM.sf2",
)
INSTALL_HINT = "install them with `sudo apt-get install fluidsynth fluid-soundfont-gm` (Debian/Ubuntu)"
_LOCK = threading.Lock()  # a FluidSynth synth is not thread-safe; the app may render from threads


def find_soundfont() -> Path | None:
    """The General MIDI soundfont: ``$LATENTLAB_SOUNDFONT`` or Debian's FluidR3_GM."""
    env = os.environ.get("LATENTLAB_SOUNDFONT")
    for candidate in ([env] if env else []) + list(SOUNDFONT_CANDIDATES):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    return None


@functools.lru_cache(maxsize=1)
def _fluidsynth_module():
    try:
        import fluidsynth  # pyfluidsynth; fails to import without the libfluidsynth shared library

        return fluidsynth if hasattr(fluidsynth, "Synth") else None
    except (ImportError, OSError):
        return None


def fluidsynth_available() -> bool:
    """Whether FluidSynth and a General MIDI soundfont are installed."""
    return _fluidsynth_module() is not None and find_soundfont() is not None


def require_fluidsynth() -> None:
    """Raise a clear error naming what to install when FluidSynth cannot be used."""
    if _fluidsynth_module() is None:
        raise LatentLabError(f"FluidSynth is not installed, and making training audio needs it: {INSTALL_HINT}")
    if find_soundfont() is None:
        raise LatentLabError(f"the FluidR3_GM soundfont is not installed: {INSTALL_HINT} or set $LATENTLAB_SOUNDFONT")


@functools.lru_cache(maxsize=4)
def _synth(sample_rate: int):
    """A FluidSynth synthesizer with the soundfont loaded, one per sample rate (loading takes ~1 s)."""
    fluidsynth = _fluidsynth_module()
    synth = fluidsynth.Synth(samplerate=float(sample_rate))
    sfid = synth.sfload(str(find_soundfont()))
    if sfid < 0:
        raise LatentLabError(f"FluidSynth could not load the soundfont {find_soundfont()}")
    return synth, sfid


def render_midi(
    pm: pretty_midi.PrettyMIDI, sample_rate: int = 22050, backend: str = "auto", normalize: bool = True
) -> np.ndarray:
    """Render every instrument of ``pm`` and mix them.

    Parameters
    ----------
    pm : the MIDI to play (each instrument's ``program`` picks the General MIDI sound)
    sample_rate : output rate
    backend : "auto" (FluidSynth when installed, else additive), "fluidsynth" or "additive"
    normalize : peak-normalise to 0.9 (off keeps velocity dynamics, e.g. for training data)

    Returns
    -------
    audio : ndarray[T], float32 mono; T covers the last note's end plus one second of release.
    """
    if backend == "auto":
        backend = "fluidsynth" if fluidsynth_available() else "additive"
    if backend == "fluidsynth":
        require_fluidsynth()
        audio = _render_fluidsynth(pm, sample_rate)
    elif backend == "additive":
        audio = render_additive(pm, sample_rate)
    else:
        raise ValueError(f"unknown backend {backend!r}")
    peak = float(np.max(np.abs(audio), initial=0.0))
    if normalize and peak > 1e-9:
        audio = audio * (0.9 / peak)
    return audio.astype(np.float32)


def _render_fluidsynth(pm: pretty_midi.PrettyMIDI, sample_rate: int) -> np.ndarray:
    length = int(np.ceil((pm.get_end_time() + 1.0) * sample_rate))
    mix = np.zeros(length, dtype=np.float64)  # pretty_midi's FluidSynth output is int16-scaled
    with _LOCK:
        synth, sfid = _synth(sample_rate)
        for instrument in pm.instruments:
            if not instrument.notes:
                continue
            synth.system_reset()
            wave = instrument.fluidsynth(fs=sample_rate, synthesizer=synth, sfid=sfid)
            n = min(len(wave), length)
            mix[:n] += wave[:n]
        synth.system_reset()
    return (mix / 32768.0).astype(np.float32)


def render_additive(pm: pretty_midi.PrettyMIDI, sample_rate: int = 22050) -> np.ndarray:
    """A small additive synth: 8 harmonics with 1/k amplitudes, 10 ms attack, exponential decay,
    100 ms release. Drums are skipped. Returns ``ndarray[T]`` float32 (not normalised)."""
    length = int(np.ceil((pm.get_end_time() + 1.0) * sample_rate))
    out = np.zeros(length, dtype=np.float64)
    release = 0.1
    for instrument in pm.instruments:
        if instrument.is_drum:
            continue
        for note in instrument.notes:
            start = int(note.start * sample_rate)
            n = int((note.end - note.start + release) * sample_rate)
            n = max(0, min(n, length - start))
            if n == 0:
                continue
            t = np.arange(n) / sample_rate
            f0 = pretty_midi.note_number_to_hz(note.pitch)
            wave = np.zeros(n)
            for k in range(1, 9):
                if k * f0 >= sample_rate / 2:
                    break
                wave += np.sin(2 * np.pi * k * f0 * t) / k
            held = note.end - note.start
            envelope = np.minimum(t / 0.01, 1.0) * np.exp(-2.0 * t)
            envelope *= np.clip(1.0 - (t - held) / release, 0.0, 1.0)
            out[start : start + n] += (note.velocity / 127.0) * 0.2 * wave * envelope
    return out.astype(np.float32)


def note_midi(pitch: int, program: int, velocity: int = 100, held: float = 3.0, is_drum: bool = False) -> pretty_midi.PrettyMIDI:
    """A single note held for ``held`` seconds on a General MIDI program (NSynth-style notes)."""
    pm = pretty_midi.PrettyMIDI()
    instrument = pretty_midi.Instrument(program=program, is_drum=is_drum)
    instrument.notes.append(pretty_midi.Note(velocity=velocity, pitch=pitch, start=0.0, end=held))
    pm.instruments.append(instrument)
    return pm
