"""``latentlab bench translate``: does a translation keep the music and move it to the target instrument?

On validation pieces (never trained on), excerpts of the source domain (piano) are translated into every
other domain and compared with the input and with the true render of the same excerpt on the target,
monophonic tunes and polyphonic chorales reported apart:

- content kept: the Pearson correlation of the output's chroma (CQT chroma, 12 x frames) with the input's
  (target >= 0.80); for scale, the same figure for the true target render (the ceiling) and for an unrelated
  excerpt (the floor);
- moved to the target: a small domain classifier (standardised MFCC means and standard deviations ->
  logistic regression), trained on excerpts of the *training* pieces' renders, names the target for
  >= 80% of outputs; and the MFCC-statistics distance to the true target render is lower for the output
  than for the input (on every clip: ``closer_than_input`` 1.0);
- speed: the wall time to translate a 10 s clip to one target, vocoder included.

For a frame translator the same figures are given for the true render's own mel through the same vocoder
(``*_vocoded_render``): what a perfect mel would score, i.e. the vocoder's ceiling; and the chroma of the true
render's mel pseudo-inverse given the render's own phase (``chroma_corr_mel_true_phase``): what the mel itself
keeps, so a gap between the two is the vocoder's phase, not the mel.

Every figure is taken at the dataset's rate (an engine at another rate is resampled to it).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from ..core.audio import resample, save_wav
from ..core.errors import LatentLabError
from ..data.translate import piece_files, read_manifest

N_MFCC = 20
CHROMA_HOP = 512
CLASSIFIER_EXCERPTS = 40  # training excerpts per domain for the domain classifier
MIN_RMS = 0.02  # excerpts quieter than this (rests, release tails) are skipped


def mfcc_stats(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """MFCC means and standard deviations over time: ndarray[T] -> ndarray[2 * N_MFCC]."""
    import librosa

    m = librosa.feature.mfcc(y=audio.astype(np.float32), sr=sample_rate, n_mfcc=N_MFCC)
    return np.concatenate([m.mean(1), m.std(1)])


def chroma(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """CQT chroma: ndarray[T] -> ndarray[12 x frames]."""
    import warnings

    import librosa

    with warnings.catch_warnings():  # the lowest octaves' filters are longer than a short clip: expected
        warnings.simplefilter("ignore", UserWarning)
        return librosa.feature.chroma_cqt(y=audio.astype(np.float32), sr=sample_rate, hop_length=CHROMA_HOP)


def chroma_correlation(a: np.ndarray, b: np.ndarray, sample_rate: int) -> float:
    """Pearson correlation of two clips' chroma matrices (same length clips)."""
    x, y = chroma(a, sample_rate), chroma(b, sample_rate)
    n = min(x.shape[1], y.shape[1])
    return float(np.corrcoef(x[:, :n].ravel(), y[:, :n].ravel())[0, 1])


def _excerpts(files: list[tuple[Path, int]], n: int, length: int, rng: np.random.Generator,
              sample_rate: int) -> list[tuple[Path, int]]:
    """Up to ``n`` (file, offset) excerpts that are not silent, spread over the files."""
    chosen, tries = [], 0
    while files and len(chosen) < n and tries < 50 * n:
        path, frames = files[tries % len(files)]
        tries += 1
        last = frames - length - sample_rate  # keep clear of the one-second release tail
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


