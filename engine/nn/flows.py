"""Normalising-flow layers, written once: WaveGlow, FloWaveNet and Parallel WaveNet compose them.

Every layer maps data to latent in ``forward`` and back in ``reverse``::

    z, logdet = layer(x, cond)      # x : Tensor[B x C x T] -> z : Tensor[B x C x T], logdet : Tensor[B]
    x = layer.reverse(z, cond)      # exact inverse

``logdet`` is log |det dz/dx| per batch item, so the log-likelihood of ``x`` is
``log N(z; 0, sigma^2) + sum of the layers' logdets`` (:func:`gaussian_nll`).

- :func:`squeeze` / :func:`unsqueeze` fold time into channels (WaveGlow's groups of 8, FloWaveNet's 2).
- :class:`InvertibleConv1x1` (Glow / WaveGlow): a learned channel rotation; the inverse is cached for sampling.
- :class:`ActNorm` (Glow / FloWaveNet): per-channel affine, initialised from the first batch's statistics.
- :class:`AffineCoupling` (WaveGlow's WN, FloWaveNet): one half of the channels, through a non-causal
  :class:`engine.nn.wavenet.layers.WaveNetStack` conditioned on the (upsampled) mel, scales and shifts the other.
- :class:`AutoregressiveAffine` (Parallel WaveNet's IAF): each sample is scaled and shifted by a causal
  WaveNetStack over the samples before it; sampling (``reverse``) runs in parallel, density (``forward``)
  step by step.
"""

from __future__ import annotations

import math

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import Tensor, nn

from .wavenet.layers import WaveNetStack

LOG_2PI = math.log(2 * math.pi)


