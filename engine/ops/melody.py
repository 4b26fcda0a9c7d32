"""Melody operations on a trained MusicVAE: what both the CLI and the app call.

Load a model by name (cached), encode (to mu), decode (argmax or sampled), reconstruct, sample,
interpolate (slerp or lerp), a 4-corner bilinear grid, similar melodies, the five measured attributes
and attribute-vector arithmetic.

Melodies are ``np.ndarray`` int64 event arrays (see :mod:`engine.core.midi`). Melodies of any length work: a
model decodes consecutive windows of its own length (2 or 16 bars); shorter input is padded with rests.
Window ``i`` of a long melody is encoded and decoded on its own, so interpolating two 8-bar melodies
with the 2-bar model interpolates 4 pairs of windows side by side.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..core.checkpoint import Checkpoint, load_cached, load_checkpoint
from ..core.errors import LatentLabError
from ..core.midi import FIRST_PITCH_CLASS, STEPS_PER_BAR, check_melody, class_to_pitch, pad_melody

ATTRIBUTES = ("c_diatonic", "note_density", "avg_interval", "syncopation_16th", "syncopation_8th")
DEFAULT_MODEL = "mel_2bar"
DEFAULT_TEMPERATURE = 0.5  # Magenta's default when sampling
METHODS = ("slerp", "lerp")
WHITE_KEYS = {0, 2, 4, 5, 7, 9, 11}  # pitch classes of C major
MAX_WINDOWS = 64  # longest input, in model windows (2-bar model: 128 bars)


# -- attributes (measured on melodies; no model needed) -----------------------------------------------


def _onsets(melody: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    m = check_melody(melody)
    steps = np.flatnonzero(m >= FIRST_PITCH_CLASS)
    return steps, m[steps] - FIRST_PITCH_CLASS + 21


def measure_attributes(melody: np.ndarray) -> dict[str, float]:
    """The paper's five attributes of a melody.

    - ``c_diatonic``: fraction of notes whose pitch class is in C major (white keys);
    - ``note_density``: note onsets per 16th step;
    - ``avg_interval``: mean absolute interval between consecutive notes, in semitones;
    - ``syncopation_16th``: fraction of onsets on an odd 16th step with no onset on the step before;
    - ``syncopation_8th``: fraction of onsets on an off-beat 8th (step % 4 == 2) with no onset on the
      two steps before.

    An empty melody measures 0 everywhere.
    """
    m = check_melody(melody)
    steps, pitches = _onsets(m)
    n = len(steps)
    if n == 0:
        return {name: 0.0 for name in ATTRIBUTES}
    onset = np.zeros(len(m) + 2, dtype=bool)
    onset[steps + 2] = True  # two leading False so s-1 and s-2 always exist
    prev1, prev2 = onset[steps + 1], onset[steps]
    sync16 = (steps % 2 == 1) & ~prev1
    sync8 = (steps % 4 == 2) & ~prev1 & ~prev2
    return {
        "c_diatonic": float(np.isin(pitches % 12, list(WHITE_KEYS)).mean()),
        "note_density": float(n / len(m)),
        "avg_interval": float(np.abs(np.diff(pitches)).mean()) if n > 1 else 0.0,
        "syncopation_16th": float(sync16.mean()),
        "syncopation_8th": float(sync8.mean()),
    }


def attribute_matrix(melodies: np.ndarray) -> np.ndarray:
    """Attributes of many melodies.  [N x T] -> float32[N x 5] in ATTRIBUTES order."""
    return np.array([[measure_attributes(m)[a] for a in ATTRIBUTES] for m in melodies], dtype=np.float32).reshape(-1, len(ATTRIBUTES))


def attribute_vectors(mu: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Mean mu of the top quartile of each attribute minus mean mu of the bottom quartile.

    mu : [N x Z] encodings of N melodies;  values : [N x A] their attributes  ->  float32[A x Z]
    Ties at the quartile edges are broken by order of a stable sort, so each quartile holds N // 4.
    """
    n = len(mu)
    if n < 4:
        raise LatentLabError("attribute vectors need at least 4 melodies")
    q = n // 4
    out = []
    for a in range(values.shape[1]):
        order = np.argsort(values[:, a], kind="stable")
        out.append(mu[order[-q:]].mean(0) - mu[order[:q]].mean(0))
    return np.stack(out).astype(np.float32)


