"""Training of the melody-grid models of the likelihood table: gated PixelCNN, Row LSTM, Diagonal
BiLSTM (through the shared loop) and the AR(p) baseline (least squares, no loop), each then measured on
the whole validation split and written as a checkpoint with its card.

``latentlab train melody --config pixelcnn_16bar`` (or ``row_lstm_16bar``, ``diagonal_bilstm_16bar``,
``ar_16bar``) runs :func:`train_grid_model`. The data are the 16-bar windows of ``latentlab data melody``
as 16 x 16 grids (:mod:`engine.data.pianoroll`). The recipes are sized for about ten minutes of one CPU
thread each.
"""

from __future__ import annotations

import dataclasses
import json
import math
import shlex
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..core.cards import render_card
from ..core.checkpoint import config_to_dict, save_checkpoint
from ..core.errors import LatentLabError
from ..core.midi import STEPS_PER_BAR
from ..data.melody import load_windows
from ..data.pianoroll import GridWindows
from ..models.autoregressive import ARCHS, ARConfig
from ..models.pixelcnn import PixelCNNConfig
from ..models.pixelrnn import PixelRNNConfig
from .loop import TrainConfig, Trainer, TrainTask, get_recipe, logged_seconds, precision_text

LN2 = math.log(2.0)
AR_HELD_OUT = 2000  # training windows (not fitted) on which AR(p) chooses its probability floor


@dataclass
class GridRecipe:
    """Everything one model of the likelihood table needs to train."""

    arch: str  # a key of ARCHS
    model: Any  # its dataclass config
    train: TrainConfig
    data: str = "data/melodies/mel_16bar.npz"
    description: str = ""
    precision: str = ""  # the measurement behind ``train.cpu_bf16`` (stated in the card)


def _train(steps: int) -> TrainConfig:
    return TrainConfig(steps=steps, batch_size=16, lr=1e-3, lr_decay=0.9997, lr_min=2e-4, log_every=25,
                       val_every=250, val_batches=8, save_every=50)


RECIPES: dict[str, GridRecipe] = {
    # Paper (CIFAR-10): 15 layers of 128 channels (gated PixelCNN), 12 layers of 128 (PixelRNN). Here far smaller.
    # bf16: `latentlab bench train pixelcnn_16bar --baseline` and engine.bench.train.compare_losses, one thread
    "pixelcnn_16bar": GridRecipe("pixelcnn", PixelCNNConfig(channels=32, skip_channels=64, layers=8, kernel=5),
                                 dataclasses.replace(_train(3600), cpu_bf16=True), description="gated PixelCNN",
                                 precision="bf16 autocast chosen: 0.273 vs 0.369 s a step float32, one thread; loss "
                                           "after 200 steps 2.3119 vs 2.3115 float32, same seed and batches"),
    "row_lstm_16bar": GridRecipe("pixelrnn", PixelRNNConfig(layer="row", hidden=64, layers=2), _train(3600),
                                 description="PixelRNN, Row LSTM"),
    "diagonal_bilstm_16bar": GridRecipe("pixelrnn", PixelRNNConfig(layer="diagonal", hidden=64, layers=2), _train(1300),
                                        description="PixelRNN, Diagonal BiLSTM"),
    "ar_16bar": GridRecipe("ar", ARConfig(order=32), TrainConfig(steps=0), description="AR(32), least squares"),
}


class GridTask(TrainTask):
    """Cross-entropy of every pixel given the pixels before it (the models mask the rest)."""

    def training_step(self, model: nn.Module, batch: torch.Tensor, step: int) -> dict[str, torch.Tensor]:
        loss = F.cross_entropy(model(batch).float(), batch)
        return {"loss": loss, "bits": loss.detach() / LN2}


