"""Training recipes of the WaveNet vocoder and of Parallel WaveNet (its distilled student).

``latentlab train vocode wavenet`` then ``latentlab train vocode parallel_wavenet`` (the student needs
the trained teacher in ``checkpoints/wavenet``). Both run through the shared :class:`engine.train.Trainer`.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..core.errors import LatentLabError
from ..models.vocoders.parallel_wavenet import ParallelWaveNet, ParallelWaveNetConfig, distillation_losses
from ..models.vocoders.wavenet_vocoder import WaveNetVocoder, WaveNetVocoderConfig
from .loop import TrainConfig
from .vocode import VocoderTask


RECIPES = {  # each vocoder's optimisation settings (the task classes below hold the rest); cpu_bf16: PRECISION
    "wavenet": TrainConfig(steps=20_000, batch_size=4, lr=1e-3, lr_decay=0.99995, lr_min=1e-4, log_every=50,
                           val_every=1000, val_batches=16, save_every=250, snapshot_every=500, cpu_bf16=True),
    "parallel_wavenet": TrainConfig(steps=10_000, batch_size=4, lr=5e-4, lr_decay=0.9999, lr_min=5e-5, log_every=50,
                                    val_every=500, val_batches=16, save_every=250, snapshot_every=500),
}

# The measurement behind each recipe's cpu_bf16 (`latentlab bench train wavenet --baseline`, one thread, and
# engine.bench.train.compare_losses: the same seed and batches in float32 and bf16); the cards state it.
PRECISION = {
    "wavenet": "bf16 autocast chosen: 0.99 vs 1.19 s a step float32, one thread; loss after 100 steps 9.11 vs 9.42 "
               "float32, same seed and batches",
    "parallel_wavenet": "float32: not measured (it needs a trained WaveNet teacher)",
}


class WaveNetVocoderTask(VocoderTask):
    """Teacher-forced maximum likelihood: the discretised logistic-mixture (or mu-law) NLL per sample."""

    segment = 4096

    @classmethod
    def create(cls, config: WaveNetVocoderConfig | None = None) -> "WaveNetVocoderTask":
        vocoder = WaveNetVocoder(config or WaveNetVocoderConfig())
        return cls(vocoder, vocoder)

    def training_step(self, model: nn.Module, batch: dict[str, torch.Tensor], step: int) -> dict[str, torch.Tensor]:
        outputs = model(batch["audio"], batch["mel"])
        return {"loss": self.vocoder.nll(outputs.float(), batch["audio"])}


class _Distillation(nn.Module):
    """The student (trained) and its frozen teacher, so the loop's forward runs both."""

    def __init__(self, student: ParallelWaveNet, teacher: WaveNetVocoder):
        super().__init__()
        self.student = student
        self.teacher = teacher
        teacher.requires_grad_(False)

    def train(self, mode: bool = True) -> "_Distillation":
        super().train(mode)
        self.teacher.eval()  # the teacher never trains (no dropout, fixed statistics)
        return self

    def forward(self, audio: torch.Tensor, mel: torch.Tensor) -> dict[str, torch.Tensor]:
        return distillation_losses(self.student, self.teacher, audio, mel)


class ParallelWaveNetTask(VocoderTask):
    """Probability density distillation from the WaveNet vocoder plus a multi-resolution STFT loss.

    The teacher's weights are saved in the run's resumable state (they are part of the model) but not
    in the shipped student checkpoint.
    """

    segment = 4096

    @classmethod
    def create(cls, config: ParallelWaveNetConfig | None = None) -> "ParallelWaveNetTask":
        config = config or ParallelWaveNetConfig()
        try:
            teacher = WaveNetVocoder.from_checkpoint(config.teacher)
        except LatentLabError as e:
            raise LatentLabError(
                f"Parallel WaveNet distils the WaveNet vocoder, which could not be loaded ({e}); "
                "train it first with `latentlab train vocode wavenet`"
            ) from e
        if not teacher.mixture:
            raise LatentLabError("Parallel WaveNet needs a logistic-mixture WaveNet teacher, not a mu-law softmax one")
        student = ParallelWaveNet(config)
        same = (config.upsample_factors, config.cond_channels) == (teacher.config.upsample_factors, teacher.config.cond_channels)
        if same:  # start from the teacher's conditioning network
            student.conditioner.load_state_dict(teacher.conditioner.state_dict())
        return cls(_Distillation(student, teacher), student)

    def optimizers(self, cfg: TrainConfig) -> dict[str, torch.optim.Optimizer]:
        params = list(self.vocoder.parameters())
        return {"main": torch.optim.Adam(params, lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay)}

    def training_step(self, model: nn.Module, batch: dict[str, Any], step: int) -> dict[str, torch.Tensor]:
        return model(batch["audio"], batch["mel"])
