"""Training recipe of the timbre autoencoder: ``latentlab train timbre``.

Teacher-forced maximum likelihood of each mu-law sample (cross-entropy of the 256-way softmax) on random
windows of NSynth-layout notes, through the shared :class:`engine.train.Trainer` (resumable from
``run_dir``). At the end the weights and the config go to a checkpoint folder with a model card.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import Subset

from ..core.cards import render_card
from ..core.checkpoint import config_from_overrides, save_checkpoint
from ..core.errors import LatentLabError
from ..data.timbre import DATASET_INFO, NoteWindows
from ..models.nsynth import NSynthAutoencoder, NSynthConfig
from .loop import TrainConfig, store_model_config, stored_model_config, Trainer, TrainTask, get_recipe, precision_text, train_config_from_args

ARCH = "nsynth_wavenet_ae"
RECIPES = {
    "timbre": TrainConfig(steps=30_000, batch_size=4, lr=1e-3, lr_decay=0.99993, lr_min=1e-4, grad_clip=1.0,
                          log_every=25, val_every=500, val_batches=8, save_every=100, cpu_bf16=True),  # PRECISION
}
# The measurement behind each recipe's cpu_bf16 (`latentlab bench train timbre --baseline`, one thread, and
# engine.bench.train.compare_losses: the same seed and batches in float32 and bf16); the card states it.
PRECISION = {"timbre": "bf16 autocast chosen: 2.15 vs 2.71 s a step float32, one thread (its 32-channel layers are "
                       "bound by memory more than arithmetic); loss after 50 steps 4.674 vs 4.674 float32"}
WINDOW = 6144  # samples per training window (NSynth's), 12 embedding frames
VAL_WINDOWS = 64  # fixed validation windows, drawn once from the validation notes


class TimbreTask(TrainTask):
    """Cross-entropy of the teacher-forced decoder; also reports the argmax accuracy of the classes."""

    def training_step(self, model: nn.Module, batch: dict[str, torch.Tensor], step: int) -> dict[str, torch.Tensor]:
        x = batch["audio"]
        logits = model(x, batch["pitch"])
        loss = F.cross_entropy(logits.float(), x)
        with torch.no_grad():
            accuracy = (logits.argmax(1) == x).float().mean()
        return {"loss": loss, "accuracy": accuracy}


def fixed_subset(dataset: NoteWindows, n: int, seed: int = 0) -> Subset:
    """``n`` windows drawn once (seeded) from ``dataset``, so every validation scores the same ones."""
    order = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(seed))
    return Subset(dataset, order[:n].tolist())


def model_config(overrides: dict[str, Any] | str | None = None, run_dir: Path | None = None) -> NSynthConfig:
    """The model config: the one a resumed run started with, else the defaults with ``overrides``."""
    return stored_model_config(NSynthConfig, run_dir) or config_from_overrides(NSynthConfig, overrides)


def train_timbre(
    data: str | Path,
    out: str | Path = "checkpoints/timbre",
    run_dir: str | Path = "runs/timbre",
    device: torch.device | str = "cpu",
    steps: int | None = None,
    batch_size: int | None = None,
    lr: float | None = None,
    window: int | None = None,
    config: dict[str, Any] | str | None = None,
    progress: bool = True,
    export_only: bool = False,
) -> Path:
    """Train (or resume) the timbre autoencoder and write its checkpoint.

    Parameters
    ----------
    data : an NSynth-layout folder (``nsynth-train/`` and ``nsynth-valid/``, see :mod:`engine.data.timbre`)
    out : checkpoint folder to write at the end
    run_dir : resumable state; a run resumes with the model config it started with
    steps, batch_size, lr : override the recipe (``RECIPES["timbre"]``)
    window : samples per training window (default :data:`WINDOW`)
    config : NSynthConfig field overrides (a dict or JSON text) for a new run
    export_only : write the checkpoint from the run's last saved state without training (e.g. while the
        run goes on in the background)

    Returns
    -------
    the checkpoint folder
    """
    run_dir = Path(run_dir)
    recipe = get_recipe(RECIPES, "timbre", "timbre")
    cfg = train_config_from_args(recipe, {"steps": steps, "batch_size": batch_size, "lr": lr})
    model_cfg = model_config(config, run_dir)
    window = window or WINDOW
    if window % model_cfg.hop:
        raise LatentLabError(f"the window ({window}) must be a multiple of the hop ({model_cfg.hop})")
    train_set = NoteWindows(data, "train", window=window)
    val_set = fixed_subset(NoteWindows(data, "valid", window=window), VAL_WINDOWS)
    torch.manual_seed(cfg.seed)
    model = NSynthAutoencoder(model_cfg)
    if not export_only:
        store_model_config(run_dir, model_cfg)
    trainer = Trainer(TimbreTask(model), train_set, val_set, cfg, run_dir, device=device, progress=progress)
    if export_only:
        if not trainer.load_state():
            raise LatentLabError(f"{run_dir} holds no saved training state to export yet")
    else:
        trainer.fit()
    if not trainer.is_main:
        return Path(out)
    record = last_logged(run_dir)
    extra = {"trained_steps": trainer.step, "window": window, "data": str(data), "train_notes": len(train_set.notes),
             "last_metrics": record}
    return save_checkpoint(out, kind="timbre", arch=ARCH, config=model_cfg, tensors=model.state_dict(),
                           extra=extra, card=card_text(model_cfg, cfg, extra))


def last_logged(run_dir: Path) -> dict[str, float]:
    """The latest training and validation figures of a run's log (``log.jsonl``)."""
    record: dict[str, float] = {}
    log = Path(run_dir) / "log.jsonl"
    if log.exists():
        for line in log.read_text(encoding="utf-8").splitlines():
            record.update({k: round(float(v), 4) for k, v in json.loads(line).items() if isinstance(v, (int, float))})
    return record


