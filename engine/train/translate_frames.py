"""Training recipe of the frame translator (``latentlab train translate``, the default ``--arch frames``).

On the shared loop (:mod:`engine.train.loop`), one optimiser over everything:

- :class:`FrameTranslateTask` (the whole network): every item is one excerpt on all D domains; each row is
  encoded from its pitch-augmented mel and decoded by its own decoder (the paper's reconstruction loss,
  L1 on the log-mel), and -- the paired loss, on unless the recipe's ``paired_weight`` is 0 -- by one other,
  random decoder against that domain's true render of the same excerpt; the domain classifier learns to
  name the source from the latent through gradient reversal (the encoder is pushed to fool it);
- ``--add-domain NAME`` (:class:`NewFrameDecoderTask`): one new decoder for NAME against the frozen encoder of
  an existing model, on NAME's renders alone (reconstruction loss only).

The run directory holds the loop's resumable state plus ``translator.json``; the best validation state is
exported to ``RUN_DIR/best`` and copied to ``--out`` at the end (the caller decides whether it ships).
"""

from __future__ import annotations

import json
import math
import shutil
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch

from ..core.cards import render_card
from ..core.checkpoint import config_from_dict, config_to_dict, load_checkpoint
from ..core.device import resolve_device
from ..core.errors import LatentLabError
from ..data.translate import read_manifest
from ..data.translate_frames import PairedMels
from ..models.frame_translator import FrameTranslator, FrameTranslatorConfig, sized_config
from .loop import TrainConfig, Trainer, TrainTask, get_recipe, logged_seconds, train_config_from_args
from .translate import save_translate_checkpoint

ARCH = "umt_frames"
RUN_CONFIG = "translator.json"
BEST = "best"


@dataclass
class FrameRecipe:
    train: TrainConfig
    frames: int = 128  # mel frames per excerpt (1.5 s)
    paired_weight: float = 1.0  # 0: the paper's objectives alone (reconstruction + domain confusion)


RECIPES = {
    "frames": FrameRecipe(TrainConfig(steps=7000, batch_size=1, lr=1e-3, lr_decay=0.9998, lr_min=1e-4, grad_clip=1.0,
                                      log_every=25, val_every=250, val_batches=8, save_every=250, seed=0)),
}
RECIPES["frames_unpaired"] = replace(RECIPES["frames"], paired_weight=0.0)
RECIPES["frames_add_domain"] = replace(RECIPES["frames"], train=replace(RECIPES["frames"].train, steps=2000, batch_size=8))
TINY = dict(frames=32, val_every=10, save_every=10, log_every=5)  # --size tiny (tests)


class FrameTranslateTask(TrainTask):
    """Encoder + decoders + classifier, one loss: recon + paired_weight x paired + confusion (reversed)."""

    def __init__(self, model: FrameTranslator, paired_weight: float):
        super().__init__(model)
        self.paired_weight = paired_weight

    def _out(self, model, batch):
        b, d = batch["mel"].shape[:2]
        paired = None
        if self.paired_weight > 0:
            shift = torch.randint(1, d, (b, d), device=batch["mel"].device) if d > 1 else torch.zeros(b, d, dtype=torch.long)
            paired = (torch.arange(d, device=batch["mel"].device) + shift) % d
        return model.losses(batch["input"], batch["mel"], paired)

    def training_step(self, model, batch, step):
        out = self._out(model, batch)
        loss = out["recon"] + self.paired_weight * out["paired"] + out["confusion"]
        return {"loss": loss, "recon": out["recon"].detach(), "paired": out["paired"].detach(),
                "confusion": out["confusion"].detach(), "classifier_acc": out["accuracy"]}

    def validation_step(self, model, batch):
        out = self._out(model, batch)
        return {"loss": out["recon"] + out["paired"], "recon": out["recon"], "paired": out["paired"],
                "classifier_acc": out["accuracy"]}

    def validation_end(self, metrics: dict[str, float]) -> dict[str, float]:
        export_if_best(self, metrics)
        return metrics