# -- latent geometry ---------------------------------------------------------------------------------


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor | float) -> torch.Tensor:
    """Spherical interpolation between a and b ([... x Z]) at t; falls back to lerp when they are parallel."""
    t = torch.as_tensor(t, dtype=a.dtype, device=a.device)
    an, bn = a / a.norm(dim=-1, keepdim=True).clamp_min(1e-8), b / b.norm(dim=-1, keepdim=True).clamp_min(1e-8)
    omega = torch.acos((an * bn).sum(-1, keepdim=True).clamp(-1.0, 1.0))
    so = torch.sin(omega)
    t = t.reshape(-1, *([1] * a.dim())) if t.dim() else t
    lerp = (1 - t) * a + t * b
    safe = so.abs() > 1e-6
    sl = torch.sin((1 - t) * omega) / torch.where(safe, so, torch.ones_like(so)) * a + torch.sin(t * omega) / torch.where(
        safe, so, torch.ones_like(so)
    ) * b
    return torch.where(safe, sl, lerp)


def interpolate_latents(a: torch.Tensor, b: torch.Tensor, steps: int, method: str = "slerp") -> torch.Tensor:
    """``steps`` latents from a to b inclusive.  a, b: [W x Z] -> [steps x W x Z]."""
    if method not in METHODS:
        raise LatentLabError(f"unknown interpolation method {method!r}: use slerp or lerp")
    if steps < 2:
        raise LatentLabError(f"--steps must be at least 2 (got {steps}): the first and last are the two inputs")
    t = torch.linspace(0.0, 1.0, steps, dtype=a.dtype, device=a.device)
    if method == "lerp":
        return (1 - t)[:, None, None] * a + t[:, None, None] * b
    return slerp(a, b, t)


# -- the model -----------------------------------------------------------------------------------------


@dataclass
class MelodyModel:
    """A loaded MusicVAE with its attribute vectors (``[5 x Z]`` or None) and checkpoint."""

    name: str
    model: torch.nn.Module
    checkpoint: Checkpoint = field(repr=False)
    attributes: torch.Tensor | None = None

    @property
    def steps(self) -> int:
        return self.model.cfg.steps

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device


def _build(directory: Path, device: torch.device) -> MelodyModel:
    from ..models.musicvae import MusicVAE, MusicVAEConfig

    ckpt = load_checkpoint(directory, device=device)
    if ckpt.kind != "melody" or ckpt.arch != "musicvae":
        hint = " (it continues and inpaints: `latentlab melody continue` / `inpaint`)" if ckpt.kind == "melody" else ""
        raise LatentLabError(f"{ckpt.path} is a {ckpt.kind}/{ckpt.arch} checkpoint, not a MusicVAE{hint}")
    model = MusicVAE(ckpt.build_config(MusicVAEConfig))
    ckpt.load_into(model, prefix="model.")
    model.to(device).eval()
    names = ckpt.extra.get("attributes", [])
    attributes = None
    if names:
        attributes = torch.stack([ckpt.tensors[f"attribute.{a}"] for a in ATTRIBUTES]).to(device)
    return MelodyModel(ckpt.name, model, ckpt, attributes)


def load_model(name: str | Path = DEFAULT_MODEL, device: str | torch.device | None = None) -> MelodyModel:
    """A melody model by shipped name (``mel_2bar``, ``mel_16bar``) or checkpoint directory; cached."""
    return load_cached(name, _build, device)


# -- windows -------------------------------------------------------------------------------------------


def to_windows(melody: np.ndarray, steps: int) -> np.ndarray:
    """Cut a melody into consecutive windows of ``steps``, padding the last with rests.  -> [W x steps]."""
    m = check_melody(melody)
    if len(m) == 0:
        raise LatentLabError("the melody is empty: give it at least one note")
    count = max(1, math.ceil(len(m) / steps))
    if count > MAX_WINDOWS:
        raise LatentLabError(
            f"the melody is {len(m) // STEPS_PER_BAR} bars long; this model takes at most "
            f"{MAX_WINDOWS * steps // STEPS_PER_BAR} bars: cut it shorter"
        )
    return np.stack([pad_melody(m[i * steps : (i + 1) * steps], steps) for i in range(count)])


