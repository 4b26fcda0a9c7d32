"""The hierarchical MusicVAE encoder (issue 19): each bar read on its own, then the bars' codes; a run starts
from a flat encoder's weights (``--init``) with only the bar level fresh; old configs load as the flat one."""

from __future__ import annotations

import dataclasses

import torch

from engine.core.checkpoint import load_checkpoint, save_checkpoint
from engine.models.musicvae import MusicVAE, MusicVAEConfig

TINY = dict(steps=64, hierarchical=True, embed_dim=8, encoder_hidden=16, decoder_hidden=16, conductor_hidden=12, z_dim=6)


def test_each_bar_is_read_on_its_own_then_the_bars():
    torch.manual_seed(0)
    enc = MusicVAE(MusicVAEConfig(**TINY, hierarchical_encoder=True)).encoder.eval()
    x = torch.randint(0, 90, (3, 64))
    mu, sigma = enc(x)
    assert list(mu.shape) == [3, 6] and list(sigma.shape) == [3, 6] and bool((sigma > 0).all())
    # The bar level's input: one code per bar from the bar LSTM alone, so an edit in bar 2 changes that
    # bar's code and no other (a flat LSTM's states carry it into every later step).
    y = x.clone()
    y[:, 40] = (y[:, 40] + 7) % 90
    codes = [enc._last(enc.lstm, enc.embed(v.reshape(-1, 16))).reshape(3, 4, -1) for v in (x, y)]
    changed = (codes[0] - codes[1]).abs().amax(dim=(0, 2))
    assert changed[2] > 1e-4 and torch.equal(changed[[0, 1, 3]], torch.zeros(3)), changed
    assert (enc(y)[0] - mu).abs().max() > 1e-4, "an edit in any bar moves mu"
    # The same result as composing the two levels by hand.
    assert torch.allclose(mu, enc.mu(enc._last(enc.bars, codes[0])), atol=1e-6)


def test_a_run_starts_from_a_flat_encoder_with_only_the_bar_level_fresh(tmp_path):
    from engine.train.melody import load_matching

    torch.manual_seed(0)
    flat = MusicVAE(MusicVAEConfig(**TINY))
    save_checkpoint(tmp_path / "flat", kind="melody", arch="musicvae", config=flat.cfg,
                    tensors={f"model.{k}": v for k, v in flat.state_dict().items()})
    model = MusicVAE(MusicVAEConfig(**TINY, hierarchical_encoder=True))
    loaded, fresh = load_matching(model, tmp_path / "flat")
    names = sorted(line.split(" ")[0] for line in fresh)
    assert names == sorted(k for k in model.state_dict() if k.startswith("encoder.bars.")), fresh
    for k in ("encoder.lstm.weight_hh_l0", "encoder.mu.weight", "decoder.out.weight", "conductor.init.proj.weight"):
        assert k in loaded and torch.equal(model.state_dict()[k], flat.state_dict()[k]), k


def test_configs_without_the_field_load_as_the_flat_encoder(tmp_path):
    torch.manual_seed(0)
    old = MusicVAE(MusicVAEConfig(**TINY)).eval()
    config = dataclasses.asdict(old.cfg)
    for field in ("hierarchical_encoder", "encoder_top_hidden"):
        config.pop(field)  # as every checkpoint saved before the fields existed
    save_checkpoint(tmp_path / "old", kind="melody", arch="musicvae", config=config,
                    tensors={f"model.{k}": v for k, v in old.state_dict().items()})
    ckpt = load_checkpoint(tmp_path / "old")
    model = ckpt.load_into(MusicVAE(ckpt.build_config(MusicVAEConfig)), prefix="model.").eval()  # strict
    assert model.encoder.bars is None
    x = torch.randint(0, 90, (2, 64))
    assert torch.equal(model.encode(x), old.encode(x))


def test_the_bar_level_can_be_wider_than_the_bar_lstm():
    cfg = MusicVAEConfig(**TINY, hierarchical_encoder=True, encoder_top_hidden=40)
    enc = MusicVAE(cfg).encoder
    assert enc.lstm.hidden_size == 16 and enc.bars.hidden_size == 40 and enc.bars.input_size == 32
    assert list(enc.mu.weight.shape) == [6, 80]
    assert list(enc(torch.randint(0, 90, (2, 64)))[0].shape) == [2, 6]
    assert MusicVAE(MusicVAEConfig(**TINY, encoder_top_hidden=40)).encoder.mu.in_features == 32, "flat: unused"
