"""``latentlab bench melody``: MusicVAE latency, and accuracy on a validation split; with ``--likelihood``,
the likelihood table of the melody models.

Times (median of ``repeats`` after a warm-up) encoding one window, argmax-decoding one window, and an
11-step interpolation between two one-window melodies -- everything the app does for one click. With a
window file, also the teacher-forced and argmax reconstruction accuracy and the KL on its validation split,
and the pitch-range sanity figure of interpolations between validation melodies
(:func:`interpolation_pitch_range`: the fraction of intermediate steps whose notes all stay inside the two
endpoints' combined pitch range; a smooth latent space keeps it high).

The likelihood table (:func:`likelihood_table`) measures, in one run, the validation bits per step of AR(p),
the gated PixelCNN, the Row LSTM and the Diagonal BiLSTM and MusicVAE's negative ELBO on the same windows,
with each model's parameters and sampling speed.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..core.errors import LatentLabError
from ..core.midi import FIRST_PITCH_CLASS, MIN_PITCH

INTERPOLATION_STEPS = 11
TARGET_MS = 50.0  # 11-step 2-bar interpolation on a CPU
RANGE_PAIRS = 16  # validation pairs interpolated for the pitch-range figure


def _median_ms(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return float(np.median(times) * 1000)


def _example_windows(steps: int) -> tuple[np.ndarray, np.ndarray]:
    """Two fixed one-window melodies: a rising scale and a falling arpeggio in 8th notes."""
    a, b = np.zeros(steps, np.int64), np.zeros(steps, np.int64)
    scale, arpeggio = [60, 62, 64, 65, 67, 69, 71, 72], [84, 79, 76, 72, 67, 64, 60, 55]
    for i in range(0, steps, 2):
        a[i] = scale[(i // 2) % 8] - 19
        b[i] = arpeggio[(i // 2) % 8] - 19
    return a, b


# -- the pitch-range sanity figure ----------------------------------------------------------------------


def _pitches(melody: np.ndarray) -> np.ndarray:
    m = np.asarray(melody)
    return m[m >= FIRST_PITCH_CLASS] - FIRST_PITCH_CLASS + MIN_PITCH


def steps_in_range(a: np.ndarray, b: np.ndarray, path: list[np.ndarray] | np.ndarray) -> np.ndarray:
    """Which intermediate steps of an interpolation keep every note inside a's and b's combined pitch range.

    Parameters
    ----------
    a, b : int[T] the two endpoint melodies (the inputs, not their reconstructions)
    path : ``steps`` decoded melodies int[steps x T], the first and last being the endpoints' own decodes

    Returns
    -------
    bool[steps - 2], one per intermediate step; a step without notes counts as inside
    """
    ends = np.concatenate([_pitches(a), _pitches(b)])
    if not len(ends):
        raise LatentLabError("both endpoint melodies are silent: their pitch range is empty")
    low, high = ends.min(), ends.max()
    return np.array([bool(((p >= low) & (p <= high)).all()) for p in map(_pitches, path[1:-1])], dtype=bool)


def range_pairs(windows: np.ndarray, tunes: np.ndarray | None, pairs: int, seed: int = 0) -> list[tuple[int, int]]:
    """``pairs`` (i, j) of validation windows with notes, from different tunes where ``tunes`` is given."""
    rng = np.random.default_rng(seed)
    usable = np.flatnonzero((windows >= FIRST_PITCH_CLASS).any(1))
    out: list[tuple[int, int]] = []
    for _ in range(100 * pairs):
        if len(out) == pairs or len(usable) < 2:
            break
        i, j = (int(k) for k in rng.choice(usable, size=2, replace=False))
        if tunes is None or tunes[i] != tunes[j] or len(np.unique(tunes[usable])) < 2:
            out.append((i, j))
    return out


@torch.no_grad()
def interpolation_pitch_range(
    model: torch.nn.Module,
    windows: np.ndarray,
    tunes: np.ndarray | None = None,
    pairs: int = RANGE_PAIRS,
    steps: int = INTERPOLATION_STEPS,
    method: str = "slerp",
    seed: int = 0,
) -> dict[str, Any]:
    """Interpolate between pairs of validation windows and check the intermediate steps' pitch range.

    Parameters
    ----------
    model : a MusicVAE
    windows : int[N x T] validation windows (T = the model's steps)
    tunes : int[N] the tune of each window (pairs are drawn from different tunes), or None
    pairs, steps, method : ``pairs`` interpolations of ``steps`` steps (endpoints included), slerp or lerp
        between the windows' mu, each step argmax-decoded

    Returns
    -------
    {"pairs", "steps", "method", "fraction_in_range" (mean over pairs of the fraction of the steps - 2
    intermediate steps whose notes all lie within the endpoints' combined pitch range), "fraction_silent"
    (intermediate steps without a note, which count as inside), "per_pair"}
    """
    from ..ops.melody import interpolate_latents

    model.eval()
    device = next(model.parameters()).device
    chosen = range_pairs(windows, tunes, pairs, seed)
    if not chosen:
        raise LatentLabError("the pitch-range figure needs two validation windows with notes")
    x = torch.as_tensor(windows.astype(np.int64), device=device)
    a_idx, b_idx = [i for i, _ in chosen], [j for _, j in chosen]
    mu_a, mu_b = model.encode(x[a_idx]), model.encode(x[b_idx])
    path = interpolate_latents(mu_a, mu_b, steps, method)  # [steps x pairs x Z]
    decoded = model.decode(path.reshape(-1, path.shape[-1])).reshape(steps, len(chosen), -1).cpu().numpy()
    per_pair, silent = [], 0
    for k, (i, j) in enumerate(chosen):
        per_pair.append(float(steps_in_range(windows[i], windows[j], decoded[:, k]).mean()))
        silent += int(sum(not (d >= FIRST_PITCH_CLASS).any() for d in decoded[1:-1, k]))
    return {
        "pairs": len(chosen),
        "steps": steps,
        "method": method,
        "fraction_in_range": float(np.mean(per_pair)),
        "fraction_silent": silent / (len(chosen) * (steps - 2)),
        "per_pair": per_pair,
    }


def bench_melody(model: str = "mel_2bar", data: str | Path | None = None, device: str | None = None, repeats: int = 20) -> dict[str, Any]:
    """Latency (ms) of the melody operations, plus validation accuracy when ``data`` is given."""
    from ..data.melody import load_windows
    from ..core.device import describe_device
    from ..ops.melody import encode, interpolate, load_model, reconstruct
    from ..train.melody import evaluate

    mm = load_model(model, device)
    a, b = _example_windows(mm.steps)
    z = encode(mm, a)
    report: dict[str, Any] = {
        "model": mm.name,
        "device": describe_device(mm.device),
        "steps_per_window": mm.steps,
        "parameters": sum(p.numel() for p in mm.model.parameters()),
        "encode_ms": _median_ms(lambda: encode(mm, a), repeats),
        "decode_ms": _median_ms(lambda: mm.model.decode(z), repeats),
        "reconstruct_ms": _median_ms(lambda: reconstruct(mm, a), repeats),
        f"interpolate_{INTERPOLATION_STEPS}_ms": _median_ms(lambda: interpolate(mm, a, b, INTERPOLATION_STEPS), repeats),
    }
    if mm.steps == 32:
        report["interpolate_target_ms"] = TARGET_MS
    if data is not None:
        split = load_windows(data)
        windows = split["val"]
        if windows.shape[1] != mm.steps:
            raise LatentLabError(f"{data} holds {windows.shape[1]}-step windows but {mm.name} takes {mm.steps}")
        with torch.no_grad():
            report["validation"] = evaluate(mm.model, windows, device=mm.device)
        mm.model.eval()
        report["interpolation_range"] = interpolation_pitch_range(mm.model, windows, split.get("val_tune"))
    return report


def format_report(report: dict[str, Any]) -> str:
    """A short human-readable table."""
    lines = [f"model {report['model']} ({report['parameters'] / 1e6:.2f} M parameters) on {report['device']}"]
    for key, value in report.items():
        if key.endswith("_ms") and key != "interpolate_target_ms":
            lines.append(f"  {key[:-3]:<16} {value:8.2f} ms")
    if "interpolate_target_ms" in report:
        took = report[f"interpolate_{INTERPOLATION_STEPS}_ms"]
        verdict = "meets" if took < report["interpolate_target_ms"] else "misses"
        lines.append(f"  {INTERPOLATION_STEPS}-step interpolation {verdict} the {report['interpolate_target_ms']:.0f} ms target")
    if "validation" in report:
        v = report["validation"]
        lines.append(
            f"  validation ({v['windows']} windows): teacher-forced accuracy {v['teacher_forced_accuracy']:.4f}, "
            f"argmax accuracy {v['argmax_accuracy']:.4f} (onsets {v['argmax_onset_accuracy']:.4f}), KL {v['kl_bits']:.1f} bits"
        )
    if "interpolation_range" in report:
        r = report["interpolation_range"]
        lines.append(
            f"  {r['steps']}-step {r['method']} between {r['pairs']} validation pairs: {r['fraction_in_range']:.3f} of the "
            f"intermediate steps keep every note inside the endpoints' pitch range ({r['fraction_silent']:.3f} are silent)"
        )
    return "\n".join(lines)


# -- the likelihood table (``--likelihood``) -----------------------------------------------------------

GRID_MODELS = ("ar_16bar", "pixelcnn_16bar", "row_lstm_16bar", "diagonal_bilstm_16bar")  # rows of the table, in order
CONTINUE_BARS = 8  # bars sampled for the speed column, after a 4-bar prompt
PROMPT_BARS = 4


def _grid_label(model: torch.nn.Module) -> str:
    cfg = model.cfg
    if hasattr(cfg, "order"):
        return f"AR({cfg.order}), least squares"
    if hasattr(cfg, "layer"):
        return "PixelRNN, Row LSTM" if cfg.layer == "row" else "PixelRNN, Diagonal BiLSTM"
    return "gated PixelCNN"


@torch.no_grad()
def elbo_bits(model: torch.nn.Module, windows: np.ndarray, batch_size: int = 64, seed: int = 0) -> float:
    """MusicVAE's negative ELBO in bits per step: E_q[-log p(x|z)] (one z ~ q per window) + KL(q || N(0, I))."""
    import torch.nn.functional as F

    from ..models.musicvae import kl_divergence

    model.eval()
    device = next(model.parameters()).device
    torch.manual_seed(seed)
    total = 0.0
    for i in range(0, len(windows), batch_size):
        x = torch.as_tensor(windows[i : i + batch_size].astype(np.int64), device=device)
        out = model(x, sample_z=True)
        total += float(F.cross_entropy(out["logits"].float().reshape(-1, out["logits"].shape[-1]), x.reshape(-1), reduction="sum"))
        total += float(kl_divergence(out["mu"].float(), out["sigma"].float()).sum())
    return total / windows.size / math.log(2.0)


def likelihood_table(data: str | Path = "data/melodies/mel_16bar.npz", data_2bar: str | Path | None = "data/melodies/mel_2bar.npz",
                     models: tuple[str, ...] = GRID_MODELS, device: str | None = None, repeats: int = 3,
                     musicvae: bool = True) -> dict[str, Any]:
    """Validation bits per step of the grid models and MusicVAE's ELBO, parameters and sampling speed, in one run.

    Parameters
    ----------
    data : the 16-bar window file whose validation split every grid model and ``mel_16bar`` are measured on
    data_2bar : also measure on the 2-bar validation windows (grids of 2 rows; ``mel_2bar``'s ELBO); None skips it
    models : grid-model checkpoints (names or directories)
    repeats : timed continuations per model (median)
    musicvae : add the rows of ``mel_16bar`` (on ``data``) and ``mel_2bar`` (on ``data_2bar``)

    Returns {"rows": [{model, arch, parameters, bits_16bar, bits_2bar, continue_8_bars_s, steps_per_s}], ...}
    """
    from ..core.device import describe_device, resolve_device
    from ..data.melody import load_windows
    from ..ops import continuation
    from ..ops.melody import load_model as load_vae
    from ..train.pixel import continuation_seconds, evaluate_bits

    dev = resolve_device(device)
    val = load_windows(data)["val"]
    val_2bar = load_windows(data_2bar)["val"] if data_2bar is not None else None
    prompt = val[0][: PROMPT_BARS * 16].astype(np.int64)
    rows = []
    for name in models:
        gm = continuation.load_model(name, dev)
        seconds = continuation_seconds(gm.model, prompt, CONTINUE_BARS, repeats)
        rows.append({
            "model": gm.name,
            "arch": _grid_label(gm.model),
            "parameters": sum(t.numel() for t in gm.checkpoint.tensors.values()),
            "bits_16bar": evaluate_bits(gm.model, val, device=dev)["bits_per_step"],
            "bits_2bar": evaluate_bits(gm.model, val_2bar, device=dev)["bits_per_step"] if val_2bar is not None else None,
            "continue_8_bars_s": seconds,
            "steps_per_s": CONTINUE_BARS * 16 / seconds,
        })
    for name, windows, column in (("mel_16bar", val, "bits_16bar"), ("mel_2bar", val_2bar, "bits_2bar")):
        if windows is None or not musicvae:
            continue
        mm = load_vae(name, dev)
        if mm.steps != windows.shape[1]:
            raise LatentLabError(f"{name} takes {mm.steps}-step windows, the validation split holds {windows.shape[1]}")
        z = torch.randn(1, mm.model.cfg.z_dim, device=mm.device)
        seconds = _median_ms(lambda: mm.model.decode(z, temperature=1.0), repeats) / 1000
        row = {"model": name, "arch": "MusicVAE (negative ELBO)", "parameters": sum(p.numel() for p in mm.model.parameters()),
               "bits_16bar": None, "bits_2bar": None, "continue_8_bars_s": None, "steps_per_s": mm.steps / seconds}
        row[column] = elbo_bits(mm.model, windows)
        rows.append(row)
    return {"device": describe_device(dev), "threads": torch.get_num_threads(), "data": str(data),
            "val_windows": len(val), "val_windows_2bar": None if val_2bar is None else len(val_2bar), "rows": rows}


def format_likelihood(table: dict[str, Any]) -> str:
    """The table as Markdown."""
    def cell(v, fmt):
        return "—" if v is None else format(v, fmt)

    lines = [
        f"Validation negative log-likelihood, bits per 16th step ({table['val_windows']} 16-bar windows"
        + (f"; {table['val_windows_2bar']} 2-bar windows" if table["val_windows_2bar"] else "")
        + f"), on {table['device']}:",
        "",
        "| model | arch | parameters | bits/step, 16-bar val | bits/step, 2-bar val | 8 bars continued | sampling steps/s |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in table["rows"]:
        lines.append(f"| `{r['model']}` | {r['arch']} | {r['parameters'] / 1e6:.2f} M | {cell(r['bits_16bar'], '.3f')} | "
                     f"{cell(r['bits_2bar'], '.3f')} | {cell(r['continue_8_bars_s'], '.2f')}{'' if r['continue_8_bars_s'] is None else ' s'} | "
                     f"{r['steps_per_s']:,.0f} |")
    lines.append("")
    lines.append("MusicVAE rows: the negative ELBO (an upper bound on its negative log-likelihood), one z ~ q per window; "
                 "its steps/s decode a whole window from z. Grid models: one step at a time, each given all before it.")
    return "\n".join(lines)
