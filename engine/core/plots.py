"""Figures people would rather look at than read: piano rolls, log-mel spectrograms, rainbowgrams.

Every function returns a ``matplotlib.figure.Figure`` built without pyplot (no global state, safe in
the app's worker threads; Agg backend).
"""

from __future__ import annotations

from typing import Sequence

import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
import pretty_midi  # noqa: E402
from matplotlib.colors import hsv_to_rgb  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from .mel import MelConfig


def _figure(width: float, height: float) -> Figure:
    return Figure(figsize=(width, height), dpi=100, layout="constrained")


def piano_roll(
    midi: pretty_midi.PrettyMIDI | Sequence[pretty_midi.PrettyMIDI],
    titles: Sequence[str] | None = None,
    title: str | None = None,
) -> Figure:
    """Piano roll(s): one panel per MIDI, notes as bars (pitch against time), velocity as opacity."""
    rolls = [midi] if isinstance(midi, pretty_midi.PrettyMIDI) else list(midi)
    fig = _figure(8, 1.0 + 1.6 * len(rolls))
    axes = fig.subplots(len(rolls), 1, squeeze=False)[:, 0]
    notes_all = [n for pm in rolls for inst in pm.instruments if not inst.is_drum for n in inst.notes]
    low = min((n.pitch for n in notes_all), default=60) - 2
    high = max((n.pitch for n in notes_all), default=72) + 2
    end = max((pm.get_end_time() for pm in rolls), default=1.0) or 1.0
    for i, (ax, pm) in enumerate(zip(axes, rolls)):
        for inst in pm.instruments:
            if inst.is_drum:
                continue
            for n in inst.notes:
                ax.broken_barh(
                    [(n.start, n.end - n.start)], (n.pitch - 0.4, 0.8),
                    facecolors="tab:blue", alpha=0.35 + 0.65 * n.velocity / 127,
                )
        ax.set_ylim(low, high)
        ax.set_xlim(0, end)
        ax.set_ylabel("pitch")
        ax.grid(alpha=0.3)
        if titles is not None and i < len(titles):
            ax.set_title(titles[i], fontsize=9, loc="left")
    axes[-1].set_xlabel("time (s)")
    if title:
        fig.suptitle(title)
    return fig


def spectrogram(log_mel: np.ndarray, cfg: MelConfig = MelConfig(), title: str | None = None, ax=None) -> Figure:
    """A log-mel spectrogram ``[n_mels x frames]`` as an image (time in seconds, mel bins upward)."""
    fig = ax.figure if ax is not None else _figure(8, 2.6)
    ax = ax if ax is not None else fig.add_subplot(1, 1, 1)
    seconds = log_mel.shape[1] * cfg.hop_length / cfg.sample_rate
    image = ax.imshow(
        log_mel, origin="lower", aspect="auto", cmap="magma", extent=(0, seconds, 0, log_mel.shape[0])
    )
    ax.set_xlabel("time (s)")
    ax.set_ylabel("mel bin")
    fig.colorbar(image, ax=ax, label="log magnitude")
    if title:
        ax.set_title(title, fontsize=10)
    return fig


def mel_figure(audio: np.ndarray, cfg: MelConfig = MelConfig(), title: str | None = None) -> Figure:
    """Compute and plot the log-mel spectrogram of ``audio : ndarray[T]`` at ``cfg.sample_rate``."""
    import torch

    from .mel import mel_spectrogram

    mel = mel_spectrogram(torch.as_tensor(audio, dtype=torch.float32), cfg).numpy()
    return spectrogram(mel, cfg, title)


def rainbowgram_image(audio: np.ndarray, sample_rate: int, bins_per_octave: int = 24, n_octaves: int = 8,
                      hop_length: int = 256, floor_db: float = -70.0) -> np.ndarray:
    """The NSynth rainbowgram as an RGB image ``ndarray[bins x frames x 3]``: CQT magnitude (dB) as
    brightness, instantaneous frequency (the time derivative of the unwrapped phase) as hue."""
    import librosa

    fmin = librosa.note_to_hz("C1")
    n_octaves = min(n_octaves, int(np.floor(np.log2(sample_rate / 2 / fmin))))
    cqt = librosa.cqt(
        audio.astype(np.float32), sr=sample_rate, hop_length=hop_length, fmin=fmin,
        n_bins=bins_per_octave * n_octaves, bins_per_octave=bins_per_octave,
    )
    db = librosa.amplitude_to_db(np.abs(cqt), ref=np.max)
    brightness = np.clip((db - floor_db) / -floor_db, 0.0, 1.0)
    phase = np.unwrap(np.angle(cqt), axis=1)
    inst_freq = np.diff(phase, axis=1, prepend=phase[:, :1])
    hue = (np.mod(inst_freq, 2 * np.pi) / (2 * np.pi))
    hsv = np.stack([hue, np.ones_like(hue), brightness], axis=-1)
    return hsv_to_rgb(hsv)


def rainbowgram(audio: np.ndarray, sample_rate: int, title: str | None = None, ax=None) -> Figure:
    """Plot the rainbowgram of ``audio : ndarray[T]`` (see :func:`rainbowgram_image`)."""
    fig = ax.figure if ax is not None else _figure(6, 3)
    ax = ax if ax is not None else fig.add_subplot(1, 1, 1)
    image = rainbowgram_image(audio, sample_rate)
    seconds = len(audio) / sample_rate
    ax.imshow(image, origin="lower", aspect="auto", extent=(0, seconds, 0, image.shape[0]))
    ax.set_xlabel("time (s)")
    ax.set_ylabel("CQT bin (24/oct from C1)")
    if title:
        ax.set_title(title, fontsize=10)
    return fig


def subplots_grid(n_rows: int, n_cols: int, width: float = 10, height: float = 6) -> tuple[Figure, np.ndarray]:
    """An empty figure with an ``n_rows x n_cols`` grid of axes, for the 4-corner views."""
    fig = _figure(width, height)
    axes = fig.subplots(n_rows, n_cols, squeeze=False)
    return fig, axes


def embedding_figure(
    embeddings: Sequence[np.ndarray], titles: Sequence[str] | None = None, frame_seconds: float = 512 / 16000
) -> Figure:
    """Temporal embeddings ``[channels x frames]`` (e.g. the timbre model's 16 x 125), one panel each, every
    channel a line over time, on one shared value axis."""
    fig = _figure(8, 0.8 + 1.5 * len(embeddings))
    axes = fig.subplots(len(embeddings), 1, squeeze=False, sharex=True, sharey=True)[:, 0]
    for i, (ax, z) in enumerate(zip(axes, embeddings)):
        z = np.asarray(z)
        t = np.arange(z.shape[-1]) * frame_seconds
        for channel in z:
            ax.plot(t, channel, linewidth=0.8)
        ax.grid(alpha=0.3)
        if titles is not None and i < len(titles):
            ax.set_title(titles[i], fontsize=9, loc="left")
    axes[-1].set_xlabel("time (s)")
    return fig
