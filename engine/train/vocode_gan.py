"""Training recipes of the GAN vocoders: MelGAN and HiFi-GAN through the shared loop.

Both train the generator with a reconstruction loss from the first step -- the multi-resolution STFT
loss plus the mel L1 -- and switch the adversarial game on at ``adv_start`` (reconstruction first is what
lets a CPU-trained vocoder beat Griffin-Lim early; the discriminators then remove the metallic buzz).

- MelGAN: 3-scale discriminator, hinge loss, feature matching x 10, Adam 1e-4 betas (0.5, 0.9).
- HiFi-GAN: multi-period (2, 3, 5, 7, 11) + multi-scale discriminators, least-squares loss, feature
  matching x 2, mel L1 x 45, AdamW 2e-4 betas (0.8, 0.99); MR-STFT x 15 (from step 1,500 of the shipped run;
  x 1 before), so that the two reconstruction terms weigh about the same.

Before ``adv_start`` the generator learns at ``recon_lr`` (5e-4); after, at the papers' rates.
Generator loss: ``stft_weight * MR-STFT + mel_weight * mel L1 [+ adv_weight * adversarial + fm_weight * FM]``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, ClassVar

import torch
from torch import Tensor, nn

from ..core.device import bf16_autocast
from ..core.errors import LatentLabError
from ..models.vocoders.base import Vocoder
from ..models.vocoders.hifigan import HiFiGAN, HiFiGANConfig
from ..models.vocoders.melgan import MelGAN, MelGANConfig
from ..nn.discriminators import Discriminators, MultiPeriodDiscriminator, MultiScaleDiscriminator
from ..nn.losses import (
    MultiResolutionSTFTLoss,
    feature_matching,
    hinge_d_loss,
    hinge_g_loss,
    lsgan_d_loss,
    lsgan_g_loss,
    mel_l1,
)
from .loop import TrainConfig
from .vocode import VocoderTask


RECIPES = {  # each vocoder's optimisation settings (the task classes below hold the rest); cpu_bf16: PRECISION
    "melgan": TrainConfig(steps=8_000, batch_size=4, lr=1e-4, betas=(0.5, 0.9), grad_clip=10.0, log_every=50,
                          val_every=500, val_batches=16, save_every=250, amp=False, cpu_bf16=True),
    "hifigan": TrainConfig(steps=8_000, batch_size=4, lr=2e-4, betas=(0.8, 0.99), lr_decay=0.99999,
                           weight_decay=0.01, grad_clip=10.0, log_every=50, val_every=500, val_batches=16,
                           save_every=250, amp=False, cpu_bf16=True),
}

# The measurement behind each recipe's cpu_bf16 (`latentlab bench train NAME NAME:adv --baseline`, one thread,
# and engine.bench.train.compare_losses: the same seed and batches in float32 and bf16); the cards state it.
PRECISION = {
    "melgan": "bf16 autocast chosen: 0.209 vs 0.250 s a step float32 before the discriminators join, one thread "
              "(0.88 vs 0.91 after); loss after 200 steps 2.590 vs 2.584 float32, same seed and batches",
    "hifigan": "bf16 autocast chosen: 0.229 vs 0.300 s a step float32 before the discriminators join, 1.13 vs 1.27 "
               "after, one thread; loss after 200 reconstruction steps 61.7 vs 60.9 float32 (+1.3%), after 60 "
               "adversarial steps 73.6 vs 73.9 (-0.4%), same seed and batches",
}


@dataclass(frozen=True)
class GANWeights:
    """Loss weights, the step at which the discriminators join, and the generator's learning rate before
    then (reconstruction alone tolerates a higher rate than the adversarial game; None: the recipe's)."""

    stft: float
    mel: float
    adversarial: float
    feature_matching: float
    adv_start: int
    recon_lr: float | None = None


class GANPair(nn.Module):
    """Generator and discriminator in one module, so the loop's state (and DDP) covers both.

    forward("generate", mel Tensor[B x 80 x N]) -> audio Tensor[B x N*256];
    forward("discriminate", audio Tensor[B x T]) -> (scores, features), float32.

    ``discriminator_bf16``: the discriminators alone under bf16 autocast where the device has it (a recipe
    whose generator and losses stay float32 while the discriminators, most of an adversarial step, do not).
    """

    def __init__(self, generator: Vocoder, discriminator: nn.Module):
        super().__init__()
        self.generator, self.discriminator = generator, discriminator
        self.discriminator_bf16 = False

    def forward(self, mode: str, x: Tensor) -> Any:
        if mode == "generate":
            return self.generator(x)
        if not self.discriminator_bf16:
            return self.discriminator(x.unsqueeze(1))
        with bf16_autocast(x.device, True):
            scores, features = self.discriminator(x.unsqueeze(1))
        return [s.float() for s in scores], [[f.float() for f in group] for group in features]


class GANVocoderTask(VocoderTask):
    """Reconstruction losses from step 0, then alternate discriminator / generator updates."""

    manual_optimization = True
    weights: ClassVar[GANWeights]
    d_loss: ClassVar[Callable]
    g_loss: ClassVar[Callable]

    def __init__(self, generator: Vocoder, discriminator: nn.Module):
        super().__init__(GANPair(generator, discriminator), generator)
        self.stft_loss = MultiResolutionSTFTLoss()

    def _optimizer(self, params, cfg: TrainConfig) -> torch.optim.Optimizer:
        return torch.optim.Adam(params, lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay)

    def optimizers(self, cfg: TrainConfig) -> dict[str, torch.optim.Optimizer]:
        if self.trainer is not None and self.trainer.world > 1:
            # Alternating G / D updates call the wrapped model several times per backward, which plain DDP
            # does not support; one process it is.
            raise LatentLabError("the GAN vocoders train in one process: run `latentlab train vocode` without torchrun")
        return {"g": self._optimizer(self.model.generator.parameters(), cfg),
                "d": self._optimizer(self.model.discriminator.parameters(), cfg)}

    def reconstruction(self, fake: Tensor, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        stft, sc, mag = self.stft_loss(fake, batch["audio"])
        return {"stft": stft, "sc": sc, "mag": mag, "mel_l1": mel_l1(fake, y_mel=batch["mel"])}

    def _d_requires_grad(self, flag: bool) -> None:
        for p in self.model.discriminator.parameters():
            p.requires_grad_(flag)

    def _set_generator_lr(self, step: int) -> None:
        """The loop scales each group's ``initial_lr`` by the decay; pick it by phase."""
        w, cfg = self.weights, self.trainer.cfg
        base = w.recon_lr if (w.recon_lr is not None and step < w.adv_start) else cfg.lr
        for group in self.trainer.optimizers["g"].param_groups:
            group["initial_lr"] = base

    def training_step(self, model: nn.Module, batch: dict[str, Tensor], step: int) -> dict[str, Tensor]:
        w = self.weights
        self._set_generator_lr(step)
        real = batch["audio"]
        fake = model("generate", batch["mel"])
        out: dict[str, Tensor] = {}
        adversarial = step >= w.adv_start
        if adversarial:
            self._d_requires_grad(True)
            real_scores, _ = model("discriminate", real)
            fake_scores, _ = model("discriminate", fake.detach())
            d_loss = type(self).d_loss(real_scores, fake_scores)
            self.trainer.optimize("d", d_loss)
            out["d_loss"] = d_loss.detach()
        out.update(self.reconstruction(fake, batch))
        g_loss = w.stft * out["stft"] + w.mel * out["mel_l1"]
        if "aux" in out:  # a recipe's own extra reconstruction terms, already weighted (Vocos: phase losses)
            g_loss = g_loss + out["aux"]
        if adversarial:
            self._d_requires_grad(False)
            with torch.no_grad():
                _, real_features = model("discriminate", real)
            fake_scores, fake_features = model("discriminate", fake)
            out["g_adv"] = type(self).g_loss(fake_scores)
            out["fm"] = feature_matching(real_features, fake_features)
            g_loss = g_loss + w.adversarial * out["g_adv"] + w.feature_matching * out["fm"]
        self.trainer.optimize("g", g_loss)
        self._d_requires_grad(True)
        out["loss"] = g_loss.detach()
        return {k: v.detach() for k, v in out.items()}

    @torch.no_grad()
    def validation_step(self, model: nn.Module, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        """MR-STFT distance (``val_loss``) and mel L1 of the generator on validation segments."""
        fake = self.model.generator(batch["mel"])
        rec = self.reconstruction(fake, batch)
        return {"loss": rec["stft"], "mel_l1": rec["mel_l1"]}


class MelGANTask(GANVocoderTask):
    """MelGAN: the default generator (4 bands, channels 48) against a narrow 3-scale discriminator."""

    segment = 8192
    weights = GANWeights(stft=1.0, mel=1.0, adversarial=1.0, feature_matching=10.0, adv_start=4_000, recon_lr=5e-4)
    d_loss = staticmethod(hinge_d_loss)
    g_loss = staticmethod(hinge_g_loss)
    discriminator_channels = 16  # first layer width (paper 16), capped at 256 (paper 1024) for CPU training

    @classmethod
    def create(cls, config: MelGANConfig | None = None) -> "MelGANTask":
        d = MultiScaleDiscriminator(scales=3, channels=cls.discriminator_channels, max_channels=256)
        return cls(MelGAN(config or MelGANConfig()), d)


class HiFiGANTask(GANVocoderTask):
    """HiFi-GAN: a V3-like generator (channels 128) against narrow MPD + MSD."""

    segment = 8192
    weights = GANWeights(stft=15.0, mel=45.0, adversarial=1.0, feature_matching=2.0, adv_start=4_000, recon_lr=5e-4)
    d_loss = staticmethod(lsgan_d_loss)
    g_loss = staticmethod(lsgan_g_loss)
    period_channels = (16, 32, 64, 128)  # paper (32, 128, 512, 1024)
    scale_channels = 16  # paper 128 (first layer), capped at 256 (paper 1024)

    def _optimizer(self, params, cfg: TrainConfig) -> torch.optim.Optimizer:
        return torch.optim.AdamW(params, lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay)

    @classmethod
    def create(cls, config: HiFiGANConfig | None = None) -> "HiFiGANTask":
        d = Discriminators(
            MultiPeriodDiscriminator((2, 3, 5, 7, 11), cls.period_channels),
            MultiScaleDiscriminator(scales=3, first_norm="spectral", channels=cls.scale_channels, max_channels=256,
                                    slope=0.1),
        )
        return cls(HiFiGAN(config or HiFiGANConfig()), d)
