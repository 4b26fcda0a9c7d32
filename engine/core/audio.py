"""Audio I/O and the few sample-level transforms every model needs.

Loading accepts any common format, sample rate and channel count (soundfile; librosa's audioread
fallback covers mp3 and friends when ffmpeg is installed) and returns mono float32 at the rate asked
for. Mu-law is the 8-bit, 256-class companding of WaveNet (mu = 255).
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from .errors import LatentLabError

MU = 255  # mu-law companding constant
N_CLASSES = MU + 1  # 256 quantisation classes
MAX_DURATION_S = 60.0  # default cap for uploaded / CLI audio
MAX_FILE_BYTES = 50 * 1024 * 1024  # default cap on an audio file's size
SILENCE_PEAK = 1e-4  # a clip whose peak is below this counts as silent


def load_audio(
    source: str | Path | bytes,
    sample_rate: int,
    max_duration: float | None = MAX_DURATION_S,
    max_bytes: int | None = MAX_FILE_BYTES,
    allow_silent: bool = False,
) -> np.ndarray:
    """Load a file as mono float32 at ``sample_rate``.

    Parameters
    ----------
    source : a path or the file's bytes
    sample_rate : the rate to resample to
    max_duration : seconds; a longer clip is a clear error (None: no cap)
    max_bytes : size cap on the file (None: no cap)
    allow_silent : whether an all-silent clip is accepted

    Returns
    -------
    audio : ndarray[T], float32
    """
    name = "audio" if isinstance(source, bytes) else str(source)
    if not isinstance(source, bytes):
        path = Path(source)
        if not path.is_file():
            raise LatentLabError(f"no such audio file: {path}")
        size = path.stat().st_size
    else:
        size = len(source)
    if size == 0:
        raise LatentLabError(f"{name} is empty (0 bytes)")
    if max_bytes is not None and size > max_bytes:
        raise LatentLabError(f"{name} is {size / 2**20:.1f} MB; the limit is {max_bytes / 2**20:.0f} MB")
    audio, rate = _decode(source, name)
    if audio.ndim == 2:
        audio = audio.mean(axis=1)
    if audio.size == 0:
        raise LatentLabError(f"{name} holds no audio samples")
    duration = audio.shape[0] / rate
    if max_duration is not None and duration > max_duration + 1e-6:
        raise LatentLabError(f"{name} is {duration:.1f} s long; the limit is {max_duration:.0f} s — trim it first")
    if not np.all(np.isfinite(audio)):
        raise LatentLabError(f"{name} contains NaN or infinite samples")
    audio = resample(audio.astype(np.float32), rate, sample_rate)
    if not allow_silent and float(np.max(np.abs(audio), initial=0.0)) < SILENCE_PEAK:
        raise LatentLabError(f"{name} is silent")
    return audio


def _decode(source: str | Path | bytes, name: str) -> tuple[np.ndarray, int]:
    """Decode with soundfile; fall back to librosa (audioread / ffmpeg) for mp3, m4a and the like."""
    try:
        data = io.BytesIO(source) if isinstance(source, bytes) else str(source)
        audio, rate = sf.read(data, dtype="float32", always_2d=False)
        return audio, int(rate)
    except (sf.LibsndfileError, RuntimeError, TypeError):
        pass
    try:
        import warnings

        import librosa

        warnings.filterwarnings("ignore", message="PySoundFile failed", category=UserWarning)
        warnings.filterwarnings("ignore", category=FutureWarning, module="librosa")
        if isinstance(source, bytes):
            import tempfile

            with tempfile.NamedTemporaryFile(suffix=".bin", delete=False) as f:
                f.write(source)
            try:
                audio, rate = librosa.load(f.name, sr=None, mono=True)
            finally:
                os.unlink(f.name)
        else:
            audio, rate = librosa.load(str(source), sr=None, mono=True)
        return audio, int(rate)
    except Exception as e:  # audioread raises a zoo of types; all mean "cannot decode"
        hint = "" if _have_ffmpeg() else " (install ffmpeg to read mp3/m4a)"
        raise LatentLabError(f"cannot read {name} as audio{hint}: use WAV, FLAC, OGG or MP3") from e


def _have_ffmpeg() -> bool:
    from shutil import which

    return which("ffmpeg") is not None


def resample(audio: np.ndarray, orig_rate: int, target_rate: int) -> np.ndarray:
    """Band-limited resampling (soxr through librosa). ``audio : ndarray[..., T]``."""
    if orig_rate == target_rate:
        return audio
    import librosa

    return librosa.resample(audio, orig_sr=orig_rate, target_sr=target_rate, res_type="soxr_hq").astype(np.float32)


def peak_normalize(audio: np.ndarray, peak: float = 0.95) -> np.ndarray:
    """Scale so the largest absolute sample is ``peak`` (silence is returned unchanged)."""
    top = float(np.max(np.abs(audio), initial=0.0))
    return audio if top < 1e-9 else (audio * (peak / top)).astype(np.float32)


def fit_length(audio: np.ndarray, length: int) -> np.ndarray:
    """Cut or zero-pad the last axis to exactly ``length`` samples."""
    if audio.shape[-1] >= length:
        return audio[..., :length]
    pad = [(0, 0)] * (audio.ndim - 1) + [(0, length - audio.shape[-1])]
    return np.pad(audio, pad)


def crossfade_join(parts: list[np.ndarray], spans: list[tuple[int, int]], length: int, fade: int) -> np.ndarray:
    """Overlap-add chunks ``parts[i]`` placed at ``spans[i] = (start, end)``, each chunk after the first
    faded in linearly over the ``fade`` samples it shares with the one before (which fades out there)."""
    out = np.zeros(length, dtype=np.float32)
    for i, (part, (a, b)) in enumerate(zip(parts, spans)):
        part = np.asarray(part[: b - a], dtype=np.float32).copy()
        if i:
            n = min(fade, len(part))
            ramp = np.linspace(0.0, 1.0, n, dtype=np.float32)
            part[:n] *= ramp
            out[a : a + n] *= 1.0 - ramp
        out[a:b] += part
    return out


def save_wav(path: str | Path, audio: np.ndarray | torch.Tensor, sample_rate: int) -> Path:
    """Write mono float audio as 16-bit PCM WAV (clipped to [-1, 1]). Returns the path."""
    if isinstance(audio, torch.Tensor):
        audio = audio.detach().cpu().numpy()
    audio = np.clip(np.asarray(audio, dtype=np.float32).reshape(-1), -1.0, 1.0)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), audio, sample_rate, subtype="PCM_16")
    return path


def mulaw_encode(audio: torch.Tensor, mu: int = MU) -> torch.Tensor:
    """Float audio in [-1, 1] -> integer classes in [0, mu]. ``audio : Tensor[...]`` -> LongTensor[...]."""
    audio = audio.clamp(-1.0, 1.0)
    companded = torch.sign(audio) * torch.log1p(mu * audio.abs()) / torch.log1p(torch.tensor(float(mu)))
    return ((companded + 1) / 2 * mu + 0.5).long().clamp(0, mu)


def mulaw_decode(classes: torch.Tensor, mu: int = MU) -> torch.Tensor:
    """Integer classes in [0, mu] -> float audio in [-1, 1] (inverse of :func:`mulaw_encode`)."""
    companded = 2 * classes.float() / mu - 1
    return torch.sign(companded) * ((1 + mu) ** companded.abs() - 1) / mu
