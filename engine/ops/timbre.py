"""Timbre operations; the CLI (``latentlab timbre``) and the app call these. Two models answer them:

- the DDSP autoencoder (``checkpoints/timbre_ddsp``, :mod:`engine.models.ddsp`): f0 + loudness + z drive a
  harmonic-plus-noise synthesizer, so it keeps the pitch it is given and decodes far faster than real time;
- the NSynth WaveNet autoencoder (``checkpoints/timbre``, :mod:`engine.models.nsynth`): z + pitch drive an
  autoregressive WaveNet, sample by sample.

Both encode a 4 s note to a ``[16 x 125]`` embedding (one frame per 512 samples). What a DDSP morph
interpolates: z, and per control frame the f0 (in semitones) and the A-weighted loudness (in dB) of the notes.

- :func:`load_model` -- a trained timbre model (cached);
- :func:`prepare` -- any audio (path, bytes or array) as a 4 s, 16 kHz mono note;
- :func:`estimate_pitch` -- the note's MIDI pitch (pYIN median f0), for the decoder's pitch input;
- :func:`encode` / :func:`decode` / :func:`reconstruct` -- note <-> embedding ``[16 x frames]``;
- :func:`morph` -- N steps on the line between two embeddings, each beside the plain audio mix at the
  same weights (the contrast the NSynth paper draws);
- :func:`grid` -- a bilinear grid between four corner notes (the NSynth Super layout).

The NSynth decoder is autoregressive (the WaveNet core's cached generation, compiled with numba on the CPU);
every function that decodes takes a ``progress(fraction)`` callback.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch

from ..core.audio import fit_length, load_audio, mulaw_decode, mulaw_encode
from ..core.device import bf16_autocast
from ..core.checkpoint import load_cached, load_checkpoint, resolve_checkpoint_dir
from ..core.errors import LatentLabError
from ..models.ddsp import DDSPAutoencoder, DDSPConfig
from ..models.nsynth import NSynthAutoencoder, NSynthConfig
from ..nn.synth import hz_to_midi, midi_to_hz

SAMPLE_RATE = 16_000  # the model's rate
NOTE_SECONDS = 4.0  # every input is cut or padded to this
NOTE_SAMPLES = int(SAMPLE_RATE * NOTE_SECONDS)
MAX_INPUT_SECONDS = 30.0  # longer uploads are refused; 4..30 s are cut to their first 4 s
MAX_DECODE_FRAMES = 8 * 125  # an embedding longer than this (32 s of audio) is refused
MAX_STEPS = 16  # most morph steps
MAX_GRID = 5  # most rows / columns of a grid
DEFAULT_PITCH = 60  # the decoder's pitch when decoding an embedding with none given
TEMPERATURE = 1.0  # default sampling temperature of the decoder
PITCH_RANGE = (21, 108)  # NSynth's pitches, the ones the decoder's pitch input is trained on
SEARCH_SEMITONES = 24  # pYIN looks this far either side of a known pitch
DEFAULT_MODEL = "timbre_ddsp"  # the shipped DDSP model; "timbre" is the NSynth WaveNet autoencoder
MODELS = {"timbre_ddsp": "DDSP harmonic-plus-noise autoencoder", "timbre": "NSynth WaveNet autoencoder"}
DDSP_ARCH = "ddsp_timbre_ae"
DEFAULT_LOUDNESS_DB = -30.0  # the DDSP decoder's loudness when an embedding comes without one
TRACK_SEMITONES = 3  # pYIN follows an upload's f0 this far either side of its estimated pitch
MIN_VOICED = 0.1  # a clip with fewer voiced frames than this (of its sounding ones) has no pitch to follow
TimbreModel = NSynthAutoencoder | DDSPAutoencoder
# Bundled example notes (NSynth layout), made by
# `latentlab data timbre -o assets/notes --programs 0 24 40 56 73 81 --pitches 60 67 --velocities 100 --no-split`
EXAMPLES_DIR = Path(__file__).resolve().parents[2] / "assets" / "notes"
Progress = Callable[[float], None]


# -- the model ------------------------------------------------------------------------------------


def is_available(name: str = DEFAULT_MODEL) -> bool:
    """Whether a trained timbre checkpoint ``name`` is installed."""
    try:
        return (resolve_checkpoint_dir(name) / "model.safetensors").exists()
    except LatentLabError:
        return False


def available_models() -> list[str]:
    """The installed timbre checkpoints among :data:`MODELS`, the default first."""
    return [name for name in MODELS if is_available(name)]


def load_model(name: str | Path = DEFAULT_MODEL, device: torch.device | str | None = None) -> TimbreModel:
    """The autoencoder of checkpoint ``name`` (a shipped name or a folder), in eval mode; cached.

    device : None runs on CUDA when present, else the CPU
    """
    try:
        resolve_checkpoint_dir(name)
    except LatentLabError as e:
        if str(name) in MODELS:
            arch = "ddsp" if str(name) == "timbre_ddsp" else "nsynth"
            raise LatentLabError(
                f"the timbre model {name!r} is not installed: make data with `latentlab data timbre` and train it "
                f"with `latentlab train timbre --arch {arch}`"
            ) from e
        raise
    return load_cached(name, _build, device)


def _build(directory: Path, device: torch.device) -> TimbreModel:
    checkpoint = load_checkpoint(directory, device)
    if checkpoint.kind != "timbre":
        raise LatentLabError(f"{directory} is a {checkpoint.kind} checkpoint, not a timbre model")
    if checkpoint.arch == DDSP_ARCH:
        model = DDSPAutoencoder(checkpoint.build_config(DDSPConfig))
    else:
        model = NSynthAutoencoder(checkpoint.build_config(NSynthConfig))
    checkpoint.load_into(model)
    return model.to(device).eval()


def _device(model: TimbreModel) -> torch.device:
    return next(model.parameters()).device


def _autocast(model: TimbreModel):
    """bf16 autocast for the DDSP encoder and decoder, as they trained (its synthesizer runs in float32), where
    the device runs bf16 at speed."""
    return bf16_autocast(_device(model), is_ddsp(model))


def is_ddsp(model: TimbreModel) -> bool:
    """Whether ``model`` is the DDSP autoencoder (f0 and loudness inputs, no sampling)."""
    return isinstance(model, DDSPAutoencoder)


# -- notes in -------------------------------------------------------------------------------------


@dataclass
class ExampleNote:
    name: str  # NSynth note_str
    instrument: str  # e.g. "brass_synthetic_056"
    label: str  # e.g. "brass · Trumpet"
    pitch: int
    path: Path


def example_notes(folder: str | Path = EXAMPLES_DIR) -> list[ExampleNote]:
    """The bundled example notes (any NSynth-layout folder), sorted by instrument then pitch."""
    from ..data.timbre import AUDIO_DIR, PROGRAMS, read_examples

    folder = Path(folder)
    if not (folder / "examples.json").exists():
        return []
    notes = []
    for name, record in read_examples(folder).items():
        family = record.get("instrument_family_str", record["instrument_str"].split("_")[0])
        program = record.get("instrument")
        gm = PROGRAMS.get(program, (None, None))[1] if isinstance(program, int) else None
        label = f"{family} · {gm}" if gm else record["instrument_str"]
        notes.append(ExampleNote(name, record["instrument_str"], label, int(record["pitch"]),
                                 folder / AUDIO_DIR / f"{name}.wav"))
    return sorted(notes, key=lambda n: (n.instrument, n.pitch))


def prepare(source: str | Path | bytes | np.ndarray, sample_rate: int | None = None) -> np.ndarray:
    """Any audio as a model input note: 16 kHz mono, cut or zero-padded to 4 s.

    Parameters
    ----------
    source : a file path, the file's bytes, or samples (then ``sample_rate`` says their rate)
    sample_rate : rate of an array ``source``

    Returns
    -------
    audio : ndarray[64000] float32 (silent, unreadable or over-long input is a LatentLabError)
    """
    if isinstance(source, np.ndarray):
        from ..core.audio import SILENCE_PEAK, resample

        if sample_rate is None:
            raise LatentLabError("give the sample rate of the audio samples")
        audio = np.asarray(source, dtype=np.float32)
        if audio.ndim == 2:
            audio = audio.mean(axis=0 if audio.shape[0] < audio.shape[1] else 1)
        if audio.ndim != 1 or audio.size == 0:
            raise LatentLabError(f"expected mono or stereo audio samples, got shape {list(np.shape(source))}")
        if audio.size / sample_rate > MAX_INPUT_SECONDS + 1e-6:
            raise LatentLabError(f"the clip is {audio.size / sample_rate:.1f} s long; the limit is {MAX_INPUT_SECONDS:.0f} s")
        if not np.all(np.isfinite(audio)):
            raise LatentLabError("the clip contains NaN or infinite samples")
        audio = resample(audio, int(sample_rate), SAMPLE_RATE)
        if float(np.max(np.abs(audio), initial=0.0)) < SILENCE_PEAK:
            raise LatentLabError("the clip is silent")
    else:
        audio = load_audio(source, SAMPLE_RATE, max_duration=MAX_INPUT_SECONDS)
    return fit_length(np.clip(audio, -1.0, 1.0), NOTE_SAMPLES).astype(np.float32)


def median_f0(audio: np.ndarray, pitch: int | None = None, sample_rate: int = SAMPLE_RATE) -> float | None:
    """The median pYIN f0 (Hz) over the voiced frames of ``audio : ndarray[T]``; None when none is voiced.

    pitch : search within two octaves of this MIDI pitch (pYIN over C1..C8 takes ~10x longer), so a
        reconstruction an octave off is still found, and counted as off.
    """
    import librosa

    low, high = (24, 108) if pitch is None else (max(24, pitch - SEARCH_SEMITONES), min(108, pitch + SEARCH_SEMITONES))
    f0, voiced, _ = librosa.pyin(
        np.asarray(audio, dtype=np.float32), fmin=librosa.midi_to_hz(low), fmax=librosa.midi_to_hz(high),
        sr=sample_rate, frame_length=2048,
    )
    f0 = f0[voiced & np.isfinite(f0)]
    return float(np.median(f0)) if f0.size else None


def estimate_pitch(audio: np.ndarray, sample_rate: int = SAMPLE_RATE) -> int:
    """The nearest MIDI pitch of a note: the median YIN f0 over its loud frames (within 20 dB of the loudest).

    Fast (tens of ms); it can miss by an octave on sounds with strong sub-octave partials (organ stops),
    so pass the pitch explicitly when you know it.
    """
    import librosa

    audio = np.asarray(audio, dtype=np.float32)
    f0 = librosa.yin(audio, fmin=librosa.midi_to_hz(24), fmax=librosa.midi_to_hz(108), sr=sample_rate,
                     frame_length=2048, hop_length=512)
    rms = librosa.feature.rms(y=audio, frame_length=2048, hop_length=512)[0]
    n = min(len(f0), len(rms))
    loud = rms[:n] >= 0.1 * rms[:n].max()
    return int(np.clip(np.round(librosa.hz_to_midi(np.median(f0[:n][loud]))), 0, 127))


def check_pitch(pitch: int) -> int:
    low, high = PITCH_RANGE
    if not low <= int(pitch) <= high:
        raise LatentLabError(f"pitch must be a MIDI pitch in {low}..{high} (the range the model knows), got {pitch}")
    return int(pitch)


def pitch_for(audio: np.ndarray, pitch: int | None = None) -> int:
    """``pitch`` when given (checked), else the estimate from the audio, moved into :data:`PITCH_RANGE`."""
    if pitch is not None:
        return check_pitch(pitch)
    return int(np.clip(estimate_pitch(audio), *PITCH_RANGE))


def f0_track(audio: np.ndarray, pitch: int | None = None, hop: int = 128) -> np.ndarray:
    """The f0 (Hz) of a prepared note at every control frame: ``ndarray[T // hop]`` float32.

    pitch : when given, the note is played at this steady MIDI pitch; otherwise pYIN follows the note's f0
        within :data:`TRACK_SEMITONES` of its estimated pitch (the narrow range keeps pYIN fast and off
        octave errors), and unvoiced frames take the nearest voiced value.
    """
    import librosa

    frames = len(audio) // hop
    if pitch is not None:
        return np.full(frames, midi_to_hz(float(check_pitch(pitch))), dtype=np.float32)
    centre = pitch_for(audio)
    low, high = max(PITCH_RANGE[0], centre - TRACK_SEMITONES), min(PITCH_RANGE[1], centre + TRACK_SEMITONES)
    fmin = float(librosa.midi_to_hz(low))
    frame_length = 1 << max(10, int(np.ceil(np.log2(2 * SAMPLE_RATE / fmin))))  # two periods of fmin fit
    f0, voiced, _ = librosa.pyin(np.asarray(audio, dtype=np.float32), fmin=fmin, fmax=librosa.midi_to_hz(high),
                                 sr=SAMPLE_RATE, frame_length=frame_length, hop_length=hop)
    f0 = f0[:frames]
    good = voiced[:frames] & np.isfinite(f0)
    sounding = librosa.feature.rms(y=np.asarray(audio, dtype=np.float32), frame_length=1024, hop_length=hop)[0]
    sounding = sounding[:frames] >= 0.01 * sounding.max()
    if good.sum() < MIN_VOICED * max(1, sounding.sum()):
        raise LatentLabError("found no steady pitch in the clip (noise or percussion?); set the pitch to play it at")
    index = np.arange(frames)
    return np.interp(index, index[good], f0[good]).astype(np.float32)


@torch.no_grad()
def loudness(model: DDSPAutoencoder, audio: np.ndarray) -> np.ndarray:
    """A-weighted loudness (dB) of prepared notes at every control frame: ``[T // hop]`` or ``[B x T // hop]``."""
    x = torch.as_tensor(np.asarray(audio, dtype=np.float32))
    out = model.loudness(x.reshape(-1, x.shape[-1]).to(_device(model))).cpu().numpy()
    return out[0] if x.dim() == 1 else out


# -- encode / decode ------------------------------------------------------------------------------


@torch.no_grad()
def encode(model: TimbreModel, audio: np.ndarray | Sequence[np.ndarray]) -> np.ndarray:
    """Embeddings of prepared notes.

    audio : ndarray[T] (one note) or [B x T] -> ndarray[16 x T // hop] or [B x 16 x T // hop], float32
    """
    x = torch.as_tensor(np.asarray(audio, dtype=np.float32))
    single = x.dim() == 1
    x = x.reshape(-1, x.shape[-1])
    with _autocast(model):
        z = model.encode((x if is_ddsp(model) else mulaw_encode(x)).to(_device(model))).float()
    z = z.cpu().numpy()
    return z[0] if single else z


def check_embedding(z: np.ndarray, model: TimbreModel) -> np.ndarray:
    """An embedding as float32 ``[B x latent x frames]``; a wrong shape or value is a clear error."""
    z = np.asarray(z)
    if z.dtype.kind not in "fiu":
        raise LatentLabError(f"an embedding must hold numbers, got dtype {z.dtype}")
    z = z.astype(np.float32)
    if z.ndim == 2:
        z = z[None]
    latent = model.config.latent_channels
    if z.ndim != 3 or z.shape[1] != latent or z.shape[2] < 1:
        raise LatentLabError(f"an embedding must be [{latent} x frames], got shape {list(np.shape(z))}")
    if z.shape[2] > MAX_DECODE_FRAMES:
        raise LatentLabError(f"the embedding has {z.shape[2]} frames; the limit is {MAX_DECODE_FRAMES}")
    if not np.all(np.isfinite(z)):
        raise LatentLabError("the embedding contains NaN or infinite values")
    return z


@torch.no_grad()
def decode(
    model: TimbreModel,
    z: np.ndarray,
    pitch: int | Sequence[int] = DEFAULT_PITCH,
    temperature: float = TEMPERATURE,
    seed: int | None = 0,
    progress: Progress | None = None,
    backend: str = "auto",
    f0: np.ndarray | None = None,
    loudness: np.ndarray | None = None,
) -> np.ndarray:
    """Audio from embeddings (all streams generated together).

    Parameters
    ----------
    z : ndarray[16 x frames] or [B x 16 x frames]
    pitch : MIDI pitch(es) for the decoder's pitch input (ignored by a model without one)
    temperature : sampling temperature (0: the most likely sample every step)
    seed : sampling seed (None: random)
    progress : called with the fraction done
    backend : generation backend (see :func:`engine.nn.wavenet.generate.generate`)
    f0, loudness : the DDSP decoder's f0 (Hz) and loudness (dB) per control frame, ``[n]`` or ``[B x n]``
        with ``n = frames * z_hop // hop`` (default: a steady ``pitch``, :data:`DEFAULT_LOUDNESS_DB`);
        the NSynth decoder ignores them (and the DDSP decoder ignores ``temperature`` and ``backend``)

    Returns
    -------
    audio : ndarray[frames * hop] or [B x frames * hop], float32 in [-1, 1]
    """
    single = np.ndim(z) == 2
    z = torch.from_numpy(check_embedding(z, model)).to(_device(model))
    pitches = torch.as_tensor(np.broadcast_to(np.asarray(pitch, dtype=np.int64), (z.shape[0],)).copy())
    for p in pitches.tolist():
        check_pitch(p)
    if temperature < 0:
        raise LatentLabError(f"temperature must be >= 0, got {temperature}")
    if is_ddsp(model):
        audio = _decode_ddsp(model, z, pitches, seed, f0, loudness)
        if progress is not None:
            progress(1.0)
        return audio[0] if single else audio
    classes = model.decode(z, pitches if model.pitch_embed is not None else None, temperature=temperature,
                           seed=seed, progress=progress, backend=backend)
    audio = mulaw_decode(classes.cpu()).numpy().astype(np.float32)
    return audio[0] if single else audio


def _decode_ddsp(model: DDSPAutoencoder, z: torch.Tensor, pitches: torch.Tensor, seed: int | None,
                 f0: np.ndarray | None, loudness: np.ndarray | None) -> np.ndarray:
    batch, n = z.shape[0], z.shape[-1] * model.config.z_stride

    def track(values: np.ndarray | None, default: np.ndarray, name: str) -> torch.Tensor:
        if values is None:
            return torch.from_numpy(np.repeat(default[:, None], n, axis=1).astype(np.float32))
        values = np.asarray(values, dtype=np.float32)
        values = np.repeat(values[None], batch, axis=0) if values.ndim == 1 else values
        if values.shape != (batch, n) or not np.all(np.isfinite(values)):
            raise LatentLabError(f"the {name} track must be {n} finite values per note, got {list(values.shape)}")
        return torch.from_numpy(np.ascontiguousarray(values))

    f0_t = track(f0, midi_to_hz(pitches.numpy().astype(np.float32)), "f0")
    loud_t = track(loudness, np.full(batch, DEFAULT_LOUDNESS_DB, dtype=np.float32), "loudness")
    generator = torch.Generator(device=_device(model)).manual_seed(0 if seed is None else int(seed))
    dev = _device(model)
    with _autocast(model):
        audio = model.decode(z, f0_t.to(dev), loud_t.to(dev), generator=generator if seed is not None else None)
    return np.clip(audio.cpu().numpy(), -1.0, 1.0).astype(np.float32)


@dataclass
class Reconstruction:
    audio: np.ndarray  # [T] the decoded note
    embedding: np.ndarray  # [16 x frames]
    pitch: int  # the pitch the decoder was given


def reconstruct(model: TimbreModel, audio: np.ndarray, pitch: int | None = None, temperature: float = TEMPERATURE,
                seed: int | None = 0, progress: Progress | None = None) -> Reconstruction:
    """Encode a prepared note and decode it again (``pitch``: default its estimate)."""
    z = encode(model, audio)
    if is_ddsp(model):
        f0 = f0_track(audio, pitch, model.config.hop)
        audio_out = decode(model, z, DEFAULT_PITCH if pitch is None else pitch, seed=seed, progress=progress, f0=f0,
                           loudness=loudness(model, audio))
        return Reconstruction(audio_out, z, int(np.round(np.median(pitch_of(f0)))))
    pitch = pitch_for(audio, pitch)
    return Reconstruction(decode(model, z, pitch, temperature, seed, progress), z, pitch)


def pitch_of(f0: np.ndarray) -> np.ndarray:
    """Hz -> fractional MIDI pitch, elementwise: ``ndarray`` in, ``ndarray`` out."""
    return hz_to_midi(torch.from_numpy(np.asarray(f0, dtype=np.float32))).numpy()


# -- morphs ---------------------------------------------------------------------------------------


def morph_weights(steps: int) -> np.ndarray:
    """Weights of B for ``steps`` points from A (0) to B (1): ndarray[steps]."""
    if not 2 <= steps <= MAX_STEPS:
        raise LatentLabError(f"steps must be between 2 and {MAX_STEPS}, got {steps}")
    return np.linspace(0.0, 1.0, steps, dtype=np.float32)


def blend(items: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Weighted sums: items : ndarray[K x ...], weights : ndarray[N x K] -> ndarray[N x ...]."""
    return np.tensordot(weights.astype(np.float32), items.astype(np.float32), axes=(1, 0))


@dataclass
class Morph:
    weights: np.ndarray  # [N x K] weight of each source note at each step (K = 2 for a morph, 4 for a grid)
    embeddings: np.ndarray  # [N x 16 x frames] the interpolated embeddings (step 0 = A's encoding)
    audio: np.ndarray  # [N x T] each embedding decoded
    mixes: np.ndarray  # [N x T] the source audio mixed at the same weights
    pitches: list[int]  # the decoder's pitch at each step
    source_embeddings: np.ndarray  # [K x 16 x frames]


def _blended(model: TimbreModel, notes: Sequence[np.ndarray], weights: np.ndarray,
             pitches: Sequence[int | None] | None, temperature: float, seed: int | None,
             progress: Progress | None) -> Morph:
    notes = np.stack([np.asarray(n, dtype=np.float32) for n in notes])
    sources = encode(model, notes)
    embeddings = blend(sources, weights)
    if is_ddsp(model):  # blend f0 in semitones and loudness in dB, frame by frame
        semitones = np.stack([pitch_of(f0_track(n, p, model.config.hop))
                              for n, p in zip(notes, pitches or [None] * len(notes))])
        f0 = midi_to_hz(blend(semitones, weights)).astype(np.float32)
        audio = decode(model, embeddings, DEFAULT_PITCH, seed=seed, progress=progress, f0=f0,
                       loudness=blend(loudness(model, notes), weights))
        step_pitches = [int(np.round(np.median(s))) for s in blend(semitones, weights)]
        return Morph(weights, embeddings, audio, blend(notes, weights), step_pitches, sources)
    pitches = [pitch_for(n, p) for n, p in zip(notes, pitches or [None] * len(notes))]
    step_pitches = [int(np.round(p)) for p in weights @ np.asarray(pitches, dtype=np.float32)]
    audio = decode(model, embeddings, step_pitches, temperature, seed, progress)
    return Morph(weights, embeddings, audio, blend(notes, weights), step_pitches, sources)


def morph(model: TimbreModel, a: np.ndarray, b: np.ndarray, steps: int = 5,
          pitch_a: int | None = None, pitch_b: int | None = None, temperature: float = TEMPERATURE,
          seed: int | None = 0, progress: Progress | None = None) -> Morph:
    """Decode ``steps`` embeddings on the line from A's to B's (linear interpolation), with the plain mixes.

    a, b : prepared notes ndarray[T]; pitch_a, pitch_b : their MIDI pitches (default: estimated). The
    decoder's pitch at each step is the interpolated pitch, rounded.
    """
    w = morph_weights(steps)
    return _blended(model, [a, b], np.stack([1 - w, w], axis=1), [pitch_a, pitch_b], temperature, seed, progress)


def grid_weights(size: int) -> np.ndarray:
    """Bilinear weights of the 4 corners (top-left, top-right, bottom-left, bottom-right) on a
    ``size x size`` grid, row by row: ndarray[size * size x 4]."""
    if not 2 <= size <= MAX_GRID:
        raise LatentLabError(f"the grid size must be between 2 and {MAX_GRID}, got {size}")
    t = np.linspace(0.0, 1.0, size, dtype=np.float32)
    v, u = np.meshgrid(t, t, indexing="ij")  # v: down the rows, u: along the columns
    return np.stack([(1 - u) * (1 - v), u * (1 - v), (1 - u) * v, u * v], axis=-1).reshape(-1, 4)


def grid(model: TimbreModel, corners: Sequence[np.ndarray], size: int = 3,
         pitches: Sequence[int | None] | None = None, temperature: float = TEMPERATURE, seed: int | None = 0,
         progress: Progress | None = None) -> Morph:
    """The NSynth Super grid: ``size x size`` bilinear blends of 4 corner embeddings, decoded, with mixes.

    corners : 4 prepared notes (top-left, top-right, bottom-left, bottom-right); results are row by row.
    """
    if len(corners) != 4:
        raise LatentLabError(f"a grid needs 4 corner notes, got {len(corners)}")
    return _blended(model, corners, grid_weights(size), pitches, temperature, seed, progress)
