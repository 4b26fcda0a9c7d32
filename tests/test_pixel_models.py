"""Gated PixelCNN, PixelRNN (Row LSTM, Diagonal BiLSTM) and AR(p): shapes and the raster ordering.

The ordering tests differentiate the logits at one position with respect to the embedded input grid:
no output may depend on an input at or after its own position, and (where the model promises it) every
earlier input must reach it (no blind spot).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.models.autoregressive import ARConfig, LinearAR
from engine.models.pixelcnn import GatedPixelCNN, PixelCNNConfig
from engine.models.pixelrnn import PixelRNN, PixelRNNConfig, skew, unskew
from engine.nn.masked import MaskedConv2d, raster_mask

H, W, K = 4, 6, 90


def tiny_pixelcnn() -> GatedPixelCNN:
    return GatedPixelCNN(PixelCNNConfig(width=W, max_bars=H, embed_dim=4, channels=6, layers=5, kernel=3, skip_channels=8))


def tiny_pixelrnn(layer: str) -> PixelRNN:
    return PixelRNN(PixelRNNConfig(width=W, max_bars=H, layer=layer, embed_dim=4, hidden=6, layers=2, first_kernel=3,
                                   kernel=3, head_channels=8))


def _dependence(model, r: int, c: int, inputs: int = 4) -> np.ndarray:
    """|d logits(r, c) / d input| summed over channels and a few random grids (so no ReLU hides a path): float[H x W]."""
    torch.manual_seed(0)
    x = torch.randint(0, K, (inputs, H, W))
    e = model.embed(x).detach().requires_grad_(True)
    logits = model.from_embedding(e)
    assert logits.shape == (inputs, K, H, W), logits.shape
    (logits[:, :, r, c] * torch.randn(inputs, K)).sum().backward()
    return e.grad.abs().sum((0, 1)).numpy()


def _positions():
    return [(r, c) for r in range(H) for c in range(W)]


@pytest.mark.parametrize("make", [tiny_pixelcnn, lambda: tiny_pixelrnn("row"), lambda: tiny_pixelrnn("diagonal")],
                         ids=["pixelcnn", "row_lstm", "diagonal_bilstm"])
def test_no_output_depends_on_its_own_or_a_later_input(make):
    model = make()
    for r, c in _positions():
        grad = _dependence(model, r, c).reshape(-1)
        assert np.all(grad[r * W + c:] == 0), (r, c, np.flatnonzero(grad[r * W + c:]) + r * W + c)


@pytest.mark.parametrize("make", [tiny_pixelcnn, lambda: tiny_pixelrnn("diagonal")], ids=["pixelcnn", "diagonal_bilstm"])
def test_every_earlier_input_reaches_the_output(make):
    model = make()
    for r, c in _positions():
        grad = _dependence(model, r, c).reshape(-1)
        assert np.all(grad[: r * W + c] > 0), (r, c, np.flatnonzero(grad[: r * W + c] == 0))


def test_row_lstm_has_the_papers_triangular_blind_spot():
    grad = _dependence(tiny_pixelrnn("row"), 2, 0)
    assert grad[1, W - 1] == 0  # the step just before the bar line is out of reach
    assert grad[1, 0] > 0 and grad[2, :].sum() == 0


def test_masks_a_and_b():
    assert raster_mask((3, 3), "A").tolist() == [[1, 1, 1], [1, 0, 0], [0, 0, 0]]
    assert raster_mask((1, 5), "B").tolist() == [[1, 1, 1, 0, 0]]
    conv = MaskedConv2d(2, 3, (3, 3), "A")
    assert conv(torch.randn(1, 2, 5, 5)).shape == (1, 3, 5, 5)


def test_skew_round_trip():
    x = torch.randn(2, 3, H, W)
    s = skew(x)
    assert s.shape == (2, 3, H, W + H - 1)
    assert torch.equal(s[:, :, 2, 2:2 + W], x[:, :, 2])
    assert torch.equal(unskew(s, W), x)


def test_ar_prediction_uses_only_the_past():
    torch.manual_seed(0)
    model = LinearAR(ARConfig(width=W, max_bars=H, order=5))
    model.coef.normal_()
    x = torch.randint(0, K, (1, H, W))
    base = model(x)
    for q in range(H * W):
        moved = x.clone().view(-1)
        moved[q] = (moved[q] + 1) % K
        diff = (model(moved.view(1, H, W)) - base).abs().sum(1).view(-1)
        assert torch.all(diff[: q + 1] == 0), q
        if q + 1 < H * W:
            assert diff[q + 1] > 0, q


def test_ar_least_squares_recovers_a_deterministic_rule():
    """Events that follow a fixed cycle are predicted almost surely after fitting."""
    cycle = np.array([2, 0, 0, 1, 5, 0, 7, 0], np.uint8)
    windows = np.stack([np.roll(np.tile(cycle, 4), s) for s in range(8)])
    model = LinearAR(ARConfig(width=W, order=8, ridge=1e-3))
    figures = model.fit(windows, windows)
    assert figures["rows"] == windows.size
    seq = torch.from_numpy(windows.astype(np.int64))
    p_true = model.log_probs(seq).gather(2, seq.unsqueeze(2)).exp()[:, 8:]  # once a whole cycle is known
    assert p_true.min() > 0.95, p_true.min()


@pytest.mark.parametrize("make", [tiny_pixelcnn, lambda: tiny_pixelrnn("row")], ids=["pixelcnn", "row_lstm"])
def test_row_by_row_sampling_path_equals_the_whole_grid(make):
    model = make().eval()
    assert model.samples_by_row and not tiny_pixelrnn("diagonal").samples_by_row
    x = torch.randint(0, K, (2, H, W))
    with torch.no_grad():
        whole = model(x)
        for r in range(H):
            row = model.row_logits(x[:, r : r + 1], model.row_context(x[:, :r]))
            assert torch.allclose(row[:, :, 0], whole[:, :, r], atol=1e-5), r
