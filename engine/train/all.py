"""``latentlab train all --device cuda --minutes N``: every shipped recipe, each with a share of N minutes.

For each job (one per shipped checkpoint that the shared loop trains), in turn:

1. measure the seconds a training step takes on ``device`` (the job's ``probe``; by default its row of
   :mod:`engine.bench.train`, with the batch ``batch_scale`` times the recipe's: larger batches on a GPU);
2. resume its run directory (or start one, from the shipped weights where the recipe can) for as many steps
   as fit in its share of the budget, less ``reserve`` of it for the export and the scoring;
3. score the new checkpoint and the shipped one with the same bench figure on the same data, and replace
   the shipped checkpoint only where the new one measures better.

Jobs whose data are missing are skipped with the command that makes them.
"""

from __future__ import annotations

import json
import math
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch.utils.data import DataLoader

from ..core.checkpoint import load_checkpoint
from ..core.device import bf16_autocast
from .loop import STATE_META

CANDIDATE = "candidate"  # inside the run directory: the checkpoint this run exported, before it is compared


@dataclass
class Job:
    """One shipped recipe as ``train all`` runs it."""

    name: str  # the shipped checkpoint's folder name under the checkpoint root
    bench: str  # its row of engine.bench.train (the step-time probe)
    run_dir: Path
    data: Path  # what it trains on (skipped when missing)
    data_command: str  # the command that makes ``data``
    train: Callable[..., Any]  # (steps, batch_size, run_dir, out, device, init) -> trains and exports to out
    score: Callable[[Path, str], float]  # (checkpoint folder, device) -> the bench figure
    figure: str  # what ``score`` measures, for the table
    higher_is_better: bool = False
    batch_size: int = 0  # the recipe's batch (scaled by batch_scale on a GPU)
    probe: Callable[[str, int], float] | None = None  # (device, batch_scale) -> seconds a step
    can_init: bool = False  # a new run starts from the shipped weights


def saved_step(run_dir: Path) -> int:
    """The step a run directory's saved state reached (0: none)."""
    meta = Path(run_dir) / STATE_META
    return int(json.loads(meta.read_text(encoding="utf-8"))["step"]) if meta.exists() else 0


def bench_probe(recipe: str, steps: int = 3) -> Callable[[str, int], float]:
    """A probe: the median step time of ``recipe``'s bench setup on the device, batch scaled."""

    def probe(device: str, batch_scale: int) -> float:
        from ..bench.train import setup, step_times

        return step_times(setup(recipe, batch_scale=batch_scale), steps=steps, warmup=1, device=device,
                          flops=False)["seconds"]

    return probe


def plan_steps(share_s: float, step_s: float, reserve: float = 0.25) -> int:
    """Training steps that fit in ``share_s`` seconds at ``step_s`` a step, ``reserve`` of it kept back."""
    return max(1, math.floor(share_s * (1 - reserve) / max(step_s, 1e-9)))


def is_better(new: float, old: float | None, higher_is_better: bool) -> bool:
    """Whether the new figure beats the shipped one (no shipped checkpoint: any finite figure does)."""
    if not math.isfinite(new):
        return False
    if old is None or not math.isfinite(old):
        return True
    return new > old if higher_is_better else new < old


def replace_checkpoint(candidate: Path, shipped: Path) -> None:
    """Put ``candidate``'s files in place of ``shipped`` (copied to a sibling first, then swapped)."""
    fresh, old = shipped.with_name(shipped.name + ".new"), shipped.with_name(shipped.name + ".old")
    shutil.rmtree(fresh, ignore_errors=True)
    shutil.copytree(candidate, fresh)
    if shipped.exists():
        shutil.rmtree(old, ignore_errors=True)
        shipped.rename(old)
    fresh.rename(shipped)
    shutil.rmtree(old, ignore_errors=True)