def describe_data(data: str | Path) -> str:
    """One sentence on a dataset folder, from its ``dataset.json`` when ``latentlab data timbre`` made it."""
    info_path = Path(data) / DATASET_INFO
    if not info_path.exists():
        return f"`{data}`: an NSynth-layout folder (nsynth-train / nsynth-valid)."
    info = json.loads(info_path.read_text(encoding="utf-8"))
    pitches, velocities = info.get("pitches", []), info.get("velocities", [])
    return (f"`{data}`, made by `latentlab data timbre -o {data}` (FluidSynth + FluidR3_GM): "
            f"{len(info.get('programs', {}))} General MIDI programs covering the NSynth families, pitches "
            f"{min(pitches, default=0)}-{max(pitches, default=0)} ({len(pitches)} values, each within its instrument's "
            f"range), velocities {'/'.join(map(str, velocities))}; "
            + " / ".join(f"{n} {name}" for name, n in info.get("notes", {}).items())
            + " notes. Split: every 5th pitch of each instrument goes to validation, so validation notes are "
            "pitches their instrument never played in training.")


def recipe_command(data: str | Path, steps: int, cfg: TrainConfig, window: int, model_cfg: NSynthConfig) -> str:
    """The ``latentlab train timbre`` command that reproduces a run (only the non-default options)."""
    parts = [f"latentlab train timbre --data {data} --steps {steps}"]
    recipe = RECIPES["timbre"]
    if cfg.batch_size != recipe.batch_size:
        parts.append(f"--batch-size {cfg.batch_size}")
    if cfg.lr != recipe.lr:
        parts.append(f"--lr {cfg.lr}")
    if window != WINDOW:
        parts.append(f"--window {window}")
    changed = {k: v for k, v in dataclasses.asdict(model_cfg).items() if getattr(NSynthConfig(), k) != v}
    if changed:
        parts.append(f"--config '{json.dumps(changed)}'")
    return " ".join(parts)


def card_text(model_cfg: NSynthConfig, cfg: TrainConfig, extra: dict[str, Any]) -> str:
    """The model card written at the end of training (``latentlab bench timbre --card`` adds the figures)."""
    params = sum(p.numel() for p in NSynthAutoencoder(model_cfg).parameters())
    m = extra["last_metrics"]
    command = recipe_command(extra["data"], extra["trained_steps"], cfg, extra["window"], model_cfg)
    frames = 64_000 // model_cfg.hop
    intro = f"""A non-causal dilated encoder ({model_cfg.encoder_layers} layers x {model_cfg.encoder_channels} channels, kernel
{model_cfg.encoder_kernel}) turns a 4 s, 16 kHz note into a {model_cfg.latent_channels}-channel embedding, one frame
per {model_cfg.hop} samples ({frames} frames); a causal WaveNet decoder ({model_cfg.decoder_layers} layers,
{model_cfg.residual_channels} residual / {model_cfg.skip_channels} skip channels, kernel {model_cfg.decoder_kernel})
conditioned on the repeated embedding and on the MIDI pitch ({model_cfg.pitch_channels}-d embedding; 0 = none)
predicts 8-bit mu-law samples. {params:,} parameters ({params * 4 / 2**20:.1f} MB as float32)."""
    recipe = f"""```
{command}
```

Adam lr {cfg.lr} x {cfg.lr_decay} per step (floor {cfg.lr_min}), batch {cfg.batch_size} random windows of
{extra['window']} samples, gradient clip {cfg.grad_clip}; {extra['trained_steps']} steps on one CPU thread
(the run resumes from its state in `--run-dir`, so a longer `--steps` continues it).

{precision_text(cfg, PRECISION["timbre"])}"""
    figures = f"""train loss {m.get('loss', float('nan')):.3f} nats/sample, validation loss {m.get('val_loss', float('nan')):.3f}
nats/sample (uniform guessing: 5.545), validation next-sample accuracy {m.get('val_accuracy', float('nan')):.3f}."""
    return render_card("timbre — NSynth-style WaveNet autoencoder", intro, [
        ("Data", describe_data(extra["data"])), ("Recipe", recipe),
        (f"Training figures (teacher-forced, at the last validation: {VAL_WINDOWS} fixed validation windows)", figures),
    ])
