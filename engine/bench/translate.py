"""``latentlab bench translate``: does a translation keep the music and move it to the target instrument?

On validation pieces (never trained on), excerpts of the source domain (piano) are translated into every
other domain and compared with the input and with the true render of the same excerpt on the target:

- content kept: the Pearson correlation of the output's chroma (CQT chroma, 12 x frames) with the input's
  (target >= 0.80); for scale, the same figure for the true target render (the ceiling) and for an unrelated
  excerpt (the floor);
- moved to the target: a small domain classifier (standardised MFCC means and standard deviations ->
  logistic regression), trained on excerpts of the *training* pieces' renders, names the target for
  >= 80% of outputs; and the MFCC-statistics distance to the true target render is lower for the output
  than for the input;
- decode speed: generated samples per second of wall time (all targets of an excerpt decoded in one call).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from ..core.audio import save_wav
from ..core.errors import LatentLabError
from ..data.translate import piece_files, read_manifest
from ..models.translator import SAMPLE_RATE

N_MFCC = 20
CHROMA_HOP = 512
CLASSIFIER_EXCERPTS = 40  # training excerpts per domain for the domain classifier
MIN_RMS = 0.02  # excerpts quieter than this (rests, release tails) are skipped


def mfcc_stats(audio: np.ndarray) -> np.ndarray:
    """MFCC means and standard deviations over time: ndarray[T] -> ndarray[2 * N_MFCC]."""
    import librosa

    m = librosa.feature.mfcc(y=audio.astype(np.float32), sr=SAMPLE_RATE, n_mfcc=N_MFCC)
    return np.concatenate([m.mean(1), m.std(1)])


def chroma(audio: np.ndarray) -> np.ndarray:
    """CQT chroma: ndarray[T] -> ndarray[12 x frames]."""
    import warnings

    import librosa

    with warnings.catch_warnings():  # the lowest octaves' filters are longer than a short clip: expected
        warnings.simplefilter("ignore", UserWarning)
        return librosa.feature.chroma_cqt(y=audio.astype(np.float32), sr=SAMPLE_RATE, hop_length=CHROMA_HOP)


def chroma_correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation of two clips' chroma matrices (same length clips)."""
    x, y = chroma(a), chroma(b)
    n = min(x.shape[1], y.shape[1])
    return float(np.corrcoef(x[:, :n].ravel(), y[:, :n].ravel())[0, 1])


def _excerpts(files: list[tuple[Path, int]], n: int, length: int, rng: np.random.Generator) -> list[tuple[Path, int]]:
    """Up to ``n`` (file, offset) excerpts that are not silent, spread over the files."""
    chosen, tries = [], 0
    while len(chosen) < n and tries < 50 * n:
        path, frames = files[tries % len(files)]
        tries += 1
        last = frames - length - SAMPLE_RATE  # keep clear of the one-second release tail
        if last <= 0:
            continue
        offset = int(rng.integers(0, last))
        audio, _ = sf.read(str(path), start=offset, stop=offset + length, dtype="float32")
        if float(np.sqrt(np.mean(audio**2))) >= MIN_RMS:
            chosen.append((path, offset))
    return chosen


def _read(directory: Path, domain: str, path: Path, offset: int, length: int) -> np.ndarray:
    audio, _ = sf.read(str(directory / domain / path.name), start=offset, stop=offset + length, dtype="float32")
    return audio


