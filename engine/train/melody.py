"""MusicVAE training: the recipes ``mel_2bar`` and ``mel_16bar``, the task for the shared loop, evaluation
and the export of a shipped checkpoint (weights, attribute vectors, model card).

``latentlab train melody --config mel_2bar`` runs :func:`train_melody`: it trains through
:class:`engine.train.Trainer` (resumable from ``--run-dir``), then evaluates on the whole validation split
and writes a checkpoint directory with the model (tensors ``model.*``), the five attribute vectors
(``attribute.<name>``, computed from training windows) and ``card.md``.

The recipes are smaller than the paper's (which trained for days on GPUs) so that they train on a CPU;
the loss settings are the paper's except where a comment says otherwise.
"""

from __future__ import annotations

import dataclasses
import json
import math
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset

from ..core.cards import render_card
from ..core.checkpoint import config_from_overrides, config_to_dict, save_checkpoint
from ..core.errors import LatentLabError
from ..data.melody import load_windows
from ..models.musicvae import MusicVAE, MusicVAEConfig, teacher_forcing_probability, vae_loss
from .loop import MODEL_CONFIG, STATE_META, store_model_config, stored_model_config, TrainConfig, Trainer, TrainTask, get_recipe, precision_text, train_config_from_args


@dataclass
class MelodyRecipe:
    """Everything a melody model's training needs."""

    model: MusicVAEConfig
    train: TrainConfig
    data: str  # window file written by `latentlab data melody`
    attribute_windows: int = 20_000  # training windows encoded for the attribute vectors
    description: str = ""
    precision: str = ""  # the measurement behind ``train.cpu_bf16`` (stated in the card)


RUN_INFO = "musicvae_run.json"  # in the run directory: how many processes train it

def _read_segments(run_info: Path) -> list[list[int]]:
    """``[[first step, processes], ...]``: how many torchrun processes trained each stretch of a run."""
    if not run_info.exists():
        return []
    info = json.loads(run_info.read_text(encoding="utf-8"))
    return info.get("segments") or [[0, info["processes"]]]


def _record_processes(run_info: Path, trainer: Trainer) -> list[list[int]]:
    """Add a stretch to the run's record when a (re)start trains with a new number of processes."""
    segments = _read_segments(run_info)
    if not segments or segments[-1][1] != trainer.world:
        segments.append([trainer.step, trainer.world])
        run_info.parent.mkdir(parents=True, exist_ok=True)
        run_info.write_text(json.dumps({"segments": segments}) + "\n", encoding="utf-8")
    return segments


def _processes_text(train_figures: dict[str, Any], batch_size: int) -> str:
    """' x 2 process(es) (global batch 64).' or, for a run resumed with another process count, each stretch."""
    segments = train_figures.get("segments") or [[0, 1]]
    if len(segments) == 1:
        return f" x {segments[0][1]} process(es) (global batch {batch_size * segments[0][1]})."
    ends = [start for start, _ in segments[1:]] + [train_figures.get("step", "?")]
    parts = [f"steps {start}-{end}: {world} process(es), global batch {batch_size * world}"
             for (start, world), end in zip(segments, ends)]
    return " (" + "; ".join(parts) + ")."