class NewFrameDecoderTask(TrainTask):
    """One new decoder against the frozen encoder: only ``model.decoders[name]`` has gradients."""

    def __init__(self, model: FrameTranslator, name: str):
        super().__init__(model)
        self.name = name
        for p in model.parameters():
            p.requires_grad_(False)
        for p in model.decoders[name].parameters():
            p.requires_grad_(True)

    def training_step(self, model, batch, step):
        net: FrameTranslator = self.model
        net.encoder.eval()
        x, y = batch["input"][:, 0], batch["mel"][:, 0]
        with torch.no_grad():
            z = net.encoder(net.scale(x))
        pred = net.decoders[self.name](z)[..., : y.shape[-1]]
        return {"loss": torch.nn.functional.l1_loss(pred, net.scale(y))}

    def validation_end(self, metrics: dict[str, float]) -> dict[str, float]:
        export_if_best(self, metrics)
        return metrics


def export_if_best(task: TrainTask, metrics: dict[str, float]) -> None:
    trainer = task.trainer
    val = metrics.get("val_loss", math.inf)
    if not trainer.is_main or not val < trainer.best_val:
        return
    extra = {"step": trainer.step, "val_loss": round(val, 5)}
    for key in ("val_recon", "val_paired", "val_classifier_acc"):
        if key in metrics:
            extra[key] = round(metrics[key], 4)
    extra["train_seconds"] = round(logged_seconds(trainer.run_dir), 1)
    export(task.model, trainer.run_dir / BEST, extra)


def export(model: FrameTranslator, directory: str | Path, extra: dict[str, Any]) -> Path:
    """Write ``model`` as a checkpoint directory (weights + config + a card without measured figures)."""
    return save_translate_checkpoint(model, directory, ARCH, extra, model_card)


def model_card(config: FrameTranslatorConfig, run: dict[str, Any], extra: dict[str, Any]) -> str:
    training = run.get("training", {})
    n_params = sum(p.numel() for p in FrameTranslator(config).parameters())
    intro = (
        f"Universal music translation (Mor et al. 2018) over log-mel frames ({config.sample_rate} Hz, hop 256, "
        f"{config.n_mels} mels): shared ConvNeXt encoder ({config.encoder_layers} blocks x {config.channels} ch, "
        f"latent {config.latent_channels} every {config.pool} frames), domain-confusion classifier through gradient "
        f"reversal (lambda {config.confusion_weight}), one ConvNeXt mel decoder per domain ({config.decoder_layers} "
        f"blocks); the frames are voiced by the best shipped vocoder. {n_params / 1e6:.2f} M parameters.\n\n"
        f"**Domains:** {', '.join(config.domains)}"
    )
    seconds = extra.get("train_seconds")
    losses = ("reconstruction (L1 log-mel, own decoder) + domain confusion (gradient reversal)"
              + (f" + paired (L1 log-mel of another decoder against that domain's true render, weight "
                 f"{training.get('paired_weight')})" if training.get("paired_weight") else ""))
    recipe = (
        f"```\n{training.get('command', 'latentlab train translate --data DIR')}\n```\n\n"
        f"Losses: {losses}; pitch augmentation of the encoder's input (a random 1/4-1/2 of each excerpt shifted "
        f"by up to +-0.5 semitone on the mel).\n\n"
        f"Exported at step {extra.get('step')} (validation L1 recon {extra.get('val_recon')}, paired "
        f"{extra.get('val_paired')}, classifier accuracy on the latent {extra.get('val_classifier_acc')})"
        + (f"; {seconds / 60:.1f} min of training on one CPU thread, {seconds / max(1, extra['step']):.3f} s a step"
           if seconds else "") + "."
    )
    return render_card("Universal music translation network (frames)", intro, [
        ("Data", training.get("data_summary", "see the recipe")), ("Recipe", recipe),
    ])


def _data_summary(data: str | Path, domains: list[str]) -> str:
    manifest = read_manifest(data)
    pieces = manifest["pieces"]
    kinds = {k: sum(p["kind"] == k for p in pieces) for k in ("mono", "poly")}
    seconds = sum(p["seconds"] for p in pieces if p["split"] == "train")
    programs = ", ".join(f"{d} ({manifest['domains'][d]})" for d in domains if d in manifest["domains"])
    return (
        f"`latentlab data translate` ({data}): {len(pieces)} pieces ({kinds['mono']} monophonic music21 Essen folk "
        f"tunes, {kinds['poly']} Bach chorales), rendered by FluidSynth + FluidR3_GM at {manifest['sample_rate']} Hz "
        f"on the General MIDI programs {programs}; split by piece: {sum(p['split'] == 'train' for p in pieces)} "
        f"train ({seconds / 60:.0f} min per domain), {sum(p['split'] == 'validation' for p in pieces)} validation "
        "(never trained on)."
    )


