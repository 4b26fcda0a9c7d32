"""``latentlab bench vocoders``: every vocoder side by side, measured in one run.

Per vocoder: parameters; real-time factor on the CPU (``threads`` torch threads) and on the GPU when one
is in use; seconds of audio made per CPU-second of the process (a figure that holds on a busy, shared
machine, where the wall-clock one does not); multi-resolution STFT distance and mel L1 between the
vocoded validation clips and the originals (lower is better). Vocoders without a checkpoint are listed as "not trained".
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from ..core.cards import update_card
from ..core.checkpoint import CARD_FILE
from ..core.metrics import mel_distance, mr_stft_distance, torch_threads
from ..data.vocode import validation_clips
from ..ops.vocode import VOCODERS, analyze, checkpoint_dir, is_available, load_vocoder, synthesize

CARD_BLOCK = "<!-- bench vocoders -->"  # the card block a run replaces


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
) -> list[dict[str, Any]]:
    """One row per vocoder: name, status, params, rtf_cpu (wall clock, ``threads`` threads), rtf_cpu_time (audio
    seconds per CPU-second, all threads together), rtf_gpu, mr_stft, mel_l1 (None where not run)."""
    device = torch.device(device)
    excerpts = validation_clips(data_dir, seconds=seconds, count=clips)
    references = [audio for _, audio in excerpts]
    mels = [analyze(audio) for audio in references]
    rows = []
    for name in names or list(VOCODERS):
        row: dict[str, Any] = {"vocoder": name, "status": "ok", "params": None, "rtf_cpu": None,
                               "rtf_cpu_time": None, "rtf_gpu": None, "mr_stft": None, "mel_l1": None}
        rows.append(row)
        if not is_available(name):
            row["status"] = "not trained"
            continue
        row["params"] = load_vocoder(name, "cpu").num_parameters
        with torch_threads(threads):
            row["rtf_cpu"], row["rtf_cpu_time"], outputs = _time(name, mels, torch.device("cpu"))
        if device.type == "cuda":
            row["rtf_gpu"], _, _ = _time(name, mels, device)
        row["mr_stft"] = float(np.mean([mr_stft_distance(o, r) for o, r in zip(outputs, references)]))
        row["mel_l1"] = float(np.mean([mel_distance(o, r) for o, r in zip(outputs, references)]))
    return rows


def format_table(rows: list[dict[str, Any]]) -> str:
    """The rows as a Markdown table plus a line on the two targets."""

    def fmt(v: Any, spec: str) -> str:
        return "—" if v is None else format(v, spec)

    lines = ["| vocoder | parameters | CPU × real time | per CPU-second | GPU × real time | MR-STFT ↓ | mel L1 ↓ |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        if r["status"] != "ok":
            lines.append(f"| {r['vocoder']} | {r['status']} | | | | | |")
            continue
        lines.append(
            f"| {r['vocoder']} | {r['params']:,} | {fmt(r['rtf_cpu'], '.1f')} | {fmt(r.get('rtf_cpu_time'), '.1f')} | "
            f"{fmt(r['rtf_gpu'], '.1f')} | {fmt(r['mr_stft'], '.3f')} | {fmt(r['mel_l1'], '.3f')} |"
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
            beat = [r["vocoder"] for r in neural if r["mr_stft"] < gl["mr_stft"]]
            lost = [r["vocoder"] for r in neural if r["mr_stft"] >= gl["mr_stft"]]
            lines.append(f"Better than Griffin-Lim on MR-STFT: {', '.join(beat) or 'none'}"
                         + (f"; not better: {', '.join(lost)}." if lost else "."))
    return "\n".join(lines)


def write_cards(rows: list[dict[str, Any]], command: str) -> list[Path]:
    """Put each trained vocoder's measured row (next to Griffin-Lim's) and ``command`` into its card.md,
    between the ``<!-- bench vocoders -->`` markers (replacing what an earlier run wrote there)."""
    gl = [r for r in rows if r["vocoder"] == "griffinlim" and r["status"] == "ok"]
    written = []
    for row in rows:
        directory = checkpoint_dir(row["vocoder"])
        if row["vocoder"] == "griffinlim" or row["status"] != "ok" or not (directory / CARD_FILE).exists():
            continue
        body = f"Measured with `{command}` (one run, side by side):\n\n" + format_table(gl + [row]).split("\n\n")[0]
        written.append(update_card(directory, CARD_BLOCK, body))
    return written
