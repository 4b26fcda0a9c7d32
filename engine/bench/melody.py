"""``latentlab bench melody``: MusicVAE latency, and accuracy on a validation split.

Times (median of ``repeats`` after a warm-up) encoding one window, argmax-decoding one window, and an
11-step interpolation between two one-window melodies -- everything the app does for one click. With a
window file, also the teacher-forced and argmax reconstruction accuracy and the KL on its validation split.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

INTERPOLATION_STEPS = 11
TARGET_MS = 50.0  # 11-step 2-bar interpolation on a CPU


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
        windows = load_windows(data)["val"]
        if windows.shape[1] != mm.steps:
            from ..core.errors import LatentLabError

            raise LatentLabError(f"{data} holds {windows.shape[1]}-step windows but {mm.name} takes {mm.steps}")
        with torch.no_grad():
            report["validation"] = evaluate(mm.model, windows, device=mm.device)
        mm.model.eval()
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
    return "\n".join(lines)
