"""The WaveNet stack, written once.

Dilated (causal or non-causal) convolutions, gated residual blocks with parameterised skip connections,
local conditioning (a sequence at the sample rate) and global conditioning (a vector), a 1x1 output head,
the conditioning upsampler, and the non-causal NSynth / music-translation encoder.

Composed by the timbre autoencoder, the translation decoders, the WaveNet vocoder, WaveGlow's WN and
FloWaveNet. Step-by-step generation lives in :mod:`engine.nn.wavenet.generate`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ...core.errors import LatentLabError

OUTPUTS = ("softmax", "logistic_mixture")
INPUTS = ("mulaw", "float")


@dataclass
class WaveNetConfig:
    """The shape of a WaveNet; stored next to its weights."""

    layers: int = 20
    dilation_cycle: int = 10  # dilation of layer i is 2 ** (i % dilation_cycle)
    kernel_size: int = 2
    residual_channels: int = 64
    gate_channels: int = 64  # width of each gate half: the dilated conv makes 2 x gate_channels
    skip_channels: int = 128
    classes: int = 256  # mu-law classes of the softmax output and of the "mulaw" input embedding
    output: str = "softmax"  # "softmax": logits over classes | "logistic_mixture": 3 x n_mixtures params
    n_mixtures: int = 10  # components of the "logistic_mixture" output
    input: str = "mulaw"  # "mulaw": class indices, embedded | "float": samples in [-1, 1]
    causal: bool = True
    cond_channels: int = 0  # local conditioning at the sample rate (0: none)
    global_channels: int = 0  # global conditioning vector, e.g. an instrument embedding (0: none)
    dropout: float = 0.0

    def __post_init__(self) -> None:
        if self.output not in OUTPUTS:
            raise LatentLabError(f"WaveNet output {self.output!r} is not one of {', '.join(OUTPUTS)}")
        if self.input not in INPUTS:
            raise LatentLabError(f"WaveNet input {self.input!r} is not one of {', '.join(INPUTS)}")
        if self.output == "logistic_mixture" and self.input != "float":
            raise LatentLabError("a logistic-mixture WaveNet needs input 'float' (it outputs float samples)")
        for name in ("layers", "dilation_cycle", "residual_channels", "gate_channels", "skip_channels"):
            if getattr(self, name) < 1:
                raise LatentLabError(f"WaveNet {name} must be at least 1, got {getattr(self, name)}")
        if self.kernel_size < 2:
            raise LatentLabError(f"WaveNet kernel_size must be at least 2, got {self.kernel_size}")
        if self.classes < 2 or self.n_mixtures < 1 or self.cond_channels < 0 or self.global_channels < 0:
            raise LatentLabError("WaveNet classes must be >= 2, n_mixtures >= 1 and conditioning channels >= 0")
        if not 0.0 <= self.dropout < 1.0:
            raise LatentLabError(f"WaveNet dropout must be in [0, 1), got {self.dropout}")

    @property
    def dilations(self) -> list[int]:
        return dilations(self.layers, self.dilation_cycle)

    @property
    def receptive_field(self) -> int:
        """Samples each output sees (a causal WaveNet's logits at t see the RF samples before t)."""
        return receptive_field(self.layers, self.dilation_cycle, self.kernel_size)

    @property
    def out_channels(self) -> int:
        return self.classes if self.output == "softmax" else 3 * self.n_mixtures


def dilations(layers: int, dilation_cycle: int) -> list[int]:
    """Dilation of each layer: 1, 2, 4, ..., 2 ** (cycle - 1), 1, 2, ..."""
    return [2 ** (i % dilation_cycle) for i in range(layers)]


def receptive_field(layers: int, dilation_cycle: int, kernel_size: int) -> int:
    """Receptive field in samples of a stack of dilated convolutions: 1 + (kernel - 1) * sum(dilations)."""
    return 1 + (kernel_size - 1) * sum(dilations(layers, dilation_cycle))


class DilatedConv1d(nn.Conv1d):
    """A dilated Conv1d that keeps the length; causal pads on the left only, non-causal on both sides."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, dilation: int = 1, causal: bool = True):
        super().__init__(in_channels, out_channels, kernel_size, dilation=dilation)
        total = dilation * (kernel_size - 1)
        self.pad = (total, 0) if causal else (total // 2, total - total // 2)

    def forward(self, x: Tensor) -> Tensor:
        return super().forward(F.pad(x, self.pad))


def gate(a: Tensor) -> Tensor:
    """Gated activation unit: tanh(first half) * sigmoid(second half) along dim 1."""
    filt, gat = a.chunk(2, dim=1)
    return torch.tanh(filt) * torch.sigmoid(gat)


class ResidualBlock(nn.Module):
    """x -> dilated conv (+ conditioning) -> tanh * sigmoid -> residual 1x1 (added to x) and skip 1x1."""

    def __init__(
        self,
        residual_channels: int,
        gate_channels: int,
        skip_channels: int,
        kernel_size: int,
        dilation: int,
        causal: bool = True,
        cond_channels: int = 0,
        global_channels: int = 0,
        dropout: float = 0.0,
        last: bool = False,
    ):
        super().__init__()
        self.dilation = dilation
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.conv = DilatedConv1d(residual_channels, 2 * gate_channels, kernel_size, dilation, causal)
        self.cond = nn.Conv1d(cond_channels, 2 * gate_channels, 1, bias=False) if cond_channels else None
        self.global_proj = nn.Linear(global_channels, 2 * gate_channels, bias=False) if global_channels else None
        self.skip = nn.Conv1d(gate_channels, skip_channels, 1)
        # The last layer's residual output would be unused (and break DDP), so it has none.
        self.residual = None if last else nn.Conv1d(gate_channels, residual_channels, 1)

    def forward(self, x: Tensor, bias: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """x : Tensor[B x R x T], bias : Tensor[B x 2G x T or 1] -> (x : Tensor[B x R x T], skip : Tensor[B x S x T])"""
        a = self.conv(self.dropout(x))
        if bias is not None:
            a = a + bias
        z = gate(a)
        if self.residual is not None:
            x = x + self.residual(z)
        return x, self.skip(z)


class WaveNetStack(nn.Module):
    """The residual stack alone (reused by flows): x : Tensor[B x R x T] -> skip sum : Tensor[B x S x T]."""

    def __init__(
        self,
        layers: int,
        residual_channels: int,
        gate_channels: int,
        skip_channels: int,
        kernel_size: int = 2,
        dilation_cycle: int = 10,
        causal: bool = True,
        cond_channels: int = 0,
        global_channels: int = 0,
        dropout: float = 0.0,
    ):
        super().__init__()
        self.causal = causal
        self.kernel_size = kernel_size
        self.gate_channels = gate_channels
        self.cond_channels = cond_channels
        self.global_channels = global_channels
        self.blocks = nn.ModuleList(
            ResidualBlock(
                residual_channels, gate_channels, skip_channels, kernel_size, d, causal,
                cond_channels, global_channels, dropout, last=i == layers - 1,
            )
            for i, d in enumerate(dilations(layers, dilation_cycle))
        )
        self.receptive_field = receptive_field(layers, dilation_cycle, kernel_size)

    def condition(self, cond: Tensor | None = None, global_cond: Tensor | None = None) -> Tensor | None:
        """All layers' conditioning projections at once.

        Parameters
        ----------
        cond : Tensor[B x C x T], local conditioning at the sample rate
        global_cond : Tensor[B x Cg]

        Returns
        -------
        bias : Tensor[B x L x 2G x T] (T = 1 with global conditioning only), or None without conditioning
        """
        if (cond is None) != (self.cond_channels == 0):
            raise ValueError(f"this stack takes {self.cond_channels} local conditioning channels")
        if (global_cond is None) != (self.global_channels == 0):
            raise ValueError(f"this stack takes {self.global_channels} global conditioning channels")
        n, width = len(self.blocks), 2 * self.gate_channels
        bias = None
        if cond is not None:
            assert cond.dim() == 3 and cond.shape[1] == self.cond_channels, cond.shape
            weight = torch.cat([block.cond.weight for block in self.blocks])  # [L*2G, C, 1]
            bias = F.conv1d(cond, weight).unflatten(1, (n, width))
        if global_cond is not None:
            assert global_cond.dim() == 2 and global_cond.shape[1] == self.global_channels, global_cond.shape
            weight = torch.cat([block.global_proj.weight for block in self.blocks])  # [L*2G, Cg]
            g = (global_cond @ weight.t()).unflatten(1, (n, width))[..., None]
            bias = g if bias is None else bias + g
        return bias

    def forward(self, x: Tensor, cond: Tensor | None = None, global_cond: Tensor | None = None) -> Tensor:
        """x : Tensor[B x R x T], cond : Tensor[B x C x T], global_cond : Tensor[B x Cg] -> Tensor[B x S x T]"""
        bias = self.condition(cond, global_cond)
        # unbind, not bias[:, i]: each select's backward would fill a zero tensor of bias's full size per layer
        biases = [None] * len(self.blocks) if bias is None else bias.unbind(1)
        skip = 0
        for block, b in zip(self.blocks, biases):
            x, s = block(x, b)
            skip = skip + s
        return skip


class WaveNet(nn.Module):
    """Input embedding + residual stack + 1x1 output head.

    A causal WaveNet predicts each sample from the ones before it: ``forward(x)[..., t]`` is the distribution
    of ``x[..., t]`` given ``x[..., :t]`` (the input is shifted right by one internally, starting from
    :attr:`start`), so the training loss is simply ``cross_entropy(model(x, ...), x)``.
    """

    def __init__(self, config: WaveNetConfig):
        super().__init__()
        self.config = c = config
        if c.input == "mulaw":
            self.embed = nn.Embedding(c.classes, c.residual_channels)
        else:
            self.embed = nn.Conv1d(1, c.residual_channels, 1)
        self.stack = WaveNetStack(
            c.layers, c.residual_channels, c.gate_channels, c.skip_channels, c.kernel_size, c.dilation_cycle,
            c.causal, c.cond_channels, c.global_channels, c.dropout,
        )
        self.head = nn.Sequential(
            nn.ReLU(), nn.Conv1d(c.skip_channels, c.skip_channels, 1),
            nn.ReLU(), nn.Conv1d(c.skip_channels, c.out_channels, 1),
        )

    @property
    def receptive_field(self) -> int:
        return self.config.receptive_field

    @property
    def start(self) -> float:
        """The input fed before the first sample: the silent class (mulaw) or 0.0 (float)."""
        return float(self.config.classes // 2) if self.config.input == "mulaw" else 0.0

    def shift(self, x: Tensor) -> Tensor:
        """x : Tensor[B x T] -> the inputs that predict it: [start, x[0], ..., x[T-2]] (causal only)."""
        if not self.config.causal:
            return x
        return F.pad(x[:, :-1], (1, 0), value=self.start)

    def embed_input(self, inputs: Tensor) -> Tensor:
        """inputs : Tensor[B x T] (class indices or floats) -> Tensor[B x R x T]"""
        if self.config.input == "mulaw":
            return self.embed(inputs.long()).transpose(1, 2)
        return self.embed(inputs.float()[:, None])

    def predict(self, inputs: Tensor, cond: Tensor | None = None, global_cond: Tensor | None = None) -> Tensor:
        """The outputs for already-shifted inputs. inputs : Tensor[B x T] -> Tensor[B x out x T]"""
        return self.head(self.stack(self.embed_input(inputs), cond, global_cond))

    def forward(self, x: Tensor, cond: Tensor | None = None, global_cond: Tensor | None = None) -> Tensor:
        """Teacher-forced outputs.

        Parameters
        ----------
        x : Tensor[B x T], mu-law class indices (input "mulaw") or samples in [-1, 1] (input "float")
        cond : Tensor[B x C x T], local conditioning already at the sample rate (see ConditionUpsampler)
        global_cond : Tensor[B x Cg]

        Returns
        -------
        Tensor[B x classes x T] logits, or Tensor[B x 3M x T] mixture parameters (logit weights, means,
        log scales); entry t is the distribution of x[:, t] given x[:, :t] when causal
        """
        assert x.dim() == 2, f"x must be [B x T], got {list(x.shape)}"
        return self.predict(self.shift(x), cond, global_cond)


class ConditionUpsampler(nn.Module):
    """Frame-rate conditioning to the sample rate: c : Tensor[B x C x N] -> Tensor[B x C x N * prod(factors)].

    ``mode="repeat"`` repeats each frame; ``mode="transposed"`` learns one transposed convolution per factor
    (initialised to linear interpolation, so training starts from a sensible upsampling).
    """

    def __init__(self, channels: int, factors: Sequence[int], mode: str = "repeat"):
        super().__init__()
        if mode not in ("repeat", "transposed"):
            raise LatentLabError(f"upsampling mode {mode!r} is not 'repeat' or 'transposed'")
        if not factors or any(f < 1 for f in factors):
            raise LatentLabError(f"upsampling factors must be positive integers, got {list(factors)}")
        self.factors = list(factors)
        self.mode = mode
        self.hop = math.prod(self.factors)
        self.convs = nn.ModuleList()
        if mode == "transposed":
            for f in self.factors:
                conv = nn.ConvTranspose1d(channels, channels, 2 * f, stride=f, padding=f // 2)
                with torch.no_grad():
                    conv.weight.zero_()
                    conv.bias.zero_()
                    ramp = 1 - (torch.arange(2 * f) + 0.5 - f).abs() / f  # triangle: linear interpolation
                    conv.weight[range(channels), range(channels)] = ramp
                self.convs.append(conv)

    def forward(self, c: Tensor) -> Tensor:
        if self.mode == "repeat":
            return c.repeat_interleave(self.hop, dim=-1)
        for conv, f in zip(self.convs, self.factors):
            n = c.shape[-1]
            c = conv(c)[..., : n * f]
        return c


class EncoderLayer(nn.Module):
    """Non-causal residual layer: x + 1x1(ReLU(dilated conv(ReLU(x))))."""

    def __init__(self, channels: int, kernel_size: int, dilation: int):
        super().__init__()
        self.conv = DilatedConv1d(channels, channels, kernel_size, dilation, causal=False)
        self.out = nn.Conv1d(channels, channels, 1)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.out(F.relu(self.conv(F.relu(x))))


class DilatedEncoder(nn.Module):
    """The non-causal NSynth / music-translation encoder: x : Tensor[B x C x T] -> Tensor[B x latent x T // pool].

    Residual layers ReLU -> dilated conv (dilation 2 ** (i % cycle)) -> ReLU -> 1x1, then a 1x1 to
    ``latent_channels`` and average pooling over ``pool`` samples.
    """

    def __init__(
        self,
        in_channels: int = 1,
        channels: int = 128,
        layers: int = 30,
        dilation_cycle: int = 10,
        kernel_size: int = 3,
        latent_channels: int = 16,
        pool: int = 512,
    ):
        super().__init__()
        self.in_channels = in_channels
        self.pool = pool
        self.start = DilatedConv1d(in_channels, channels, kernel_size, 1, causal=False)
        self.layers = nn.Sequential(
            *(EncoderLayer(channels, kernel_size, d) for d in dilations(layers, dilation_cycle))
        )
        self.to_latent = nn.Conv1d(channels, latent_channels, 1)
        self.receptive_field = receptive_field(layers, dilation_cycle, kernel_size) + kernel_size - 1

    def forward(self, x: Tensor) -> Tensor:
        """x : Tensor[B x C x T] (or Tensor[B x T] with one input channel) -> Tensor[B x latent x T // pool]"""
        if x.dim() == 2 and self.in_channels == 1:
            x = x[:, None]
        assert x.dim() == 3 and x.shape[1] == self.in_channels, f"want [B x {self.in_channels} x T]: {list(x.shape)}"
        if x.shape[-1] < self.pool:
            raise LatentLabError(f"audio of {x.shape[-1]} samples is shorter than one latent frame ({self.pool})")
        z = self.to_latent(self.layers(self.start(x)))
        return F.avg_pool1d(z, self.pool)