RECIPES: dict[str, MelodyRecipe] = {
    "mel_2bar": MelodyRecipe(
        # Paper (cat-mel_2bar_small): encoder 512, decoder 2 x 256, z 256, batch 512, 50k+ steps on a GPU.
        # Here a quarter of the width and batch 64, sized for a shared CPU core.
        model=MusicVAEConfig(
            steps=32,
            embed_dim=32,
            encoder_hidden=128,
            decoder_hidden=192,
            decoder_layers=2,
            z_dim=96,
            free_bits=48.0,
            max_beta=0.2,
            beta_rate=0.9995,  # paper 0.99999 over 50k+ steps; ours anneals within a CPU budget
            # Teacher forcing first (fastest learning), then inverse-sigmoid scheduled sampling against the
            # exposure bias that separates teacher-forced from argmax-decoded accuracy (paper: k 1000 from 0).
            sampling_rate=500.0,
            sampling_start=6000,
        ),
        train=TrainConfig(steps=20_000, batch_size=64, lr=1e-3, lr_decay=0.9999, lr_min=1e-5, log_every=25,
                          val_every=250, save_every=50, val_batches=4, cpu_bf16=True),
        data="data/melodies/mel_2bar.npz",
        description="2-bar melodies, flat LSTM decoder",
        # `latentlab bench train mel_2bar --baseline` and engine.bench.train.compare_losses (one thread):
        precision="bf16 autocast chosen: 0.150 vs 0.263 s a step float32, one thread; loss after 200 steps 63.6 vs "
                  "63.9 float32, same seed and batches",
    ),
    "mel_16bar": MelodyRecipe(
        # Paper (hierdec-mel_16bar): encoder 2 x 2048, conductor / decoder 2 x 1024, z 512. Here the bar decoder is
        # far smaller; what limited reconstructions was the path between the melody and the bar embeddings
        # (issue 19, measured step by step on the card): the encoder (a BiLSTM per bar and one over the bars, 2 x 512
        # wide: 16 numbers a bar reached z from the flat 2 x 128), the conductor (z 512, each bar's own linear map of
        # z beside the LSTM), and then information: free bits 256 -> 1024 alone moved nothing, but once the encoder
        # and conductor could carry more, 2048 beat 1024 at equal steps (4096 did no better than 2048).
        model=MusicVAEConfig(
            steps=256,
            hierarchical=True,
            embed_dim=32,
            encoder_hidden=128,
            encoder_layers=1,
            hierarchical_encoder=True,
            encoder_top_hidden=512,
            # The conductor reads z and the bar's index at every bar (the first model read zeros and gave all 16
            # bars nearly one embedding: issue 19), 2 x 256 projected to a bar embedding of 128.
            conductor_input="z_and_position",
            conductor_hidden=256,
            conductor_layers=2,
            conductor_output=128,
            conductor_bar_maps=True,
            # 2 x 256: grown from the 2 x 128 bar decoder of the model before (--init widens it so that it starts
            # decoding as that model did: engine.nn.widen); argmax 0.801 -> 0.837 in 16,480 steps.
            decoder_hidden=256,
            decoder_layers=2,
            dropout=0.25,  # between the bar decoder's layers: the model fitted training windows far better
            z_dim=512,
            free_bits=2048.0,
            max_beta=0.2,
            beta_rate=0.9995,
            # The paper's hierarchical model trained with teacher forcing only; here scheduled sampling (as mel_2bar)
            # closed much of the gap between teacher-forced and argmax accuracy: run from the teacher-forced weights
            # with the decoder reading its own samples from the first step (`--overrides '{"sampling_start": -6000}'`),
            # argmax 0.8484 against 0.8403 for its teacher-forced twin at 1,600 steps (the card). A fresh run turns it on
            # at step 10,000, as mel_2bar's recipe does at 6,000 (not measured from scratch for 16 bars).
            sampling_rate=500.0,
            sampling_start=10_000,
        ),
        train=TrainConfig(steps=20_000, batch_size=32, lr=1e-3, lr_decay=0.9999, lr_min=1e-5, log_every=10,
                          val_every=100, save_every=20, val_batches=2, cpu_bf16=True),
        data="data/melodies/mel_16bar.npz",
        description="16-bar melodies, hierarchical encoder and decoder (conductor + per-bar LSTM)",
        precision="bf16 autocast chosen: 0.400 vs 0.647 s a step float32, 2 threads of an AVX-512 BF16 EPYC "
                  "(`latentlab bench train mel_16bar --threads 2 --baseline`); with the 128-wide bar decoder before, "
                  "loss after 200 steps 592.6 vs 596.0 float32, same seed and batches "
                  "(engine.bench.train.compare_losses)",
    ),
}


class WindowDataset(Dataset):
    """uint8 windows [N x T] -> LongTensor[T] items."""

    def __init__(self, windows: np.ndarray):
        self.windows = torch.from_numpy(np.ascontiguousarray(windows))

    def __len__(self) -> int:
        return len(self.windows)

    def __getitem__(self, i: int) -> torch.Tensor:
        return self.windows[i].long()


