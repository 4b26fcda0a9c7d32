"""Music translation operations, shared by ``latentlab translate`` and the app's "Translate" tab.

    audio = read_input("clip.mp3")                       # any format / rate / channels, mono 16 kHz
    outs = translate(audio, ["violin", "flute"])         # {"violin": ndarray[T], "flute": ndarray[T]}

The input is encoded once by the shared encoder; each target's WaveNet decoder then plays the latent
sample by sample with the WaveNet core's fast generation (numba on the CPU, CUDA graphs on a GPU). The
clip is cut into ``streams`` equal chunks generated side by side (one batch), joined with a short
cross-fade: the generation cost per sample falls with the batch, and a chunk boundary costs only the
decoder's warm-up from silence.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
import torch

from ..core.audio import load_audio, mulaw_decode, peak_normalize
from ..core.checkpoint import load_cached, load_checkpoint, read_config, resolve_checkpoint_dir
from ..core.errors import LatentLabError
from ..core.mel import MelConfig
from ..models.translator import SAMPLE_RATE, Translator, TranslatorConfig
from ..nn.wavenet.generate import generate

DEFAULT_MODEL = "translate"  # the shipped checkpoint
MAX_SECONDS = 10.0  # the longest clip we translate (decoding runs sample by sample)
MIN_SECONDS = 0.1
INPUT_PEAK = 0.9  # inputs are peak-normalised like the training renders
STREAM_SECONDS = 1.0  # a clip is decoded as parallel chunks of at least this length ...
MAX_STREAMS = 8  # ... and at most this many of them
FADE = 400  # samples of cross-fade between chunks (25 ms)
MEL = MelConfig(sample_rate=SAMPLE_RATE, n_fft=1024, hop_length=256, win_length=1024, n_mels=80, fmax=8000.0)

Progress = Callable[[float, str], None]


def model_available(model: str | Path = DEFAULT_MODEL) -> bool:
    """Whether a translation checkpoint is installed under that name (or at that path)."""
    try:
        return read_config(resolve_checkpoint_dir(model))["kind"] == "translate"
    except LatentLabError:
        return False


def list_domains(model: str | Path = DEFAULT_MODEL) -> list[str]:
    """The instruments a translation model can play (read from its config, without loading weights)."""
    meta = read_config(resolve_checkpoint_dir(model))
    if meta["kind"] != "translate":
        raise LatentLabError(f"{model} is a {meta['kind']} model, not a translation model")
    return list(meta["config"]["domains"])


def _build(directory: Path, device: torch.device) -> Translator:
    ckpt = load_checkpoint(directory, device=device)
    if ckpt.kind != "translate":
        raise LatentLabError(f"{directory} is a {ckpt.kind} model, not a translation model")
    model = ckpt.load_into(Translator(ckpt.build_config(TranslatorConfig)))
    return model.to(device).eval()


def load_model(model: str | Path = DEFAULT_MODEL, device: str | torch.device | None = None) -> Translator:
    """Load a translation checkpoint (cached; reloaded when its weights file changes)."""
    return load_cached(model, _build, device)


def read_input(source: str | Path | bytes) -> np.ndarray:
    """Any audio file -> mono float32 at 16 kHz; longer than :data:`MAX_SECONDS` is a clear error."""
    audio = load_audio(source, SAMPLE_RATE, max_duration=MAX_SECONDS)
    if len(audio) < MIN_SECONDS * SAMPLE_RATE:
        raise LatentLabError(f"the clip is {len(audio) / SAMPLE_RATE:.2f} s long; translate at least {MIN_SECONDS} s")
    return audio


def _chunks(length: int, streams: int) -> list[tuple[int, int]]:
    """Split [0, length) into ``streams`` spans that overlap by FADE samples."""
    edges = np.linspace(0, length, streams + 1).astype(int)
    return [(max(0, int(a) - (FADE if i else 0)), int(b)) for i, (a, b) in enumerate(zip(edges[:-1], edges[1:]))]


def _join(parts: list[np.ndarray], spans: list[tuple[int, int]], length: int) -> np.ndarray:
    """Overlap-add the chunks with linear cross-fades over the FADE samples they share."""
    out = np.zeros(length, dtype=np.float32)
    for i, (part, (a, b)) in enumerate(zip(parts, spans)):
        part = part[: b - a].astype(np.float32).copy()
        if i:
            n = min(FADE, len(part))
            ramp = np.linspace(0.0, 1.0, n, dtype=np.float32)
            part[:n] *= ramp
            out[a : a + n] *= 1.0 - ramp
        out[a:b] += part
    return out


@torch.no_grad()
def translate(
    audio: np.ndarray,
    targets: str | list[str],
    model: str | Path | Translator = DEFAULT_MODEL,
    device: str | torch.device | None = None,
    seed: int = 0,
    temperature: float | None = None,
    streams: int | None = None,
    progress: Progress | None = None,
) -> dict[str, np.ndarray]:
    """Play ``audio`` on each target instrument.

    Parameters
    ----------
    audio : ndarray[T], mono float at 16 kHz (see :func:`read_input`), at most :data:`MAX_SECONDS`
    targets : a domain name or a list of them (see :func:`list_domains`)
    model : checkpoint name / directory, or a loaded :class:`Translator`
    seed : sampling seed (the same seed gives the same audio)
    temperature : sampling temperature of the decoders' softmax (None: the model's ``temperature``)
    streams : parallel chunks to decode (default: one per :data:`STREAM_SECONDS`, at most :data:`MAX_STREAMS`)
    progress : called as ``progress(fraction, message)`` while decoding

    Returns
    -------
    {target: ndarray[T] float32 at 16 kHz, peak-normalised to 0.9}
    """
    net = model if isinstance(model, Translator) else load_model(model, device)
    temperature = net.config.temperature if temperature is None else temperature
    if not temperature >= 0:
        raise LatentLabError(f"temperature must be >= 0, got {temperature}")
    targets = [targets] if isinstance(targets, str) else list(targets)
    if not targets:
        raise LatentLabError("choose at least one target instrument")
    for t in targets:
        net.domain_index(t)  # unknown names: a clear error before any work
    audio = np.asarray(audio, dtype=np.float32).reshape(-1)
    if audio.size > MAX_SECONDS * SAMPLE_RATE + 1:
        raise LatentLabError(f"the clip is {audio.size / SAMPLE_RATE:.1f} s long; the limit is {MAX_SECONDS:.0f} s — trim it first")
    if audio.size < MIN_SECONDS * SAMPLE_RATE:
        raise LatentLabError(f"the clip is {audio.size / SAMPLE_RATE:.2f} s long; translate at least {MIN_SECONDS} s")
    length = audio.size
    dev = next(net.parameters()).device
    pool = net.config.pool
    padded = np.pad(peak_normalize(audio, INPUT_PEAK), (0, -length % pool))
    z = net.encode(torch.from_numpy(padded)[None].to(dev))
    cond = net.condition(z, length)  # [1 x latent x T]
    n_streams = streams or int(np.clip(length // int(STREAM_SECONDS * SAMPLE_RATE), 1, MAX_STREAMS))
    spans = _chunks(length, n_streams)
    width = max(b - a for a, b in spans)
    conds = torch.stack([torch.nn.functional.pad(cond[0, :, a:b], (0, width - (b - a)), mode="replicate") for a, b in spans])
    results = {}
    for k, target in enumerate(targets):
        def report(fraction: float, k: int = k, target: str = target) -> None:
            if progress is not None:
                progress((k + fraction) / len(targets), f"playing it on {target}")

        report(0.0)
        classes = generate(net.decoders[target], width, cond=conds, temperature=temperature, seed=seed, progress=report)
        parts = [mulaw_decode(row).cpu().numpy() for row in classes]
        results[target] = peak_normalize(_join(parts, spans, length), 0.9)
    if progress is not None:
        progress(1.0, "done")
    return results


def spectrogram_figure(audio: np.ndarray, title: str | None = None):
    """A log-mel spectrogram figure of 16 kHz audio (for the app)."""
    from ..core.plots import mel_figure

    return mel_figure(np.asarray(audio, dtype=np.float32), MEL, title)