def train_all(jobs: list[Job], minutes: float, device: str = "cpu", checkpoints: str | Path = "checkpoints",
              batch_scale: int | None = None, reserve: float = 0.25,
              log: Callable[[str], None] = print) -> list[dict[str, Any]]:
    """Run every job with a share of ``minutes``; returns one row per job (what ran, both figures, replaced).

    batch_scale : the recipes' batches times this (default: 4 on CUDA, 1 on the CPU)
    """
    root = Path(checkpoints)
    scale = batch_scale or (4 if str(device).startswith("cuda") else 1)
    ready = [j for j in jobs if j.data.exists()]
    rows: list[dict[str, Any]] = [{"job": j.name, "status": f"skipped: no {j.data} (make it with `{j.data_command}`)"}
                                  for j in jobs if j not in ready]
    for j in rows:
        log(f"{j['job']}: {j['status']}")
    share = minutes * 60 / max(1, len(ready))
    for job in ready:
        started = time.perf_counter()
        shipped = root / job.name
        start = saved_step(job.run_dir)
        step_s = (job.probe or bench_probe(job.bench))(device, scale)
        steps = plan_steps(share, step_s, reserve)
        log(f"{job.name}: {step_s:.3f} s a step (batch x{scale}) -> steps {start} to {start + steps}")
        candidate = job.run_dir / CANDIDATE
        init = shipped if job.can_init and start == 0 and (shipped / "model.safetensors").exists() else None
        job.train(steps=start + steps, batch_size=job.batch_size * scale if scale != 1 else None, run_dir=job.run_dir,
                  out=candidate, device=device, init=init)
        new = job.score(candidate, device)
        old = job.score(shipped, device) if (shipped / "model.safetensors").exists() else None
        replaced = is_better(new, old, job.higher_is_better)
        if replaced:
            replace_checkpoint(candidate, shipped)
        row = {"job": job.name, "status": "replaced" if replaced else "kept", "from_step": start,
               "to_step": saved_step(job.run_dir), "step_s": round(step_s, 4), "figure": job.figure,
               "new": round(new, 5), "shipped": None if old is None else round(old, 5),
               "seconds": round(time.perf_counter() - started, 1)}
        log(f"{job.name}: {job.figure} {new:.4f} (shipped {old if old is None else round(old, 4)}) -> {row['status']}")
        rows.append(row)
    return rows