def train_frames(
    data: str | Path,
    out: str | Path = "checkpoints/translate",
    run_dir: str | Path = "runs/translate_frames",
    device: str | None = None,
    size: str = "default",
    steps: int | None = None,
    batch_size: int | None = None,
    lr: float | None = None,
    frames: int | None = None,
    domains: str | None = None,
    add_domain: str | None = None,
    base: str | Path = "translate",
    recipe: str | None = None,
    progress: bool = True,
) -> Path:
    """Train (or resume) the frame translator, or one new decoder with ``add_domain``. Returns the written
    checkpoint directory (``out``, a copy of the run's best validation state).

    recipe : a name in :data:`RECIPES` (default "frames"; "frames_unpaired" leaves out the paired loss)
    """
    run_dir = Path(run_dir)
    manifest = read_manifest(data)
    name = recipe or ("frames" if add_domain is None else "frames_add_domain")
    rec = get_recipe(RECIPES, name, "frame translation")
    overrides = {"steps": steps, "batch_size": batch_size, "lr": lr}
    if size == "tiny":
        overrides.update({k: v for k, v in TINY.items() if k != "frames"})
    cfg = train_config_from_args(rec.train, overrides)
    dev = resolve_device(device)
    stored = json.loads((run_dir / RUN_CONFIG).read_text(encoding="utf-8")) if (run_dir / RUN_CONFIG).exists() else None
    if stored is not None and stored.get("add_domain") != add_domain:
        raise LatentLabError(f"{run_dir} holds a run of another kind ({stored['mode']}): pick a new --run-dir")
    command = "latentlab " + " ".join(sys.argv[1:]) if sys.argv[0].endswith(("latentlab", "main.py")) else None
    if add_domain is None:
        names = [d.strip() for d in domains.split(",")] if domains else list(manifest["domains"])
        config = config_from_dict(FrameTranslatorConfig, stored["config"]) if stored else sized_config(size, names)
        model = FrameTranslator(config)
        task: TrainTask = FrameTranslateTask(model, rec.paired_weight)
    else:
        if add_domain not in manifest["domains"]:
            raise LatentLabError(f"{data} has no audio for {add_domain!r}: render it with "
                                 f"`latentlab data translate -o {data} --domains {add_domain}`")
        ckpt = load_checkpoint(base)
        if ckpt.arch != ARCH:
            raise LatentLabError(f"{base} is a {ckpt.arch} translator; extend it with `--arch wavenet`")
        base_model = ckpt.load_into(FrameTranslator(ckpt.build_config(FrameTranslatorConfig)))
        model = base_model.add_domain(add_domain, init_from=base_model.domains[0])
        config, names = model.config, [add_domain]
        task = NewFrameDecoderTask(model, add_domain)
    length = frames or (TINY["frames"] if size == "tiny" else rec.frames)
    if stored is None:
        run_dir.mkdir(parents=True, exist_ok=True)
        record = {
            "config": config_to_dict(config), "mode": "add_domain" if add_domain else "full", "arch": ARCH,
            "add_domain": add_domain, "base": str(base) if add_domain else None, "frames": length, "recipe": name,
            "training": {"command": command or f"latentlab train translate --data {data}"
                         + (f" --add-domain {add_domain}" if add_domain else ""),
                         "paired_weight": rec.paired_weight if add_domain is None else 0.0,
                         "data_summary": _data_summary(data, list(config.domains))},
        }
        (run_dir / RUN_CONFIG).write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    else:
        length = stored["frames"]
    train = PairedMels(data, "train", length, names, augment=True, seed=cfg.seed)
    val = PairedMels(data, "validation", length, names, augment=False, size=cfg.val_batches * cfg.batch_size, seed=1234)
    trainer = Trainer(task, train, val, cfg, run_dir, dev, progress=progress)
    trainer.fit()
    best = run_dir / BEST
    if not (best / "model.safetensors").exists():
        export(model, best, {"step": trainer.step})
    out = Path(out)
    if out.resolve() != best.resolve():
        out.mkdir(parents=True, exist_ok=True)
        for f in best.iterdir():
            shutil.copy2(f, out / f.name)
    return out
