"""The universal music translation network (Mor et al. 2018) over mel frames instead of samples.

The paper's parts, at the project's log-mel frame rate (22,050 Hz, hop 256: 86 frames a second, 80 mels):

encoder     log-mel ``[B x 80 x N]`` of any instrument -> ConvNeXt blocks -> a latent ``[B x latent x N // pool]``
            (average-pooled over ``pool`` frames); trained on pitch-shifted inputs (the data's augmentation)
classifier  3 x 1x1 conv + ELU (the paper's domain-confusion network) names the instrument from the latent;
            it reaches the encoder through a gradient-reversal layer, so the encoder learns to fool it
            (the classifier's loss enters the encoder's with weight ``-confusion_weight``)
decoders    one per domain: the latent, repeated back to frame rate -> ConvNeXt blocks -> the log-mel of that
            instrument; a vocoder (:mod:`engine.ops.vocode`) turns the frames into audio

Translating = encode the clip's mel, decode it with the target's decoder, vocode. Adding an instrument =
one more decoder trained against the frozen encoder (:meth:`FrameTranslator.add_domain`). Everything runs at
frame rate, so a 10 s clip is a few hundred frames for every part.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..core.errors import LatentLabError
from ..nn.convnext import ConvNeXtBackbone

LOG_FLOOR = -11.5129  # log(1e-5): the mel's clamp


@dataclass
class FrameTranslatorConfig:
    """The shape of a frame translator; stored next to its weights."""

    domains: tuple[str, ...] = ("piano", "violin", "cello", "flute", "trumpet", "guitar", "clarinet", "organ")
    sample_rate: int = 22_050  # the mel's (engine.core.mel.MelConfig defaults)
    n_mels: int = 80
    mel_mean: float = -5.0  # fixed input / output scaling of the log-mel
    mel_std: float = 2.5
    channels: int = 96  # ConvNeXt width of the encoder and of each decoder (sized for 35 CPU-minutes)
    intermediate: int = 192
    kernel: int = 7
    encoder_layers: int = 4
    latent_channels: int = 64
    pool: int = 2  # mel frames per latent frame (23 ms)
    classifier_channels: int = 100
    classifier_layers: int = 3
    confusion_weight: float = 1e-2  # lambda of the gradient reversal
    decoder_layers: int = 3

    def __post_init__(self) -> None:
        self.domains = tuple(self.domains)
        if not self.domains or len(set(self.domains)) != len(self.domains):
            raise LatentLabError(f"a translator needs distinct domain names, got {list(self.domains)}")
        if self.pool < 1 or self.latent_channels < 1 or self.classifier_layers < 1:
            raise LatentLabError("pool, latent_channels and classifier_layers must be at least 1")


# Size presets of the training recipe (``latentlab train translate --arch frames --size``).
SIZES = {
    "default": {},
    "tiny": dict(channels=16, intermediate=32, encoder_layers=1, latent_channels=8, classifier_channels=16,
                 decoder_layers=1),
}


def sized_config(size: str, domains: list[str] | tuple[str, ...]) -> FrameTranslatorConfig:
    """A config of the named size preset for ``domains``."""
    if size not in SIZES:
        raise LatentLabError(f"unknown translator size {size!r}: use one of {', '.join(SIZES)}")
    return FrameTranslatorConfig(domains=tuple(domains), **SIZES[size])


class _Reverse(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, weight: float) -> Tensor:
        ctx.weight = weight
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, None]:
        return -ctx.weight * grad, None


def grad_reverse(x: Tensor, weight: float) -> Tensor:
    """Identity forward; the gradient flows back multiplied by ``-weight`` (Ganin & Lempitsky 2015)."""
    return _Reverse.apply(x, weight)


class DomainClassifier(nn.Module):
    """z : Tensor[B x latent x N] -> logits Tensor[B x domains] (frame-averaged): the paper's 3 x 1x1 conv + ELU."""

    def __init__(self, latent: int, channels: int, layers: int, domains: int):
        super().__init__()
        widths = [latent] + [channels] * (layers - 1)
        body: list[nn.Module] = []
        for a, b in zip(widths[:-1], widths[1:]):
            body += [nn.Conv1d(a, b, 1), nn.ELU()]
        self.net = nn.Sequential(*body, nn.Conv1d(widths[-1], domains, 1))

    def forward(self, z: Tensor) -> Tensor:
        return self.net(z).mean(-1)


class FrameEncoder(nn.Module):
    """Scaled log-mel Tensor[B x n_mels x N] -> z Tensor[B x latent x ceil(N / pool)]."""

    def __init__(self, c: FrameTranslatorConfig):
        super().__init__()
        self.backbone = ConvNeXtBackbone(c.n_mels, c.channels, c.intermediate, c.encoder_layers, c.kernel)
        self.out = nn.Linear(c.channels, c.latent_channels)
        self.pool = c.pool

    def forward(self, x: Tensor) -> Tensor:
        z = self.out(self.backbone(x)).transpose(1, 2)
        return F.avg_pool1d(z, self.pool, ceil_mode=True) if self.pool > 1 else z


class FrameDecoder(nn.Module):
    """z Tensor[B x latent x M] -> scaled log-mel Tensor[B x n_mels x M * pool] of one instrument."""

    def __init__(self, c: FrameTranslatorConfig):
        super().__init__()
        self.backbone = ConvNeXtBackbone(c.latent_channels, c.channels, c.intermediate, c.decoder_layers, c.kernel)
        self.out = nn.Linear(c.channels, c.n_mels)
        self.pool = c.pool

    def forward(self, z: Tensor) -> Tensor:
        z = z.repeat_interleave(self.pool, dim=-1) if self.pool > 1 else z
        return self.out(self.backbone(z)).transpose(1, 2)


