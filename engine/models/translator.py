"""The universal music translation network (Mor et al. 2018), sized for a CPU.

One shared non-causal dilated encoder turns audio of any instrument into a slow latent sequence
(``latent_channels`` every ``pool`` samples); a domain-confusion classifier on that latent is trained to
name the instrument while the encoder is trained to fool it (its loss enters the encoder's with weight
``-confusion_weight``), so the latent keeps the music and drops the instrument; one causal WaveNet decoder
per domain plays the latent, upsampled back to the sample rate, on its instrument.

Translating = encode the input, decode with the target domain's decoder (sample by sample, with the
WaveNet core's fast generation). Adding an instrument = training one more decoder against the frozen
encoder (:meth:`Translator.add_domain`).

Sizes. The paper's encoder is 3 blocks x 10 layers of 128 channels and its decoders 4 blocks x 14 layers
of 128 channels, trained for 3 days on 48 GPUs. Ours is trained on one shared CPU thread, and its decoders
must generate at a usable speed on a CPU, so the defaults are 2 blocks x 8 layers of 48 channels for the
encoder (receptive field 1,023 samples, 64 ms, before the 50 ms pooling) and 2 blocks x 8 layers of
32 residual / 32 gate / 64 skip channels per decoder (receptive field 511 samples, 32 ms: one period of a
31 Hz tone); the latent (64 channels every 800 samples, 20 per second) and the classifier (3 x 1x1 conv,
ELU, 100 channels) are the paper's.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..core.audio import mulaw_encode
from ..core.errors import LatentLabError
from ..nn.wavenet.layers import ConditionUpsampler, DilatedEncoder, WaveNet, WaveNetConfig

SAMPLE_RATE = 16_000  # rate of every domain's audio


@dataclass
class TranslatorConfig:
    """The shape of a translation network; stored next to its weights."""

    domains: tuple[str, ...] = ("piano", "violin", "cello", "flute", "trumpet", "guitar")
    sample_rate: int = SAMPLE_RATE
    # shared encoder (non-causal, kernel 3) and its latent
    encoder_channels: int = 48
    encoder_layers: int = 16
    encoder_cycle: int = 8  # dilation of layer i is 2 ** (i % cycle)
    latent_channels: int = 64
    pool: int = 800  # samples per latent frame (50 ms at 16 kHz)
    # domain-confusion classifier on the latent
    classifier_channels: int = 100
    classifier_layers: int = 3
    confusion_weight: float = 1e-2  # lambda: the classifier's loss enters the encoder's with weight -lambda
    # one causal WaveNet decoder per domain (8-bit mu-law softmax)
    decoder_layers: int = 16
    decoder_cycle: int = 8
    decoder_kernel: int = 2
    decoder_residual: int = 32
    decoder_gate: int = 32
    decoder_skip: int = 64
    temperature: float = 1.0  # the decoders' default sampling temperature when translating

    def __post_init__(self) -> None:
        self.domains = tuple(self.domains)
        if not self.domains or len(set(self.domains)) != len(self.domains):
            raise LatentLabError(f"a translator needs distinct domain names, got {list(self.domains)}")
        if self.pool < 1 or self.latent_channels < 1 or self.classifier_layers < 1:
            raise LatentLabError("pool, latent_channels and classifier_layers must be at least 1")

    def decoder_config(self) -> WaveNetConfig:
        return WaveNetConfig(
            layers=self.decoder_layers, dilation_cycle=self.decoder_cycle, kernel_size=self.decoder_kernel,
            residual_channels=self.decoder_residual, gate_channels=self.decoder_gate,
            skip_channels=self.decoder_skip, cond_channels=self.latent_channels,
        )


# Size presets of the training recipe (``latentlab train translate --size``).
SIZES = {
    "default": {},
    "tiny": dict(  # for tests: trains in seconds
        encoder_channels=8, encoder_layers=4, encoder_cycle=4, latent_channels=8, pool=100,
        classifier_channels=16, decoder_layers=4, decoder_cycle=4, decoder_residual=8, decoder_gate=8,
        decoder_skip=16,
    ),
}


def sized_config(size: str, domains: list[str] | tuple[str, ...]) -> TranslatorConfig:
    """A config of the named size preset for ``domains``."""
    if size not in SIZES:
        raise LatentLabError(f"unknown translator size {size!r}: use one of {', '.join(SIZES)}")
    return TranslatorConfig(domains=tuple(domains), **SIZES[size])


def companded(audio: Tensor) -> Tensor:
    """The encoder's input: float audio -> its mu-law companded value in [-1, 1]. Tensor[B x T] -> Tensor[B x T]"""
    return mulaw_encode(audio).float() / 127.5 - 1.0


class DomainClassifier(nn.Module):
    """Names the domain from the latent: z : Tensor[B x latent x N] -> logits Tensor[B x domains] (frame-averaged)."""

    def __init__(self, latent: int, channels: int, layers: int, domains: int):
        super().__init__()
        widths = [latent] + [channels] * (layers - 1)
        body = []
        for a, b in zip(widths[:-1], widths[1:]):
            body += [nn.Conv1d(a, b, 1), nn.ELU()]
        self.net = nn.Sequential(*body, nn.Conv1d(widths[-1], domains, 1))

    def forward(self, z: Tensor) -> Tensor:
        return self.net(z).mean(-1)