def spread_windows(windows: np.ndarray, count: int) -> np.ndarray:
    """``count`` windows evenly spaced through ``windows`` [N x T] (all of them if N <= count).

    The validation split is stored tune by tune, so its first batches come from a handful of tunes
    (on ``data/melodies_nopal`` the first 256 windows are a few chorale lines in half notes that any
    model decodes perfectly); the loss curve's validation reads a spread of tunes instead.
    """
    if len(windows) <= count:
        return windows
    return windows[np.linspace(0, len(windows) - 1, count).round().astype(np.int64)]


class MusicVAETask(TrainTask):
    """Teacher-forced (or scheduled-sampling) training; validation adds argmax-decoded accuracy."""

    def __init__(self, model: MusicVAE):
        super().__init__(model)
        self.cfg = model.cfg

    def training_step(self, model: nn.Module, batch: torch.Tensor, step: int) -> dict[str, torch.Tensor]:
        p = teacher_forcing_probability(step, self.cfg)
        out = model(batch, teacher_probability=p)
        losses = vae_loss(out, batch, step, self.cfg)
        losses["teacher_p"] = torch.tensor(p)
        return losses

    def validation_step(self, model: nn.Module, batch: torch.Tensor) -> dict[str, torch.Tensor | float]:
        out = model(batch, sample_z=False)
        losses = vae_loss(out, batch, -1, self.cfg)
        with torch.autocast(batch.device.type, enabled=False):  # greedy decoding in float32, as at inference
            decoded = self.model.decode(out["mu"].float())
        losses["argmax_accuracy"] = (decoded == batch).float().mean()
        return losses


@torch.no_grad()
def evaluate(model: MusicVAE, windows: np.ndarray, batch_size: int = 256, device: str | torch.device = "cpu") -> dict[str, float]:
    """Reconstruction figures on ``windows`` [N x T] (each window encoded to mu).

    Returns teacher-forced accuracy, argmax-decoded accuracy (both per 16th step, all classes, as
    Magenta counts them), argmax accuracy on note onsets only, and the mean KL in bits.
    """
    model.eval().to(device)
    tf_hits = am_hits = onset_hits = onsets = total = 0
    kl_sum = 0.0
    for i in range(0, len(windows), batch_size):
        x = torch.as_tensor(windows[i : i + batch_size].astype(np.int64), device=device)
        out = model(x, sample_z=False)
        tf_hits += int((out["logits"].argmax(-1) == x).sum())
        decoded = model.decode(out["mu"])
        am_hits += int((decoded == x).sum())
        mask = x >= 2
        onset_hits += int(((decoded == x) & mask).sum())
        onsets += int(mask.sum())
        total += x.numel()
        kl = 0.5 * (out["mu"].pow(2) + out["sigma"].pow(2) - 1 - 2 * out["sigma"].log()).sum(-1)
        kl_sum += float(kl.sum())
    n = max(len(windows), 1)
    return {
        "windows": len(windows),
        "teacher_forced_accuracy": tf_hits / max(total, 1),
        "argmax_accuracy": am_hits / max(total, 1),
        "argmax_onset_accuracy": onset_hits / max(onsets, 1),
        "kl_bits": kl_sum / n / math.log(2.0),
    }


@torch.no_grad()
def compute_attribute_vectors(model: MusicVAE, windows: np.ndarray, batch_size: int = 512, device: str | torch.device = "cpu") -> dict[str, torch.Tensor]:
    """Attribute vectors from ``windows`` (mean mu of the top quartile minus the bottom quartile)."""
    from ..ops.melody import ATTRIBUTES, attribute_matrix, attribute_vectors

    model.eval().to(device)
    mus = []
    for i in range(0, len(windows), batch_size):
        x = torch.as_tensor(windows[i : i + batch_size].astype(np.int64), device=device)
        mus.append(model.encode(x).cpu().numpy())
    vectors = attribute_vectors(np.concatenate(mus), attribute_matrix(windows))
    return {f"attribute.{a}": torch.from_numpy(vectors[i]) for i, a in enumerate(ATTRIBUTES)}