def squeeze(x: Tensor, factor: int) -> Tensor:
    """Fold time into channels: x : Tensor[B x C x T] -> Tensor[B x C * factor x T / factor].

    Channel ``c * factor + k`` at step ``t`` holds ``x[c, t * factor + k]`` (WaveGlow's ``unfold``).
    """
    b, c, t = x.shape
    if t % factor:
        raise ValueError(f"cannot squeeze {t} steps by {factor}: the length must be a multiple of {factor}")
    return x.reshape(b, c, t // factor, factor).transpose(2, 3).reshape(b, c * factor, t // factor)


def unsqueeze(x: Tensor, factor: int) -> Tensor:
    """Inverse of :func:`squeeze`: Tensor[B x C x T] -> Tensor[B x C / factor x T * factor]."""
    b, c, t = x.shape
    return x.reshape(b, c // factor, factor, t).transpose(2, 3).reshape(b, c // factor, t * factor)


def gaussian_log_prob(z: Tensor, sigma: float = 1.0) -> Tensor:
    """log N(z; 0, sigma^2) summed over all but the batch axis. z : Tensor[B x ...] -> Tensor[B]."""
    n = z[0].numel()
    return -0.5 * z.pow(2).flatten(1).sum(1) / sigma**2 - n * (math.log(sigma) + 0.5 * LOG_2PI)


def gaussian_nll(z: Tensor, logdet: Tensor, sigma: float = 1.0) -> Tensor:
    """Negative log-likelihood of the data in nats per sample, averaged over the batch.

    Parameters
    ----------
    z : Tensor[B x ...], the latent the flow mapped the data to (all of it, early outputs included)
    logdet : Tensor[B], the summed log-determinants of the flow's layers
    sigma : the prior's standard deviation

    Returns
    -------
    A scalar: -(log N(z; 0, sigma^2) + logdet) / (samples per item), mean over the batch.
    """
    return -(gaussian_log_prob(z, sigma) + logdet).mean() / z[0].numel()


class InvertibleConv1x1(nn.Module):
    """z = W x over channels with W a learned invertible matrix (initialised to a random rotation, det +1).

    logdet = T * log |det W|. The inverse used by ``reverse`` is computed once and reused until W changes.
    """

    def __init__(self, channels: int):
        super().__init__()
        w = torch.linalg.qr(torch.randn(channels, channels))[0]
        if torch.det(w) < 0:
            w[:, 0] = -w[:, 0]
        self.weight = nn.Parameter(w)
        self._inverse: Tensor | None = None
        self._inverse_key: tuple | None = None

    def forward(self, x: Tensor, cond: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """x : Tensor[B x C x T] -> (z : Tensor[B x C x T], logdet : Tensor[B])"""
        logdet = x.shape[-1] * torch.linalg.slogdet(self.weight)[1]
        return F.conv1d(x, self.weight[..., None]), logdet.expand(x.shape[0])

    def inverse_weight(self) -> Tensor:
        """W^-1 (in double precision, then cast), cached; recomputed after W is updated or moved."""
        w = self.weight
        key = (w._version, w.data_ptr(), w.device, w.dtype)
        if self._inverse is None or self._inverse_key != key:
            self._inverse = torch.linalg.inv(w.detach().double()).to(w.dtype)
            self._inverse_key = key
        return self._inverse

    def reverse(self, z: Tensor, cond: Tensor | None = None) -> Tensor:
        """z : Tensor[B x C x T] -> x : Tensor[B x C x T]"""
        return F.conv1d(z, self.inverse_weight()[..., None])


class ActNorm(nn.Module):
    """z = (x + bias) * exp(log_scale) per channel; logdet = T * sum(log_scale).

    The first training batch sets bias and scale so that z has zero mean and unit variance per channel
    (averaged over all processes under DDP); the ``initialized`` flag is saved with the weights.
    """

    def __init__(self, channels: int):
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(1, channels, 1))
        self.log_scale = nn.Parameter(torch.zeros(1, channels, 1))
        self.register_buffer("initialized", torch.tensor(0, dtype=torch.uint8))

    @torch.no_grad()
    def initialize(self, x: Tensor) -> None:
        """Data-dependent initialisation from x : Tensor[B x C x T]."""
        moments = torch.stack([x.mean(dim=(0, 2)), x.pow(2).mean(dim=(0, 2))])
        if dist.is_available() and dist.is_initialized():
            dist.all_reduce(moments)
            moments /= dist.get_world_size()
        mean, square = moments
        std = (square - mean.pow(2)).clamp(min=0).sqrt()
        self.bias.copy_(-mean.view_as(self.bias))
        self.log_scale.copy_(-torch.log(std + 1e-6).view_as(self.log_scale))
        self.initialized.fill_(1)

    def forward(self, x: Tensor, cond: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """x : Tensor[B x C x T] -> (z : Tensor[B x C x T], logdet : Tensor[B])"""
        if self.training and not bool(self.initialized):
            self.initialize(x)
        z = (x + self.bias) * torch.exp(self.log_scale)
        return z, (x.shape[-1] * self.log_scale.sum()).expand(x.shape[0])

    def reverse(self, z: Tensor, cond: Tensor | None = None) -> Tensor:
        """z : Tensor[B x C x T] -> x : Tensor[B x C x T]"""
        return z * torch.exp(-self.log_scale) - self.bias


class AffineCoupling(nn.Module):
    """Affine coupling with a non-causal WaveNet (WaveGlow's WN, FloWaveNet's coupling).

    x = [xa, xb] (xa: the first ``channels // 2`` channels, or the last ones when ``swap``);
    (log_s, t) = WN(xa, cond); z = [xa, xb * exp(log_s) + t]; logdet = sum(log_s).
    The output convolution starts at zero, so a fresh layer is the identity.
    """

    def __init__(
        self,
        channels: int,
        cond_channels: int,
        layers: int = 8,
        residual_channels: int = 64,
        gate_channels: int = 64,
        skip_channels: int = 64,
        kernel_size: int = 3,
        dilation_cycle: int = 8,
        swap: bool = False,
    ):
        super().__init__()
        if channels < 2:
            raise ValueError("an affine coupling needs at least 2 channels")
        self.swap = swap
        self.n_cond = channels // 2 if not swap else channels - channels // 2
        self.n_out = channels - self.n_cond
        self.start = nn.Conv1d(self.n_cond, residual_channels, 1)
        self.wn = WaveNetStack(
            layers, residual_channels, gate_channels, skip_channels, kernel_size, dilation_cycle,
            causal=False, cond_channels=cond_channels,
        )
        self.end = nn.Conv1d(skip_channels, 2 * self.n_out, 1)
        nn.init.zeros_(self.end.weight)
        nn.init.zeros_(self.end.bias)

    def _split(self, x: Tensor) -> tuple[Tensor, Tensor]:
        if self.swap:
            xb, xa = x.split([self.n_out, self.n_cond], dim=1)
        else:
            xa, xb = x.split([self.n_cond, self.n_out], dim=1)
        return xa, xb

    def _join(self, xa: Tensor, xb: Tensor) -> Tensor:
        return torch.cat([xb, xa] if self.swap else [xa, xb], dim=1)

    def transform(self, xa: Tensor, cond: Tensor | None) -> tuple[Tensor, Tensor]:
        """xa : Tensor[B x n_cond x T], cond : Tensor[B x Cc x T] -> (log_s, t), each Tensor[B x n_out x T]"""
        log_s, t = self.end(self.wn(self.start(xa), cond)).chunk(2, dim=1)
        return log_s, t

    def forward(self, x: Tensor, cond: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """x : Tensor[B x C x T], cond : Tensor[B x Cc x T] -> (z : Tensor[B x C x T], logdet : Tensor[B])"""
        xa, xb = self._split(x)
        log_s, t = self.transform(xa, cond)
        return self._join(xa, xb * torch.exp(log_s) + t), log_s.flatten(1).sum(1)

    def reverse(self, z: Tensor, cond: Tensor | None = None) -> Tensor:
        """z : Tensor[B x C x T], cond : Tensor[B x Cc x T] -> x : Tensor[B x C x T]"""
        za, zb = self._split(z)
        log_s, t = self.transform(za, cond)
        return self._join(za, (zb - t) * torch.exp(-log_s))


class AutoregressiveAffine(nn.Module):
    """One inverse-autoregressive-flow layer over a single channel (Parallel WaveNet's student).

    x_t = z_t * exp(log_s_t) + mu_t, where (mu_t, log_s_t) come from z_<t through a causal WaveNetStack
    conditioned on ``cond``. ``reverse`` (noise -> audio) is one parallel pass; ``forward`` (audio -> noise)
    needs T passes and is only for density checks on short clips. The output convolution starts at zero,
    with ``log_s`` offset by ``init_log_scale`` (a fresh layer scales its input by exp(init_log_scale)).
    """

    def __init__(
        self,
        cond_channels: int,
        layers: int = 10,
        residual_channels: int = 64,
        gate_channels: int = 64,
        skip_channels: int = 64,
        kernel_size: int = 2,
        dilation_cycle: int = 10,
        init_log_scale: float = 0.0,
    ):
        super().__init__()
        self.start = nn.Conv1d(1, residual_channels, 1)
        self.wn = WaveNetStack(
            layers, residual_channels, gate_channels, skip_channels, kernel_size, dilation_cycle,
            causal=True, cond_channels=cond_channels,
        )
        self.end = nn.Conv1d(skip_channels, 2, 1)
        nn.init.zeros_(self.end.weight)
        with torch.no_grad():
            self.end.bias.copy_(torch.tensor([0.0, init_log_scale]))

    def transform(self, z: Tensor, cond: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Shift and log-scale of every step from the steps before it.

        z : Tensor[B x 1 x T], cond : Tensor[B x Cc x T] -> (mu, log_s), each Tensor[B x 1 x T]
        """
        shifted = F.pad(z[..., :-1], (1, 0))
        mu, log_s = self.end(F.relu(self.wn(self.start(shifted), cond))).chunk(2, dim=1)
        return mu, log_s

    def reverse(self, z: Tensor, cond: Tensor | None = None) -> Tensor:
        """Noise to audio in one pass. z : Tensor[B x 1 x T] -> x : Tensor[B x 1 x T]"""
        mu, log_s = self.transform(z, cond)
        return z * torch.exp(log_s) + mu

    def forward(self, x: Tensor, cond: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Audio to noise, one step at a time (T passes). x : Tensor[B x 1 x T] -> (z, logdet : Tensor[B])"""
        z = torch.zeros_like(x)
        log_s = torch.zeros_like(x)
        for t in range(x.shape[-1]):
            mu_all, log_s_all = self.transform(z, cond)
            log_s[..., t] = log_s_all[..., t]
            z[..., t] = (x[..., t] - mu_all[..., t]) * torch.exp(-log_s_all[..., t])
        return z, -log_s.flatten(1).sum(1)
