"""A tiny regression task for the training-loop tests (also run under torchrun by the DDP test), and run logs."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch
from torch.utils.data import TensorDataset

from engine.train import TrainConfig, Trainer, TrainTask
from engine.train.loop import LOG_FILE


class Regression(TrainTask):
    def training_step(self, model, batch, step):
        x, y = batch
        return {"loss": torch.nn.functional.mse_loss(model(x), y)}


def make_data(n: int = 64) -> tuple[TensorDataset, TensorDataset]:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, 4, generator=g)
    y = x @ torch.tensor([[1.0], [-2.0], [0.5], [3.0]]) + 0.1
    return TensorDataset(x[: n - 16], y[: n - 16]), TensorDataset(x[n - 16 :], y[n - 16 :])


def make_trainer(run_dir, steps: int, save_every: int = 5) -> Trainer:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 16), torch.nn.Tanh(), torch.nn.Linear(16, 1))
    train, val = make_data()
    cfg = TrainConfig(steps=steps, batch_size=8, lr=1e-2, lr_decay=0.99, log_every=5, val_every=5,
                      save_every=save_every, seed=3)
    return Trainer(Regression(model), train, val, cfg, run_dir, progress=False)


def read_log(run_dir: Path) -> list[dict]:
    """Every record of a run's log.jsonl, in order."""
    return [json.loads(line) for line in (Path(run_dir) / LOG_FILE).read_text().splitlines()]


def read_losses(run_dir: Path, key: str = "loss") -> list[float]:
    """The logged values of ``key`` in a run's log.jsonl, in order."""
    return [r[key] for r in read_log(run_dir) if key in r]


if __name__ == "__main__":  # torchrun --nproc_per_node 2 tests/helpers/train.py RUN_DIR
    trainer = make_trainer(sys.argv[1], steps=10)
    metrics = trainer.fit()
    if trainer.is_main:
        print("FINAL", metrics["val_loss"])
