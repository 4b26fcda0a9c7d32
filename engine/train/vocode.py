"""Vocoder training: what ``latentlab train vocode NAME`` runs, on the shared loop.

- :class:`VocoderTask` -- the :class:`~engine.train.TrainTask` every vocoder's recipe subclasses
  (:mod:`.vocode_gan`, :mod:`.vocode_flows`, :mod:`.vocode_wavenet`, :mod:`.vocode_vocos`);
- ``TRAIN_TASKS`` -- vocoder name -> its task, imported only when used;
- :func:`train_recipe` -- a vocoder's optimisation settings, ``RECIPES[name]`` of its task's module;
- :func:`train_vocode` -- train (or resume) one vocoder on a ``latentlab data vocode`` corpus and save it.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import nn

from ..core.cards import render_card
from ..core.checkpoint import config_from_overrides
from ..core.errors import LatentLabError
from ..data.vocode import MIN_SCORED_PEAK, VocoderSegments
from ..models.vocoders.base import Vocoder
from ..ops import vocode
from .loop import MODEL_CONFIG, SNAPSHOT_RECORD, store_model_config, stored_model_config, TrainConfig, Trainer, TrainTask, get_recipe, precision_text, train_config_from_args

# name -> "module:Class" of its training task (engine.train.vocode.VocoderTask subclasses)
TRAIN_TASKS: dict[str, str] = {
    "melgan": "engine.train.vocode_gan:MelGANTask",
    "hifigan": "engine.train.vocode_gan:HiFiGANTask",
    "vocos": "engine.train.vocode_vocos:VocosTask",
    "wavenet": "engine.train.vocode_wavenet:WaveNetVocoderTask",
    "waveglow": "engine.train.vocode_flows:WaveGlowTask",
    "flowavenet": "engine.train.vocode_flows:FloWaveNetTask",
    "parallel_wavenet": "engine.train.vocode_wavenet:ParallelWaveNetTask",
}


class VocoderTask(TrainTask):
    """How ``latentlab train vocode NAME`` trains one vocoder through the shared loop.

    ``self.model`` holds everything trained (for GANs: the generator and the discriminators), so the
    loop's resumable state covers it all; ``self.vocoder`` is the part that is shipped.
    Batches are ``{"audio": Tensor[B x T], "mel": Tensor[B x 80 x T // 256]}`` with T = ``segment``.
    The optimisation settings are ``RECIPES[name]`` of the task's module (see :func:`train_recipe`).
    """

    segment: ClassVar[int] = 8192  # training segment length in samples (a multiple of 256)

    def __init__(self, model: nn.Module, vocoder: Vocoder):
        super().__init__(model)
        self.vocoder = vocoder

    @classmethod
    def create(cls, config: Any | None = None) -> "VocoderTask":
        """A fresh task (fresh weights) for the vocoder's ``config`` (None: its default Config)."""
        raise NotImplementedError

    def save_snapshot(self, directory: Path, record: dict[str, Any]) -> None:
        """The vocoder as a loadable checkpoint folder (``latentlab bench curve`` scores each one)."""
        self.vocoder.save(directory, extra={"snapshot": record})
        (directory / SNAPSHOT_RECORD).write_text(json.dumps(record) + "\n", encoding="utf-8")


def train_task_class(name: str) -> type:
    """The :class:`~engine.train.vocode.VocoderTask` that trains vocoder ``name``."""
    vocode.check_name(name)
    if name not in TRAIN_TASKS:
        raise LatentLabError(f"the {name} vocoder has nothing to train")
    try:
        return vocode.import_spec(TRAIN_TASKS[name])
    except (ImportError, AttributeError) as e:
        raise LatentLabError(f"training the {name} vocoder is not available in this version") from e


def train_recipe(name: str) -> TrainConfig:
    """The recipe of vocoder ``name``: ``RECIPES[name]`` in the module of its training task."""
    train_task_class(name)
    module = TRAIN_TASKS[name].partition(":")[0]
    return get_recipe(vocode.import_spec(f"{module}:RECIPES"), name, "vocoder")


def train_precision(name: str) -> str | None:
    """The measurement behind vocoder ``name``'s ``cpu_bf16`` choice: ``PRECISION[name]`` of its task's module."""
    module = TRAIN_TASKS[name].partition(":")[0]
    try:
        return vocode.import_spec(f"{module}:PRECISION").get(name)
    except AttributeError:
        return None


ADVERSARIAL = "adversarial.json"  # a GAN run's own adv_start, when it was given one (``--adv-start``)


def model_config(cls: type, config: Any, run_dir: Path, start: Any | None) -> Any:
    """The vocoder config a run trains: the one stored in ``run_dir`` when it resumes (a run keeps the shape it
    started with), else ``config`` (a Config, or field overrides as a dict or JSON text), else the ``start``
    checkpoint's, else the defaults."""
    if config is not None and not isinstance(config, (dict, str)):
        asked = config
    else:
        asked = config_from_overrides(cls, config) if config is not None else None
    kept = stored_model_config(cls, run_dir)
    if kept is not None:
        if asked is not None and asked != kept:
            raise LatentLabError(f"{run_dir} was started with another model shape ({run_dir / MODEL_CONFIG}); leave "
                                 "out --config to resume it, or give a new --run-dir")
        return kept
    if asked is not None:
        return asked
    return start.build_config(cls) if start is not None else cls()


def adversarial_start(task: VocoderTask, adv_start: int | None, run_dir: Path) -> int | None:
    """The step a GAN run's discriminators join: ``adv_start`` when given (kept in ``run_dir`` for its resumes),
    else the one the run stored, else the recipe's (None for a vocoder without an adversarial phase)."""
    weights = getattr(task, "weights", None)
    if weights is None:
        if adv_start is not None:
            raise LatentLabError(f"the {task.vocoder.name} vocoder has no adversarial phase: leave out --adv-start")
        return None
    stored = run_dir / ADVERSARIAL
    if adv_start is None and stored.exists():
        adv_start = int(json.loads(stored.read_text(encoding="utf-8"))["adv_start"])
    if adv_start is None:
        return weights.adv_start
    if adv_start < 0:
        raise LatentLabError(f"--adv-start must be a step (>= 0), got {adv_start}")
    task.weights = dataclasses.replace(weights, adv_start=int(adv_start))
    run_dir.mkdir(parents=True, exist_ok=True)
    stored.write_text(json.dumps({"adv_start": int(adv_start)}) + "\n", encoding="utf-8")
    return int(adv_start)


def train_vocode(
    name: str,
    data_dir: str | Path,
    out: str | Path | None = None,
    run_dir: str | Path | None = None,
    device: torch.device | str = "cpu",
    steps: int | None = None,
    batch_size: int | None = None,
    config: Any | None = None,
    progress: bool = True,
    export_only: bool = False,
    init: str | Path | None = None,
    adv_start: int | None = None,
    **train_overrides: Any,
) -> Path:
    """Train vocoder ``name`` on ``data_dir`` (resumes from ``run_dir``) and save it to ``out``.

    Returns the checkpoint directory. ``config`` overrides the model's default Config (tests use tiny
    ones); ``train_overrides`` set other TrainConfig fields (lr, log_every, val_every, save_every, ...).
    ``export_only``: write the checkpoint from the run's last saved state without training.
    ``init``: a checkpoint directory (e.g. ``checkpoints/vocos``) whose weights (and shape) a new run starts
    from; a run directory with a saved state resumes from that state instead.
    """
    task_cls = train_task_class(name)
    cls = vocode.vocoder_class(name)
    run_dir = Path(run_dir) if run_dir else Path("runs") / f"vocoder_{name}"
    start = None
    if init is not None:
        from ..core.checkpoint import load_checkpoint

        start = load_checkpoint(init)
        if start.kind != "vocoder" or start.arch != name:
            raise LatentLabError(f"{start.path} holds a {start.kind} model {start.arch!r}, not the {name} vocoder")
    config = model_config(cls.Config, config, run_dir, start)
    task = task_cls.create(config)
    if start is not None:
        start.load_into(task.vocoder)
    adv_start = adversarial_start(task, adv_start, run_dir)
    cfg = train_config_from_args(train_recipe(name), {"steps": steps, "batch_size": batch_size, **train_overrides})
    train_set = VocoderSegments(data_dir, "train", segment=task_cls.segment, seed=cfg.seed)
    val_set = VocoderSegments(data_dir, "val", segment=task_cls.segment, jitter=False, max_items=64,
                              min_peak=MIN_SCORED_PEAK)
    out = Path(out) if out else vocode.checkpoint_dir(name)
    trainer = Trainer(task, train_set, val_set, cfg, run_dir, device, progress=progress)
    if not export_only:
        store_model_config(run_dir, config)
    if export_only:
        if not trainer.load_state():
            raise LatentLabError(f"{run_dir} holds no saved training state to export")
        metrics = {"step": trainer.step}
        cfg = dataclasses.replace(cfg, steps=trainer.step)
    else:
        metrics = trainer.fit()
    manifest = Path(data_dir) / "manifest.json"
    extra = {
        "steps": cfg.steps,
        "final_metrics": {k: round(float(v), 5) for k, v in metrics.items() if isinstance(v, (int, float))},
        "data": json.loads(manifest.read_text()) if manifest.exists() else {"dir": str(data_dir)},
    }
    extra["data"].pop("val_names", None)
    vocoder = task.vocoder
    recipe_weights = getattr(task_cls, "weights", None)
    adv_text = f" --adv-start {adv_start}" if recipe_weights is not None and adv_start != recipe_weights.adv_start else ""
    own_bf16 = bool(getattr(vocoder, "bf16", False))  # Vocos: its backbone's own autocast
    card = render_card(name, (
        f"Trained by `latentlab train vocode {name} --data {data_dir} --steps {cfg.steps} "
        f"--batch-size {cfg.batch_size}{adv_text}` ({vocoder.num_parameters:,} parameters).\n\n"
        f"{precision_text(dataclasses.replace(cfg, cpu_bf16=cfg.cpu_bf16 or own_bf16), train_precision(name))}\n\n"
        f"Final training-log figures: {json.dumps(extra['final_metrics'])}"
    ))
    vocoder.save(out, card=card, extra=extra)
    return out
