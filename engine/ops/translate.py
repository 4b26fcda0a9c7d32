"""Music translation operations, shared by ``latentlab translate`` and the app's "Translate" tab.

    engine = resolve_engine("auto")                      # "umt" when a translation model is installed, else "tone"
    audio = read_input("clip.mp3", engine_rate(engine))  # any format / rate / channels, mono, resampled
    outs = translate(audio, ["violin", "flute"], engine=engine)   # {"violin": ndarray[T], ...}; outs.sample_rate

Two engines:

- ``umt``, polyphonic translation: the universal music translation network of ``checkpoints/translate``.
  Its frame architecture (:mod:`engine.models.frame_translator`) encodes the clip's log-mel once and each
  target's decoder writes that instrument's mel frames, voiced by the best shipped vocoder
  (:func:`engine.ops.vocode.default_vocoder`, or ``vocoder=``); the output keeps the input's phase wherever
  the input is loud (``phase="input"``, the vocoder's magnitude: the notes stay the input's). Its WaveNet architecture
  (:mod:`engine.models.translator`) plays the latent sample by sample with the WaveNet core's fast
  generation; the clip is cut into ``streams`` equal chunks generated side by side (one batch), joined
  with a short cross-fade.
- ``tone``, monophonic tone transfer: f0 and loudness of the clip drive the DDSP timbre model with the
  target instrument's embedding (:mod:`engine.ops.tone`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
import torch

from ..core.audio import crossfade_join, load_audio, mulaw_decode, peak_normalize
from ..core.checkpoint import load_cached, load_checkpoint, read_config, resolve_checkpoint_dir
from ..core.errors import LatentLabError
from ..core.mel import MelConfig
from ..models.frame_translator import FrameTranslator, FrameTranslatorConfig
from ..models.translator import SAMPLE_RATE, Translator, TranslatorConfig
from ..nn.wavenet.generate import generate

DEFAULT_MODEL = "translate"  # the shipped checkpoint
MAX_SECONDS = 10.0  # the longest clip the WaveNet translator takes (decoding runs sample by sample)
MAX_FAST_SECONDS = 30.0  # ... and the frame translator and tone transfer
MIN_SECONDS = 0.1
INPUT_PEAK = 0.9  # inputs are peak-normalised like the training renders
STREAM_SECONDS = 1.0  # a clip is decoded as parallel chunks of at least this length ...
MAX_STREAMS = 8  # ... and at most this many of them
FADE = 400  # samples of cross-fade between chunks (25 ms)
PHASES = ("input", "vocoder")  # where the frame translator's output phase comes from (see translate's ``phase``)
MEL = MelConfig(sample_rate=SAMPLE_RATE, n_fft=1024, hop_length=256, win_length=1024, n_mels=80, fmax=8000.0)

Progress = Callable[[float, str], None]
ENGINES = {
    "umt": "polyphonic translation (universal music translation network)",
    "tone": "monophonic tone transfer (DDSP timbre model)",
}
FRAMES_ARCH = "umt_frames"


class Translation(dict):
    """``{target: ndarray[T] float32}``, with the rate of that audio as ``.sample_rate``."""

    def __init__(self, outputs: dict[str, np.ndarray], sample_rate: int):
        super().__init__(outputs)
        self.sample_rate = int(sample_rate)


def check_engine(engine: str) -> str:
    if engine not in (*ENGINES, "auto"):
        raise LatentLabError(f"unknown engine {engine!r}: choose one of {', '.join(ENGINES)} (or auto)")
    return engine


def engine_available(engine: str, model: str | Path = DEFAULT_MODEL) -> bool:
    """Whether an engine can run: ``umt`` needs a translation checkpoint, ``tone`` the DDSP timbre model."""
    from . import tone

    return model_available(model) if check_engine(engine) == "umt" else tone.is_available()


def resolve_engine(engine: str = "auto", model: str | Path = DEFAULT_MODEL) -> str:
    """``auto`` -> ``umt`` when a translation model is installed, else ``tone`` when the timbre model is."""
    if check_engine(engine) != "auto":
        return engine
    return "tone" if not model_available(model) and engine_available("tone") else "umt"


def engine_domains(engine: str, model: str | Path = DEFAULT_MODEL) -> list[str]:
    """The instruments an engine can play."""
    from . import tone

    return tone.domains() if resolve_engine(engine, model) == "tone" else list_domains(model)


def engine_rate(engine: str, model: str | Path = DEFAULT_MODEL) -> int:
    """The sample rate an engine takes and returns (16 kHz for tone transfer; the model's for ``umt``)."""
    from . import tone

    if resolve_engine(engine, model) == "tone":
        return tone.SAMPLE_RATE
    return int(read_config(resolve_checkpoint_dir(model))["config"].get("sample_rate", SAMPLE_RATE))


def engine_max_seconds(engine: str, model: str | Path = DEFAULT_MODEL) -> float:
    """The longest clip an engine takes."""
    if resolve_engine(engine, model) == "umt" and read_config(resolve_checkpoint_dir(model)).get("arch") != FRAMES_ARCH:
        return MAX_SECONDS
    return MAX_FAST_SECONDS


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


def _build(directory: Path, device: torch.device) -> Translator | FrameTranslator:
    ckpt = load_checkpoint(directory, device=device)
    if ckpt.kind != "translate":
        raise LatentLabError(f"{directory} is a {ckpt.kind} model, not a translation model")
    if ckpt.arch == FRAMES_ARCH:
        model = ckpt.load_into(FrameTranslator(ckpt.build_config(FrameTranslatorConfig)))
    else:
        model = ckpt.load_into(Translator(ckpt.build_config(TranslatorConfig)))
    return model.to(device).eval()


def load_model(model: str | Path = DEFAULT_MODEL, device: str | torch.device | None = None) -> Translator | FrameTranslator:
    """Load a translation checkpoint (cached; reloaded when its weights file changes)."""
    return load_cached(model, _build, device)


def read_input(source: str | Path | bytes, sample_rate: int = SAMPLE_RATE, max_seconds: float = MAX_SECONDS) -> np.ndarray:
    """Any audio file -> mono float32 at ``sample_rate``; longer than ``max_seconds`` is a clear error."""
    audio = load_audio(source, sample_rate, max_duration=max_seconds)
    if len(audio) < MIN_SECONDS * sample_rate:
        raise LatentLabError(f"the clip is {len(audio) / sample_rate:.2f} s long; translate at least {MIN_SECONDS} s")
    return audio


def _chunks(length: int, streams: int) -> list[tuple[int, int]]:
    """Split [0, length) into ``streams`` spans that overlap by FADE samples."""
    edges = np.linspace(0, length, streams + 1).astype(int)
    return [(max(0, int(a) - (FADE if i else 0)), int(b)) for i, (a, b) in enumerate(zip(edges[:-1], edges[1:]))]


def _join(parts: list[np.ndarray], spans: list[tuple[int, int]], length: int) -> np.ndarray:
    """Overlap-add the chunks with linear cross-fades over the FADE samples they share."""
    return crossfade_join(parts, spans, length, FADE)


@torch.no_grad()
def translate(
    audio: np.ndarray,
    targets: str | list[str],
    model: str | Path | Translator | FrameTranslator = DEFAULT_MODEL,
    device: str | torch.device | None = None,
    seed: int = 0,
    temperature: float | None = None,
    streams: int | None = None,
    progress: Progress | None = None,
    engine: str = "umt",
    vocoder: str | None = None,
    phase: str = "input",
) -> Translation:
    """Play ``audio`` on each target instrument.

    Parameters
    ----------
    audio : ndarray[T], mono float at the engine's rate (:func:`engine_rate`; see :func:`read_input`)
    targets : a domain name or a list of them (see :func:`engine_domains`)
    model : checkpoint name / directory, or a loaded translator (``umt`` engine)
    seed : sampling seed (the same seed gives the same audio)
    temperature : sampling temperature of the WaveNet decoders' softmax (None: the model's ``temperature``)
    streams : parallel chunks the WaveNet decoders decode (default: one per :data:`STREAM_SECONDS`, at most
        :data:`MAX_STREAMS`)
    progress : called as ``progress(fraction, message)`` while decoding
    engine : ``umt`` (the translation network), ``tone`` (monophonic tone transfer) or ``auto``
    vocoder : the frame translator's vocoder (default: :func:`engine.ops.vocode.default_vocoder`)
    phase : the frame translator's output phase: ``input`` (the input's phase wherever the input is loud, the
        vocoder's magnitude: :func:`engine.nn.spectral.keep_phase`) or ``vocoder`` (the vocoder's own)

    Returns
    -------
    :class:`Translation` ``{target: ndarray[T] float32, peak-normalised to 0.9}`` with ``.sample_rate``
    """
    if not isinstance(model, (Translator, FrameTranslator)) and resolve_engine(engine, model) == "tone":
        return _tone(audio, targets, device, seed, progress)
    net = model if isinstance(model, (Translator, FrameTranslator)) else load_model(model, device)
    if isinstance(net, FrameTranslator):
        return _translate_frames(net, audio, targets, vocoder, progress, phase)
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
    return Translation(results, net.config.sample_rate)


def _check_clip(audio: np.ndarray, rate: int, max_seconds: float) -> np.ndarray:
    audio = np.asarray(audio, dtype=np.float32).reshape(-1)
    if audio.size > max_seconds * rate + 1:
        raise LatentLabError(f"the clip is {audio.size / rate:.1f} s long; the limit is {max_seconds:.0f} s — trim it first")
    if audio.size < MIN_SECONDS * rate:
        raise LatentLabError(f"the clip is {audio.size / rate:.2f} s long; translate at least {MIN_SECONDS} s")
    if not np.all(np.isfinite(audio)):
        raise LatentLabError("the clip contains NaN or infinite samples")
    return audio


def _tone(audio: np.ndarray, targets: str | list[str], device, seed: int, progress: Progress | None) -> Translation:
    from . import tone

    audio = _check_clip(audio, tone.SAMPLE_RATE, MAX_FAST_SECONDS)
    return Translation(tone.transfer(audio, targets, device=device, seed=seed, progress=progress), tone.SAMPLE_RATE)


@torch.no_grad()
def _translate_frames(net: FrameTranslator, audio: np.ndarray, targets: str | list[str], vocoder: str | None,
                      progress: Progress | None, phase: str = "input") -> Translation:
    from ..nn.spectral import keep_phase
    from .vocode import analyze, default_vocoder, is_available, synthesize

    if phase not in PHASES:
        raise LatentLabError(f"unknown phase {phase!r}: choose {' or '.join(PHASES)}")
    targets = [targets] if isinstance(targets, str) else list(targets)
    if not targets:
        raise LatentLabError("choose at least one target instrument")
    for t in targets:
        net.domain_index(t)
    rate = net.config.sample_rate
    audio = _check_clip(audio, rate, MAX_FAST_SECONDS)
    name = vocoder or default_vocoder()
    if not is_available(name):
        raise LatentLabError(f"the {name} vocoder is not installed: train it with `latentlab train vocode {name}`")
    dev = next(net.parameters()).device
    mel = torch.from_numpy(analyze(peak_normalize(audio, INPUT_PEAK)))[None].to(dev)
    z = net.encode(mel)
    results = {}
    for k, target in enumerate(targets):
        if progress is not None:
            progress(k / len(targets), f"playing it on {target}")
        frames = net.decode(z, target, mel.shape[-1])[0]
        wave = synthesize(frames.float().cpu().numpy(), name, dev).audio
        wave = np.pad(wave, (0, max(0, audio.size - wave.size)))[: audio.size]
        if phase == "input":
            whole = audio.size // MEL.hop_length * MEL.hop_length
            kept = keep_phase(torch.from_numpy(wave[None, :whole]), torch.from_numpy(audio[None, :whole]))
            wave = np.concatenate([kept[0].numpy(), wave[whole:]])
        results[target] = peak_normalize(wave, 0.9)
    if progress is not None:
        progress(1.0, "done")
    return Translation(results, rate)


def spectrogram_figure(audio: np.ndarray, title: str | None = None, sample_rate: int = SAMPLE_RATE):
    """A log-mel spectrogram figure of audio at ``sample_rate`` (for the app)."""
    from dataclasses import replace

    from ..core.plots import mel_figure

    return mel_figure(np.asarray(audio, dtype=np.float32), replace(MEL, sample_rate=sample_rate), title)