def from_windows(windows: np.ndarray | torch.Tensor) -> np.ndarray:
    """Windows [W x steps] back to one melody [W * steps]."""
    return np.asarray(windows.cpu() if isinstance(windows, torch.Tensor) else windows).reshape(-1).astype(np.int64)


def encode(mm: MelodyModel, melody: np.ndarray) -> torch.Tensor:
    """A melody's latents (mu of each window).  -> [W x Z]."""
    x = torch.as_tensor(to_windows(melody, mm.steps), device=mm.device)
    return mm.model.encode(x)


def decode(mm: MelodyModel, z: torch.Tensor, temperature: float = 0.0, seed: int | None = None) -> np.ndarray:
    """Latents [W x Z] -> one melody of W windows (argmax when ``temperature`` is 0)."""
    check_temperature(temperature)
    return from_windows(mm.model.decode(z.to(mm.device), temperature, _generator(mm, seed, temperature)))


def check_temperature(temperature: float) -> None:
    if not 0.0 <= temperature <= 5.0 or not math.isfinite(temperature):
        raise LatentLabError(f"temperature {temperature} is out of range: use 0 (argmax) to 2")


def reconstruct(mm: MelodyModel, melody: np.ndarray, temperature: float = 0.0, seed: int | None = None) -> np.ndarray:
    """Encode then decode (argmax by default)."""
    return decode(mm, encode(mm, melody), temperature, seed)


def sample(mm: MelodyModel, n: int, temperature: float = DEFAULT_TEMPERATURE, seed: int | None = None) -> list[np.ndarray]:
    """``n`` melodies from the prior: z ~ N(0, 1), decoded at ``temperature``."""
    if n < 1:
        raise LatentLabError(f"--n must be at least 1 (got {n})")
    g = torch.Generator().manual_seed(seed) if seed is not None else None
    z = torch.randn(n, mm.model.cfg.z_dim, generator=g)
    events = mm.model.decode(z.to(mm.device), temperature, _generator(mm, seed, temperature))
    return [from_windows(e[None]) for e in events]


def _generator(mm: MelodyModel, seed: int | None, temperature: float) -> torch.Generator | None:
    if seed is None or temperature <= 0:
        return None
    return torch.Generator(device=mm.device).manual_seed(seed)