def model_card(name: str, recipe: MelodyRecipe, figures: dict[str, Any], train_figures: dict[str, Any], command: str, data_info: dict[str, Any]) -> str:
    """The Markdown model card."""
    cfg = recipe.model
    params = figures.get("parameters", 0)
    data = [
        f"- `{data_info.get('command', 'latentlab data melody')}` -> `{recipe.data}`: "
        + ", ".join(f"{name} ({count} tunes)" for name, count in data_info.get("sources", {}).items())
        + " from the music21 corpus / MIDI folders; duple meters only, top line of each tune.",
        f"- {data_info.get('train', '?')} training windows (every transposition within ±{data_info.get('transpose', '?')} semitones), "
        f"{data_info.get('val', '?')} validation windows (original keys; the split is by tune).",
    ]
    model = [f"- {params / 1e6:.2f} M parameters; config: `{json.dumps(config_to_dict(cfg))}`"]
    recipe_lines = [
        f"- Command: `{command}`",
        f"- Training config: `{json.dumps(config_to_dict(recipe.train))}`",
        f"- {precision_text(recipe.train, recipe.precision, train_figures.get('device'))}",
        f"- Trained {train_figures.get('step', '?')} steps in {train_figures.get('hours', 0):.1f} h on {train_figures.get('device', '?')}"
        + _processes_text(train_figures, recipe.train.batch_size),
    ]
    measured = [
        f"- Teacher-forced accuracy: **{figures['teacher_forced_accuracy']:.4f}**",
        f"- Argmax-decoded reconstruction accuracy (encode to mu, greedy decode): **{figures['argmax_accuracy']:.4f}**"
        f" (note onsets only: {figures['argmax_onset_accuracy']:.4f})",
        f"- KL: **{figures['kl_bits']:.1f} bits**",
        f"- Windows: {figures['windows']}; accuracy counts every 16th step (all 90 classes), as Magenta does.",
        f"- Measured with: `latentlab bench melody --model {name} --data {recipe.data}`",
        "",
        "Paper (Roberts et al. 2018, sampled accuracy): 2-bar 0.951, 16-bar hierarchical 0.812.",
    ]
    return render_card(f"{name} — MusicVAE ({recipe.description})", sections=[
        ("Data", "\n".join(data)), ("Model", "\n".join(model)), ("Recipe", "\n".join(recipe_lines)),
        ("Measured on the whole validation split", "\n".join(measured)),
    ])


def export_checkpoint(
    model: MusicVAE, recipe_name: str, recipe: MelodyRecipe, data: dict[str, np.ndarray], out: str | Path, command: str,
    train_figures: dict[str, Any], device: str | torch.device = "cpu", seed: int = 0,
) -> dict[str, Any]:
    """Evaluate on the validation split, compute attribute vectors, and write the checkpoint directory."""
    from ..ops.melody import ATTRIBUTES

    figures = evaluate(model, data["val"], device=device)
    figures["parameters"] = sum(p.numel() for p in model.parameters())
    rng = np.random.default_rng(seed)
    train = data["train"]
    pick = rng.choice(len(train), size=min(recipe.attribute_windows, len(train)), replace=False) if len(train) else []
    tensors = {f"model.{k}": v for k, v in model.state_dict().items()}
    tensors.update(compute_attribute_vectors(model, train[np.sort(pick)], device=device))
    data_info = {
        "train": len(train),
        "val": len(data["val"]),
        "transpose": int(data.get("transpose", 0)),
        "command": str(data["command"]) if "command" in data else "latentlab data melody",
        "sources": {str(n): int(c) for n, c in zip(data.get("sources", []), data.get("source_tunes", []))},
    }
    extra = {
        "attributes": list(ATTRIBUTES),
        "recipe": recipe_name,
        "figures": {k: (round(v, 5) if isinstance(v, float) else v) for k, v in figures.items()},
        "training": train_figures,
        "data": data_info,
    }
    card = model_card(Path(out).name, recipe, figures, train_figures, command, data_info)
    save_checkpoint(out, kind="melody", arch="musicvae", config=model.cfg, tensors=tensors, extra=extra, card=card)
    return figures


