"""The logistic distributions of the WaveNet vocoder and Parallel WaveNet, written once.

A logistic-mixture WaveNet (PixelCNN++, r9y9's WaveNet vocoder) outputs, per sample, ``3M`` channels:
mixture logits ``[:M]``, means ``[M:2M]`` and log scales ``[2M:]`` (floored at ``LOG_SCALE_MIN``, the
same floor :mod:`engine.nn.wavenet.steps` samples with). Training uses the *discretised* likelihood of
16-bit audio; probability density distillation (Parallel WaveNet) uses the continuous density.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

BINS = 65536  # 16-bit audio: the discretisation of the training likelihood
LOG_SCALE_MIN = -7.0  # floor of the logistic mixture's log scales (PixelCNN++)


def split_mixture(params: Tensor, log_scale_min: float = LOG_SCALE_MIN) -> tuple[Tensor, Tensor, Tensor]:
    """params : Tensor[B x 3M x T] -> (log weights, means, log scales), each Tensor[B x M x T]."""
    m = params.shape[1] // 3
    assert params.shape[1] == 3 * m, f"mixture parameters need 3M channels, got {params.shape[1]}"
    log_w = F.log_softmax(params[:, :m], dim=1)
    return log_w, params[:, m : 2 * m], params[:, 2 * m :].clamp(min=log_scale_min)


def logistic_log_pdf(x: Tensor, mean: Tensor, log_scale: Tensor) -> Tensor:
    """log density of Logistic(mean, exp(log_scale)) at x (broadcast elementwise)."""
    u = (x - mean) * torch.exp(-log_scale)
    return -u - log_scale - 2 * F.softplus(-u)


def mixture_log_density(params: Tensor, x: Tensor) -> Tensor:
    """Continuous log density of a logistic mixture. params : Tensor[B x 3M x T], x : Tensor[B x T] -> Tensor[B x T]"""
    log_w, mean, log_scale = split_mixture(params)
    return torch.logsumexp(log_w + logistic_log_pdf(x[:, None], mean, log_scale), dim=1)


def discretized_mixture_log_prob(params: Tensor, x: Tensor, bins: int = BINS) -> Tensor:
    """Log probability of audio quantised to ``bins`` levels in [-1, 1] under a logistic mixture.

    The edge bins take the tails (x = -1 gets all mass below, x = 1 all above), as in PixelCNN++.
    params : Tensor[B x 3M x T], x : Tensor[B x T] in [-1, 1] -> Tensor[B x T] (nats, <= 0)
    """
    log_w, mean, log_scale = split_mixture(params)
    x = x[:, None]
    inv_s = torch.exp(-log_scale)
    half = 1.0 / (bins - 1)
    plus = inv_s * (x - mean + half)
    minus = inv_s * (x - mean - half)
    log_cdf_plus = -F.softplus(-plus)  # log sigmoid(plus): the bin at -1
    log_sf_minus = -F.softplus(minus)  # log (1 - sigmoid(minus)): the bin at +1
    delta = torch.sigmoid(plus) - torch.sigmoid(minus)
    # Inside: log(CDF difference), or the density times the bin width where the difference underflows.
    mid = logistic_log_pdf(x, mean, log_scale) + torch.log(torch.tensor(2 * half, device=x.device))
    inner = torch.where(delta > 1e-5, torch.log(delta.clamp(min=1e-12)), mid)
    log_p = torch.where(x < -1 + half, log_cdf_plus, torch.where(x > 1 - half, log_sf_minus, inner))
    return torch.logsumexp(log_w + log_p, dim=1)


def logistic_entropy(log_scale: Tensor) -> Tensor:
    """Differential entropy of Logistic(mu, exp(log_scale)): log_scale + 2 (elementwise)."""
    return log_scale + 2.0


def sample_logistic(shape: torch.Size | tuple[int, ...], generator: torch.Generator | None = None,
                    device: torch.device | str = "cpu") -> Tensor:
    """Standard logistic noise log(u / (1 - u)), u ~ U(0, 1) clamped away from 0 and 1."""
    u = torch.rand(shape, generator=generator).clamp(1e-5, 1 - 1e-5).to(device)
    return torch.log(u) - torch.log1p(-u)