def _same_windows(mm: MelodyModel, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Window both melodies to the same number of windows (the shorter padded with rests)."""
    wa, wb = to_windows(a, mm.steps), to_windows(b, mm.steps)
    n = max(len(wa), len(wb))
    pad = lambda w: np.concatenate([w, np.tile(rest_window(mm.steps), (n - len(w), 1))]) if len(w) < n else w
    return pad(wa), pad(wb)


def rest_window(steps: int) -> np.ndarray:
    return np.zeros((1, steps), dtype=np.int64)


def interpolate(
    mm: MelodyModel,
    a: np.ndarray,
    b: np.ndarray,
    steps: int = 11,
    method: str = "slerp",
    temperature: float = 0.0,
    seed: int | None = None,
) -> list[np.ndarray]:
    """``steps`` melodies from a to b: the first and last are the reconstructions of a and b.

    Interpolates between the mu of each window pair (slerp, as Magenta's Python; or lerp, as
    magenta.js) and decodes every step in one batch.
    """
    check_temperature(temperature)
    wa, wb = _same_windows(mm, a, b)
    x = torch.as_tensor(np.concatenate([wa, wb]), device=mm.device)
    mu = mm.model.encode(x)
    za, zb = mu[: len(wa)], mu[len(wa) :]
    path = interpolate_latents(za, zb, steps, method)  # [steps x W x Z]
    events = mm.model.decode(path.reshape(-1, path.shape[-1]), temperature, _generator(mm, seed, temperature))
    return [from_windows(e) for e in events.reshape(steps, len(wa), -1)]


def grid(
    mm: MelodyModel, corners: list[np.ndarray], size: int = 5, temperature: float = 0.0, seed: int | None = None
) -> list[list[np.ndarray]]:
    """Bilinear interpolation between 4 corner melodies (top-left, top-right, bottom-left, bottom-right).

    Returns ``size`` rows of ``size`` melodies; the corners are the reconstructions of the inputs.
    """
    if len(corners) != 4:
        raise LatentLabError(f"a grid needs 4 corner melodies, got {len(corners)}")
    if size < 2:
        raise LatentLabError(f"grid size must be at least 2 (got {size})")
    check_temperature(temperature)
    windows = [to_windows(c, mm.steps) for c in corners]
    n = max(len(w) for w in windows)
    windows = [np.concatenate([w, np.tile(rest_window(mm.steps), (n - len(w), 1))]) for w in windows]
    mu = mm.model.encode(torch.as_tensor(np.concatenate(windows), device=mm.device)).reshape(4, n, -1)
    t = torch.linspace(0, 1, size, device=mu.device)
    u, v = t[:, None, None, None], t[None, :, None, None]  # rows, columns
    z = (1 - u) * (1 - v) * mu[0] + (1 - u) * v * mu[1] + u * (1 - v) * mu[2] + u * v * mu[3]  # [size x size x W x Z]
    events = mm.model.decode(z.reshape(-1, z.shape[-1]), temperature, _generator(mm, seed, temperature))
    events = events.reshape(size, size, n, -1)
    return [[from_windows(events[r, c]) for c in range(size)] for r in range(size)]


def similar(
    mm: MelodyModel,
    melody: np.ndarray,
    n: int = 4,
    similarity: float = 0.8,
    temperature: float = DEFAULT_TEMPERATURE,
    seed: int | None = None,
) -> list[np.ndarray]:
    """``n`` variations: z = slerp(random prior draw, mu(melody), similarity), decoded.

    ``similarity`` 1 gives the melody back (up to decoding); 0 gives unrelated samples.
    """
    if not 0.0 <= similarity <= 1.0:
        raise LatentLabError(f"similarity {similarity} must be between 0 and 1")
    if n < 1:
        raise LatentLabError(f"n must be at least 1 (got {n})")
    mu = encode(mm, melody)  # [W x Z]
    g = torch.Generator().manual_seed(seed) if seed is not None else None
    noise = torch.randn(n, *mu.shape, generator=g).to(mu.device)
    z = slerp(noise, mu.expand_as(noise), similarity)
    events = mm.model.decode(z.reshape(-1, z.shape[-1]), temperature, _generator(mm, seed, temperature))
    return [from_windows(e) for e in events.reshape(n, mu.shape[0], -1)]


def apply_attribute(
    mm: MelodyModel, melody: np.ndarray, attribute: str, amount: float, temperature: float = 0.0
) -> np.ndarray:
    """Decode ``mu + amount * vector[attribute]`` for each window of the melody."""
    return apply_attributes(mm, melody, {attribute: amount}, temperature)


def apply_attributes(
    mm: MelodyModel, melody: np.ndarray, amounts: dict[str, float], temperature: float = 0.0
) -> np.ndarray:
    """Add several attribute vectors at once (``{"note_density": 1.0, ...}``) and decode."""
    if mm.attributes is None:
        raise LatentLabError(f"model {mm.name} has no attribute vectors: retrain it with `latentlab train melody`")
    z = encode(mm, melody)
    for name, amount in amounts.items():
        if name not in ATTRIBUTES:
            raise LatentLabError(f"unknown attribute {name!r}: choose one of {', '.join(ATTRIBUTES)}")
        if not math.isfinite(amount) or abs(amount) > 10:
            raise LatentLabError(f"amount {amount} is out of range: use a value between -10 and 10 (typically -2 .. 2)")
        z = z + amount * mm.attributes[ATTRIBUTES.index(name)]
    return decode(mm, z, temperature)


def melody_pitches(melody: np.ndarray) -> list[int]:
    """The pitches of a melody's notes, in order (for display)."""
    return [class_to_pitch(int(e)) for e in check_melody(melody) if e >= FIRST_PITCH_CLASS]
