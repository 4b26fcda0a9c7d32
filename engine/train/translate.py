"""Training recipe of the music translation network (``latentlab train translate``).

Two modes, both on the shared loop (:mod:`engine.train.loop`):

- the full network (:class:`TranslateTask`): every step takes one unpaired segment per domain, trains the
  domain classifier on the detached latent, and the encoder + decoders on the reconstruction loss minus
  ``confusion_weight`` x the classifier's loss (two optimisers, ``manual_optimization``);
- ``--add-domain NAME`` (:class:`NewDecoderTask`): one new decoder for NAME, trained on the reconstruction
  loss against the frozen encoder of an existing model (nothing else changes).

The run directory holds the loop's resumable state plus ``translator.json`` (the model config and mode), so
``latentlab train translate`` with the same ``--run-dir`` resumes. Whenever the validation reconstruction
loss improves, the model is exported to ``RUN_DIR/best``; at the end ``best`` is copied to ``--out``.
"""

from __future__ import annotations

import json
import math
import shutil
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from ..core.cards import render_card
from ..core.checkpoint import config_from_dict, config_to_dict, load_checkpoint, save_checkpoint
from ..core.device import resolve_device
from ..core.errors import LatentLabError
from ..data.translate import ClipSegments, collate_groups, read_manifest
from ..models.translator import Translator, TranslatorConfig, confusion_losses, sized_config
from .loop import TrainConfig, Trainer, TrainTask, get_recipe, precision_text, train_config_from_args

ARCH = "umt"  # universal music translation
RUN_CONFIG = "translator.json"
BEST = "best"
# The recipe: one segment per domain per group, Adam 1e-3 decaying slowly (the paper: batch 32 x 12,000
# samples, 1e-3 x 0.995 per epoch, 3 days on 48 GPUs; ours: one shared CPU thread).
RECIPES = {
    "translate": TrainConfig(  # the whole network
        steps=20_000, batch_size=1, lr=1e-3, lr_decay=0.99995, lr_min=1e-4, grad_clip=1.0,
        log_every=10, val_every=100, val_batches=4, save_every=20, seed=0, cpu_bf16=True,  # PRECISION
    ),
}
RECIPES["add_domain"] = replace(RECIPES["translate"], steps=4000)  # one new decoder (--add-domain)
# The measurement behind cpu_bf16 (`latentlab bench train translate --baseline`, one thread, and
# engine.bench.train.compare_losses: the same seed and batches in float32 and bf16); the card states it.
PRECISION = ("bf16 autocast chosen: 1.82 vs 3.52 s a step float32, one thread; reconstruction loss after 40 steps "
             "4.909 vs 4.909 float32, same seed and batches")
SEGMENT = 4000  # samples per training segment (5 latent frames of 800; short, for more steps per CPU hour)
TINY = dict(segment=800, val_every=10, save_every=10, log_every=5)  # --size tiny (tests)


class TranslateTask(TrainTask):
    """Encoder + decoders against the domain classifier."""

    manual_optimization = True

    def __init__(self, model: Translator):
        super().__init__(model)

    def optimizers(self, cfg: TrainConfig) -> dict[str, torch.optim.Optimizer]:
        m: Translator = self.model
        main = list(m.encoder.parameters()) + list(m.decoders.parameters())
        return {
            "main": torch.optim.Adam(main, lr=cfg.lr, betas=cfg.betas),
            "classifier": torch.optim.Adam(m.classifier.parameters(), lr=cfg.lr, betas=cfg.betas),
        }

    def _losses(self, model, batch) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
        out = model(batch["audio"], batch["domain"])
        encoder_loss, classifier_loss = confusion_losses(out, batch["domain"], self.model.config.confusion_weight)
        accuracy = (out["logits_detached"].argmax(-1) == batch["domain"]).float().mean()
        metrics = {"loss": out["recon"].detach(), "classifier": classifier_loss.detach(), "classifier_acc": accuracy}
        return encoder_loss, classifier_loss, metrics

    def training_step(self, model, batch, step):
        encoder_loss, classifier_loss, metrics = self._losses(model, batch)
        self.trainer.optimize("main", encoder_loss)
        self.trainer.optimize("classifier", classifier_loss)
        return metrics

    def validation_step(self, model, batch):
        return self._losses(model, batch)[2]

    def validation_end(self, metrics: dict[str, float]) -> dict[str, float]:
        export_if_best(self, metrics)
        return metrics


