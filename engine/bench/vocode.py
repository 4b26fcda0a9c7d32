"""``latentlab bench vocode``: every vocoder side by side, measured in one run.

Per vocoder: parameters; real-time factor on the CPU (``threads`` torch threads) and on the GPU when one
is in use; seconds of audio made per CPU-second of the process (a figure that holds on a busy, shared
machine, where the wall-clock one does not); PESQ (wide band) and STOI of the vocoded validation speech
(higher is better); multi-resolution STFT distance and mel L1 between the vocoded validation music and
the originals (lower is better). Speech and music are the corpus's text-to-speech clips and the rest
(:func:`engine.data.vocode.validation_clips`); the speed covers both. Vocoders without a checkpoint are
listed as "not trained".
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from ..core.cards import update_card
from ..core.checkpoint import CARD_FILE
from ..core.metrics import mel_distance, mr_stft_distance, speech_quality, torch_threads
from ..data.vocode import validation_clips
from ..ops.vocode import VOCODERS, analyze, checkpoint_dir, is_available, load_vocoder, synthesize

CARD_BLOCK = "<!-- bench vocode -->"  # the card block a run replaces


def _time(name: str, mels: list[np.ndarray], device: torch.device) -> tuple[float, float, list[np.ndarray]]:
    """(real-time factor by wall time, audio seconds per CPU-second of this process, outputs) over all clips,
    after one warm-up call. The second figure does not depend on what else the machine is running."""
    synthesize(mels[0][:, :32], name, device)  # warm-up: first-call allocations, numba / cuDNN setup
    cpu_start = time.process_time()
    results = [synthesize(m, name, device) for m in mels]
    cpu = time.process_time() - cpu_start
    seconds = sum(r.seconds for r in results)
    wall = sum(r.wall_seconds for r in results)
    return seconds / max(wall, 1e-9), seconds / max(cpu, 1e-9), [r.audio for r in results]


def bench_vocode(
    data_dir: str | Path,
    names: Sequence[str] | None = None,
    device: torch.device | str = "cpu",
    clips: int = 8,
    seconds: float = 4.0,
    threads: int = 2,
    speech_clips: int = 8,
) -> list[dict[str, Any]]:
    """One row per vocoder: name, status, params, rtf_cpu (wall clock, ``threads`` threads), rtf_cpu_time (audio
    seconds per CPU-second, all threads together), rtf_gpu, pesq and stoi (means over ``speech_clips``
    validation speech excerpts), mr_stft and mel_l1 (means over ``clips`` validation music excerpts); None
    where not run or where the corpus has no such clips."""
    device = torch.device(device)
    music = [audio for _, audio in validation_clips(data_dir, seconds=seconds, count=clips, kind="music")] if clips else []
    speech = ([audio for _, audio in validation_clips(data_dir, seconds=seconds, count=speech_clips, kind="speech")]
              if speech_clips else [])
    references = music + speech
    if not references:
        from ..core.errors import LatentLabError

        raise LatentLabError(f"{data_dir} has no validation clips to score (rebuild it with `latentlab data vocode`)")
    mels = [analyze(audio) for audio in references]
    rows = []
    for name in names or list(VOCODERS):
        row: dict[str, Any] = {"vocoder": name, "status": "ok", "params": None, "rtf_cpu": None,
                               "rtf_cpu_time": None, "rtf_gpu": None, "pesq": None, "stoi": None,
                               "mr_stft": None, "mel_l1": None}
        rows.append(row)
        if not is_available(name):
            row["status"] = "not trained"
            continue
        row["params"] = load_vocoder(name, "cpu").num_parameters
        with torch_threads(threads):
            row["rtf_cpu"], row["rtf_cpu_time"], outputs = _time(name, mels, torch.device("cpu"))
        if device.type == "cuda":
            row["rtf_gpu"], _, _ = _time(name, mels, device)
        if music:
            pairs = list(zip(outputs[: len(music)], music))
            row["mr_stft"] = float(np.mean([mr_stft_distance(o, r) for o, r in pairs]))
            row["mel_l1"] = float(np.mean([mel_distance(o, r) for o, r in pairs]))
        row["pesq"], row["stoi"] = mean_speech_quality(outputs[len(music) :], speech)
    return rows


def mean_speech_quality(outputs: Sequence[np.ndarray], references: Sequence[np.ndarray]) -> tuple[float | None, float | None]:
    """(mean PESQ wide band, mean STOI) of ``outputs`` against ``references`` speech; excerpts PESQ finds no
    speech in (the same for every vocoder) are left out; (None, None) when none is left."""
    scores = []
    for o, r in zip(outputs, references):
        try:
            scores.append(speech_quality(o, r))
        except ValueError:
            continue
    if not scores:
        return None, None
    pesq, stoi = (float(np.mean(v)) for v in zip(*scores))
    return pesq, stoi


def format_table(rows: list[dict[str, Any]]) -> str:
    """The rows as a Markdown table plus a line on the two targets."""

    def fmt(v: Any, spec: str) -> str:
        return "—" if v is None else format(v, spec)

    lines = ["| vocoder | parameters | CPU × real time | per CPU-second | GPU × real time | speech PESQ ↑ | "
             "speech STOI ↑ | music MR-STFT ↓ | music mel L1 ↓ |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        if r["status"] != "ok":
            lines.append(f"| {r['vocoder']} | {r['status']} | | | | | | | |")
            continue
        lines.append(
            f"| {r['vocoder']} | {r['params']:,} | {fmt(r['rtf_cpu'], '.1f')} | {fmt(r.get('rtf_cpu_time'), '.1f')} | "
            f"{fmt(r['rtf_gpu'], '.1f')} | {fmt(r.get('pesq'), '.3f')} | {fmt(r.get('stoi'), '.3f')} | "
            f"{fmt(r['mr_stft'], '.3f')} | {fmt(r['mel_l1'], '.3f')} |"
        )
    ran = [r for r in rows if r["status"] == "ok"]
    gl = next((r for r in ran if r["vocoder"] == "griffinlim"), None)
    neural = [r for r in ran if r["vocoder"] != "griffinlim"]
    if neural:
        fastest = max(neural, key=lambda r: r["rtf_cpu"])
        lines.append("")
        lines.append(f"Fastest neural vocoder on the CPU: {fastest['vocoder']} at {fastest['rtf_cpu']:.1f}x real time "
                     f"({fastest['rtf_cpu_time']:.1f} s of audio per CPU-second).")
        if gl is not None:
            beat = [r["vocoder"] for r in neural if beats_griffinlim(r, gl)]
            lost = [r["vocoder"] for r in neural if not beats_griffinlim(r, gl)]
            measured = [m for m, _ in _TARGETS if gl.get(m) is not None]
            lines.append(f"Better than Griffin-Lim on every one of {', '.join(measured)}: {', '.join(beat) or 'none'}"
                         + (f"; not better: {', '.join(lost)}." if lost else "."))
    return "\n".join(lines)


_TARGETS = (("pesq", 1), ("stoi", 1), ("mr_stft", -1))  # (figure, +1 higher is better / -1 lower is better)


def beats_griffinlim(row: dict[str, Any], gl: dict[str, Any]) -> bool:
    """Whether ``row`` is better than Griffin-Lim's ``gl`` on every figure both measured (PESQ, STOI, MR-STFT)."""
    pairs = [(row.get(m), gl.get(m), sign) for m, sign in _TARGETS if gl.get(m) is not None]
    return bool(pairs) and all(v is not None and sign * (v - g) > 0 for v, g, sign in pairs)


def write_cards(rows: list[dict[str, Any]], command: str) -> list[Path]:
    """Put each trained vocoder's measured row (next to Griffin-Lim's) and ``command`` into its card.md,
    between the ``<!-- bench vocode -->`` markers (replacing what an earlier run wrote there)."""
    gl = [r for r in rows if r["vocoder"] == "griffinlim" and r["status"] == "ok"]
    written = []
    for row in rows:
        directory = checkpoint_dir(row["vocoder"])
        if row["vocoder"] == "griffinlim" or row["status"] != "ok" or not (directory / CARD_FILE).exists():
            continue
        body = f"Measured with `{command}` (one run, side by side):\n\n" + format_table(gl + [row]).split("\n\n")[0]
        written.append(update_card(directory, CARD_BLOCK, body))
    return written