def train_domain_classifier(directory: Path, domains: list[str], length: int, seed: int, sample_rate: int):
    """Standardised MFCC statistics -> logistic regression, fitted on training-piece renders."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(seed)
    features, labels = [], []
    for d, name in enumerate(domains):
        for path, offset in _excerpts(piece_files(directory, name, "train"), CLASSIFIER_EXCERPTS, length, rng,
                                      sample_rate):
            features.append(mfcc_stats(_read(directory, name, path, offset, length), sample_rate))
            labels.append(d)
    classifier = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, C=1.0))
    classifier.fit(np.array(features), np.array(labels))
    return classifier



def kind_files(directory: Path, domain: str, split: str, kind: str) -> list[tuple[Path, int]]:
    """The (wav path, frames) of one domain's pieces of one kind ("mono" or "poly") in one split."""
    kinds = {p["id"]: p["kind"] for p in read_manifest(directory)["pieces"]}
    return [(path, n) for path, n in piece_files(directory, domain, split) if kinds.get(path.stem) == kind]


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
    engine: str = "umt",
    vocoder: str | None = None,
    speed_seconds: float = 10.0,
    phase: str = "input",
) -> dict[str, Any]:
    """Translate ``clips`` validation excerpts of ``source`` per kind (mono, poly) into every other domain.

    engine : "umt" (the translation network ``model``) or "tone" (tone transfer; its targets are the
        dataset's domains it has notes for)
    speed_seconds : the length of the clip timed for the speed figure (0: no timing)
    phase : the frame translator's output phase (``input`` or ``vocoder``: see :func:`engine.ops.translate.translate`)

    Returns a JSON-ready report: settings, per kind the per-target rows and the overall figures, the
    classifier's accuracy on the true renders, and the time for a ``speed_seconds`` clip.
    """
    from ..models.frame_translator import FrameTranslator
    from ..ops import tone
    from ..ops.translate import load_model, translate
    from ..ops.vocode import analyze, default_vocoder, synthesize
    from .vocode_swap import mel_with_true_phase

    directory = Path(data)
    manifest = read_manifest(directory)
    rate = int(manifest["sample_rate"])
    if engine == "tone":
        net, domains = None, [d for d in manifest["domains"] if d in tone.domains()]
        if source not in domains:
            domains = [source, *domains]
        model_rate = tone.SAMPLE_RATE
    else:
        net = load_model(model, device)
        domains, model_rate = list(net.domains), int(net.config.sample_rate)
        if model_rate != rate:
            raise LatentLabError(f"{directory} is at {rate} Hz but {model} plays {model_rate} Hz: render the "
                                 f"clips at {model_rate} Hz (`latentlab data translate --sample-rate {model_rate}`)")
    targets = [d for d in domains if d != source]
    voiced = isinstance(net, FrameTranslator)  # frames voiced by a vocoder: measure its ceiling too
    vocoder = (vocoder or default_vocoder()) if voiced else vocoder
    missing = [d for d in [source, *targets] if d not in manifest["domains"]]
    if missing:
        raise LatentLabError(f"{directory} has no renders for {', '.join(missing)}")
    if not targets:
        raise LatentLabError(f"no target domain besides {source}")
    length = int(seconds * rate)
    classifier = train_domain_classifier(directory, domains, length, seed, rate)
    scaler = classifier[0]

    def distance(a: np.ndarray, b: np.ndarray) -> float:
        fa, fb = scaler.transform(np.stack([mfcc_stats(a, rate), mfcc_stats(b, rate)]))
        return float(np.linalg.norm(fa - fb))

    def run(x: np.ndarray, names: list[str], i: int) -> dict[str, np.ndarray]:
        x_in = resample(x, rate, model_rate) if model_rate != rate else x
        outs = translate(x_in, names, model=net if net is not None else model, seed=seed + i,
                         temperature=temperature, engine=engine, vocoder=vocoder, phase=phase)
        back = {t: resample(w, model_rate, rate) for t, w in outs.items()}
        return {t: np.pad(w, (0, max(0, len(x) - len(w))))[: len(x)] for t, w in back.items()}

    kinds: dict[str, Any] = {}
    true_correct, true_total = 0, 0
    rng = np.random.default_rng(seed)
    for kind in ("mono", "poly"):
        excerpts = _excerpts(kind_files(directory, source, "validation", kind), clips, length, rng, rate)
        if not excerpts:
            continue
        rows: dict[str, dict[str, list[float]]] = {t: {} for t in targets}
        farther: list[dict[str, Any]] = []  # the excerpts whose output is no nearer the true render than the input
        for i, (path, offset) in enumerate(excerpts):
            x = _read(directory, source, path, offset, length)
            other_path, other_offset = excerpts[(i + 1) % len(excerpts)]
            unrelated = _read(directory, source, other_path, other_offset, length)
            outs = run(x, targets, i)
            if save_audio:
                save_wav(Path(save_audio) / f"{kind}-{i:02d}-{path.stem}-{source}.wav", x, rate)
            for t in targets:
                y = outs[t]
                truth = _read(directory, t, path, offset, length)
                predicted = domains[int(classifier.predict(mfcc_stats(y, rate)[None])[0])]
                true_correct += int(domains[int(classifier.predict(mfcc_stats(truth, rate)[None])[0])] == t)
                true_total += 1
                r = rows[t]
                d_out, d_in = distance(y, truth), distance(x, truth)
                if d_out >= d_in:
                    farther.append({"target": t, "piece": path.stem, "offset_s": round(offset / rate, 2),
                                    "mfcc_dist_output": round(d_out, 3), "mfcc_dist_input": round(d_in, 3)})
                for key, value in (
                    ("chroma_corr", chroma_correlation(y, x, rate)),
                    ("chroma_corr_true_render", chroma_correlation(truth, x, rate)),
                    ("chroma_corr_unrelated", chroma_correlation(unrelated, x, rate)),
                    ("classified_as_target", float(predicted == t)),
                    ("mfcc_dist_output", d_out),
                    ("mfcc_dist_input", d_in),
                    ("closer_than_input", float(d_out < d_in)),
                ):
                    r.setdefault(key, []).append(value)
                if voiced:
                    ceiling = synthesize(analyze(truth), vocoder).audio
                    ceiling = np.pad(ceiling, (0, max(0, length - len(ceiling))))[:length]
                    r.setdefault("chroma_corr_vocoded_render", []).append(chroma_correlation(ceiling, x, rate))
                    r.setdefault("mfcc_dist_vocoded_render", []).append(distance(ceiling, truth))
                    kept = mel_with_true_phase(truth)
                    kept = np.pad(kept, (0, max(0, length - len(kept))))[:length]
                    r.setdefault("chroma_corr_mel_true_phase", []).append(chroma_correlation(kept, x, rate))
                if save_audio:
                    save_wav(Path(save_audio) / f"{kind}-{i:02d}-{path.stem}-{t}.wav", y, rate)
        per_target = {t: {k: round(float(np.mean(v)), 4) for k, v in r.items()} for t, r in rows.items()}
        overall = {k: round(float(np.mean([per_target[t][k] for t in targets])), 4) for k in next(iter(per_target.values()))}
        kinds[kind] = {"excerpts": len(excerpts), "per_target": per_target, "overall": overall, "farther": farther}
    if not kinds:
        raise LatentLabError(f"{directory} has no validation excerpts of {seconds} s for {source}")
    speed = None
    if speed_seconds > 0:
        files = piece_files(directory, source, "validation")
        audio = np.concatenate([sf.read(str(p), dtype="float32")[0] for p, _ in files])
        audio = np.resize(audio, int(speed_seconds * rate))
        run(audio[: int(0.5 * rate)], targets[:1], 0)  # warm-up (first-call compilation, caches)
        started = time.perf_counter()
        run(audio, targets[:1], 0)
        speed = round(time.perf_counter() - started, 3)
    import torch

    return {
        "model": str(model) if engine != "tone" else "timbre_ddsp",
        "engine": engine,
        "vocoder": vocoder,
        "phase": phase if voiced else None,
        "data": str(directory),
        "source": source,
        "seconds": seconds,
        "seed": seed,
        "temperature": temperature,
        "device": str(next(net.parameters()).device) if net is not None else "cpu",
        "threads": torch.get_num_threads(),
        "classifier_accuracy_on_true_renders": round(true_correct / max(1, true_total), 4),
        "kinds": kinds,
        "speed_seconds": speed_seconds,
        "seconds_for_clip": speed,
    }


