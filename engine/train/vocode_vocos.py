"""Training recipe of Vocos through the shared loop: reconstruction first, then the adversarial game.

- Generator loss: ``45 x mel L1 + 15 x MR-STFT`` from step 0 (the mel term of Vocos and HiFi-GAN; the
  multi-resolution STFT term, at the weight that makes it count about as much, is what makes neighbouring
  frames' phases agree: an inverse STFT of inconsistent phases loses energy at the 2048-point resolution).
  The training MR-STFT uses Hann windows of 512 / 1024 / 2048 at 75% overlap (``TRAIN_RESOLUTIONS``): 2.5x
  cheaper than the metric's 90%-overlap setting (FFT 1024/2048/512, hop 120/240/50), which validation keeps.
- From ``adv_start``: HiFi-GAN's multi-period (2, 3, 5, 7, 11) + multi-scale discriminators (narrow, as
  the HiFi-GAN recipe), least-squares loss, feature matching x 2.
- AdamW, betas (0.8, 0.9), weight decay 0.01 (Vocos); 2e-3 for the reconstruction phase, 5e-4 after, both
  decaying x 0.99997 a step. 2e-3 against 1e-3 at 1,000 steps of batch 8: validation MR-STFT 1.257 vs 1.315,
  music MR-STFT 1.351 vs 1.416, STOI 0.931 vs 0.927, PESQ 2.13 vs 2.15 (8 bench clips).
- The backbone runs under bfloat16 autocast on the CPU (float32 master weights; the head's exponent,
  the inverse STFT and every loss in float32): measured with ``python -m engine.bench.vocos``. So do the
  discriminators in the adversarial phase (``GANPair.discriminator_bf16``; their scores and features come
  back float32): 1.46 vs 2.25 s a step at batch 8 x 16,384 on 2 threads, the same losses (``PRECISION``).
- Batches of 8 segments of 16,384 samples (64 frames; the paper: 16). Measured on this corpus, 1,000 steps of 8
  beat 500 of 16 (the same audio, the same compute): validation MR-STFT 1.315 vs 1.532, PESQ 2.17 vs 2.10.
  The magnitude prior (``VocosConfig.mag_prior``) was worth far more: training loss 36 vs 97 at step 100.
- ``phase_weight``: APNet's anti-wrapping phase losses on the head's phase (off: at 1,000 steps of batch 8
  weight 5 measured the same as none, PESQ 2.14 vs 2.15 and music MR-STFT 1.420 vs 1.416 on the bench clips).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..models.vocoders.vocos import Vocos, VocosConfig
from ..nn.discriminators import Discriminators, MultiPeriodDiscriminator, MultiScaleDiscriminator
from ..nn.losses import MultiResolutionSTFTLoss, lsgan_d_loss, lsgan_g_loss, mel_l1
from ..nn.spectral import phase_losses, stft
from .loop import TrainConfig
from .vocode_gan import GANVocoderTask, GANWeights, HiFiGANTask

RECIPES = {  # the optimisation settings (the task class below holds the rest)
    "vocos": TrainConfig(steps=200_000, batch_size=8, lr=5e-4, betas=(0.8, 0.9), weight_decay=0.01,
                         lr_decay=0.99997, grad_clip=10.0, log_every=50, val_every=500, val_batches=8,
                         save_every=250, amp=False),
}
# The measurement behind the backbone's bf16 (its own autocast, Vocos.bf16; the trainer's cpu_bf16 stays off so
# the head, the inverse STFT, the losses and the discriminators stay float32); the card states it.
PRECISION = {"vocos": "the ConvNeXt backbone alone under bf16 autocast: 0.36 vs 0.58 s a step float32 at batch 8 x "
                      "16,384, one thread (`latentlab bench train vocos --baseline`); in the adversarial phase the "
                      "discriminators too: 1.46 vs 2.25 s a step with them in float32, 2 threads, generator loss "
                      "after 40 steps 65.67 vs 65.74, same seed and batches"}
# (n_fft, hop, window) of the training MR-STFT: Hann windows at 75% overlap
TRAIN_RESOLUTIONS: tuple[tuple[int, int, int], ...] = ((512, 128, 512), (1024, 256, 1024), (2048, 512, 2048))


class VocosTask(GANVocoderTask):
    """Vocos: the ConvNeXt + inverse-STFT generator against HiFi-GAN's narrow MPD + MSD."""

    segment = 16384
    weights = GANWeights(stft=15.0, mel=45.0, adversarial=1.0, feature_matching=2.0, adv_start=40_000, recon_lr=2e-3)
    d_loss = staticmethod(lsgan_d_loss)
    g_loss = staticmethod(lsgan_g_loss)

    phase_weight = 0.0  # weight of APNet's anti-wrapping phase losses (instantaneous phase, group delay,
    # instantaneous frequency) between the head's phase and the target's STFT phase; 0: off

    def __init__(self, generator: Vocos, discriminator: nn.Module):
        super().__init__(generator, discriminator)
        self.stft_loss = MultiResolutionSTFTLoss(TRAIN_RESOLUTIONS)
        self.metric_stft = MultiResolutionSTFTLoss()  # the bench's MR-STFT, for validation

    def reconstruction(self, fake: Tensor, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        out = super().reconstruction(fake, batch)
        phase = self.vocoder.last_phase
        if self.phase_weight > 0 and phase is not None and self.vocoder.training:
            target = torch.angle(stft(batch["audio"], self.vocoder.config.n_fft))
            out["ip"], out["gd"], out["iaf"] = phase_losses(phase, target)
            out["aux"] = self.phase_weight * (out["ip"] + out["gd"] + out["iaf"])
        return out

    @torch.no_grad()
    def validation_step(self, model: nn.Module, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        """The bench's MR-STFT distance (``val_loss``) and mel L1 of the generator on validation segments."""
        fake = self.model.generator(batch["mel"])
        return {"loss": self.metric_stft(fake, batch["audio"])[0], "mel_l1": mel_l1(fake, y_mel=batch["mel"])}

    def _optimizer(self, params, cfg: TrainConfig) -> torch.optim.Optimizer:
        return torch.optim.AdamW(params, lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay)

    @classmethod
    def create(cls, config: VocosConfig | None = None) -> "VocosTask":
        d = Discriminators(
            MultiPeriodDiscriminator((2, 3, 5, 7, 11), HiFiGANTask.period_channels),
            MultiScaleDiscriminator(scales=3, first_norm="spectral", channels=HiFiGANTask.scale_channels,
                                    max_channels=256, slope=0.1),
        )
        vocoder = Vocos(config or VocosConfig())
        vocoder.bf16 = True  # the backbone in bfloat16 while training (float32 weights, head and losses)
        task = cls(vocoder, d)
        task.model.discriminator_bf16 = True  # and the discriminators (float32 weights, scores and losses)
        return task
