"""AR(p): the linear autoregressive baseline of the likelihood table, fitted by least squares.

The sequence is a melody in time order (a grid read in raster order), each step's event as a one-hot
vector ``x_t`` of the 90 classes. The model is the vector AR(p)

    x_t = c + sum_{i=1..p} Phi_i x_{t-i} + e_t

with ``c`` [K] and ``Phi_i`` [K x K] fitted by (ridge-regularised) least squares. Steps before the start
of a sequence are a 91st "start" class, so the first p steps get their own coefficients. Its prediction
estimates the conditional class probabilities (the linear probability model); negative values are cut
to zero and a small ``floor`` (chosen on held-out training windows) is added before normalising, so
every event has a likelihood. No nonlinearity, no depth: what the table's other rows gain over this is
what those buy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

FLOORS = (1e-6, 1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2)  # probability floors tried when fitting


@dataclass
class ARConfig:
    """The shape of an AR(p) model; stored next to its coefficients."""

    num_classes: int = 90  # melody events (engine.core.midi)
    width: int = 16  # columns of the grids it reads (steps per bar)
    max_bars: int = 16  # the most bars it continues or inpaints (as the other models of the table)
    order: int = 32  # p: steps of history (32 = two bars)
    ridge: float = 10.0  # added to the diagonal of X^T X

    @property
    def features(self) -> int:
        return 1 + self.order * (self.num_classes + 1)


def lag_features(x: Tensor, order: int, num_classes: int) -> Tensor:
    """Feature index of each lag: x [B x T] -> LongTensor[B x T x p] into the rows of the coefficients.

    Row 0 is the constant; lag i (1-based) of class k is row 1 + (i - 1) * (K + 1) + k, and class K
    means "before the start".
    """
    b, t = x.shape
    start = torch.full((b, order), num_classes, dtype=torch.long, device=x.device)
    padded = torch.cat([start, x], dim=1)  # padded[:, order + s] = x[:, s]
    lags = torch.stack([padded[:, order - i : order - i + t] for i in range(1, order + 1)], dim=2)
    offsets = 1 + torch.arange(order, device=x.device) * (num_classes + 1)
    return lags + offsets


class LinearAR(nn.Module):
    """x : LongTensor[B x H x W] (raster order = time order) -> log-probabilities [B x K x H x W]."""

    def __init__(self, cfg: ARConfig):
        super().__init__()
        self.cfg = cfg
        self.register_buffer("coef", torch.zeros(cfg.features, cfg.num_classes))
        self.register_buffer("floor", torch.tensor(1e-3))

    def predict(self, seq: Tensor) -> Tensor:
        """The linear prediction c + sum Phi_i x_{t-i}.  seq [B x T] -> [B x T x K]."""
        idx = lag_features(seq, self.cfg.order, self.cfg.num_classes)
        summed = F.embedding_bag(idx.reshape(-1, self.cfg.order), self.coef, mode="sum")  # no [B x T x p x K] copy
        return self.coef[0] + summed.view(*seq.shape, -1)

    def log_probs(self, seq: Tensor, floor: Tensor | float | None = None) -> Tensor:
        """seq [B x T] -> log-probabilities [B x T x K]."""
        p = self.predict(seq).clamp_min(0) + (self.floor if floor is None else floor)
        return torch.log(p / p.sum(-1, keepdim=True))

    def forward(self, x: Tensor) -> Tensor:
        b, h, w = x.shape
        return self.log_probs(x.reshape(b, h * w)).reshape(b, h, w, -1).permute(0, 3, 1, 2)

    @torch.no_grad()
    def fit(self, train: np.ndarray, held_out: np.ndarray, chunk: int = 2048) -> dict[str, float]:
        """Least squares on ``train`` windows (uint8[N x T]); the floor is chosen on ``held_out``.

        Returns {"rows": fitted steps, "floor": chosen floor, "held_out_bits": its bits per step}.
        """
        from scipy import sparse

        k, d = self.cfg.num_classes, self.cfg.features
        gram = np.zeros((d, d))
        cross = np.zeros((d, k))
        rows = 0
        for start in range(0, len(train), chunk):
            seq = torch.from_numpy(train[start : start + chunk].astype(np.int64))
            idx = lag_features(seq, self.cfg.order, k).reshape(-1, self.cfg.order).numpy()
            n = len(idx)
            cols = np.concatenate([np.zeros((n, 1), np.int64), idx], axis=1)
            x = sparse.csr_matrix((np.ones(cols.size), (np.repeat(np.arange(n), cols.shape[1]), cols.ravel())), shape=(n, d))
            y = sparse.csr_matrix((np.ones(n), (np.arange(n), seq.reshape(-1).numpy())), shape=(n, k))
            gram += (x.T @ x).toarray()
            cross += (x.T @ y).toarray()
            rows += n
        gram[np.diag_indices(d)] += self.cfg.ridge
        self.coef.copy_(torch.from_numpy(np.linalg.solve(gram, cross)).float())
        nll = np.zeros(len(FLOORS))
        for start in range(0, len(held_out), 64):
            seq = torch.from_numpy(held_out[start : start + 64].astype(np.int64))
            p = self.predict(seq).clamp_min(0)
            true, total = p.gather(2, seq.unsqueeze(2)).squeeze(2), p.sum(2)
            for i, floor in enumerate(FLOORS):
                nll[i] -= float(torch.log((true + floor) / (total + k * floor)).sum())
        bits = nll / held_out.size / math.log(2.0)
        best = (float(bits.min()), FLOORS[int(bits.argmin())])
        self.floor.fill_(best[1])
        return {"rows": rows, "floor": best[1], "held_out_bits": best[0]}


def _grid_archs() -> dict[str, tuple[type[nn.Module], type]]:
    from .pixelcnn import GatedPixelCNN, PixelCNNConfig
    from .pixelrnn import PixelRNN, PixelRNNConfig

    return {"ar": (LinearAR, ARConfig), "pixelcnn": (GatedPixelCNN, PixelCNNConfig), "pixelrnn": (PixelRNN, PixelRNNConfig)}


# Every model of the likelihood table, by the ``arch`` its checkpoint stores: (model class, config class).
# Each maps LongTensor[B x H x W] melody grids to log-probabilities or logits [B x K x H x W], pixel (r, c)
# given the pixels before it in raster order.
ARCHS = _grid_archs()