def format_rows(rows: list[dict[str, Any]]) -> str:
    """The rows as a Markdown table."""
    lines = ["| job | steps | s a step | figure | new | shipped | result | wall s |", "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        if "figure" not in r:
            lines.append(f"| {r['job']} | - | - | - | - | - | {r['status']} | - |")
            continue
        lines.append(f"| {r['job']} | {r['from_step']} -> {r['to_step']} | {r['step_s']} | {r['figure']} | {r['new']} | "
                     f"{r['shipped'] if r['shipped'] is not None else '-'} | {r['status']} | {r['seconds']} |")
    return "\n".join(lines)


# -- the shipped recipes -----------------------------------------------------------------------------------
def melody_job(name: str, data: str | Path | None = None, run_dir: str | Path | None = None,
               model_overrides: dict[str, Any] | None = None) -> Job:
    """A MusicVAE recipe (``mel_2bar``, ``mel_16bar``); figure: argmax reconstruction accuracy on the
    whole validation split (``latentlab bench melody --data``)."""
    from ..data.melody import load_windows
    from ..models.musicvae import MusicVAE, MusicVAEConfig
    from .melody import RECIPES, evaluate, train_melody

    recipe = RECIPES[name]
    data = Path(data or recipe.data)

    def train(steps, batch_size, run_dir, out, device, init):
        train_melody(name, steps=steps, batch_size=batch_size, run_dir=run_dir, device=device, out=out,
                     data_path=data, model_overrides=model_overrides, progress=False)

    def score(checkpoint: Path, device: str) -> float:
        ckpt = load_checkpoint(checkpoint)
        model = ckpt.load_into(MusicVAE(ckpt.build_config(MusicVAEConfig)), prefix="model.")
        return evaluate(model, load_windows(data)["val"], device=device)["argmax_accuracy"]

    return Job(name, name, Path(run_dir or f"runs/{name}"), data, "latentlab data melody", train, score,
               "argmax accuracy", higher_is_better=True, batch_size=recipe.train.batch_size)


def grid_job(name: str, data: str | Path | None = None, run_dir: str | Path | None = None,
             model_overrides: dict[str, Any] | None = None) -> Job:
    """A melody-grid recipe (``pixelcnn_16bar``); figure: bits per 16th step on the validation split."""
    from ..data.melody import load_windows
    from ..models.autoregressive import ARCHS
    from .pixel import RECIPES, evaluate_bits, train_grid_model

    recipe = RECIPES[name]
    data = Path(data or recipe.data)

    def train(steps, batch_size, run_dir, out, device, init):
        train_grid_model(name, steps=steps, batch_size=batch_size, run_dir=run_dir, device=device, out=out,
                         data_path=data, progress=False, model_overrides=model_overrides)

    def score(checkpoint: Path, device: str) -> float:
        ckpt = load_checkpoint(checkpoint)
        cls, cfg_cls = ARCHS[ckpt.arch]
        model = ckpt.load_into(cls(ckpt.build_config(cfg_cls)))
        return evaluate_bits(model, load_windows(data)["val"], device=device)["bits_per_step"]

    return Job(name, name, Path(run_dir or f"runs/{name}"), data, "latentlab data melody", train, score,
               "bits per step", batch_size=recipe.train.batch_size)


def vocoder_job(name: str, data: str | Path = "data/vocoder", run_dir: str | Path | None = None,
                config: Any | None = None, clips: int = 8, **train_overrides: Any) -> Job:
    """A vocoder recipe; figure: MR-STFT distance on ``clips`` 4 s validation music clips
    (``latentlab bench vocode``)."""
    from .vocode import train_recipe, train_vocode

    data = Path(data)

    def train(steps, batch_size, run_dir, out, device, init):
        train_vocode(name, data, out=out, run_dir=run_dir, device=device, steps=steps, batch_size=batch_size,
                     config=config, progress=False, init=init, **train_overrides)

    def score(checkpoint: Path, device: str) -> float:
        return mean_mr_stft(name, checkpoint, data, clips=clips, device=device)

    return Job(name, name, Path(run_dir or f"runs/vocoder_{name}"), data, "latentlab data vocode", train, score,
               "MR-STFT", batch_size=train_recipe(name).batch_size, can_init=config is None)


def ddsp_job(data: str | Path = "data/notes", run_dir: str | Path | None = None,
             config: dict[str, Any] | None = None) -> Job:
    """The DDSP timbre recipe; figure: the spectral loss on its fixed validation crops."""
    from .timbre_ddsp import RECIPES, train_ddsp

    data = Path(data)

    def train(steps, batch_size, run_dir, out, device, init):
        train_ddsp(data, out=out, run_dir=run_dir, device=device, steps=steps, batch_size=batch_size, config=config,
                   init=init, progress=False)

    def score(checkpoint: Path, device: str) -> float:
        return validation_loss(checkpoint, data, device)

    return Job("timbre_ddsp", "timbre_ddsp", Path(run_dir or "runs/timbre_ddsp"), data, "latentlab data timbre",
               train, score, "val spectral loss", batch_size=RECIPES["timbre_ddsp"].batch_size,
               can_init=config is None)


def mean_mr_stft(name: str, checkpoint: Path, data: Path, clips: int = 8, seconds: float = 4.0,
                 device: str = "cpu") -> float:
    """Vocoder ``name`` from ``checkpoint``: the mean MR-STFT distance on the validation music clips, as
    ``latentlab bench vocode`` measures it."""
    from ..core.metrics import mr_stft_distance
    from ..data.vocode import validation_clips
    from ..ops.vocode import analyze, synthesize

    music = [audio for _, audio in validation_clips(data, seconds=seconds, count=clips, kind="music")]
    if not music:
        music = [audio for _, audio in validation_clips(data, seconds=seconds, count=clips)]
    return float(np.mean([mr_stft_distance(synthesize(analyze(a), name, device, checkpoint=checkpoint).audio, a)
                          for a in music]))


@torch.no_grad()
def validation_loss(checkpoint: Path, data: Path, device: str = "cpu") -> float:
    """The DDSP timbre model in ``checkpoint``: its mean spectral loss on the recipe's fixed validation crops
    (bf16 autocast as it trained)."""
    from ..models.ddsp import DDSPAutoencoder, DDSPConfig
    from .timbre import fixed_subset
    from .timbre_ddsp import RECIPES, VAL_CROPS, DDSPTask, NoteCrops

    ckpt = load_checkpoint(checkpoint)
    model = ckpt.load_into(DDSPAutoencoder(ckpt.build_config(DDSPConfig))).to(device).eval()
    task = DDSPTask(model)
    crops = fixed_subset(NoteCrops(data, "valid", hop=model.config.hop), VAL_CROPS)
    losses = []
    for batch in DataLoader(crops, batch_size=16):
        batch = {k: v.to(device) for k, v in batch.items()}
        cfg, kind = RECIPES["timbre_ddsp"], torch.device(device).type
        with bf16_autocast(kind, cfg.amp if kind == "cuda" else cfg.cpu_bf16):
            losses.append(float(task.training_step(model, batch, -1)["loss"]))
    return float(np.mean(losses))


def shipped_jobs(checkpoints: str | Path = "checkpoints") -> list[Job]:
    """A job for every shipped checkpoint that the shared loop trains (AR(p) is fitted, not trained: left out)."""
    from .vocode import TRAIN_TASKS

    jobs = []
    for folder in sorted(Path(checkpoints).iterdir()):
        name = folder.name
        if not (folder / "model.safetensors").exists():
            continue
        if name in ("mel_2bar", "mel_16bar"):
            jobs.append(melody_job(name))
        elif name.endswith("_16bar") and name != "ar_16bar":
            jobs.append(grid_job(name))
        elif name in TRAIN_TASKS:
            jobs.append(vocoder_job(name))
        elif name == "timbre_ddsp":
            jobs.append(ddsp_job())
    return jobs
