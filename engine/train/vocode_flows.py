"""Training recipes of the flow vocoders: WaveGlow and FloWaveNet, both by exact maximum likelihood.

``latentlab train vocode waveglow`` / ``latentlab train vocode flowavenet``; the loss is the negative
log-likelihood of the audio in nats per sample (negative values are normal: audio is a density on [-1, 1]).
"""

from __future__ import annotations

import torch
from torch import nn

from ..models.vocoders.flowavenet import FloWaveNet, FloWaveNetConfig
from ..models.vocoders.waveglow import WaveGlow, WaveGlowConfig
from ..nn.flows import gaussian_nll
from .loop import TrainConfig
from .vocode import VocoderTask


RECIPES = {  # each vocoder's optimisation settings (the task classes below hold the rest)
    "waveglow": TrainConfig(steps=20_000, batch_size=4, lr=5e-4, lr_decay=0.9999, lr_min=5e-5, log_every=50,
                            val_every=1000, val_batches=16, save_every=250, snapshot_every=500),
    "flowavenet": TrainConfig(steps=20_000, batch_size=4, lr=5e-4, lr_decay=0.9999, lr_min=5e-5, log_every=50,
                              val_every=1000, val_batches=16, save_every=250, snapshot_every=500),
}

# The measurement behind each recipe's cpu_bf16 (`latentlab bench train waveglow flowavenet --baseline`, one
# thread, and engine.bench.train.compare_losses); the cards state it. Both stay float32.
PRECISION = {
    "waveglow": "float32 kept: bf16 autocast 0.65 vs 0.70 s a step, within the noise of a shared machine, and the "
                "flow's log-determinants are the part most sensitive to precision",
    "flowavenet": "float32 kept: bf16 autocast measured slower, 2.3 vs 1.2 s a step, one thread",
}


class _FlowTask(VocoderTask):
    """Shared by both flows: the loss is ``vocoder.nll`` through the (possibly DDP-wrapped) model's forward."""

    def training_step(self, model: nn.Module, batch: dict[str, torch.Tensor], step: int) -> dict[str, torch.Tensor]:
        z, logdet = model(batch["audio"], batch["mel"])
        return {"loss": gaussian_nll(z.float(), logdet.float(), self.vocoder.config.sigma)}


class WaveGlowTask(_FlowTask):
    segment = 8192

    @classmethod
    def create(cls, config: WaveGlowConfig | None = None) -> "WaveGlowTask":
        vocoder = WaveGlow(config or WaveGlowConfig())
        return cls(vocoder, vocoder)


class FloWaveNetTask(_FlowTask):
    segment = 8192

    @classmethod
    def create(cls, config: FloWaveNetConfig | None = None) -> "FloWaveNetTask":
        vocoder = FloWaveNet(config or FloWaveNetConfig())
        return cls(vocoder, vocoder)
