"""Continue and inpaint with the grid models (tiny checkpoints made here), and their training recipes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.core.checkpoint import clear_cache, read_config, save_checkpoint
from engine.core.errors import LatentLabError
from engine.models.autoregressive import ARConfig, LinearAR
from engine.models.pixelcnn import GatedPixelCNN, PixelCNNConfig
from engine.ops import continuation as ops
from engine.train.pixel import train_grid_model

TINY_PIXELCNN = dict(embed_dim=4, channels=8, layers=3, kernel=3, skip_channels=8, max_bars=6)


def _melody(bars: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    m = np.zeros(16 * bars, np.int64)
    m[::4] = rng.integers(30, 60, size=4 * bars)
    return m


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    torch.manual_seed(0)
    model = GatedPixelCNN(PixelCNNConfig(**TINY_PIXELCNN))
    path = tmp_path_factory.mktemp("ckpt") / "tiny_pixelcnn"
    save_checkpoint(path, kind="melody", arch="pixelcnn", config=model.cfg, tensors=model.state_dict())
    clear_cache()
    return path


def test_continue_keeps_the_prompt_and_is_seeded(model_dir):
    gm = ops.load_model(model_dir, "cpu")
    prompt = _melody(2)
    out = ops.continue_melody(gm, prompt, 3, temperature=1.0, seed=4)
    assert out.shape == (5 * 16,) and out.dtype == np.int64
    assert np.array_equal(out[:32], prompt)
    assert np.array_equal(out, ops.continue_melody(gm, prompt, 3, temperature=1.0, seed=4))
    assert not np.array_equal(out, ops.continue_melody(gm, prompt, 3, temperature=1.0, seed=5))
    greedy = ops.continue_melody(gm, prompt, 1, temperature=0.0, seed=1)
    assert np.array_equal(greedy, ops.continue_melody(gm, prompt, 1, temperature=0.0, seed=2))


def test_inpaint_changes_only_the_masked_bars(model_dir):
    gm = ops.load_model(model_dir, "cpu")
    melody = _melody(4, seed=1)
    for candidates in (1, 4):
        out = ops.inpaint(gm, melody, [1, 2], temperature=1.0, seed=3, candidates=candidates)
        assert out.shape == melody.shape
        assert np.array_equal(out[:16], melody[:16]) and np.array_equal(out[48:], melody[48:])
        assert not np.array_equal(out[16:48], melody[16:48])
        assert np.array_equal(out, ops.inpaint(gm, melody, [1, 2], temperature=1.0, seed=3, candidates=candidates))


def test_rescoring_prefers_fills_that_lead_into_the_bars_after():
    """An AR(1) under which only a high note (class >= 45) is followed by class 2: bar 3 starts with class 2, so the
    fill of bar 2 should end on a high note -- which rescoring finds, while plain sampling only sometimes does."""
    model = LinearAR(ARConfig(order=1, max_bars=4))
    model.coef[0] = 1.0 / model.cfg.num_classes
    model.coef[1 + 45 : 1 + 90, 2] = 5.0  # lag-1 rows of classes 45..89 -> class 2
    gm = ops.GridModel("ar", model, checkpoint=None)
    melody = _melody(3, seed=2)
    melody[32] = 2
    ends = {k: [ops.inpaint(gm, melody, [1], temperature=1.0, seed=s, candidates=k)[31] for s in range(8)] for k in (1, 32)}
    assert all(e >= 45 for e in ends[32]), ends
    assert any(e < 45 for e in ends[1]), ends


@pytest.mark.parametrize("call, message", [
    (lambda gm: ops.continue_melody(gm, _melody(4), 3), r"holds at most 6 bars: continue by at most 2 bars"),
    (lambda gm: ops.continue_melody(gm, _melody(2), 0), r"at least 1 bar"),
    (lambda gm: ops.continue_melody(gm, _melody(2), 1, temperature=-1), r"temperature"),
    (lambda gm: ops.inpaint(gm, _melody(3), [0, 1, 2]), r"the mask covers all 3 bars"),
    (lambda gm: ops.inpaint(gm, _melody(3), [3]), r"bar 4 is not in the melody"),
    (lambda gm: ops.inpaint(gm, _melody(7), [1]), r"holds at most 6"),
    (lambda gm: ops.inpaint(gm, _melody(3), [1], candidates=0), r"candidates"),
])
def test_bad_requests_are_one_clear_line(model_dir, call, message):
    with pytest.raises(LatentLabError, match=message) as caught:
        call(ops.load_model(model_dir, "cpu"))
    assert "\n" not in str(caught.value)


def test_parse_bars():
    assert ops.parse_bars("2, 5-6") == [1, 4, 5]
    assert ops.parse_bars("3,3") == [2]
    for bad in ("", "0", "a", "4-2"):
        with pytest.raises(LatentLabError):
            ops.parse_bars(bad)


def test_a_musicvae_checkpoint_is_not_a_continuation_model(tmp_path):
    save_checkpoint(tmp_path / "vae", kind="melody", arch="musicvae", config={}, tensors={"w": torch.zeros(1)})
    with pytest.raises(LatentLabError, match="not a continuation model"):
        ops.load_model(tmp_path / "vae", "cpu")


def _window_file(path, n_train=40, n_val=6, bars=4):
    rng = np.random.default_rng(0)
    def windows(n):
        w = np.zeros((n, 16 * bars), np.uint8)
        w[:, ::4] = rng.integers(40, 44, size=(n, 4 * bars))  # onsets on quarter notes, holds between
        return w
    np.savez(path, train=windows(n_train), val=windows(n_val), command=np.array("test windows"))
    return path


@pytest.mark.parametrize("config, overrides", [
    ("pixelcnn_16bar", TINY_PIXELCNN),
    ("diagonal_bilstm_16bar", dict(embed_dim=4, hidden=6, layers=1, first_kernel=3, head_channels=8)),
    ("ar_16bar", dict(order=4)),
])
def test_recipes_train_and_ship_a_card_with_the_figures(tmp_path, config, overrides):
    data = _window_file(tmp_path / "w.npz")
    figures = train_grid_model(config, steps=150, batch_size=8, run_dir=tmp_path / "run", out=tmp_path / "model",
                               data_path=data, progress=False, model_overrides=overrides)
    uniform = np.log2(90)
    assert 0 < figures["bits_per_step"] < uniform - 1, figures  # learned the quarter-note rhythm at least
    meta = read_config(tmp_path / "model")
    assert meta["kind"] == "melody" and meta["extra"]["figures"]["bits_per_step"] == round(figures["bits_per_step"], 5)
    card = (tmp_path / "model" / "card.md").read_text()
    assert f"{figures['bits_per_step']:.4f} bits per 16th step" in card
    assert f"latentlab train melody --config {config}" in card and "test windows" in card
    gm = ops.load_model(tmp_path / "model", "cpu")
    assert len(ops.continue_melody(gm, _melody(1), 2, seed=0)) == 48