def _training_hours(run_dir: Path) -> float:
    """Wall time of all training sessions of a run, from its loss log (each resume restarts the clock)."""
    log = run_dir / "log.jsonl"
    if not log.exists():
        return 0.0
    total = last = 0.0
    for line in log.read_text(encoding="utf-8").splitlines():
        t = json.loads(line).get("time")
        if t is None:
            continue
        if t < last:  # a resumed session
            total += last
        last = t
    return (total + last) / 3600


def load_matching(model: MusicVAE, init: str | Path) -> tuple[list[str], list[str]]:
    """Start ``model`` from checkpoint ``init`` where the two agree: each tensor whose name and shape match
    is copied, every other one keeps its fresh initialisation (e.g. a new conductor over a shipped encoder and
    bar decoder). A wider decoder is grown from the checkpoint's so that it starts as that model
    (:func:`widened_decoder`).

    Returns (loaded names, fresh names, each with why: "not in the checkpoint" or both shapes).
    """
    from ..core.checkpoint import load_checkpoint

    ckpt = load_checkpoint(init)
    if ckpt.kind != "melody" or ckpt.arch != "musicvae":
        raise LatentLabError(f"{ckpt.path} holds a {ckpt.kind} model {ckpt.arch!r}, not a MusicVAE")
    saved = {k[len("model."):]: v for k, v in ckpt.tensors.items() if k.startswith("model.")}
    state = model.state_dict()
    saved.update(widened_decoder(model, saved))
    loaded, fresh = [], []
    for name, tensor in state.items():
        if name not in saved:
            fresh.append(f"{name} (not in the checkpoint)")
        elif saved[name].shape != tensor.shape:
            fresh.append(f"{name} ({list(tensor.shape)}; the checkpoint's {list(saved[name].shape)})")
        else:
            tensor.copy_(saved[name])
            loaded.append(name)
    if not loaded:
        raise LatentLabError(f"{ckpt.path} shares no tensor with the {model.cfg.steps}-step model: nothing to start from")
    return loaded, fresh


