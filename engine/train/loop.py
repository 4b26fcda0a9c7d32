"""One training loop shared by every model.

What it gives each model: a progress bar, periodic validation, a JSON-lines loss log, periodic
resumable checkpoints (model, optimizers, schedulers, RNG and data position, all in safetensors +
JSON: a killed run resumes from its last save with nothing lost), bf16 autocast on CUDA, gradient
clipping, and DistributedDataParallel when launched by ``torchrun`` (NCCL on GPUs, gloo on CPUs).

A model plugs in through a :class:`TrainTask`::

    class MyTask(TrainTask):
        def training_step(self, model, batch, step):
            out = model(batch["x"])            # call the forward through ``model`` (DDP syncs it)
            return {"loss": loss_fn(out, batch["y"])}

    Trainer(MyTask(net), train_set, val_set, TrainConfig(steps=1000), "runs/my").fit()

GAN-style tasks set ``manual_optimization = True`` and call ``self.trainer.optimize(name, loss)``.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, TypeVar

import torch
import torch.distributed as dist
from safetensors.torch import load_file, save_file
from torch import nn
from torch.utils.data import DataLoader, Dataset, Sampler

from ..core.checkpoint import config_from_dict, config_to_dict
from ..core import device as device_module
from ..core.device import bf16_autocast
from ..core.errors import LatentLabError

T = TypeVar("T")
STATE_WEIGHTS = "state.safetensors"
STATE_META = "state.json"
MODEL_CONFIG = "model_config.json"  # the model shape a run started with, beside its state
LOG_FILE = "log.jsonl"
SNAPSHOTS = "snapshots"  # run_dir/snapshots/step_NNNNNN/: what the task ships, every cfg.snapshot_every steps
SNAPSHOT_RECORD = "snapshot.json"  # beside a snapshot: step, seconds (wall) and cpu_seconds the run had trained


@dataclass
class TrainConfig:
    """Optimisation settings shared by every model (each model's recipe sets its own values)."""

    steps: int = 10_000
    batch_size: int = 64
    lr: float = 1e-3
    lr_decay: float = 1.0  # multiplied into the learning rate every step (MusicVAE: 0.9999)
    lr_min: float = 0.0
    betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = 0.0
    grad_clip: float = 1.0  # global-norm clip; 0 turns it off
    log_every: int = 50
    val_every: int = 500
    val_batches: int = 50  # at most this many validation batches per validation
    save_every: int = 500
    snapshot_every: int = 0  # >0: every this many steps the task saves a snapshot (a learning curve's points)
    seed: int = 0
    amp: bool = True  # bf16 autocast on CUDA
    cpu_bf16: bool = False  # bf16 autocast on the CPU (a recipe turns it on where it measured faster and trained as well)
    num_workers: int = 0


class TrainTask:
    """What a model tells the loop. Override ``training_step``; the rest has defaults."""

    manual_optimization = False

    def __init__(self, model: nn.Module):
        self.model = model
        self.trainer: Trainer | None = None

    def optimizers(self, cfg: TrainConfig) -> dict[str, torch.optim.Optimizer]:
        """One Adam over all parameters; GANs return e.g. ``{"g": ..., "d": ...}``."""
        params = [p for p in self.model.parameters() if p.requires_grad]
        return {"main": torch.optim.Adam(params, lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay)}

    def training_step(self, model: nn.Module, batch: Any, step: int) -> dict[str, torch.Tensor]:
        """Losses and metrics for one batch; ``"loss"`` is optimised unless ``manual_optimization``.

        ``model`` is the (possibly DDP-wrapped) model: call its forward for gradients to sync.
        """
        raise NotImplementedError

    def validation_step(self, model: nn.Module, batch: Any) -> dict[str, torch.Tensor | float]:
        """Metrics for one validation batch (default: the training losses, no gradients)."""
        return self.training_step(model, batch, step=-1)

    def validation_end(self, metrics: dict[str, float]) -> dict[str, float]:
        """Add whole-set metrics after validation (e.g. sampled accuracy); default: as is."""
        return metrics

    def save_snapshot(self, directory: Path, record: dict[str, Any]) -> None:
        """Keep what this task ships as it is now, in ``directory`` (``cfg.snapshot_every``). ``record``: the step,
        the run's wall and CPU seconds so far. Default: the model's weights and the record beside them."""
        directory.mkdir(parents=True, exist_ok=True)
        save_file({k: v.detach().cpu().contiguous() for k, v in self.model.state_dict().items()},
                  str(directory / "model.safetensors"))
        (directory / SNAPSHOT_RECORD).write_text(json.dumps(record) + "\n", encoding="utf-8")


class ResumableSampler(Sampler[list[int]]):
    """Batches of indices for step ``start_step`` onwards: epoch e is ``randperm(n, seed + e)``.

    The order depends only on (seed, step), so a resumed run sees exactly the batches an
    uninterrupted one would. Under DDP each rank takes every ``world``-th batch.
    """

    def __init__(self, n: int, batch_size: int, seed: int, start_step: int = 0, rank: int = 0, world: int = 1):
        if n == 0:
            raise LatentLabError("the training set is empty: build it first with `latentlab data ...`")
        self.n, self.batch_size, self.seed = n, batch_size, seed
        self.start_step, self.rank, self.world = start_step, rank, world
        self.per_epoch = max(1, n // batch_size) if n >= batch_size else 1

    def __iter__(self) -> Iterator[list[int]]:
        step = self.start_step
        while True:
            global_batch = step * self.world + self.rank
            epoch, within = divmod(global_batch, self.per_epoch)
            order = torch.randperm(self.n, generator=torch.Generator().manual_seed(self.seed + epoch))
            if self.n < self.batch_size:  # tiny sets: repeat the permutation to fill a batch
                order = order.repeat(math.ceil(self.batch_size / self.n))
            yield order[within * self.batch_size : (within + 1) * self.batch_size].tolist()
            step += 1

    def __len__(self) -> int:  # infinite in principle; DataLoader only needs a number
        return 2**31


def _distributed() -> tuple[int, int, int]:
    """(rank, local_rank, world size) from torchrun's environment."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    return int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0")), world


class Trainer:
    """Runs a :class:`TrainTask` for ``cfg.steps`` steps with checkpoints in ``run_dir``."""

    def __init__(
        self,
        task: TrainTask,
        train_set: Dataset,
        val_set: Dataset | None,
        cfg: TrainConfig,
        run_dir: str | Path,
        device: torch.device | str = "cpu",
        collate_fn: Callable | None = None,
        progress: bool = True,
    ):
        self.task, self.cfg = task, cfg
        self.train_set, self.val_set = train_set, val_set
        self.run_dir = Path(run_dir)
        self.collate_fn = collate_fn
        self.rank, local_rank, self.world = _distributed()
        self.device = torch.device(device)
        if self.world > 1:
            if not dist.is_initialized():
                backend = "nccl" if self.device.type == "cuda" else "gloo"
                dist.init_process_group(backend=backend)
            if self.device.type == "cuda":
                self.device = torch.device("cuda", local_rank)
                torch.cuda.set_device(self.device)
        self.is_main = self.rank == 0
        self.progress = progress and self.is_main
        task.trainer = self
        task.model.to(self.device)
        self.model: nn.Module = task.model
        if self.world > 1:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.model = nn.parallel.DistributedDataParallel(task.model, device_ids=ids)
        self.optimizers = task.optimizers(cfg)
        self.step = 0
        self.best_val = math.inf
        self.last_metrics: dict[str, float] = {}
        torch.manual_seed(cfg.seed + self.rank)

    # -- optimisation ------------------------------------------------------------------------
    def lr_at(self, step: int, base_lr: float) -> float:
        return max(self.cfg.lr_min, base_lr * self.cfg.lr_decay**step)

    def optimize(self, name: str, loss: torch.Tensor, params: list[torch.Tensor] | None = None) -> float:
        """Backward ``loss``, clip, and step optimiser ``name``. Returns the gradient norm."""
        opt = self.optimizers[name]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        params = params or [p for g in opt.param_groups for p in g["params"] if p.grad is not None]
        norm = torch.nn.utils.clip_grad_norm_(params, self.cfg.grad_clip if self.cfg.grad_clip > 0 else math.inf)
        for group in opt.param_groups:
            group["lr"] = self.lr_at(self.step, group.setdefault("initial_lr", group["lr"]))
        opt.step()
        return float(norm)

    def autocast(self):
        """bf16 autocast: on CUDA where ``cfg.amp``, on the CPU where ``cfg.cpu_bf16`` (each recipe's choice) and
        the CPU runs bf16 at speed (:func:`engine.core.device.cpu_has_bf16`)."""
        return bf16_autocast(self.device, self.cfg.amp if self.device.type == "cuda" else self.cfg.cpu_bf16)

    def _to_device(self, batch: Any) -> Any:
        if isinstance(batch, torch.Tensor):
            return batch.to(self.device, non_blocking=True)
        if isinstance(batch, dict):
            return {k: self._to_device(v) for k, v in batch.items()}
        if isinstance(batch, (list, tuple)):
            return type(batch)(self._to_device(v) for v in batch)
        return batch

    # -- checkpoints -------------------------------------------------------------------------
    def save_state(self) -> None:
        """Write model + optimiser + RNG state atomically (rank 0 only)."""
        if not self.is_main:
            return
        self.run_dir.mkdir(parents=True, exist_ok=True)
        tensors = {f"model.{k}": v for k, v in self.task.model.state_dict().items()}
        opt_meta = {}
        for name, opt in self.optimizers.items():
            sd = opt.state_dict()
            scalars: dict[str, dict[str, Any]] = {}
            for pid, pstate in sd["state"].items():
                for key, value in pstate.items():
                    if isinstance(value, torch.Tensor):
                        tensors[f"opt.{name}.{pid}.{key}"] = value
                    else:
                        scalars.setdefault(str(pid), {})[key] = value
            opt_meta[name] = {"param_groups": sd["param_groups"], "scalars": scalars}
        tensors["rng.torch"] = torch.get_rng_state()
        tensors = {k: v.detach().cpu().contiguous().clone() for k, v in tensors.items()}
        meta = {
            "step": self.step,
            "best_val": self.best_val if math.isfinite(self.best_val) else None,
            "optimizers": opt_meta,
            "train_config": config_to_dict(self.cfg),
        }
        tmp = self.run_dir / (STATE_WEIGHTS + ".tmp")
        save_file(tensors, str(tmp))
        tmp.replace(self.run_dir / STATE_WEIGHTS)
        tmp = self.run_dir / (STATE_META + ".tmp")
        tmp.write_text(json.dumps(meta, indent=1), encoding="utf-8")
        tmp.replace(self.run_dir / STATE_META)

    def load_state(self) -> bool:
        """Resume from ``run_dir`` if it holds a saved state. Returns whether it did."""
        meta_path, weights_path = self.run_dir / STATE_META, self.run_dir / STATE_WEIGHTS
        if not (meta_path.exists() and weights_path.exists()):
            return False
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        tensors = load_file(str(weights_path))
        model_state = {k[6:]: v for k, v in tensors.items() if k.startswith("model.")}
        self.task.model.load_state_dict(model_state)
        for name, opt in self.optimizers.items():
            saved = meta["optimizers"][name]
            state: dict[int, dict[str, Any]] = {}
            prefix = f"opt.{name}."
            for key, value in tensors.items():
                if key.startswith(prefix):
                    pid, field_name = key[len(prefix) :].split(".", 1)
                    state.setdefault(int(pid), {})[field_name] = value.to(self.device)
            for pid, scalars in saved["scalars"].items():
                state.setdefault(int(pid), {}).update(scalars)
            opt.load_state_dict({"state": state, "param_groups": saved["param_groups"]})
        torch.set_rng_state(tensors["rng.torch"])
        self.step = int(meta["step"])
        self.best_val = meta["best_val"] if meta["best_val"] is not None else math.inf
        return True

    def log(self, record: dict[str, Any]) -> None:
        if not self.is_main:
            return
        self.run_dir.mkdir(parents=True, exist_ok=True)
        with open(self.run_dir / LOG_FILE, "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")

    # -- loops -------------------------------------------------------------------------------
    def _loader(self, dataset: Dataset, start_step: int, shuffle_seed: int) -> DataLoader:
        sampler = ResumableSampler(len(dataset), self.cfg.batch_size, shuffle_seed, start_step, self.rank, self.world)
        return DataLoader(
            dataset,
            batch_sampler=sampler,
            num_workers=self.cfg.num_workers,
            collate_fn=self.collate_fn,
            pin_memory=self.device.type == "cuda",
        )

    def train_step(self, batch: Any) -> dict[str, Any]:
        """One optimisation step on ``batch`` (moved to the device): the task's losses, then ``self.step += 1``.

        ``fit`` calls it for every batch; ``latentlab bench train`` times it on synthetic batches.
        """
        batch = self._to_device(batch)
        with self.autocast():
            out = self.task.training_step(self.model, batch, self.step)
        if not self.task.manual_optimization:
            out["grad_norm"] = torch.tensor(self.optimize("main", out["loss"]))
        self.step += 1
        return out

    @torch.no_grad()
    def validate(self) -> dict[str, float]:
        """Average the task's validation metrics over (at most ``val_batches``) validation batches."""
        if self.val_set is None or len(self.val_set) == 0:
            return {}
        self.model.eval()
        loader = DataLoader(self.val_set, batch_size=self.cfg.batch_size, shuffle=False, collate_fn=self.collate_fn)
        sums: dict[str, float] = {}
        count = 0
        for i, batch in enumerate(loader):
            if i >= self.cfg.val_batches:
                break
            with self.autocast():
                out = self.task.validation_step(self.task.model, self._to_device(batch))
            for k, v in out.items():
                sums[k] = sums.get(k, 0.0) + float(v)
            count += 1
        metrics = {f"val_{k}": v / max(count, 1) for k, v in sums.items()}
        metrics = self.task.validation_end(metrics)
        self.model.train()
        return metrics

    def fit(self, resume: bool = True) -> dict[str, float]:
        """Train to ``cfg.steps``; resumes from ``run_dir`` when a saved state is there."""
        if resume and self.load_state() and self.is_main:
            print(f"resuming {self.run_dir} at step {self.step}")
        cfg = self.cfg
        if self.step >= cfg.steps:
            return self.last_metrics
        self.model.train()
        loader = iter(self._loader(self.train_set, self.step, cfg.seed))
        bar = None
        if self.progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=cfg.steps, initial=self.step, desc=self.run_dir.name, dynamic_ncols=True)
        started, running = time.time(), {}
        cpu_started = time.process_time()  # the log's "cpu": this process's CPU seconds (all its threads)
        wall_before, cpu_before = logged_seconds(self.run_dir), logged_seconds(self.run_dir, "cpu")
        while self.step < cfg.steps:
            out = self.train_step(next(loader))
            for k, v in out.items():
                running[k] = running.get(k, 0.0) + float(v.detach() if isinstance(v, torch.Tensor) else v)
            if self.step % cfg.log_every == 0 or self.step == cfg.steps:
                n = cfg.log_every if self.step % cfg.log_every == 0 else self.step % cfg.log_every
                record = {"step": self.step, "time": round(time.time() - started, 2),
                          "cpu": round(time.process_time() - cpu_started, 2)}
                record.update({k: v / n for k, v in running.items()})
                record["lr"] = next(iter(self.optimizers.values())).param_groups[0]["lr"]
                running = {}
                self.last_metrics = record
                self.log(record)
                if bar is not None:
                    bar.set_postfix({k: f"{v:.4g}" for k, v in record.items() if k in ("loss", "lr")})
            if self.step % cfg.val_every == 0 or self.step == cfg.steps:
                metrics = self.validate()
                if metrics:
                    self.last_metrics = {**self.last_metrics, **metrics}
                    self.log({"step": self.step, **metrics})
                    if bar is not None:
                        bar.write(f"step {self.step}: " + ", ".join(f"{k} {v:.4g}" for k, v in metrics.items()))
                    self.best_val = min(self.best_val, metrics.get("val_loss", math.inf))
            if self.step % cfg.save_every == 0 or self.step == cfg.steps:
                self.save_state()
            if cfg.snapshot_every and self.step % cfg.snapshot_every == 0 and self.is_main:
                self.task.save_snapshot(self.run_dir / SNAPSHOTS / f"step_{self.step:06d}", {
                    "step": self.step, "seconds": round(wall_before + time.time() - started, 6),
                    "cpu_seconds": round(cpu_before + time.process_time() - cpu_started, 6)})
            if bar is not None:
                bar.update(1)
        if bar is not None:
            bar.close()
        if self.world > 1:
            dist.barrier()
        return self.last_metrics


def logged_seconds(run_dir: str | Path, key: str = "time") -> float:
    """Wall-clock seconds a run has trained, from its ``log.jsonl``: each process's ``time`` counts from its own
    start, so the run's total is the sum of every stretch's last value. ``key="cpu"``: its CPU seconds (logs
    from before the loop recorded them count nothing)."""
    log = Path(run_dir) / LOG_FILE
    total, last = 0.0, 0.0
    if log.exists():
        for line in log.read_text(encoding="utf-8").splitlines():
            t = json.loads(line).get(key)
            if t is None:
                continue
            if t < last:  # a resumed process started its clock again
                total += last
            last = t
    return total + last


def precision_text(cfg: TrainConfig, measured: str | None = None, trained_on: str | None = None) -> str:
    """The sentence a model card gives on the precision its recipe trains in (``measured``: the evidence for
    the CPU choice, as the recipe records it). ``trained_on``: the run's device as the card names it
    (``"cpu (2 threads)"``); a CPU run of a bf16 recipe on a CPU without bf16 says it ran float32."""
    cpu = "bf16 autocast on the CPU (float32 master weights)" if cfg.cpu_bf16 else "float32 on the CPU"
    text = f"Precision: {cpu}, {'bf16 autocast' if cfg.amp else 'float32'} on CUDA"
    text += f" ({measured})." if measured else "."
    if cfg.cpu_bf16 and (trained_on or "").startswith("cpu") and not device_module.cpu_has_bf16():
        text += (" This run trained in float32: its CPU has no bf16, where bf16 autocast falls back to float32"
                 " (`engine.core.device.cpu_has_bf16`).")
    return text


def train_config_from_args(cfg: TrainConfig, overrides: dict[str, Any]) -> TrainConfig:
    """``cfg`` with the non-None CLI overrides applied (e.g. ``--steps``, ``--batch-size``)."""
    values = {k: v for k, v in overrides.items() if v is not None and k in {f.name for f in dataclasses.fields(cfg)}}
    return dataclasses.replace(cfg, **values)


def get_recipe(recipes: dict[str, T], name: str, what: str) -> T:
    """The recipe ``name`` of a training module's ``RECIPES`` (every module names its recipes so).

    what : the kind of model, for the error message (e.g. "melody")
    """
    if name not in recipes:
        raise LatentLabError(f"unknown {what} recipe {name!r}: choose one of {', '.join(recipes)}")
    return recipes[name]


def stored_model_config(cls: type, run_dir: str | Path | None) -> Any | None:
    """The model config a run in ``run_dir`` started with (``MODEL_CONFIG`` beside its state), or None for a new
    run: a run resumes with the shape it started with."""
    stored = Path(run_dir) / MODEL_CONFIG if run_dir is not None else None
    if stored is None or not stored.exists():
        return None
    return config_from_dict(cls, json.loads(stored.read_text(encoding="utf-8")), source=str(stored))


def store_model_config(run_dir: str | Path, config: Any) -> None:
    """Keep ``config`` (a dataclass) beside the run's state, for :func:`stored_model_config` on its resumes."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / MODEL_CONFIG).write_text(json.dumps(config_to_dict(config), indent=1) + "\n", encoding="utf-8")