class Translator(nn.Module):
    """Shared encoder + domain-confusion classifier + one WaveNet decoder per domain."""

    def __init__(self, config: TranslatorConfig):
        super().__init__()
        self.config = c = config
        self.encoder = DilatedEncoder(
            1, c.encoder_channels, c.encoder_layers, c.encoder_cycle, 3, c.latent_channels, c.pool
        )
        self.upsample = ConditionUpsampler(c.latent_channels, [c.pool], "repeat")
        self.classifier = DomainClassifier(c.latent_channels, c.classifier_channels, c.classifier_layers, len(c.domains))
        self.decoders = nn.ModuleDict({name: WaveNet(c.decoder_config()) for name in c.domains})

    @property
    def domains(self) -> tuple[str, ...]:
        return self.config.domains

    def domain_index(self, name: str) -> int:
        if name not in self.config.domains:
            raise LatentLabError(f"unknown domain {name!r}: this model plays {', '.join(self.config.domains)}")
        return self.config.domains.index(name)

    def encode(self, audio: Tensor) -> Tensor:
        """audio : Tensor[B x T] float in [-1, 1] -> z : Tensor[B x latent x T // pool]"""
        return self.encoder(companded(audio))

    def condition(self, z: Tensor, length: int) -> Tensor:
        """z : Tensor[B x latent x N] -> conditioning Tensor[B x latent x length] (each frame repeated; the last
        frame is held when ``length`` runs past N * pool)."""
        cond = self.upsample(z)
        if cond.shape[-1] < length:
            cond = F.pad(cond, (0, length - cond.shape[-1]), mode="replicate")
        return cond[..., :length]

    def forward(self, audio: Tensor, domain: Tensor) -> dict[str, Tensor]:
        """Teacher-forced reconstruction through each segment's own decoder, and the classifier's views.

        Parameters
        ----------
        audio : Tensor[B x T] float in [-1, 1], T a multiple of ``pool``
        domain : LongTensor[B], each segment's domain index

        Returns
        -------
        dict with ``recon`` (mean cross-entropy in nats per sample over the batch), ``logits`` (Tensor[B x D],
        the classifier on the latent: the encoder's adversarial term), ``logits_detached`` (Tensor[B x D], the
        classifier on the detached latent: the classifier's own loss) and ``z`` (Tensor[B x latent x N])
        """
        assert audio.dim() == 2 and audio.shape[1] % self.config.pool == 0, audio.shape
        classes = mulaw_encode(audio)
        z = self.encode(audio)
        cond = self.condition(z, audio.shape[1])
        total = audio.new_zeros(())
        for d in domain.unique().tolist():
            rows = (domain == d).nonzero()[:, 0]
            logits = self.decoders[self.config.domains[d]](classes[rows], cond[rows])
            total = total + F.cross_entropy(logits, classes[rows], reduction="sum")
        recon = total / classes.numel()
        return {
            "recon": recon,
            "logits": self.classifier(z),
            "logits_detached": self.classifier(z.detach()),
            "z": z,
        }

    def add_domain(self, name: str, init_from: str | None = None) -> "Translator":
        """A translator with one more decoder for ``name`` (a copy of ``init_from``'s decoder, else fresh).

        The encoder and the other decoders are shared with ``self``; the classifier is rebuilt for the new
        number of domains, keeping the old rows.
        """
        if name in self.config.domains:
            raise LatentLabError(f"the model already has a decoder for {name!r}")
        grown = Translator.__new__(Translator)
        nn.Module.__init__(grown)
        grown.config = replace(self.config, domains=self.config.domains + (name,))
        grown.encoder, grown.upsample = self.encoder, self.upsample
        grown.classifier = DomainClassifier(
            self.config.latent_channels, self.config.classifier_channels, self.config.classifier_layers,
            len(grown.config.domains),
        )
        old, new = self.classifier.net, grown.classifier.net
        with torch.no_grad():
            for a, b in zip(old, new):
                if isinstance(a, nn.Conv1d):
                    b.weight[: a.weight.shape[0]] = a.weight
                    b.bias[: a.bias.shape[0]] = a.bias
        grown.decoders = nn.ModuleDict(dict(self.decoders))
        decoder = WaveNet(self.config.decoder_config())
        if init_from is not None:
            decoder.load_state_dict(self.decoders[init_from].state_dict())
        grown.decoders[name] = decoder
        return grown


def confusion_losses(out: dict[str, Tensor], domain: Tensor, weight: float) -> tuple[Tensor, Tensor]:
    """The two sides of the domain confusion.

    Returns
    -------
    (encoder_loss, classifier_loss): ``recon - weight * CE(classifier(z), domain)`` for the encoder and the
    decoders, and ``CE(classifier(z.detach()), domain)`` for the classifier
    """
    adversarial = F.cross_entropy(out["logits"], domain)
    return out["recon"] - weight * adversarial, F.cross_entropy(out["logits_detached"], domain)
