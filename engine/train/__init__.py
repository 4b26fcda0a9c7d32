"""The one training loop every model shares."""

from .loop import TrainConfig, Trainer, TrainTask

__all__ = ["TrainConfig", "Trainer", "TrainTask"]