def train_domain_classifier(directory: Path, domains: list[str], length: int, seed: int):
    """Standardised MFCC statistics -> logistic regression, fitted on training-piece renders."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(seed)
    features, labels = [], []
    for d, name in enumerate(domains):
        for path, offset in _excerpts(piece_files(directory, name, "train"), CLASSIFIER_EXCERPTS, length, rng):
            features.append(mfcc_stats(_read(directory, name, path, offset, length)))
            labels.append(d)
    classifier = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, C=1.0))
    classifier.fit(np.array(features), np.array(labels))
    return classifier


def bench_translate(
    data: str | Path,
    model: str | Path = "translate",
    source: str = "piano",
    clips: int = 12,
    seconds: float = 2.0,
    device: str | None = None,
    seed: int = 0,
    save_audio: str | Path | None = None,
    temperature: float | None = None,
) -> dict[str, Any]:
    """Translate ``clips`` validation excerpts of ``source`` into every other domain and measure them.

    Returns a JSON-ready report: settings, per-target rows, the overall figures and the decode speed.
    """
    from ..ops.translate import load_model, translate

    directory = Path(data)
    manifest = read_manifest(directory)
    net = load_model(model, device)
    targets = [d for d in net.domains if d != source]
    missing = [d for d in [source, *targets] if d not in manifest["domains"]]
    if missing:
        raise LatentLabError(f"{directory} has no renders for {', '.join(missing)}")
    length = int(seconds * SAMPLE_RATE)
    rng = np.random.default_rng(seed)
    excerpts = _excerpts(piece_files(directory, source, "validation"), clips, length, rng)
    if not excerpts:
        raise LatentLabError(f"{directory} has no validation excerpts of {seconds} s for {source}")
    classifier = train_domain_classifier(directory, list(net.domains), length, seed)
    scaler = classifier[0]

    def distance(a: np.ndarray, b: np.ndarray) -> float:
        fa, fb = scaler.transform(np.stack([mfcc_stats(a), mfcc_stats(b)]))
        return float(np.linalg.norm(fa - fb))

    rows: dict[str, dict[str, list[float]]] = {t: {} for t in targets}
    true_correct, decode_seconds, decoded = 0, 0.0, 0
    for i, (path, offset) in enumerate(excerpts):
        x = _read(directory, source, path, offset, length)
        other_path, other_offset = excerpts[(i + 1) % len(excerpts)]
        unrelated = _read(directory, source, other_path, other_offset, length)
        started = time.perf_counter()
        outs = translate(x, targets, model=net, seed=seed + i, temperature=temperature)
        decode_seconds += time.perf_counter() - started
        decoded += length * len(targets)
        if save_audio:
            save_wav(Path(save_audio) / f"{i:02d}-{path.stem}-{source}.wav", x, SAMPLE_RATE)
        for t in targets:
            y = outs[t]
            truth = _read(directory, t, path, offset, length)
            predicted = net.domains[int(classifier.predict(mfcc_stats(y)[None])[0])]
            true_correct += int(net.domains[int(classifier.predict(mfcc_stats(truth)[None])[0])] == t)
            r = rows[t]
            d_out, d_in = distance(y, truth), distance(x, truth)
            for key, value in (
                ("chroma_corr", chroma_correlation(y, x)),
                ("chroma_corr_true_render", chroma_correlation(truth, x)),
                ("chroma_corr_unrelated", chroma_correlation(unrelated, x)),
                ("classified_as_target", float(predicted == t)),
                ("mfcc_dist_output", d_out),
                ("mfcc_dist_input", d_in),
                ("closer_than_input", float(d_out < d_in)),
            ):
                r.setdefault(key, []).append(value)
            if save_audio:
                save_wav(Path(save_audio) / f"{i:02d}-{path.stem}-{t}.wav", y, SAMPLE_RATE)
    per_target = {t: {k: round(float(np.mean(v)), 4) for k, v in r.items()} for t, r in rows.items()}
    overall = {k: round(float(np.mean([per_target[t][k] for t in targets])), 4) for k in next(iter(per_target.values()))}
    return {
        "model": str(model),
        "data": str(directory),
        "source": source,
        "excerpts": len(excerpts),
        "seconds": seconds,
        "seed": seed,
        "temperature": temperature,
        "device": str(next(net.parameters()).device),
        "classifier_accuracy_on_true_renders": round(true_correct / (len(excerpts) * len(targets)), 4),
        "per_target": per_target,
        "overall": overall,
        "decode_samples_per_second": round(decoded / decode_seconds, 1),
        "decode_real_time_factor": round(decoded / decode_seconds / SAMPLE_RATE, 4),
    }


def format_report(report: dict[str, Any]) -> str:
    """The report as a Markdown table (what goes into the model card)."""
    keys = ["chroma_corr", "chroma_corr_true_render", "chroma_corr_unrelated", "classified_as_target",
            "mfcc_dist_output", "mfcc_dist_input", "closer_than_input"]
    lines = [
        f"{report['excerpts']} validation excerpts of {report['seconds']} s, {report['source']} -> each other domain "
        f"(seed {report['seed']}, temperature {report.get('temperature') or 'default'}, {report['device']})",
        "",
        "| target | " + " | ".join(keys) + " |",
        "|---" * (len(keys) + 1) + "|",
    ]
    for target, row in {**report["per_target"], "**all**": report["overall"]}.items():
        lines.append(f"| {target} | " + " | ".join(f"{row[k]:.3f}" for k in keys) + " |")
    lines += [
        "",
        f"Domain classifier (MFCC statistics, logistic regression) on the true renders of these excerpts: "
        f"{report['classifier_accuracy_on_true_renders']:.3f} accuracy.",
        f"Decode speed: {report['decode_samples_per_second']:.0f} samples/s "
        f"({report['decode_real_time_factor']:.3f} x real time) on {report['device']}.",
    ]
    return "\n".join(lines)


def update_card(model: str | Path, report: dict[str, Any], command: str) -> Path:
    """Replace (or add) the card's measured-figures section with ``report`` and the command that measured it."""
    from ..core import cards
    from ..core.checkpoint import resolve_checkpoint_dir

    body = f"Measured with\n\n```\n{command}\n```\n\n{format_report(report)}"
    return cards.update_card(resolve_checkpoint_dir(model), "## Measured figures", body)