class NewDecoderTask(TrainTask):
    """One new decoder against the frozen encoder: only ``model.decoders[name]`` has gradients."""

    def __init__(self, model: Translator, name: str):
        super().__init__(model)
        self.name = name
        self.index = model.domain_index(name)
        for p in model.parameters():
            p.requires_grad_(False)
        for p in model.decoders[name].parameters():
            p.requires_grad_(True)

    def training_step(self, model, batch, step):
        self.model.encoder.eval()
        domain = torch.full_like(batch["domain"], self.index)
        return {"loss": model(batch["audio"], domain)["recon"]}

    def validation_end(self, metrics: dict[str, float]) -> dict[str, float]:
        export_if_best(self, metrics)
        return metrics


def export_if_best(task: TrainTask, metrics: dict[str, float]) -> None:
    """Export the model to ``RUN_DIR/best`` when its validation reconstruction loss is the lowest yet."""
    trainer = task.trainer
    val = metrics.get("val_loss", math.inf)
    if not trainer.is_main or not val < trainer.best_val:
        return
    extra = {"step": trainer.step, "val_recon_nats": round(val, 5)}
    if "val_classifier_acc" in metrics:
        extra["val_classifier_acc"] = round(metrics["val_classifier_acc"], 4)
    export(task.model, trainer.run_dir / BEST, extra)


def export(model: Translator, directory: str | Path, extra: dict[str, Any]) -> Path:
    """Write ``model`` as a checkpoint directory (weights + config; the card is written by the caller)."""
    return save_translate_checkpoint(model, directory, ARCH, extra, model_card)


def save_translate_checkpoint(model: torch.nn.Module, directory: str | Path, arch: str, extra: dict[str, Any],
                              card: Any) -> Path:
    """A translation model (either architecture) as a checkpoint: its run's record (``translator.json`` beside
    ``directory``) and ``extra`` in the metadata, and ``card(config, run, extra)`` as its card."""
    parent = Path(directory).parent
    run = read_run_config(parent) if (parent / RUN_CONFIG).exists() else {}
    return save_checkpoint(
        directory, kind="translate", arch=arch, config=model.config, tensors=model.state_dict(),
        extra={"domains": list(model.config.domains), "sample_rate": model.config.sample_rate,
               "training": {**run.get("training", {}), **extra}},
        card=card(model.config, run, extra),
    )


def model_card(config: TranslatorConfig, run: dict[str, Any], extra: dict[str, Any]) -> str:
    """The card written with each export (the measured figures are added by ``latentlab bench translate``)."""
    training = run.get("training", {})
    n_params = sum(p.numel() for p in Translator(config).parameters())
    intro = (
        f"Shared non-causal dilated encoder ({config.encoder_layers} layers x {config.encoder_channels} ch, latent "
        f"{config.latent_channels} every {config.pool} samples), domain-confusion classifier (lambda "
        f"{config.confusion_weight}), one causal WaveNet decoder per domain ({config.decoder_layers} layers, "
        f"{config.decoder_residual} residual / {config.decoder_skip} skip ch, 8-bit mu-law); "
        f"{n_params / 1e6:.2f} M parameters, {config.sample_rate} Hz.\n\n"
        f"**Domains:** {', '.join(config.domains)}"
    )
    recipe = (
        f"```\n{training.get('command', 'latentlab train translate --data DIR')}\n```\n\n"
        + (f"This run added the {run['add_domain']!r} decoder to `{run['base']}` (see that model's card for its "
           f"recipe): the encoder and the other decoders are frozen, and the new decoder started as a copy of "
           f"the {config.domains[0]!r} decoder.\n\n" if run.get("add_domain") else "")
        + f"{precision_text(RECIPES['add_domain' if run.get('add_domain') else 'translate'], PRECISION)}\n\n"
        + f"Exported at step {extra.get('step')} (validation reconstruction loss "
        f"{extra.get('val_recon_nats')} nats per sample"
        + (f", domain classifier accuracy on the latent {extra['val_classifier_acc']:.2f}" if "val_classifier_acc" in extra else "")
        + ")."
    )
    return render_card("Universal music translation network", intro, [
        ("Data", training.get("data_summary", "see the recipe")), ("Recipe", recipe),
    ])


def read_run_config(run_dir: Path) -> dict[str, Any]:
    return json.loads((Path(run_dir) / RUN_CONFIG).read_text(encoding="utf-8"))