def widened_decoder(model: MusicVAE, saved: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The checkpoint's decoder tensors grown to ``model``'s wider ``decoder_hidden``, computing what they did
    (:mod:`engine.nn.widen`); nothing when the widths agree or anything else about the decoder differs."""
    from ..nn.widen import widen_lstm, widen_readout, widen_state_init

    state, cfg = model.state_dict(), model.cfg
    if "decoder.out.weight" not in saved:
        return {}
    old, new = saved["decoder.out.weight"].shape[1], cfg.decoder_hidden
    lstm = {k[len("decoder.lstm."):]: v for k, v in saved.items() if k.startswith("decoder.lstm.")}
    if old >= new or len(lstm) != 4 * cfg.decoder_layers or saved["decoder.lstm.weight_ih_l0"].shape[1] != state[
            "decoder.lstm.weight_ih_l0"].shape[1]:
        return {}
    fresh = {k[len("decoder.lstm."):]: v for k, v in state.items() if k.startswith("decoder.lstm.")}
    out = {f"decoder.lstm.{k}": v for k, v in widen_lstm(fresh, lstm, old, new, cfg.decoder_layers).items()}
    out["decoder.init.proj.weight"], out["decoder.init.proj.bias"] = widen_state_init(
        state["decoder.init.proj.weight"], state["decoder.init.proj.bias"], saved["decoder.init.proj.weight"],
        saved["decoder.init.proj.bias"], old, new, cfg.decoder_layers)
    out["decoder.out.weight"] = widen_readout(state["decoder.out.weight"], saved["decoder.out.weight"])
    return out


def train_melody(
    config: str,
    steps: int | None = None,
    batch_size: int | None = None,
    run_dir: str | Path | None = None,
    device: str | None = None,
    out: str | Path | None = None,
    data_path: str | Path | None = None,
    model_overrides: dict[str, Any] | str | None = None,
    progress: bool = True,
    command: str | None = None,
    init: str | Path | None = None,
    lr: float | None = None,
) -> dict[str, Any]:
    """Train recipe ``config`` (resuming from ``run_dir``), then export a checkpoint to ``out``.

    ``lr``: the peak learning rate instead of the recipe's (e.g. lower, to go on from ``init``'s weights).
    ``init``: a MusicVAE checkpoint a new run starts from, tensor by tensor where names and shapes match
    (:func:`load_matching`; the rest start fresh and are listed); a run with a saved state resumes from it instead.
    Returns the validation figures of the exported model (empty on non-zero DDP ranks).
    """
    from ..core.device import describe_device, resolve_device

    recipe = get_recipe(RECIPES, config, "melody")
    recipe_model = recipe.model
    if model_overrides:
        recipe = dataclasses.replace(recipe, model=config_from_overrides(
            MusicVAEConfig, model_overrides, "--overrides", base=recipe.model))
    train_cfg = train_config_from_args(recipe.train, {"steps": steps, "batch_size": batch_size, "lr": lr})
    recipe = dataclasses.replace(recipe, train=train_cfg, data=str(data_path or recipe.data))
    run_dir = Path(run_dir or f"runs/{config}")
    out = Path(out or run_dir / "model")
    kept = stored_model_config(MusicVAEConfig, run_dir)  # its --overrides included
    if kept is not None:
        if model_overrides and kept != recipe.model:
            raise LatentLabError(f"{run_dir} was started with another model shape ({run_dir / MODEL_CONFIG}); leave "
                                 "out --overrides to resume it, or give a new --run-dir")
        recipe = dataclasses.replace(recipe, model=kept)
    data = load_windows(recipe.data)
    if data["train"].shape[1:] != (recipe.model.steps,):
        raise LatentLabError(f"{recipe.data} holds windows of {data['train'].shape[1]} steps, but {config} needs {recipe.model.steps}")
    dev = resolve_device(device)
    # Gradients through long LSTM chains decay into denormal floats, which make CPU arithmetic ~10x slower.
    torch.set_flush_denormal(True)
    torch.manual_seed(train_cfg.seed)
    model = MusicVAE(recipe.model)
    if init is not None and not (run_dir / STATE_META).exists():
        loaded, fresh = load_matching(model, init)
        print(f"--init {init}: {len(loaded)} tensors loaded; {len(fresh)} start fresh"
              + "".join(f"\n  fresh: {line}" for line in fresh), flush=True)
    elif init is not None:
        print(f"--init {init} ignored: {run_dir} holds a saved state, which the run resumes from", flush=True)
    trainer = Trainer(MusicVAETask(model), WindowDataset(data["train"]),
                      WindowDataset(spread_windows(data["val"], train_cfg.val_batches * train_cfg.batch_size)), train_cfg, run_dir, dev, progress=progress)
    if trainer.is_main and kept is None:
        store_model_config(run_dir, recipe.model)
    run_info = run_dir / RUN_INFO
    segments = _record_processes(run_info, trainer) if trainer.is_main and trainer.step < train_cfg.steps else _read_segments(run_info)
    segments = segments or [[0, trainer.world]]
    trainer.fit()
    if not trainer.is_main:
        return {}
    processes = segments[0][1]
    if command is None:
        command = f"latentlab train melody --config {config}"
        if processes > 1:
            command = f"torchrun --standalone --nproc_per_node={processes} -m engine.cli.main train melody --config {config}"
        for flag, value in (("--steps", steps), ("--batch-size", batch_size), ("--data", data_path), ("--init", init), ("--lr", lr)):
            if value is not None:
                command += f" {flag} {shlex.quote(str(value))}"
        base = config_to_dict(recipe_model)
        changed = {k: v for k, v in config_to_dict(recipe.model).items() if v != base[k]}
        if changed:
            command += f" --overrides {shlex.quote(json.dumps(changed))}"
    train_figures = {
        "step": trainer.step,
        "hours": round(_training_hours(run_dir), 2),
        "device": describe_device(dev),
        "segments": segments,  # [[first step, processes], ...]
    }
    return export_checkpoint(model, config, recipe, data, out, command, train_figures, device=dev)
