"""Vocode: the operations the CLI and the app share.

- ``VOCODERS`` -- every vocoder by name, as ``"module:Class"`` (imported only when used);
- :func:`load_vocoder` -- a ready-to-run vocoder from ``checkpoints/<name>/`` (cached);
- :func:`analyze` / :func:`analyze_file` -- audio -> the standard log-mel ``[80 x frames]``;
- :func:`load_mel` -- a ``[80 x frames]`` natural-log mel ``.npy`` from another tool, validated;
- :func:`synthesize` / :func:`vocode` -- mel -> audio with any vocoder, timed (real-time factor);

The vocoder interface is :class:`engine.models.vocoders.base.Vocoder`; training is
:func:`engine.train.vocode.train_vocode`.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..core.checkpoint import checkpoint_root, load_cached
from ..core.device import resolve_device
from ..core.errors import LatentLabError
from ..core.mel import MelConfig, mel_spectrogram
from ..core.metrics import Stopwatch, real_time_factor

MEL = MelConfig()  # the one standard mel every vocoder takes
MAX_SECONDS = 60.0  # longest audio / mel accepted
MAX_FRAMES = int(MAX_SECONDS * MEL.sample_rate) // MEL.hop_length  # 5,168 frames
MIN_FRAMES = 2
MAX_MEL_BYTES = 16 * 2**20  # a float64 mel of MAX_FRAMES frames is 3.3 MB

# name -> "module:Class" of the model (engine.models.vocoders.base.Vocoder subclasses)
VOCODERS: dict[str, str] = {
    "griffinlim": "engine.models.vocoders.griffinlim:GriffinLim",
    "wavenet": "engine.models.vocoders.wavenet_vocoder:WaveNetVocoder",
    "waveglow": "engine.models.vocoders.waveglow:WaveGlow",
    "flowavenet": "engine.models.vocoders.flowavenet:FloWaveNet",
    "melgan": "engine.models.vocoders.melgan:MelGAN",
    "parallel_wavenet": "engine.models.vocoders.parallel_wavenet:ParallelWaveNet",
    "hifigan": "engine.models.vocoders.hifigan:HiFiGAN",
    "vocos": "engine.models.vocoders.vocos:Vocos",
}



def import_spec(spec: str) -> Any:
    """The object a ``"module:attr"`` registry entry names (imported now)."""
    module, _, attr = spec.partition(":")
    return getattr(importlib.import_module(module), attr)


def check_name(name: str) -> str:
    if name not in VOCODERS:
        raise LatentLabError(f"unknown vocoder {name!r}: choose one of {', '.join(VOCODERS)}")
    return name


def vocoder_class(name: str) -> type:
    """The model class registered under ``name``."""
    spec = VOCODERS[check_name(name)]
    try:
        return import_spec(spec)
    except (ImportError, AttributeError) as e:
        raise LatentLabError(f"the {name} vocoder is not available in this version ({spec} is missing)") from e


def checkpoint_dir(name: str) -> Path:
    """Where the shipped checkpoint of vocoder ``name`` lives."""
    return checkpoint_root() / check_name(name)


def is_available(name: str) -> bool:
    """Whether ``name`` can run now: it needs no weights, or its checkpoint is installed."""
    try:
        cls = vocoder_class(name)
    except LatentLabError:
        return False
    return not cls.needs_checkpoint or (checkpoint_dir(name) / "model.safetensors").exists()


# the default vocoder, best first: the first whose checkpoint is installed (Griffin-Lim needs none)
PREFERRED = ("vocos", "hifigan", "griffinlim")


def default_vocoder() -> str:
    """The vocoder ``latentlab vocode`` and the Vocode tab use unless told: the first installed of ``PREFERRED``."""
    return next(name for name in PREFERRED if is_available(name))


def load_vocoder(name: str, device: torch.device | str | None = None, checkpoint: str | Path | None = None):
    """A ready-to-run vocoder (eval mode, on ``device``; None: CUDA when present, else CPU); cached.

    checkpoint : a checkpoint directory (default: ``checkpoints/<name>/``)
    """
    cls = vocoder_class(name)
    if not cls.needs_checkpoint:
        return cls(cls.Config()).to(resolve_device(None if device is None else str(device))).eval()
    path = (Path(checkpoint) if checkpoint else checkpoint_dir(name)).resolve()
    if not (path / "model.safetensors").exists():
        raise LatentLabError(
            f"no trained {name} vocoder at {path}: train one with `latentlab train vocode {name}` "
            f"(after `latentlab data vocode`)"
        )
    return load_cached(path, cls.from_checkpoint, device)


# -- mels in ---------------------------------------------------------------------------------------
def analyze(audio: np.ndarray | torch.Tensor) -> np.ndarray:
    """The standard log-mel of 22,050 Hz audio. audio : [T] -> ndarray[80 x T // 256], float32."""
    audio = torch.as_tensor(np.asarray(audio, dtype=np.float32) if not isinstance(audio, torch.Tensor) else audio)
    if audio.dim() != 1:
        raise LatentLabError(f"expected mono audio [samples], got shape {list(audio.shape)}")
    if audio.shape[0] < MIN_FRAMES * MEL.hop_length:
        raise LatentLabError(f"the audio is too short: at least {MIN_FRAMES * MEL.hop_length} samples are needed")
    with torch.no_grad():
        return mel_spectrogram(audio.float().cpu(), MEL).numpy()


def analyze_file(path: str | Path | bytes, max_seconds: float = MAX_SECONDS) -> tuple[np.ndarray, np.ndarray]:
    """Load any audio file at 22,050 Hz mono and analyse it: (audio ndarray[T], mel ndarray[80 x frames])."""
    from ..core.audio import load_audio

    audio = load_audio(path, MEL.sample_rate, max_duration=max_seconds)
    return audio, analyze(audio)


def check_mel(mel: np.ndarray, name: str = "the mel") -> np.ndarray:
    """Validate an [80 x frames] natural-log mel; returns it as float32 (a [1 x 80 x frames] one is squeezed)."""
    mel = np.asarray(mel)
    if mel.dtype.kind not in "fiu" or mel.dtype == np.bool_:
        raise LatentLabError(f"{name} has dtype {mel.dtype}; a mel must hold real numbers (float32)")
    if mel.ndim == 3 and mel.shape[0] == 1:
        mel = mel[0]
    if mel.ndim != 2:
        raise LatentLabError(f"{name} has shape {list(mel.shape)}; expected [80, frames]")
    if mel.shape[0] != MEL.n_mels:
        hint = " (it looks transposed: save mel.T)" if mel.shape[1] == MEL.n_mels else ""
        raise LatentLabError(f"{name} has shape {list(mel.shape)}; expected [{MEL.n_mels}, frames]{hint}")
    frames = mel.shape[1]
    if frames < MIN_FRAMES:
        raise LatentLabError(f"{name} has {frames} frame(s); at least {MIN_FRAMES} are needed")
    if frames > MAX_FRAMES:
        raise LatentLabError(
            f"{name} has {frames} frames ({frames * MEL.hop_length / MEL.sample_rate:.0f} s); "
            f"the limit is {MAX_FRAMES} frames ({MAX_SECONDS:.0f} s) — split it"
        )
    if not np.all(np.isfinite(mel)):
        raise LatentLabError(f"{name} contains NaN or infinite values")
    if float(mel.min()) >= 0.0:
        raise LatentLabError(
            f"{name} has no negative values, so it is not a natural-log mel: pass log(clamp(mel, 1e-5))"
        )
    return mel.astype(np.float32)


def load_mel(source: str | Path | bytes) -> np.ndarray:
    """Read and validate a mel ``.npy`` ([80, frames], natural log, HiFi-GAN / Tacotron 2 standard).

    Never unpickles (``allow_pickle=False``); a wrong shape, dtype, NaN or too long a mel is a clear error.
    """
    import io

    name = "the mel file" if isinstance(source, bytes) else str(source)
    if not isinstance(source, bytes) and not Path(source).is_file():
        raise LatentLabError(f"no such mel file: {source}")
    size = len(source) if isinstance(source, bytes) else Path(source).stat().st_size
    if size > MAX_MEL_BYTES:
        raise LatentLabError(f"{name} is {size / 2**20:.1f} MB; a mel file is at most {MAX_MEL_BYTES // 2**20} MB")
    data = source if isinstance(source, bytes) else Path(source).read_bytes()
    if data[:2] == b"PK":
        raise LatentLabError(f"{name} is an .npz archive; save the one [80, frames] array with np.save")
    if data[:6] != b"\x93NUMPY":
        raise LatentLabError(f"{name} is not a NumPy .npy array (save the mel with np.save)")
    try:
        mel = np.load(io.BytesIO(data), allow_pickle=False)
    except ValueError as e:
        if "pickle" in str(e).lower():
            raise LatentLabError(f"{name} holds Python objects; save a plain float32 array with np.save") from e
        raise LatentLabError(f"{name} is not a readable NumPy .npy array ({e})") from e
    except (OSError, EOFError) as e:
        raise LatentLabError(f"{name} is not a readable NumPy .npy array ({e})") from e
    return check_mel(mel, name)


# -- audio out -------------------------------------------------------------------------------------
@dataclass
class Synthesis:
    """A vocoder's output and how long it took."""

    audio: np.ndarray  # float32[frames * 256] at 22,050 Hz
    wall_seconds: float
    vocoder: str

    @property
    def seconds(self) -> float:
        return len(self.audio) / MEL.sample_rate

    @property
    def rtf(self) -> float:
        """Real-time factor: seconds of audio made per second of wall time."""
        return real_time_factor(self.seconds, self.wall_seconds)


def synthesize(mel: np.ndarray | torch.Tensor, name: str, device: torch.device | str = "cpu",
               checkpoint: str | Path | None = None, **options: Any) -> Synthesis:
    """Vocode a validated mel [80 x frames] with vocoder ``name``; times the synthesis alone (not loading)."""
    mel = check_mel(mel.detach().cpu().numpy() if isinstance(mel, torch.Tensor) else mel)
    model = load_vocoder(name, device, checkpoint)
    unknown = sorted(set(options) - set(model.options()))
    if unknown:
        known = ", ".join(model.options()) or "none"
        raise LatentLabError(f"the {name} vocoder has no option {', '.join(unknown)} (its options: {known})")
    x = torch.from_numpy(mel).unsqueeze(0).to(device)
    with torch.inference_mode():
        with Stopwatch() as sw:
            audio = model.infer(x, **options)
            if torch.device(device).type == "cuda":
                torch.cuda.synchronize()
    audio = audio[0].float().cpu().numpy()
    return Synthesis(np.clip(audio, -1.0, 1.0).astype(np.float32), sw.seconds, name)


def vocode(mel: np.ndarray | torch.Tensor, name: str, device: torch.device | str = "cpu", **options: Any) -> np.ndarray:
    """mel [80 x frames] (natural log) -> audio float32[frames * 256] at 22,050 Hz with vocoder ``name``."""
    return synthesize(mel, name, device, **options).audio


# -- side by side ----------------------------------------------------------------------------------
@dataclass
class Comparison:
    """One vocoder's output in a side-by-side comparison, with its distances to the input."""

    vocoder: str
    synthesis: Synthesis | None  # None when the vocoder could not run (see ``error``)
    mr_stft: float | None = None  # to the input audio (None for a mel input: there is no audio to compare)
    mel_l1: float | None = None  # between the output's mel and the input mel
    error: str | None = None


def compare(
    mel: np.ndarray,
    names: list[str],
    reference: np.ndarray | None = None,
    device: torch.device | str = "cpu",
    options: dict[str, dict[str, Any]] | None = None,
    on_start: Any = None,
) -> list[Comparison]:
    """Vocode one mel with several vocoders and score each against the input.

    mel : ndarray[80 x frames]; reference : the audio the mel came from (enables MR-STFT distance);
    options : per-vocoder options, e.g. ``{"griffinlim": {"n_iter": 64}}``; on_start(i, name) is called before
    each vocoder (progress reporting). A vocoder that is not trained gives an entry with ``error`` set.
    """
    from ..core.metrics import mr_stft_distance
    from ..nn.losses import mel_l1

    mel = check_mel(mel)
    results = []
    for i, name in enumerate(names):
        check_name(name)
        if on_start is not None:
            on_start(i, name)
        if not is_available(name):
            results.append(Comparison(name, None, error=f"not trained (latentlab train vocode {name})"))
            continue
        synthesis = synthesize(mel, name, device, **(options or {}).get(name, {}))
        with torch.no_grad():
            l1 = float(mel_l1(torch.from_numpy(synthesis.audio)[None], y_mel=torch.from_numpy(mel)[None]))
        distance = mr_stft_distance(synthesis.audio, reference) if reference is not None else None
        results.append(Comparison(name, synthesis, distance, l1))
    return results