KEYS = ["chroma_corr", "chroma_corr_true_render", "chroma_corr_unrelated", "classified_as_target",
        "mfcc_dist_output", "mfcc_dist_input", "closer_than_input"]
CEILING_KEYS = ["chroma_corr_vocoded_render", "mfcc_dist_vocoded_render", "chroma_corr_mel_true_phase"]


def format_report(report: dict[str, Any]) -> str:
    """The report as Markdown tables, one per kind (what goes into the model card)."""
    lines = [
        f"Validation excerpts of {report['seconds']} s, {report['source']} -> each other domain; engine "
        f"{report['engine']}" + (f", vocoder {report['vocoder'] or 'default'}" if report["engine"] != "tone" else "")
        + (f", phase from the {report['phase']}" if report.get("phase") else "")
        + f" (seed {report['seed']}, {report['device']}, {report['threads']} threads)",
    ]
    names = {"mono": "Monophonic tunes", "poly": "Polyphonic chorales"}
    for kind, block in report["kinds"].items():
        keys = KEYS + [k for k in CEILING_KEYS if k in block["overall"]]
        lines += ["", f"**{names[kind]}** ({block['excerpts']} excerpts)", "",
                  "| target | " + " | ".join(keys) + " |", "|---" * (len(keys) + 1) + "|"]
        for target, row in {**block["per_target"], "**all**": block["overall"]}.items():
            lines.append(f"| {target} | " + " | ".join(f"{row[k]:.3f}" for k in keys) + " |")
        for f in block.get("farther", []):
            lines += ["", f"No nearer the true render than the input: {f['target']}, {f['piece']} at {f['offset_s']} s "
                          f"(MFCC distance {f['mfcc_dist_output']:.3f} vs {f['mfcc_dist_input']:.3f})"]
    lines += [
        "",
        f"Domain classifier (MFCC statistics, logistic regression) on the true renders of these excerpts: "
        f"{report['classifier_accuracy_on_true_renders']:.3f} accuracy.",
    ]
    if any("chroma_corr_vocoded_render" in b["overall"] for b in report["kinds"].values()):
        lines.append("`*_vocoded_render`: the true render's own mel through the same vocoder (the vocoder's ceiling); "
                     "`chroma_corr_mel_true_phase`: its mel's pseudo-inverse with its own phase (what the mel keeps).")
    if report.get("seconds_for_clip") is not None:
        lines.append(f"A {report['speed_seconds']:.0f} s clip to one target: {report['seconds_for_clip']:.2f} s of "
                     f"wall time ({report['threads']} threads" + (", vocoder included" if report["engine"] != "tone" else "")
                     + ").")
    return "\n".join(lines)


def update_card(model: str | Path, report: dict[str, Any], command: str) -> Path:
    """Replace (or add) the card's measured-figures section with ``report`` and the command that measured it."""
    from ..core import cards
    from ..core.checkpoint import resolve_checkpoint_dir

    body = f"Measured with\n\n```\n{command}\n```\n\n{format_report(report)}"
    return cards.update_card(resolve_checkpoint_dir(model), "## Measured figures", body)