def _data_summary(data: str | Path, domains: list[str]) -> str:
    manifest = read_manifest(data)
    pieces = manifest["pieces"]
    kinds = {k: sum(p["kind"] == k for p in pieces) for k in ("mono", "poly")}
    seconds = sum(p["seconds"] for p in pieces if p["split"] == "train")
    programs = ", ".join(f"{d} ({manifest['domains'][d]})" for d in domains if d in manifest["domains"])
    return (
        f"`latentlab data translate` ({data}): {len(pieces)} pieces ({kinds['mono']} monophonic music21 Essen folk "
        f"tunes, {kinds['poly']} Bach chorales), each rendered by FluidSynth + FluidR3_GM at 16 kHz on "
        f"{programs}; split by piece: "
        f"{sum(p['split'] == 'train' for p in pieces)} train ({seconds / 60:.0f} min per domain), "
        f"{sum(p['split'] == 'validation' for p in pieces)} validation. Training is unpaired: each domain draws "
        "its own pieces and offsets; pitch augmentation shifts a random 1/4-1/2 of each segment by up to "
        "+-0.5 semitone."
    )


def train_translate(
    data: str | Path,
    out: str | Path = "checkpoints/translate",
    run_dir: str | Path = "runs/translate",
    device: str | None = None,
    size: str = "default",
    steps: int | None = None,
    batch_size: int | None = None,
    lr: float | None = None,
    segment: int | None = None,
    domains: str | None = None,
    add_domain: str | None = None,
    base: str | Path = "translate",
    progress: bool = True,
) -> Path:
    """Train (or resume) the translator, or one new decoder with ``add_domain``. Returns the written checkpoint.

    Parameters
    ----------
    data : a ``latentlab data translate`` directory
    out : checkpoint directory written at the end (the best validation state)
    run_dir : resumable run directory; an existing one is resumed with its stored model config
    size : model size preset ("default" or "tiny")
    domains : comma-separated domains to train (default: every domain in ``data``)
    add_domain : train only a new decoder for this domain against the frozen encoder of ``base``
    """
    run_dir = Path(run_dir)
    manifest = read_manifest(data)
    tiny = size == "tiny"
    overrides = {"steps": steps, "batch_size": batch_size, "lr": lr}
    if tiny:
        overrides.update({k: v for k, v in TINY.items() if k != "segment"})
    cfg = train_config_from_args(get_recipe(RECIPES, "translate" if add_domain is None else "add_domain", "translate"),
                                 overrides)
    dev = resolve_device(device)
    stored = read_run_config(run_dir) if (run_dir / RUN_CONFIG).exists() else None
    if stored is not None and stored.get("add_domain") != add_domain:
        raise LatentLabError(f"{run_dir} holds a run of another kind ({stored['mode']}): pick a new --run-dir")
    command = "latentlab " + " ".join(sys.argv[1:]) if sys.argv[0].endswith(("latentlab", "main.py")) else None

    if add_domain is None:
        names = [d.strip() for d in domains.split(",")] if domains else list(manifest["domains"])
        config = config_from_dict(TranslatorConfig, stored["config"]) if stored else sized_config(size, names)
        model = Translator(config)
        task: TrainTask = TranslateTask(model)
    else:
        if add_domain not in manifest["domains"]:
            raise LatentLabError(f"{data} has no audio for {add_domain!r}: render it with `latentlab data translate -o {data} --domains {add_domain}`")
        ckpt = load_checkpoint(base)
        base_config = ckpt.build_config(TranslatorConfig)
        base_model = ckpt.load_into(Translator(base_config))
        model = base_model.add_domain(add_domain, init_from=base_config.domains[0])
        config = model.config
        names = [add_domain]
        task = NewDecoderTask(model, add_domain)
    seg = segment or (TINY["segment"] if tiny else SEGMENT)
    seg = max(config.pool, seg // config.pool * config.pool)
    if stored is None:
        run_dir.mkdir(parents=True, exist_ok=True)
        record = {
            "config": config_to_dict(config), "mode": "add_domain" if add_domain else "full",
            "add_domain": add_domain, "base": str(base) if add_domain else None, "segment": seg,
            "training": {"command": command or f"latentlab train translate --data {data}"
                         + (f" --add-domain {add_domain}" if add_domain else ""),
                         "data_summary": _data_summary(data, list(config.domains))},
        }
        (run_dir / RUN_CONFIG).write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    else:
        seg = stored["segment"]
    train = ClipSegments(data, "train", seg, names, augment=True, seed=cfg.seed)
    val = ClipSegments(data, "validation", seg, names, augment=False, size=cfg.val_batches * cfg.batch_size, seed=1234)
    trainer = Trainer(task, train, val, cfg, run_dir, dev, collate_fn=collate_groups, progress=progress)
    trainer.fit()
    best = run_dir / BEST
    if not (best / "model.safetensors").exists():  # no validation ran (or it never improved): export as is
        export(model, best, {"step": trainer.step, "val_recon_nats": None})
    out = Path(out)
    if out.resolve() != best.resolve():
        out.mkdir(parents=True, exist_ok=True)
        for f in best.iterdir():
            shutil.copy2(f, out / f.name)
    return out
