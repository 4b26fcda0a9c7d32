"""``latentlab bench curve NAME``: a vocoder's learning curve, and the budget it would need to beat Griffin-Lim.

A run trained with ``--snapshot-every N`` keeps the vocoder every N steps (``RUN_DIR/snapshots/step_*/``,
each a loadable checkpoint with the run's wall and CPU seconds at that step). Each snapshot is scored like
``latentlab bench vocode`` scores a vocoder, on the same validation clips, beside Griffin-Lim: MR-STFT
distance on validation speech and on validation music (lower is better), PESQ (wide band) and STOI on the
speech (higher is better).

The extrapolation is the simplest one a learning curve supports: each figure as a straight line in the log of
the CPU-hours (a fixed gain per doubling of compute), fitted by least squares to the later half of the snapshots
(learning curves flatten, so the recent slope is the less optimistic one), solved for the CPU-hours at which it
reaches Griffin-Lim's figure; still a lower bound when the curve keeps flattening. A figure with no clear trend (a gain under twice its
standard error, e.g. early noisy snapshots) gets no estimate rather than a made-up one.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..core.cards import update_card
from ..core.checkpoint import CARD_FILE
from ..core.errors import LatentLabError
from ..core.metrics import mr_stft_distance
from ..data.vocode import validation_clips
from ..ops.vocode import analyze, checkpoint_dir, synthesize
from .vocode import mean_speech_quality
from ..train.loop import SNAPSHOT_RECORD, SNAPSHOTS

CARD_BLOCK = "<!-- bench curve -->"  # the card block a run replaces
FIGURES = (("mr_stft_speech", -1), ("mr_stft_music", -1), ("pesq", 1))  # (figure, +1: higher is better)
MIN_GAIN_PER_DECADE = 1e-6  # a fitted gain below this per tenfold of CPU-hours counts as not improving
MAX_DECADES = 9.0  # an estimate beyond 10^9 CPU-hours is no estimate
MIN_POINTS = 4  # snapshots a line needs before it says anything
FIT_FRACTION = 0.5  # the line goes through the later half of the snapshots (at least MIN_POINTS of them)
TREND_SIGMAS = 2.0  # the fitted gain must be this many standard errors above zero


def snapshots(run_dir: str | Path) -> list[tuple[dict[str, Any], Path]]:
    """(record, folder) of every snapshot in ``run_dir``, by step. record: step, seconds, cpu_seconds."""
    root = Path(run_dir) / SNAPSHOTS
    found = []
    for folder in sorted(root.glob("step_*")) if root.is_dir() else []:
        record_file = folder / SNAPSHOT_RECORD
        if record_file.exists() and (folder / "model.safetensors").exists():
            found.append((json.loads(record_file.read_text(encoding="utf-8")), folder))
    return sorted(found, key=lambda item: item[0]["step"])


def score(name: str, checkpoint: str | Path | None, music: list[np.ndarray], speech: list[np.ndarray]) -> dict[str, Any]:
    """MR-STFT on ``speech`` and ``music``, PESQ / STOI on ``speech`` of vocoder ``name`` (from ``checkpoint``)."""

    def vocoded(audio: np.ndarray) -> np.ndarray:
        return synthesize(analyze(audio), name, "cpu", checkpoint=checkpoint).audio

    out_speech = [vocoded(a) for a in speech]
    pesq, stoi = mean_speech_quality(out_speech, speech)
    return {
        "mr_stft_speech": float(np.mean([mr_stft_distance(o, r) for o, r in zip(out_speech, speech)])) if speech else None,
        "mr_stft_music": float(np.mean([mr_stft_distance(vocoded(a), a) for a in music])) if music else None,
        "pesq": pesq, "stoi": stoi,
    }


def extrapolate(hours: Sequence[float], values: Sequence[float], target: float, sign: int) -> float | None:
    """CPU-hours at which ``values`` (a figure at each of ``hours``) reach ``target``, by a least-squares line in
    log10(hours) through the later :data:`FIT_FRACTION` of the points; ``sign`` +1 when higher is better, -1 when lower is. The hours already
    reached when the last point is there. None when there is no trend to follow: fewer than
    :data:`MIN_POINTS` points, a fitted gain that is not at least twice its standard error (noise, or a figure
    that is not improving), or more than 10^9 CPU-hours."""
    h, v = np.asarray(hours, dtype=np.float64), np.asarray(values, dtype=np.float64)
    if sign * (v[-1] - target) >= 0:
        return float(h[-1])
    if len(h) < MIN_POINTS or np.any(h <= 0):
        return None
    keep = max(MIN_POINTS, int(np.ceil(len(h) * FIT_FRACTION)))  # the recent slope: curves flatten in log time too
    h, v = h[-keep:], v[-keep:]
    (slope, intercept), cov = np.polyfit(np.log10(h), v, 1, cov=True)
    gain, error = sign * slope, float(np.sqrt(max(cov[0, 0], 0.0)))
    if gain <= MIN_GAIN_PER_DECADE or gain <= TREND_SIGMAS * error:
        return None
    decades = (target - intercept) / slope
    return float(10 ** decades) if decades <= MAX_DECADES else None


def learning_curve(name: str, run_dir: str | Path, data_dir: str | Path, clips: int = 4, speech_clips: int = 4,
                   seconds: float = 2.0) -> dict[str, Any]:
    """Score every snapshot of ``run_dir`` and Griffin-Lim on the same validation clips; extrapolate each figure.

    Returns {"vocoder", "run_dir", "griffinlim": row, "points": [row + step, cpu_hours, hours], "budget":
    {figure: CPU-hours or None}, "budget_cpu_hours": the largest of them (None if any is None)}.
    """
    points = snapshots(run_dir)
    if not points:
        raise LatentLabError(f"{run_dir} has no snapshots: train with `latentlab train vocode {name} --snapshot-every N`")
    music = [a for _, a in validation_clips(data_dir, seconds=seconds, count=clips, kind="music")] if clips else []
    speech = ([a for _, a in validation_clips(data_dir, seconds=seconds, count=speech_clips, kind="speech")]
              if speech_clips else [])
    if not music and not speech:
        raise LatentLabError(f"{data_dir} has no validation clips to score (rebuild it with `latentlab data vocode`)")
    gl = score("griffinlim", None, music, speech)
    rows = []
    for record, folder in points:
        row = {"step": record["step"], "cpu_hours": record["cpu_seconds"] / 3600, "hours": record["seconds"] / 3600}
        row.update(score(name, folder, music, speech))
        rows.append(row)
    budget: dict[str, float | None] = {}
    for figure, sign in FIGURES:
        if gl.get(figure) is None or any(r.get(figure) is None for r in rows):
            continue
        budget[figure] = extrapolate([r["cpu_hours"] for r in rows], [r[figure] for r in rows], gl[figure], sign)
    values = list(budget.values())
    return {"vocoder": name, "run_dir": str(run_dir), "griffinlim": gl, "points": rows, "budget": budget,
            "budget_cpu_hours": max(values) if values and None not in values else None}


def format_curve(curve: dict[str, Any]) -> str:
    """The curve as a Markdown table, then the extrapolated budget per figure."""

    def fmt(v: Any, spec: str) -> str:
        return "—" if v is None else format(v, spec)

    gl = curve["griffinlim"]
    lines = ["| step | CPU-hours | speech MR-STFT ↓ | music MR-STFT ↓ | speech PESQ ↑ | speech STOI ↑ |",
             "|---:|---:|---:|---:|---:|---:|",
             f"| Griffin-Lim | | {fmt(gl['mr_stft_speech'], '.3f')} | {fmt(gl['mr_stft_music'], '.3f')} | "
             f"{fmt(gl['pesq'], '.3f')} | {fmt(gl['stoi'], '.3f')} |"]
    for r in curve["points"]:
        lines.append(f"| {r['step']:,} | {r['cpu_hours']:.3f} | {fmt(r['mr_stft_speech'], '.3f')} | "
                     f"{fmt(r['mr_stft_music'], '.3f')} | {fmt(r['pesq'], '.3f')} | {fmt(r['stoi'], '.3f')} |")
    lines.append("")
    names = {"mr_stft_speech": "speech MR-STFT", "mr_stft_music": "music MR-STFT", "pesq": "speech PESQ"}
    parts = []
    for figure, hours in curve["budget"].items():
        parts.append(f"{names[figure]} {'no clear trend yet: no estimate' if hours is None else f'{hours:,.1f} CPU-hours'}")
    lines.append("CPU-hours to reach Griffin-Lim, extrapolated (a straight line in log CPU-hours through the later "
                 "half of the snapshots, used only where its gain is at least twice its standard error): " + "; ".join(parts) + ".")
    total = curve["budget_cpu_hours"]
    lines.append("Budget to beat Griffin-Lim on all of them: "
                 + ("unknown (a figure has no clear trend yet)." if total is None else f"about {total:,.1f} CPU-hours."))
    return "\n".join(lines)


def write_card(curve: dict[str, Any], command: str, directory: str | Path | None = None) -> Path:
    """Put the curve and ``command`` into the vocoder's card.md (``directory``, default ``checkpoints/NAME/``)
    between the ``<!-- bench curve -->`` markers. A vocoder that is not shipped gets a card of its own there, with
    no weights beside it (the app still lists it as not trained)."""
    folder = Path(directory) if directory else checkpoint_dir(curve["vocoder"])
    card = folder / CARD_FILE
    if not card.exists():
        folder.mkdir(parents=True, exist_ok=True)
        card.write_text(f"# {curve['vocoder']} vocoder\n\nNot shipped: it does not beat Griffin-Lim on validation "
                        "speech and music yet. Its learning curve, and the budget extrapolated from it:\n",
                        encoding="utf-8")
    return update_card(folder, CARD_BLOCK, f"Learning curve (`{command}`):\n\n{format_curve(curve)}")