class FrameTranslator(nn.Module):
    """Shared encoder + domain-confusion classifier + one mel decoder per domain."""

    def __init__(self, config: FrameTranslatorConfig):
        super().__init__()
        self.config = c = config
        self.encoder = FrameEncoder(c)
        self.classifier = DomainClassifier(c.latent_channels, c.classifier_channels, c.classifier_layers, len(c.domains))
        self.decoders = nn.ModuleDict({name: FrameDecoder(c) for name in c.domains})

    @property
    def domains(self) -> tuple[str, ...]:
        return self.config.domains

    def domain_index(self, name: str) -> int:
        if name not in self.config.domains:
            raise LatentLabError(f"unknown domain {name!r}: this model plays {', '.join(self.config.domains)}")
        return self.config.domains.index(name)

    def scale(self, mel: Tensor) -> Tensor:
        """Natural-log mel -> the networks' scale."""
        return (mel - self.config.mel_mean) / self.config.mel_std

    def unscale(self, x: Tensor) -> Tensor:
        """The networks' scale -> natural-log mel, clamped at the mel's floor."""
        return (x * self.config.mel_std + self.config.mel_mean).clamp(min=LOG_FLOOR)

    def encode(self, mel: Tensor) -> Tensor:
        """mel : Tensor[B x n_mels x N] natural log -> z : Tensor[B x latent x ceil(N / pool)]"""
        return self.encoder(self.scale(mel))

    def decode(self, z: Tensor, domain: str, frames: int) -> Tensor:
        """z : Tensor[B x latent x M] -> natural-log mel Tensor[B x n_mels x frames] of ``domain``."""
        out = self.decoders[domain](z)
        if out.shape[-1] < frames:
            out = F.pad(out, (0, frames - out.shape[-1]), mode="replicate")
        return self.unscale(out[..., :frames])

    def translate(self, mel: Tensor, domain: str) -> Tensor:
        """mel : Tensor[B x n_mels x N] of any instrument -> Tensor[B x n_mels x N] on ``domain``."""
        self.domain_index(domain)
        return self.decode(self.encode(mel), domain, mel.shape[-1])

    def losses(self, inputs: Tensor, mels: Tensor, paired: Tensor | None) -> dict[str, Tensor]:
        """The training objectives on a paired batch.

        Parameters
        ----------
        inputs : Tensor[B x D x n_mels x N] the encoder's (pitch-augmented) inputs, row d on domain d
        mels : Tensor[B x D x n_mels x N] the clean mels of the same excerpt on every domain
        paired : LongTensor[B x D] the other domain each row is also decoded to (its true render is the
            target), or None for the paper's objectives alone

        Returns
        -------
        ``recon`` (L1 of each row's own decoder, scaled units), ``paired`` (L1 of the paired decoder, or 0),
        ``confusion`` (the classifier's cross-entropy; its gradient reaches the encoder reversed and times
        ``confusion_weight``), ``accuracy`` of the classifier, ``z``
        """
        b, d, m, n = inputs.shape
        assert d == len(self.domains) and mels.shape == inputs.shape, (inputs.shape, mels.shape)
        z = self.encoder(self.scale(inputs.reshape(b * d, m, n)))
        own = torch.arange(d, device=inputs.device).repeat(b)
        targets = self.scale(mels).reshape(b * d, m, n)
        rows = [(own, targets, "recon")]
        if paired is not None:
            other = paired.reshape(-1)
            index = torch.arange(b, device=inputs.device).repeat_interleave(d) * d + other
            rows.append((other, targets[index], "paired"))
        out: dict[str, Tensor] = {}
        for domains, target, key in rows:
            total = z.new_zeros(())
            for k in domains.unique().tolist():
                sel = (domains == k).nonzero()[:, 0]
                pred = self.decoders[self.domains[k]](z[sel])[..., :n]
                total = total + F.l1_loss(pred, target[sel], reduction="sum")
            out[key] = total / target.numel()
        out.setdefault("paired", z.new_zeros(()))
        logits = self.classifier(grad_reverse(z, self.config.confusion_weight))
        out["confusion"] = F.cross_entropy(logits, own)
        out["accuracy"] = (logits.argmax(-1) == own).float().mean().detach()
        out["z"] = z
        return out

    def add_domain(self, name: str, init_from: str | None = None) -> "FrameTranslator":
        """A translator with one more decoder for ``name`` (a copy of ``init_from``'s decoder, else fresh).

        The encoder and the other decoders are shared with ``self``; the classifier grows one output,
        keeping the old rows.
        """
        if name in self.config.domains:
            raise LatentLabError(f"the model already has a decoder for {name!r}")
        grown = FrameTranslator(replace(self.config, domains=self.config.domains + (name,)))
        grown.encoder = self.encoder
        with torch.no_grad():
            for a, b in zip(self.classifier.net, grown.classifier.net):
                if isinstance(a, nn.Conv1d):
                    b.weight[: a.weight.shape[0]] = a.weight
                    b.bias[: a.bias.shape[0]] = a.bias
        for key, decoder in self.decoders.items():
            grown.decoders[key] = decoder
        if init_from is not None:
            grown.decoders[name].load_state_dict(self.decoders[init_from].state_dict())
        return grown