@torch.no_grad()
def evaluate_bits(model: nn.Module, windows: np.ndarray, batch_size: int = 64, device: str | torch.device = "cpu") -> dict[str, float]:
    """Negative log-likelihood of ``windows`` (uint8[N x T], whole bars) in bits per 16th step, over every step."""
    model.eval().to(device)
    grids = GridWindows(windows)
    total = 0.0
    for i in range(0, len(grids), batch_size):
        x = torch.stack([grids[j] for j in range(i, min(i + batch_size, len(grids)))]).to(device)
        total += float(F.cross_entropy(model(x).float(), x, reduction="sum"))
    steps = windows.size
    return {"windows": len(windows), "steps": int(steps), "bits_per_step": total / max(steps, 1) / LN2}


def continuation_seconds(model: nn.Module, prompt: np.ndarray, bars: int = 8, repeats: int = 3) -> float:
    """Median seconds to continue ``prompt`` (events, whole bars) by ``bars`` bars at temperature 1."""
    from ..ops.continuation import continue_grid

    times = []
    for seed in range(repeats):
        t = time.perf_counter()
        continue_grid(model, prompt, bars, temperature=1.0, seed=seed)
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def _data_info(data: dict[str, np.ndarray]) -> dict[str, Any]:
    return {
        "train": len(data["train"]),
        "val": len(data["val"]),
        "transpose": int(data.get("transpose", 0)),
        "command": str(data["command"]) if "command" in data else "latentlab data melody",
        "sources": {str(n): int(c) for n, c in zip(data.get("sources", []), data.get("source_tunes", []))},
    }


def model_card(name: str, recipe: GridRecipe, figures: dict[str, Any], train_figures: dict[str, Any], command: str,
               data_info: dict[str, Any]) -> str:
    """The Markdown model card."""
    if recipe.arch == "ar":
        how = (f"- Fitted by least squares on {train_figures.get('rows', '?')} training steps in {train_figures.get('seconds', 0):.0f} s "
               f"(no gradient steps, so not through the training loop); probability floor {train_figures.get('floor')} "
               f"chosen on {AR_HELD_OUT} held-out training windows.")
    else:
        how = (f"- Training config: `{json.dumps(config_to_dict(recipe.train))}`\n"
               f"- {precision_text(recipe.train, recipe.precision, train_figures.get('device'))}\n"
               f"- Trained {train_figures.get('step', '?')} steps in {train_figures.get('hours', 0):.2f} h on "
               f"{train_figures.get('device', '?')}, batch {recipe.train.batch_size} grids "
               f"of 16 bars x 16 steps.")
    data = [
        f"- `{data_info['command']}` -> `{recipe.data}`: "
        + ", ".join(f"{n} ({c} tunes)" for n, c in data_info["sources"].items())
        + "; duple meters only, top line of each tune.",
        f"- {data_info['train']} training windows of 16 bars (every transposition within ±{data_info['transpose']} semitones), "
        f"{data_info['val']} validation windows (original keys; the split is by tune). Each window is a grid: one row per bar, "
        "one column per 16th step, the 90 melody event classes as pixel values (`engine/data/pianoroll.py`).",
    ]
    model = [f"- {figures['parameters'] / 1e6:.2f} M parameters; arch `{recipe.arch}`; config: "
             f"`{json.dumps(config_to_dict(recipe.model))}`"]
    measured = [
        f"- Negative log-likelihood: **{figures['bits_per_step']:.4f} bits per 16th step** over {figures['steps']} steps "
        f"({figures['windows']} windows).",
        f"- Continuing a 4-bar prompt by 8 bars (128 sampled steps, temperature 1, CPU, {figures.get('threads', 1)} thread(s)): "
        f"{figures['continue_8_bars_s']:.3f} s.",
        f"- Measured with: `latentlab bench melody --likelihood --data {recipe.data}` (the table of every model, side by side).",
    ]
    return render_card(f"{name} — {recipe.description} over 16 x 16 melody grids", sections=[
        ("Data", "\n".join(data)), ("Model", "\n".join(model)), ("Recipe", f"- Command: `{command}`\n{how}"),
        ("Measured on the whole validation split", "\n".join(measured)),
    ])


