"""The vocoder interface every vocoder implements (Griffin-Lim, MelGAN, HiFi-GAN, WaveGlow, ...).

A vocoder turns the one standard log-mel (:class:`engine.core.mel.MelConfig` defaults: 22,050 Hz, hop 256,
80 mels, natural log clamped at 1e-5) into audio. Each lives in ``engine/models/vocoders/<name>.py``::

    @dataclass
    class MelGANConfig:                 # the shape, stored as config.json beside the weights
        channels: int = 32
        ...

    class MelGAN(Vocoder):
        name = "melgan"                 # the registry name (engine.ops.vocode.VOCODERS)
        Config = MelGANConfig

        def __init__(self, config: MelGANConfig): ...
        def infer(self, mel, **options):  # Tensor[B x 80 x frames] -> Tensor[B x frames * 256]
            ...

Loading and saving go through the shared checkpoint helpers (:meth:`Vocoder.from_checkpoint`,
:meth:`Vocoder.save`): ``checkpoints/<name>/`` holds model.safetensors, config.json (kind "vocoder",
arch = ``name``) and card.md. A vocoder's training is a
:class:`engine.train.vocode.VocoderTask` (a :class:`engine.train.TrainTask`) registered in
``engine.train.vocode.TRAIN_TASKS``; ``latentlab train vocode
NAME`` builds it with :meth:`VocoderTask.create`, feeds it batches of :class:`engine.data.vocode.
VocoderSegments` (``{"audio": Tensor[B x T], "mel": Tensor[B x 80 x T // 256]}``) through the shared
:class:`engine.train.Trainer`, and saves ``task.vocoder`` with :meth:`Vocoder.save`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from ...core.checkpoint import load_checkpoint, save_checkpoint
from ...core.errors import LatentLabError
from ...core.mel import MelConfig
from ...nn.flows import gaussian_nll

MEL = MelConfig()  # the standard mel every vocoder takes
HOP = MEL.hop_length  # output samples per mel frame (256)
N_MELS = MEL.n_mels  # mel channels (80)
SAMPLE_RATE = MEL.sample_rate  # 22,050 Hz


class Vocoder(nn.Module):
    """Base class of every vocoder: log-mel ``[B x 80 x frames]`` -> audio ``[B x frames * 256]``.

    Subclasses set ``name`` and ``Config`` and implement ``__init__(config)`` and :meth:`infer`.
    ``needs_checkpoint = False`` marks a vocoder without weights (Griffin-Lim).
    """

    name: ClassVar[str] = ""
    Config: ClassVar[type] = object
    needs_checkpoint: ClassVar[bool] = True
    hop_length: ClassVar[int] = HOP

    def __init__(self, config: Any):
        super().__init__()
        self.config = config

    def infer(self, mel: Tensor, **options: Any) -> Tensor:
        """Synthesize audio.

        Parameters
        ----------
        mel : Tensor[B x 80 x frames], natural-log magnitude mel (the standard MelConfig)
        options : vocoder-specific settings (e.g. Griffin-Lim ``n_iter``, WaveGlow ``sigma``)

        Returns
        -------
        audio : Tensor[B x frames * 256], float in [-1, 1]
        """
        raise NotImplementedError

    def options(self) -> dict[str, Any]:
        """The inference options this vocoder accepts, with their defaults (shown by the CLI / app)."""
        return {}

    def prepare_for_inference(self) -> "Vocoder":
        """Fold training-only structure away (e.g. weight norm) after loading; returns self in eval mode."""
        return self.eval()

    @property
    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    # -- checkpoints ---------------------------------------------------------------------------
    @classmethod
    def from_checkpoint(cls, name_or_path: str | Path, device: torch.device | str = "cpu") -> "Vocoder":
        """Load ``checkpoints/<name>/`` (or a checkpoint directory) into a ready-to-run vocoder."""
        ckpt = load_checkpoint(name_or_path, device="cpu")
        if ckpt.kind != "vocoder" or ckpt.arch != cls.name:
            raise LatentLabError(
                f"{ckpt.path} holds a {ckpt.kind} model of architecture {ckpt.arch!r}, not the {cls.name} vocoder"
            )
        model = cls(ckpt.build_config(cls.Config))
        ckpt.load_into(model)
        model.checkpoint_extra = ckpt.extra
        return model.prepare_for_inference().to(device)

    def save(self, directory: str | Path, card: str | None = None, extra: dict[str, Any] | None = None) -> Path:
        """Write this vocoder as a checkpoint directory (model.safetensors + config.json [+ card.md])."""
        return save_checkpoint(
            directory, kind="vocoder", arch=self.name, config=self.config, tensors=self.state_dict(),
            extra=extra, card=card,
        )


class FlowVocoder(Vocoder):
    """A normalising-flow vocoder (WaveGlow, FloWaveNet): exactly invertible given the mel.

    Subclasses implement ``forward(audio, mel) -> (z, logdet)`` and ``reverse(z, mel) -> audio`` and set
    ``latent_channels``, the channel count of the latent ``z : Tensor[B x latent_channels x T / latent_channels]``.
    Their configs carry ``sigma`` (the prior's standard deviation in training) and ``infer_sigma`` (the
    default sampling temperature).
    """

    latent_channels: int = 1

    def reverse(self, z: Tensor, mel: Tensor) -> Tensor:
        raise NotImplementedError

    def nll(self, audio: Tensor, mel: Tensor) -> Tensor:
        """Negative log-likelihood in nats per sample (the training loss). audio : Tensor[B x T]"""
        z, logdet = self(audio, mel)
        return gaussian_nll(z, logdet, self.config.sigma)

    def options(self) -> dict[str, Any]:
        return {"sigma": self.config.infer_sigma, "seed": 0}

    @torch.no_grad()
    def infer(self, mel: Tensor, sigma: float | None = None, seed: int = 0) -> Tensor:
        """mel : Tensor[B x 80 x frames] -> audio : Tensor[B x frames * 256]; sigma : the noise's temperature"""
        sigma = self.config.infer_sigma if sigma is None else float(sigma)
        if sigma < 0:
            raise LatentLabError(f"sigma must be >= 0, got {sigma}")
        b, _, frames = mel.shape
        c = self.latent_channels
        g = torch.Generator().manual_seed(int(seed))
        z = torch.randn(b, c, frames * HOP // c, generator=g).to(mel.device)
        return self.reverse(sigma * z, mel).clamp(-1.0, 1.0)