def export_checkpoint(model: nn.Module, name: str, recipe: GridRecipe, data: dict[str, np.ndarray], out: str | Path,
                      command: str, train_figures: dict[str, Any], device: str | torch.device = "cpu") -> dict[str, Any]:
    """Measure on the validation split and write the checkpoint directory (weights, config, card)."""
    figures: dict[str, Any] = evaluate_bits(model, data["val"], device=device)
    figures["parameters"] = sum(p.numel() for p in model.parameters()) + sum(b.numel() for b in model.buffers())
    model.cpu()
    figures["threads"] = torch.get_num_threads()
    figures["continue_8_bars_s"] = continuation_seconds(model, data["val"][0][: 4 * STEPS_PER_BAR].astype(np.int64))
    data_info = _data_info(data)
    extra = {
        "recipe": name,
        "figures": {k: (round(v, 5) if isinstance(v, float) else v) for k, v in figures.items()},
        "training": train_figures,
        "data": data_info,
    }
    card = model_card(name, recipe, figures, train_figures, command, data_info)
    save_checkpoint(out, kind="melody", arch=recipe.arch, config=model.cfg, tensors=model.state_dict(), extra=extra, card=card)
    return figures


def train_grid_model(
    config: str,
    steps: int | None = None,
    batch_size: int | None = None,
    run_dir: str | Path | None = None,
    device: str | None = None,
    out: str | Path | None = None,
    data_path: str | Path | None = None,
    progress: bool = True,
    command: str | None = None,
    model_overrides: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Train (or, for AR(p), fit) recipe ``config``, resuming from ``run_dir``; export a checkpoint to ``out``.

    ``model_overrides`` replaces fields of the recipe's model config (tests shrink the models with it).
    Returns the validation figures of the exported model.
    """
    from ..core.device import describe_device, resolve_device
    from .loop import train_config_from_args

    recipe = get_recipe(RECIPES, config, "grid-model")
    if model_overrides:
        recipe = dataclasses.replace(recipe, model=dataclasses.replace(recipe.model, **model_overrides))
    train_cfg = train_config_from_args(recipe.train, {"steps": steps, "batch_size": batch_size})
    recipe = dataclasses.replace(recipe, train=train_cfg, data=str(data_path or recipe.data))
    run_dir = Path(run_dir or f"runs/{config}")
    out = Path(out or run_dir / "model")
    data = load_windows(recipe.data)
    if data["train"].shape[1] % STEPS_PER_BAR or data["train"].shape[1] // STEPS_PER_BAR > recipe.model.max_bars:
        raise LatentLabError(f"{recipe.data} holds windows of {data['train'].shape[1]} steps; {config} takes up to "
                             f"{recipe.model.max_bars} whole bars")
    dev = resolve_device(device)
    if command is None:
        command = f"latentlab train melody --config {config}"
        for flag, value in (("--steps", steps), ("--batch-size", batch_size), ("--data", data_path)):
            if value is not None:
                command += f" {flag} {shlex.quote(str(value))}"
    cls, _ = ARCHS[recipe.arch]
    torch.manual_seed(train_cfg.seed)
    model = cls(recipe.model)
    if recipe.arch == "ar":
        rng = np.random.default_rng(train_cfg.seed)
        held = np.zeros(len(data["train"]), bool)
        held[rng.choice(len(held), size=min(AR_HELD_OUT, len(held) // 10), replace=False)] = True
        t = time.perf_counter()
        fit = model.fit(data["train"][~held], data["train"][held])
        train_figures = {**fit, "seconds": round(time.perf_counter() - t, 1)}
        return export_checkpoint(model, config, recipe, data, out, command, train_figures, device=dev)
    torch.set_flush_denormal(True)  # LSTM gradients decay into denormals, which are slow on CPUs
    trainer = Trainer(GridTask(model), GridWindows(data["train"]), GridWindows(data["val"]), train_cfg, run_dir, dev,
                      progress=progress)
    trainer.fit()
    train_figures = {"step": trainer.step, "hours": round(logged_seconds(run_dir) / 3600, 3), "device": describe_device(dev)}
    return export_checkpoint(model, config, recipe, data, out, command, train_figures, device=dev)
